//! Policies: the list, a JSON editor validated as you type by the same parser the engine uses
//! (`thingbox_model::policy`, compiled into this wasm), versions, targets, and the "test
//! authorization" panel, which asks the gateway's own authorizer and shows the statement that
//! decided and how each policy variable resolved.

use leptos::prelude::*;
use serde_json::{Value, json};
use thingbox_api::console::Explanation;

use crate::api::{self, ApiError, act, enc, load};
use crate::live::Live;
use crate::widgets::{ConfirmButton, ErrorBox, arr, date, loaded, s};

const EXAMPLE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "iot:Connect",
      "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"
    },
    {
      "Effect": "Allow",
      "Action": ["iot:Publish", "iot:Receive"],
      "Resource": "arn:aws:iot:*:*:topic/things/${iot:Connection.Thing.ThingName}/*"
    },
    {
      "Effect": "Allow",
      "Action": "iot:Subscribe",
      "Resource": "arn:aws:iot:*:*:topicfilter/things/${iot:Connection.Thing.ThingName}/*"
    }
  ]
}"#;

/// The editor's verdict on a document, from the engine's own parser.
fn validate(doc: &str) -> Result<usize, String> {
    thingbox_model::policy::parse(doc).map(|p| p.statements.len()).map_err(|e| e.0)
}

#[component]
fn Editor(doc: RwSignal<String>) -> impl IntoView {
    let verdict = move || validate(&doc.get());
    view! {
        <textarea id="policy-editor" spellcheck="false" prop:value=move || doc.get() on:input=move |e| doc.set(event_target_value(&e))></textarea>
        <div id="policy-validation">{move || match verdict() {
            Ok(n) => view! { <span class="valid">{format!("✓ valid policy, {n} statement{}", if n == 1 { "" } else { "s" })}</span> }.into_any(),
            Err(e) => view! { <span class="invalid">"✗ "{e}</span> }.into_any(),
        }}</div>
    }
}

/// The policies page.
#[component]
pub fn Policies() -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let list = load(move || {
        live.policies.get();
        async move { api::get("/policies?pageSize=250").await }
    });
    let name = RwSignal::new(String::new());
    let doc = RwSignal::new(EXAMPLE.to_owned());
    let creating = RwSignal::new(false);
    let create = move |_| {
        let n = name.get_untracked().trim().to_owned();
        let body = json!({ "policyDocument": doc.get_untracked() });
        act(
            err,
            async move { api::call("POST", &format!("/policies/{}", enc(&n)), Some(body)).await },
            move |v| {
                creating.set(false);
                crate::go(&format!("policies/{}", s(&v, "policyName")));
            },
        );
    };
    view! {
        <div class="spread">
            <h1>"Policies"</h1>
            <button class="primary" id="new-policy" on:click=move |_| creating.update(|c| *c = !*c)>"Create policy"</button>
        </div>
        <ErrorBox err=err/>
        <Show when=move || creating.get()>
            <div class="card" style="margin-bottom:14px">
                <div class="row" style="margin-bottom:8px"><label for="policy-name">"Name"</label>
                    <input id="policy-name" prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e))/></div>
                <Editor doc=doc/>
                <div class="row" style="margin-top:8px"><button class="primary" id="create-policy" disabled=move || validate(&doc.get()).is_err() on:click=create>"Create"</button></div>
            </div>
        </Show>
        {loaded(list, |v: Value| {
            let items = arr(&v, "policies");
            if items.is_empty() {
                return view! { <div class="empty">"No policies. A device certificate needs a policy to connect: create one, or use the starter policy when making a device bundle."</div> }.into_any();
            }
            view! { <table id="policies"><thead><tr><th>"Name"</th><th>"ARN"</th></tr></thead><tbody>
                {items.into_iter().map(|p| { let n = s(&p, "policyName"); view! {
                    <tr data-policy=n.clone()><td><a href=format!("#/policies/{n}")>{n.clone()}</a></td><td class="mono muted">{s(&p, "policyArn")}</td></tr>
                } }).collect_view()}
            </tbody></table> }.into_any()
        })}
        <h2>"Test authorization"</h2>
        <ExplainPanel draft=None/>
    }
}

