//! Things: a searchable, paginated list (server-side, so 10,000 things stay smooth), creation, and
//! a thing's page: attributes, type, groups, certificates, connections, shadows, deletion.

use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api::{self, ApiError, act, enc, load};
use crate::live::Live;
use crate::pages::certs::BundleButton;
use crate::widgets::{ConfirmButton, ErrorBox, Modal, arr, json as pretty, loaded, parse_attributes, s};

const PAGE: usize = 50;

/// Names of the thing types (for pickers).
pub fn thing_type_names() -> crate::api::Loaded<Vec<String>> {
    api::names(expect_context::<Live>().types, "/thing-types?maxResults=250", "thingTypes", "thingTypeName")
}

/// Names of the thing groups (for pickers).
pub fn thing_group_names() -> crate::api::Loaded<Vec<String>> {
    api::names(expect_context::<Live>().groups, "/thing-groups?maxResults=250", "thingGroups", "groupName")
}

#[component]
fn CreateThing(open: RwSignal<bool>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let ty = RwSignal::new(String::new());
    let attrs = RwSignal::new(String::new());
    let groups = RwSignal::new(Vec::<String>::new());
    let err = RwSignal::new(None::<ApiError>);
    let types = thing_type_names();
    let all_groups = thing_group_names();
    let submit = move |_| {
        let attributes = match parse_attributes(&attrs.get_untracked()) {
            Ok(a) => a,
            Err(m) => {
                err.set(Some(ApiError { kind: "InvalidRequestException".into(), message: m, status: 400 }));
                return;
            }
        };
        let n = name.get_untracked().trim().to_owned();
        let mut body = json!({ "attributePayload": { "attributes": attributes } });
        let t = ty.get_untracked();
        if !t.is_empty() {
            body["thingTypeName"] = json!(t);
        }
        let chosen = groups.get_untracked();
        act(
            err,
            async move {
                let out = api::call("POST", &format!("/things/{}", enc(&n)), Some(body)).await?;
                for g in chosen {
                    api::call(
                        "PUT",
                        "/thing-groups/addThingToThingGroup",
                        Some(json!({ "thingGroupName": g, "thingName": n })),
                    )
                    .await?;
                }
                Ok(out)
            },
            move |v| {
                open.set(false);
                crate::go(&format!("things/{}", s(&v, "thingName")));
            },
        );
    };
    view! {
        <div class="form">
            <label for="thing-name">"Name"</label>
            <input id="thing-name" placeholder="e.g. kitchen-lamp" prop:value=move || name.get()
                on:input=move |e| name.set(event_target_value(&e))/>
            <label for="thing-type">"Type"</label>
            <select id="thing-type" on:change=move |e| ty.set(event_target_value(&e))>
                <option value="">"(none)"</option>
                {move || types.get().and_then(Result::ok).unwrap_or_default().into_iter()
                    .map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
            </select>
            <label for="thing-attrs">"Attributes"</label>
            <textarea id="thing-attrs" style="min-height:80px" placeholder="color=red\nfloor=2"
                prop:value=move || attrs.get() on:input=move |e| attrs.set(event_target_value(&e))></textarea>
            <label>"Groups"</label>
            <div class="row">
                {move || {
                    let names = all_groups.get().and_then(Result::ok).unwrap_or_default();
                    if names.is_empty() {
                        view! { <span class="muted">"No groups yet (Types & groups page)."</span> }.into_any()
                    } else {
                        names.into_iter().map(|g| {
                            let g2 = g.clone();
                            view! { <label><input type="checkbox" on:change=move |e| {
                                let on = event_target_checked(&e);
                                let g = g2.clone();
                                groups.update(|v| if on { v.push(g) } else { v.retain(|x| *x != g) });
                            }/>" "{g}</label> }
                        }).collect_view().into_any()
                    }
                }}
            </div>
        </div>
        <ErrorBox err=err/>
        <div class="row" style="justify-content:flex-end;margin-top:12px">
            <button on:click=move |_| open.set(false)>"Cancel"</button>
            <button class="primary" id="create-thing-submit" on:click=submit>"Create thing"</button>
        </div>
    }
}

/// The things list.
#[component]
pub fn Things() -> impl IntoView {
    let live = expect_context::<Live>();
    let q = RwSignal::new(String::new());
    let offset = RwSignal::new(0usize);
    let creating = RwSignal::new(false);
    let list = load(move || {
        live.things.get();
        live.connections.get();
        let url = format!("/console/api/things?q={}&offset={}&limit={PAGE}", enc(&q.get()), offset.get());
        async move { api::get(&url).await }
    });
    view! {
        <div class="spread">
            <h1>"Things"</h1>
            <button class="primary" id="create-thing" on:click=move |_| creating.set(true)>"Create thing"</button>
        </div>
        <Modal open=creating title="Create a thing"><CreateThing open=creating/></Modal>
        <div class="row" style="margin-bottom:10px">
            <input id="search" type="search" placeholder="Search things by name (press /)" style="width:320px"
                prop:value=move || q.get()
                on:input=move |e| { q.set(event_target_value(&e)); offset.set(0); }/>
        </div>
        {loaded(list, move |v: Value| {
            let total = v.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
            let things = arr(&v, "things");
            let from = offset.get_untracked();
            if total == 0 {
                let msg = if q.get_untracked().is_empty() {
                    "No things yet. Create one here, or with: aws --endpoint-url <AWS API> iot create-thing --thing-name my-device"
                } else {
                    "No thing's name contains that text."
                };
                return view! { <div class="empty" id="things-empty">{msg}</div> }.into_any();
            }
            view! {
                <table id="things">
                    <thead><tr><th>"Name"</th><th>"Type"</th><th>"Attributes"</th><th>"Version"</th></tr></thead>
                    <tbody>
                    {things.into_iter().map(|t| {
                        let name = s(&t, "thingName");
                        let on = t.get("connected").and_then(Value::as_bool).unwrap_or(false);
                        let attrs = t.get("attributes").and_then(Value::as_object).map(|m| {
                            m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(", ")
                        }).unwrap_or_default();
                        view! { <tr data-thing=name.clone()>
                            <td><span class=if on { "dot on" } else { "dot" } title=if on { "connected" } else { "not connected" }></span>
                                <a href=format!("#/things/{}", name)>{name.clone()}</a></td>
                            <td>{s(&t, "thingTypeName")}</td>
                            <td class="muted">{attrs}</td>
                            <td>{s(&t, "version")}</td>
                        </tr> }
                    }).collect_view()}
                    </tbody>
                </table>
                <div class="spread" style="margin-top:8px">
                    <span class="muted" id="things-range">{format!("{}–{} of {}", from + 1, (from + PAGE).min(total), total)}</span>
                    <div class="row">
                        <button disabled={from == 0} on:click=move |_| offset.update(|o| *o = o.saturating_sub(PAGE))>"Previous"</button>
                        <button id="next-page" disabled={from + PAGE >= total} on:click=move |_| offset.update(|o| *o += PAGE)>"Next"</button>
                    </div>
                </div>
            }.into_any()
        })}
    }
}

/// One thing.
#[component]
pub fn ThingDetail(name: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let n = StoredValue::new(name.clone());
    let thing = load(move || {
        live.things.get();
        let url = format!("/things/{}", enc(&n.get_value()));
        async move { api::get(&url).await }
    });
    let groups = load(move || {
        live.things.get();
        live.groups.get();
        let url = format!("/things/{}/thing-groups?maxResults=250", enc(&n.get_value()));
        async move { api::get(&url).await }
    });
    let principals = load(move || {
        live.things.get();
        let url = format!("/things/{}/principals?maxResults=250", enc(&n.get_value()));
        async move { api::get(&url).await }
    });
    let conns = load(move || {
        live.connections.get();
        let url = format!("/console/api/connections?thing={}", enc(&n.get_value()));
        async move { api::get(&url).await }
    });
    let shadows = load(move || {
        live.shadows.get();
        let url = format!("/console/api/shadows/{}", enc(&n.get_value()));
        async move { api::get(&url).await }
    });
    let all_groups = thing_group_names();
    let types = thing_type_names();
    let attrs_text = RwSignal::new(String::new());
    let editing = RwSignal::new(false);
    let add_group = RwSignal::new(String::new());
    let saved = RwSignal::new(None::<String>);

    let delete = move || {
        let url = format!("/things/{}", enc(&n.get_value()));
        act(err, async move { api::call("DELETE", &url, None).await }, |_| crate::go("things"));
    };
    let save_attrs = move |_| {
        let attributes = match parse_attributes(&attrs_text.get_untracked()) {
            Ok(a) => a,
            Err(m) => {
                err.set(Some(ApiError { kind: "InvalidRequestException".into(), message: m, status: 400 }));
                return;
            }
        };
        // Replace the whole set: names left out are removed (AWS: merge=false).
        let mut payload = serde_json::Map::new();
        if let Some(Ok(t)) = thing.get_untracked() {
            for k in t
                .get("attributes")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                payload.insert(k, json!(""));
            }
            payload.extend(attributes);
            let body = json!({ "attributePayload": { "attributes": payload, "merge": true }, "expectedVersion": t.get("version") });
            let url = format!("/things/{}", enc(&n.get_value()));
            act(err, async move { api::call("PATCH", &url, Some(body)).await }, move |_| {
                editing.set(false);
                saved.set(Some("Attributes saved.".into()));
            });
        }
    };
    let set_type = move |t: String| {
        let body =
            if t.is_empty() { json!({ "removeThingType": true }) } else { json!({ "thingTypeName": t }) };
        let url = format!("/things/{}", enc(&n.get_value()));
        act(err, async move { api::call("PATCH", &url, Some(body)).await }, |_| {});
    };
    let group_op = move |op: &'static str, g: String| {
        let body = json!({ "thingGroupName": g, "thingName": n.get_value() });
        act(err, async move { api::call("PUT", &format!("/thing-groups/{op}"), Some(body)).await }, |_| {});
    };

    view! {
        <div class="spread">
            <h1><a href="#/things">"Things"</a>" / "{name.clone()}</h1>
            <div class="row">
                <a id="thing-traces" href=format!("#/trace/client/{}", enc(&name))
                    title="What happened to the messages this thing's client published">"Message flow"</a>
                <BundleButton thing=name.clone()/>
                <ConfirmButton label="Delete thing" id="delete-thing"
                    question=format!("Delete thing {name}? Its certificates stay; detach them first if AWS refuses.")
                    on_confirm=delete/>
            </div>
        </div>
        <ErrorBox err=err/>
        {move || saved.get().map(|m| view! { <div class="notice">{m}</div> })}
        {loaded(thing, move |t: Value| {
            let attrs: Vec<(String, String)> = t.get("attributes").and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
                .unwrap_or_default();
            let text = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n");
            let current_type = s(&t, "thingTypeName");
            view! {
                <div class="card kv" id="thing-facts">
                    <div>"ARN"</div><div class="mono">{s(&t, "thingArn")}</div>
                    <div>"Thing id"</div><div class="mono">{s(&t, "thingId")}</div>
                    <div>"Version"</div><div id="thing-version">{s(&t, "version")}</div>
                    <div>"Type"</div><div>
                        <select id="thing-type-select" on:change=move |e| set_type(event_target_value(&e))>
                            <option value="" selected=current_type.is_empty()>"(none)"</option>
                            {types.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|ty| {
                                let sel = ty == current_type;
                                view! { <option value=ty.clone() selected=sel>{ty.clone()}</option> }
                            }).collect_view()}
                        </select>
                    </div>
                </div>
                <h2>"Attributes"</h2>
                {move || if editing.get() {
                    view! {
                        <textarea id="attrs-editor" style="min-height:100px" prop:value=move || attrs_text.get()
                            on:input=move |e| attrs_text.set(event_target_value(&e))></textarea>
                        <div class="row" style="margin-top:6px">
                            <button class="primary" id="attrs-save" on:click=save_attrs>"Save"</button>
                            <button on:click=move |_| editing.set(false)>"Cancel"</button>
                            <span class="muted">"One name=value per line; remove a line to remove the attribute."</span>
                        </div>
                    }.into_any()
                } else {
                    let text = text.clone();
                    view! {
                        {if attrs.is_empty() {
                            view! { <p class="muted">"No attributes."</p> }.into_any()
                        } else {
                            view! { <table id="attrs"><tbody>{attrs.iter().map(|(k, v)| view! {
                                <tr><td class="mono">{k.clone()}</td><td class="mono">{v.clone()}</td></tr>
                            }).collect_view()}</tbody></table> }.into_any()
                        }}
                        <button id="attrs-edit" style="margin-top:6px" on:click=move |_| { attrs_text.set(text.clone()); editing.set(true); }>"Edit attributes"</button>
                    }.into_any()
                }}
            }
        })}
        <div class="split">
            <div>
                <h2>"Connection"</h2>
                {loaded(conns, |v: Value| {
                    let list = arr(&v, "connections");
                    if list.is_empty() {
                        view! { <p id="thing-connection"><span class="dot"></span>"Not connected"</p> }.into_any()
                    } else {
                        view! { <div id="thing-connection">{list.into_iter().map(|c| view! {
                            <p><span class="dot on"></span>"Connected as "<code>{s(&c, "clientId")}</code></p>
                        }).collect_view()}</div> }.into_any()
                    }
                })}
                <h2>"Certificates"</h2>
                {loaded(principals, |v: Value| {
                    let list = arr(&v, "principals");
                    if list.is_empty() {
                        view! { <p class="muted">"No certificate attached. “Create certificate bundle” makes one for this thing."</p> }.into_any()
                    } else {
                        view! { <ul id="thing-certs">{list.into_iter().map(|p| {
                            let arn = p.as_str().unwrap_or_default().to_owned();
                            let id = arn.rsplit('/').next().unwrap_or_default().to_owned();
                            view! { <li><a class="mono" href=format!("#/certificates/{id}")>{id.chars().take(16).collect::<String>()}"…"</a></li> }
                        }).collect_view()}</ul> }.into_any()
                    }
                })}
            </div>
            <div>
                <h2>"Groups"</h2>
                {loaded(groups, move |v: Value| {
                    let list = arr(&v, "thingGroups");
                    view! {
                        {if list.is_empty() { view! { <p class="muted">"In no group."</p> }.into_any() } else {
                            view! { <ul id="thing-groups">{list.into_iter().map(|g| {
                                let gname = s(&g, "groupName");
                                let g2 = gname.clone();
                                view! { <li>{gname}" "<button on:click=move |_| group_op("removeThingFromThingGroup", g2.clone())>"Remove"</button></li> }
                            }).collect_view()}</ul> }.into_any()
                        }}
                    }
                })}
                <div class="row">
                    <select id="add-group" on:change=move |e| add_group.set(event_target_value(&e))>
                        <option value="">"Add to group…"</option>
                        {move || all_groups.get().and_then(Result::ok).unwrap_or_default().into_iter()
                            .map(|g| view! { <option value=g.clone()>{g.clone()}</option> }).collect_view()}
                    </select>
                    <button on:click=move |_| { let g = add_group.get_untracked(); if !g.is_empty() { group_op("addThingToThingGroup", g) } }>"Add"</button>
                </div>
            </div>
        </div>
        <h2>"Shadows"</h2>
        {loaded(shadows, move |v: Value| {
            let list = arr(&v, "shadows");
            if list.is_empty() {
                view! { <div class="empty">"No shadow yet. A device creates one by publishing to $aws/things/<thing>/shadow/update."</div> }.into_any()
            } else {
                view! { <div id="shadows">{list.into_iter().map(|sh| {
                    let label = if s(&sh, "name").is_empty() { "Classic shadow".to_owned() } else { format!("Named shadow “{}”", s(&sh, "name")) };
                    let href = format!("#/shadows/{}/{}", enc(&n.get_value()), enc(&s(&sh, "name")));
                    view! {
                        <div class="spread"><h3 style="font-size:14px">{label}</h3>
                            <a class="shadow-open" href=href>"Tree, history and editor →"</a></div>
                        <pre>{pretty(sh.get("document").unwrap_or(&Value::Null))}</pre>
                    }
                }).collect_view()}</div> }.into_any()
            }
        })}
    }
}
