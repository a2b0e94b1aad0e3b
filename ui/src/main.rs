//! Thingbox's console: a Leptos client-side app. The same build runs in any browser (served by
//! `thingbox serve` at `/`) and in the desktop app's window. It reaches the engine only over HTTP
//! ([`api`]) and the event stream ([`live`]); pages live in [`pages`], shared pieces in [`widgets`].

mod api;
mod live;
mod pages;
mod viewer;
mod widgets;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// Where the console is: the hash route split into segments (`#/things/lamp` → `["things", "lamp"]`).
#[derive(Debug, Clone, Copy)]
pub struct Route(pub RwSignal<Vec<String>>);

fn current_route() -> Vec<String> {
    let hash = web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default();
    let path = hash.trim_start_matches('#').trim_start_matches('/');
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            js_sys::decode_uri_component(s).ok().and_then(|v| v.as_string()).unwrap_or_else(|| s.to_owned())
        })
        .collect()
}

/// Goes to `#/{path}`.
pub fn go(path: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_hash(&format!("/{path}"));
    }
}

fn set_theme(theme: &str) {
    if let Some(doc) = web_sys::window().and_then(|w| w.document())
        && let Some(el) = doc.document_element()
    {
        let _ = el.set_attribute("data-theme", theme);
    }
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = s.set_item("thingbox.theme", theme);
    }
}

fn current_theme() -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.get_attribute("data-theme"))
        .unwrap_or_else(|| "dark".into())
}

/// Keyboard: `/` focuses the page's search box; `g` then `o`/`t`/`y`/`c`/`p` goes to a page.
fn keyboard() {
    let pending_g = StoredValue::new(false);
    let handle = window_event_listener(leptos::ev::keydown, move |e: web_sys::KeyboardEvent| {
        if e.ctrl_key() || e.meta_key() || e.alt_key() {
            return;
        }
        let typing = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .map(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
            .unwrap_or(false);
        if typing {
            return;
        }
        let key = e.key();
        if pending_g.get_value() {
            pending_g.set_value(false);
            let to = match key.as_str() {
                "o" => "overview",
                "t" => "things",
                "y" => "types",
                "c" => "certificates",
                "p" => "policies",
                "m" => "messages",
                "r" => "rules",
                "j" => "jobs",
                "s" => "shadows",
                "f" => "trace",
                "d" => "devices",
                _ => return,
            };
            e.prevent_default();
            go(to);
            return;
        }
        match key.as_str() {
            "g" => pending_g.set_value(true),
            "/" => {
                if let Some(el) = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.get_element_by_id("search"))
                    .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    e.prevent_default();
                    let _ = el.focus();
                }
            }
            _ => {}
        }
    });
    // The console lives as long as the page: keep the listener.
    std::mem::forget(handle);
}

#[component]
fn NavLink(to: &'static str, label: &'static str, key: &'static str) -> impl IntoView {
    let route = expect_context::<Route>();
    let active = move || route.0.with(|r| r.first().map(String::as_str).unwrap_or("overview") == to);
    view! {
        <a href=format!("#/{to}") class:active=active title=format!("g {key}")>{label}</a>
    }
}