/// Would a caller be allowed an action? Asks the engine's authorizer; with `draft`, the editor's
/// unsaved document stands in for that policy.
#[component]
pub fn ExplainPanel(draft: Option<(String, RwSignal<String>)>) -> impl IntoView {
    let live = expect_context::<Live>();
    let certs = load(move || {
        live.certs.get();
        async move { api::get("/certificates?pageSize=250").await }
    });
    let cert = RwSignal::new(String::new());
    let client = RwSignal::new(String::new());
    let action = RwSignal::new("iot:Publish".to_owned());
    let topic = RwSignal::new(String::new());
    let use_draft = RwSignal::new(draft.is_some());
    let err = RwSignal::new(None::<ApiError>);
    let result = RwSignal::new(None::<Explanation>);
    let draft = StoredValue::new(draft);
    let run = move |_| {
        let mut body = json!({
            "certificateId": cert.get_untracked(), "clientId": client.get_untracked(),
            "action": action.get_untracked(), "topic": topic.get_untracked(),
        });
        if use_draft.get_untracked()
            && let Some((name, doc)) = draft.get_value()
        {
            body["draft"] = json!({ "policyName": name, "document": doc.get_untracked() });
        }
        act(err, async move { api::call("POST", "/console/api/explain", Some(body)).await }, move |v| {
            result.set(serde_json::from_value(v).ok());
        });
    };
    view! {
        <div class="card" id="explain">
            <div class="form">
                <label for="explain-cert">"Certificate"</label>
                <select id="explain-cert" on:change=move |e| cert.set(event_target_value(&e))>
                    <option value="">"(plain listener client)"</option>
                    {move || certs.get().and_then(Result::ok).map(|v| arr(&v, "certificates")).unwrap_or_default().into_iter().map(|c| {
                        let id = s(&c, "certificateId");
                        view! { <option value=id.clone()>{format!("{}… ({})", id.chars().take(16).collect::<String>(), s(&c, "status"))}</option> }
                    }).collect_view()}
                </select>
                <label for="explain-client">"Client id"</label>
                <input id="explain-client" placeholder="e.g. the thing name" prop:value=move || client.get() on:input=move |e| client.set(event_target_value(&e))/>
                <label for="explain-action">"Action"</label>
                <select id="explain-action" on:change=move |e| action.set(event_target_value(&e))>
                    {["iot:Publish", "iot:Subscribe", "iot:Receive", "iot:Connect", "iot:RetainPublish"].into_iter().map(|a| view! { <option value=a selected={a == "iot:Publish"}>{a}</option> }).collect_view()}
                </select>
                <label for="explain-topic">"Topic / filter"</label>
                <input id="explain-topic" placeholder="things/lamp/status" prop:value=move || topic.get() on:input=move |e| topic.set(event_target_value(&e))/>
                {move || draft.with_value(|d| d.is_some()).then(|| view! {
                    <label>"Draft"</label>
                    <label><input type="checkbox" prop:checked=move || use_draft.get() on:change=move |e| use_draft.set(event_target_checked(&e))/>" test the editor's unsaved document"</label>
                })}
            </div>
            <div class="row" style="margin-top:10px"><button class="primary" id="explain-run" on:click=run>"Test"</button></div>
            <ErrorBox err=err/>
            {move || result.get().map(|r| {
                let deciding = if r.decision == "ALLOWED" { r.allowed_by.clone() } else { r.denied_by.clone() };
                view! {
                    <div style="margin-top:12px" id="explain-result">
                        <p><span id="explain-decision" class=format!("badge {}", r.decision)>{r.decision.clone()}</span>" "<code>{r.resource.clone()}</code></p>
                        {if deciding.is_empty() {
                            view! { <p class="muted">{if r.policies.is_empty() { "No policy applies to this caller, so nothing is allowed.".to_owned() } else {
                                format!("No statement of {} matched, so it is implicitly denied.", r.policies.iter().map(|(n, v)| format!("{n} (v{v})")).collect::<Vec<_>>().join(", "))
                            }}</p> }.into_any()
                        } else {
                            view! { <ul>{deciding.into_iter().map(|st| view! {
                                <li>"Decided by "<a href=format!("#/policies/{}", st.policy)>{st.policy.clone()}</a>
                                    {format!(" version {}, statement #{}{}", st.version, st.index + 1, st.sid.map(|s| format!(" (Sid \"{s}\")")).unwrap_or_default())}</li>
                            }).collect_view()}</ul> }.into_any()
                        }}
                        {(!r.bindings.is_empty()).then(|| view! {
                            <table><thead><tr><th>"Policy variable"</th><th>"Resolved to"</th></tr></thead><tbody>
                            {r.bindings.iter().map(|b| view! { <tr><td class="mono">{b.variable.clone()}</td>
                                <td class="mono">{b.value.clone().unwrap_or_else(|| "(unresolved: its statement cannot match)".into())}</td></tr> }).collect_view()}
                            </tbody></table>
                        })}
                    </div>
                }
            })}
        </div>
    }
}

