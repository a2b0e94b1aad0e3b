//! Thing types (create, deprecate, undo, delete) and static thing groups (create with a parent,
//! members, delete), all through the AWS API.

use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api::{self, ApiError, act, enc, load};
use crate::live::Live;
use crate::widgets::{ConfirmButton, ErrorBox, arr, date, loaded, s};

#[component]
fn GroupMembers(group: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let g = StoredValue::new(group);
    let members = load(move || {
        live.groups.get();
        live.things.get();
        let url = format!("/thing-groups/{}/things?maxResults=250", enc(&g.get_value()));
        async move { api::get(&url).await }
    });
    loaded(members, |v: Value| {
        let things = arr(&v, "things");
        if things.is_empty() {
            view! { <span class="muted">"no members"</span> }.into_any()
        } else {
            things
                .into_iter()
                .map(|t| {
                    let t = t.as_str().unwrap_or_default().to_owned();
                    view! { <a href=format!("#/things/{t}")>{t.clone()}</a>" " }
                })
                .collect_view()
                .into_any()
        }
    })
}

/// The types and groups page.
#[component]
pub fn TypesAndGroups() -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let types = load(move || {
        live.types.get();
        async move { api::get("/thing-types?maxResults=250").await }
    });
    let groups = load(move || {
        live.groups.get();
        async move { api::get("/thing-groups?maxResults=250").await }
    });
    let type_name = RwSignal::new(String::new());
    let type_desc = RwSignal::new(String::new());
    let type_attrs = RwSignal::new(String::new());
    let group_name = RwSignal::new(String::new());
    let group_parent = RwSignal::new(String::new());

    let create_type = move |_| {
        let name = type_name.get_untracked().trim().to_owned();
        let mut props = serde_json::Map::new();
        let d = type_desc.get_untracked();
        if !d.is_empty() {
            props.insert("thingTypeDescription".into(), json!(d));
        }
        let attrs: Vec<String> = type_attrs
            .get_untracked()
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if !attrs.is_empty() {
            props.insert("searchableAttributes".into(), json!(attrs));
        }
        let body = json!({ "thingTypeProperties": props });
        act(
            err,
            async move { api::call("POST", &format!("/thing-types/{}", enc(&name)), Some(body)).await },
            move |_| {
                type_name.set(String::new());
                type_desc.set(String::new());
                type_attrs.set(String::new());
            },
        );
    };
    let create_group = move |_| {
        let name = group_name.get_untracked().trim().to_owned();
        let parent = group_parent.get_untracked();
        let body = if parent.is_empty() { json!({}) } else { json!({ "parentGroupName": parent }) };
        act(
            err,
            async move { api::call("POST", &format!("/thing-groups/{}", enc(&name)), Some(body)).await },
            move |_| {
                group_name.set(String::new());
            },
        );
    };
    let deprecate = move |name: String, undo: bool| {
        let body = json!({ "undoDeprecate": undo });
        act(
            err,
            async move { api::call("POST", &format!("/thing-types/{}/deprecate", enc(&name)), Some(body)).await },
            |_| {},
        );
    };

    view! {
        <h1>"Thing types & groups"</h1>
        <ErrorBox err=err/>
        <h2>"Thing types"</h2>
        <div class="row card" style="margin-bottom:10px">
            <input id="type-name" placeholder="type name" prop:value=move || type_name.get() on:input=move |e| type_name.set(event_target_value(&e))/>
            <input placeholder="description" prop:value=move || type_desc.get() on:input=move |e| type_desc.set(event_target_value(&e))/>
            <input placeholder="searchable attributes (a, b, c)" prop:value=move || type_attrs.get() on:input=move |e| type_attrs.set(event_target_value(&e))/>
            <button class="primary" id="create-type" on:click=create_type>"Create type"</button>
        </div>
        {loaded(types, move |v: Value| {
            let list = arr(&v, "thingTypes");
            if list.is_empty() {
                return view! { <div class="empty">"No thing types. A type names the attributes its things share; create one above."</div> }.into_any();
            }
            view! { <table id="types"><thead><tr><th>"Name"</th><th>"Description"</th><th>"Searchable attributes"</th><th>"State"</th><th></th></tr></thead><tbody>
                {list.into_iter().map(|t| {
                    let name = s(&t, "thingTypeName");
                    let props = t.get("thingTypeProperties").cloned().unwrap_or(Value::Null);
                    let meta = t.get("thingTypeMetadata").cloned().unwrap_or(Value::Null);
                    let deprecated = meta.get("deprecated").and_then(Value::as_bool).unwrap_or(false);
                    let (n1, n2) = (name.clone(), name.clone());
                    view! { <tr data-type=name.clone()>
                        <td>{name.clone()}</td>
                        <td class="muted">{s(&props, "thingTypeDescription")}</td>
                        <td class="mono">{props.get("searchableAttributes").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()}</td>
                        <td>{if deprecated { view! { <span class="badge warn">"deprecated "{date(meta.get("deprecationDate").unwrap_or(&Value::Null))}</span> }.into_any() } else { view! { <span class="badge ok">"active"</span> }.into_any() }}</td>
                        <td class="row">
                            {if deprecated {
                                view! { <button on:click=move |_| deprecate(n1.clone(), true)>"Undo deprecation"</button>
                                        <ConfirmButton label="Delete" question=format!("Delete thing type {n2}?") on_confirm=move || {
                                            let n = n2.clone();
                                            act(err, async move { api::call("DELETE", &format!("/thing-types/{}", enc(&n)), None).await }, |_| {});
                                        }/> }.into_any()
                            } else {
                                view! { <button on:click=move |_| deprecate(n1.clone(), false)>"Deprecate"</button> }.into_any()
                            }}
                        </td>
                    </tr> }
                }).collect_view()}
            </tbody></table> }.into_any()
        })}
        <h2>"Thing groups"</h2>
        <div class="row card" style="margin-bottom:10px">
            <input id="group-name" placeholder="group name" prop:value=move || group_name.get() on:input=move |e| group_name.set(event_target_value(&e))/>
            <select on:change=move |e| group_parent.set(event_target_value(&e))>
                <option value="">"(no parent)"</option>
                {move || groups.get().and_then(Result::ok).map(|v| arr(&v, "thingGroups")).unwrap_or_default().into_iter().map(|g| {
                    let n = s(&g, "groupName");
                    view! { <option value=n.clone()>{n.clone()}</option> }
                }).collect_view()}
            </select>
            <button class="primary" id="create-group" on:click=create_group>"Create group"</button>
        </div>
        {loaded(groups, move |v: Value| {
            let list = arr(&v, "thingGroups");
            if list.is_empty() {
                return view! { <div class="empty">"No thing groups. Groups gather things (and their policies); create one above."</div> }.into_any();
            }
            view! { <table id="groups"><thead><tr><th>"Name"</th><th>"Members"</th><th></th></tr></thead><tbody>
                {list.into_iter().map(|g| {
                    let name = s(&g, "groupName");
                    let n2 = name.clone();
                    view! { <tr data-group=name.clone()>
                        <td>{name.clone()}</td>
                        <td><GroupMembers group=name.clone()/></td>
                        <td><ConfirmButton label="Delete" question=format!("Delete thing group {name}?") on_confirm=move || {
                            let n = n2.clone();
                            act(err, async move { api::call("DELETE", &format!("/thing-groups/{}", enc(&n)), None).await }, |_| {});
                        }/></td>
                    </tr> }
                }).collect_view()}
            </tbody></table> }.into_any()
        })}
    }
}