#[component]
fn App() -> impl IntoView {
    api::adopt_token_from_url();
    let route = Route(RwSignal::new(current_route()));
    provide_context(route);
    let handle = window_event_listener(leptos::ev::hashchange, move |_| route.0.set(current_route()));
    std::mem::forget(handle);
    let live = live::start();
    provide_context(live);
    keyboard();
    provide_context(viewer::ViewerCell::here());
    let theme = RwSignal::new(current_theme());
    let toggle = move |_| {
        let next = if theme.get_untracked() == "dark" { "light" } else { "dark" };
        set_theme(next);
        theme.set(next.to_owned());
    };
    let page = move || {
        let r = route.0.get();
        let first = r.first().map(String::as_str).unwrap_or("overview").to_owned();
        let second = r.get(1).cloned();
        match (first.as_str(), second) {
            ("things", Some(name)) => view! { <pages::things::ThingDetail name=name/> }.into_any(),
            ("things", None) => view! { <pages::things::Things/> }.into_any(),
            ("types", _) | ("groups", _) => view! { <pages::groups::TypesAndGroups/> }.into_any(),
            ("certificates", Some(id)) => view! { <pages::certs::CertificateDetail id=id/> }.into_any(),
            ("certificates", None) => view! { <pages::certs::Certificates/> }.into_any(),
            ("policies", Some(name)) => view! { <pages::policies::PolicyDetail name=name/> }.into_any(),
            ("policies", None) => view! { <pages::policies::Policies/> }.into_any(),
            ("messages", _) => view! { <pages::messages::Messages/> }.into_any(),
            ("rules", Some(name)) if name == "new" => {
                view! { <pages::rules::editor::RuleEditor name=None/> }.into_any()
            }
            ("rules", Some(name)) if r.get(2).map(String::as_str) == Some("edit") => {
                view! { <pages::rules::editor::RuleEditor name=Some(name)/> }.into_any()
            }
            ("rules", Some(name)) => view! { <pages::rules::RuleDetail name=name/> }.into_any(),
            ("rules", None) => view! { <pages::rules::Rules/> }.into_any(),
            ("jobs", Some(id)) => view! { <pages::jobs::JobDetail id=id/> }.into_any(),
            ("jobs", None) => view! { <pages::jobs::Jobs/> }.into_any(),
            ("shadows", Some(thing)) => {
                let name = r.get(2).cloned().unwrap_or_default();
                view! { <pages::shadows::ShadowDetail thing=thing name=name/> }.into_any()
            }
            ("shadows", None) => view! { <pages::shadows::Shadows/> }.into_any(),
            ("trace", Some(kind)) if kind == "message" => {
                let id = r.get(2).cloned().unwrap_or_default();
                view! { <pages::trace::TraceDetail id=id by_message=true/> }.into_any()
            }
            ("trace", Some(kind)) if kind == "client" => {
                let client = r.get(2).cloned();
                view! { <pages::trace::Traces client=client.unwrap_or_default()/> }.into_any()
            }
            ("trace", Some(id)) => view! { <pages::trace::TraceDetail id=id/> }.into_any(),
            ("trace", None) => view! { <pages::trace::Traces/> }.into_any(),
            ("devices", Some(name)) => view! { <pages::devices::DeviceDetailPage name=name/> }.into_any(),
            ("devices", None) => view! { <pages::devices::Devices/> }.into_any(),
            _ => view! { <pages::overview::Overview/> }.into_any(),
        }
    };
    view! {
        <div class="shell">
            <nav class="side">
                <div class="brand"><img src="favicon.svg" width="22" height="22" alt=""/>"Thingbox"</div>
                <NavLink to="overview" label="Overview" key="o"/>
                <NavLink to="things" label="Things" key="t"/>
                <NavLink to="shadows" label="Shadows" key="s"/>
                <NavLink to="types" label="Types & groups" key="y"/>
                <NavLink to="certificates" label="Certificates" key="c"/>
                <NavLink to="policies" label="Policies" key="p"/>
                <NavLink to="messages" label="Messages" key="m"/>
                <NavLink to="trace" label="Message flow" key="f"/>
                <NavLink to="rules" label="Rules" key="r"/>
                <NavLink to="jobs" label="Jobs" key="j"/>
                <NavLink to="devices" label="Simulated devices" key="d"/>
                <div class="foot">
                    <div class="row" style="margin-bottom:6px">
                        <span class=move || if live.online.get() { "dot on" } else { "dot" }></span>
                        {move || if live.online.get() { "live" } else { "reconnecting…" }}
                    </div>
                    <button id="theme" on:click=toggle>
                        {move || if theme.get() == "dark" { "Light theme" } else { "Dark theme" }}
                    </button>
                    <div style="margin-top:8px">
                        <span class="kbd">"/"</span>" search · "<span class="kbd">"g"</span>" "<span class="kbd">"t"</span>" things"
                    </div>
                </div>
            </nav>
            <main>{page}</main>
        </div>
    }
}

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