/// One policy.
#[component]
pub fn PolicyDetail(name: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let n = StoredValue::new(name.clone());
    let policy = load(move || {
        live.policies.get();
        let url = format!("/policies/{}", enc(&n.get_value()));
        async move { api::get(&url).await }
    });
    let versions = load(move || {
        live.policies.get();
        let url = format!("/policies/{}/version", enc(&n.get_value()));
        async move { api::get(&url).await }
    });
    let targets = load(move || {
        live.policies.get();
        live.certs.get();
        let url = format!("/policy-targets/{}?pageSize=250", enc(&n.get_value()));
        async move { api::call("POST", &url, None).await }
    });
    let doc = RwSignal::new(String::new());
    // Fill the editor with the default version once it is known (and after a save).
    Effect::new(move |_| {
        if let Some(Ok(p)) = policy.get() {
            let text = s(&p, "policyDocument");
            let pretty =
                serde_json::from_str::<Value>(&text).map(|v| crate::widgets::json(&v)).unwrap_or(text);
            doc.set(pretty);
        }
    });
    let notice = RwSignal::new(None::<String>);
    let save = move |_| {
        let body = json!({ "policyDocument": doc.get_untracked() });
        // As in botocore's model, setAsDefault is a query parameter.
        let url = format!("/policies/{}/version?setAsDefault=true", enc(&n.get_value()));
        act(err, async move { api::call("POST", &url, Some(body)).await }, move |v| {
            notice.set(Some(format!("Saved as version {}, now the default.", s(&v, "policyVersionId"))));
        });
    };
    let version_op = move |method: &'static str, id: String| {
        let url = format!("/policies/{}/version/{id}", enc(&n.get_value()));
        act(err, async move { api::call(method, &url, None).await }, |_| {});
    };
    let delete = move || {
        let url = format!("/policies/{}", enc(&n.get_value()));
        act(err, async move { api::call("DELETE", &url, None).await }, |_| crate::go("policies"));
    };
    view! {
        <div class="spread">
            <h1><a href="#/policies">"Policies"</a>" / "{name.clone()}</h1>
            <ConfirmButton label="Delete policy" question=format!("Delete policy {name}? AWS refuses while it is attached or has other versions.") on_confirm=delete/>
        </div>
        <ErrorBox err=err/>
        {move || notice.get().map(|m| view! { <div class="notice" id="policy-saved">{m}</div> })}
        <div class="split">
            <div>
                <h2>"Document (default version)"</h2>
                <Editor doc=doc/>
                <div class="row" style="margin-top:8px">
                    <button class="primary" id="save-version" disabled=move || validate(&doc.get()).is_err() on:click=save>"Save as new default version"</button>
                </div>
                <h2>"Versions"</h2>
                {loaded(versions, move |v: Value| view! {
                    <table id="versions"><thead><tr><th>"Version"</th><th>"Created"</th><th></th></tr></thead><tbody>
                    {arr(&v, "policyVersions").into_iter().map(|pv| {
                        let id = s(&pv, "versionId");
                        let default = pv.get("isDefaultVersion").and_then(Value::as_bool).unwrap_or(false);
                        let (a, b) = (id.clone(), id.clone());
                        view! { <tr><td>{id.clone()}{default.then(|| view! { " "<span class="badge ok">"default"</span> })}</td>
                            <td>{date(pv.get("createDate").unwrap_or(&Value::Null))}</td>
                            <td class="row">{(!default).then(|| view! {
                                <button on:click=move |_| version_op("PATCH", a.clone())>"Make default"</button>
                                <button class="danger" on:click=move |_| version_op("DELETE", b.clone())>"Delete"</button>
                            })}</td></tr> }
                    }).collect_view()}
                    </tbody></table>
                })}
                <h2>"Attached to"</h2>
                {loaded(targets, |v: Value| {
                    let list = arr(&v, "targets");
                    if list.is_empty() { view! { <p class="muted">"Not attached. Attach it from a certificate's page."</p> }.into_any() } else {
                        view! { <ul id="policy-targets">{list.into_iter().map(|t| {
                            let arn = t.as_str().unwrap_or_default().to_owned();
                            let id = arn.rsplit('/').next().unwrap_or_default().to_owned();
                            let href = if arn.contains(":cert/") { format!("#/certificates/{id}") } else { "#/types".to_owned() };
                            view! { <li><a class="mono" href=href>{arn.clone()}</a></li> }
                        }).collect_view()}</ul> }.into_any()
                    }
                })}
            </div>
            <div>
                <h2>"Test authorization"</h2>
                <ExplainPanel draft=Some((name.clone(), doc))/>
            </div>
        </div>
    }
}
