//! The rule builder: SQL checked as you type (the engine's parser, in wasm), a FROM picker fed by
//! the topics the message history has seen, actions made from forms with their substitution
//! templates previewed, the whole payload checked by the model's own validation, a dry run over
//! recent messages, and save through the AWS API (CreateTopicRule / ReplaceTopicRule).

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde_json::{Map, Value, json};
use thingbox_sql::SqlVersion;

use super::dryrun::{DryRun, Sample};
use super::sql::{SqlEditor, with_from};
use crate::api::{self, ApiError, act, enc, load};
use crate::widgets::ErrorBox;

/// The role ARN forms fill in (Thingbox does not check roles; AWS requires one).
pub const DEFAULT_ROLE: &str = "arn:aws:iam::000000000000:role/thingbox-rules";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Text,
    Choice(&'static [&'static str]),
    Qos,
    Flag,
    /// `key: value` lines → `[{"key", "value"}]`.
    Headers,
}

/// One form field: the member's path in the action (`putItem.tableName`), label, hint, kind,
/// whether it is required.
type Spec = (&'static str, &'static str, &'static str, Field, bool);

/// The action types with forms (others are edited as JSON).
const FORMS: &[(&str, &str, &[Spec])] = &[
    (
        "republish",
        "Republish to a topic",
        &[
            ("topic", "Topic", "alerts/${topic(2)} — $$aws/… for a reserved topic", Field::Text, true),
            ("qos", "QoS", "", Field::Qos, false),
        ],
    ),
    (
        "http",
        "HTTP POST",
        &[
            ("url", "URL", "https://example.com/hook/${topic(2)}", Field::Text, true),
            (
                "confirmationUrl",
                "Confirmation URL",
                "https://example.com (the URL must start with it)",
                Field::Text,
                false,
            ),
            ("headers", "Headers", "one per line: x-device: ${clientid()}", Field::Headers, false),
        ],
    ),
    (
        "lambda",
        "Lambda function",
        &[(
            "functionArn",
            "Function ARN",
            "arn:aws:lambda:us-east-1:000000000000:function:myFunction",
            Field::Text,
            true,
        )],
    ),
    (
        "dynamoDBv2",
        "DynamoDB (output as the item)",
        &[("putItem.tableName", "Table", "readings", Field::Text, true)],
    ),
    (
        "dynamoDB",
        "DynamoDB (key + payload column)",
        &[
            ("tableName", "Table", "readings", Field::Text, true),
            ("hashKeyField", "Partition key", "device", Field::Text, true),
            ("hashKeyValue", "Partition value", "${topic(2)}", Field::Text, true),
            ("hashKeyType", "Partition type", "", Field::Choice(&["STRING", "NUMBER"]), false),
            ("rangeKeyField", "Sort key", "ts", Field::Text, false),
            ("rangeKeyValue", "Sort value", "${timestamp()}", Field::Text, false),
            ("rangeKeyType", "Sort type", "", Field::Choice(&["STRING", "NUMBER"]), false),
            ("payloadField", "Payload column", "payload", Field::Text, false),
        ],
    ),
    (
        "s3",
        "S3 object (a file in the data dir)",
        &[
            ("bucketName", "Bucket", "telemetry", Field::Text, true),
            ("key", "Key", "${topic(2)}/${timestamp()}.json", Field::Text, true),
        ],
    ),
    (
        "sqs",
        "SQS queue (recorded)",
        &[
            (
                "queueUrl",
                "Queue URL",
                "https://sqs.us-east-1.amazonaws.com/000000000000/queue",
                Field::Text,
                true,
            ),
            ("useBase64", "Base64", "", Field::Flag, false),
        ],
    ),
    (
        "sns",
        "SNS topic (recorded)",
        &[
            ("targetArn", "Topic ARN", "arn:aws:sns:us-east-1:000000000000:alerts", Field::Text, true),
            ("messageFormat", "Format", "", Field::Choice(&["RAW", "JSON"]), false),
        ],
    ),
    (
        "kinesis",
        "Kinesis stream (recorded)",
        &[
            ("streamName", "Stream", "telemetry", Field::Text, true),
            ("partitionKey", "Partition key", "${topic(2)}", Field::Text, false),
        ],
    ),
];

fn specs(kind: &str) -> Option<&'static [Spec]> {
    FORMS.iter().find(|(k, _, _)| *k == kind).map(|(_, _, s)| *s)
}

fn needs_role(kind: &str) -> bool {
    !matches!(kind, "http" | "lambda" | "salesforce" | "iotAnalytics")
}

/// One action being edited: its type, the form's values, and (for types without a form) JSON.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionDraft {
    /// Action type.
    pub kind: String,
    /// Member path → text.
    pub values: BTreeMap<String, String>,
    /// The role ARN.
    pub role: String,
    /// The members as JSON, for types without a form.
    pub raw: String,
}

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn set_path(obj: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut cur = obj;
    for p in parts {
        cur = cur.entry(p).or_insert_with(|| Value::Object(Map::new())).as_object_mut().expect("object");
    }
    cur.insert(last.to_owned(), value);
}

impl ActionDraft {
    /// A fresh draft of `kind`.
    pub fn new(kind: &str) -> Self {
        Self { kind: kind.to_owned(), role: DEFAULT_ROLE.to_owned(), raw: "{}".into(), ..Self::default() }
    }

    /// Reads an action as the API returns it.
    pub fn from_json(action: &Value) -> Option<Self> {
        let (kind, body) = action.as_object()?.iter().next()?;
        let mut d = Self::new(kind);
        d.role = body.get("roleArn").and_then(Value::as_str).unwrap_or(DEFAULT_ROLE).to_owned();
        match specs(kind) {
            Some(specs) => {
                for (path, _, _, field, _) in specs {
                    let Some(v) = get_path(body, path) else { continue };
                    let text = match (field, v) {
                        (Field::Headers, Value::Array(hs)) => hs
                            .iter()
                            .map(|h| {
                                format!("{}: {}", crate::widgets::s(h, "key"), crate::widgets::s(h, "value"))
                            })
                            .collect::<Vec<_>>()
                            .join("\n"),
                        (_, Value::String(s)) => s.clone(),
                        (_, other) => other.to_string(),
                    };
                    d.values.insert((*path).to_owned(), text);
                }
            }
            None => d.raw = crate::widgets::json(body),
        }
        Some(d)
    }

    /// The action as the API takes it, or why not.
    pub fn to_json(&self) -> Result<Value, String> {
        let mut body = Map::new();
        match specs(&self.kind) {
            Some(specs) => {
                for (path, label, _, field, required) in specs {
                    let text = self.values.get(*path).map(|s| s.trim()).unwrap_or_default();
                    if text.is_empty() {
                        if *required {
                            return Err(format!("{}: {label} is required", self.kind));
                        }
                        continue;
                    }
                    let value = match field {
                        Field::Qos => {
                            Value::from(text.parse::<u8>().map_err(|_| format!("{label} is 0 or 1"))?)
                        }
                        Field::Flag => Value::Bool(text == "true"),
                        Field::Headers => Value::Array(
                            text.lines()
                                .filter(|l| !l.trim().is_empty())
                                .map(|l| {
                                    let (k, v) = l
                                        .split_once(':')
                                        .ok_or_else(|| format!("header line '{l}' needs key: value"))?;
                                    Ok(json!({"key": k.trim(), "value": v.trim()}))
                                })
                                .collect::<Result<_, String>>()?,
                        ),
                        _ => Value::String(text.to_owned()),
                    };
                    set_path(&mut body, path, value);
                }
            }
            None => {
                body = serde_json::from_str::<Map<String, Value>>(&self.raw)
                    .map_err(|e| format!("{}: the JSON is not an object: {e}", self.kind))?;
            }
        }
        if needs_role(&self.kind) && !body.contains_key("roleArn") {
            body.insert("roleArn".into(), Value::String(self.role.clone()));
        }
        Ok(json!({ self.kind.clone(): body }))
    }

    /// The string members with a substitution template.
    fn templates(&self) -> Vec<(String, String)> {
        self.values.iter().filter(|(_, v)| v.contains("${")).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// The form of one action; `sample` is the dry run's first message, for the template preview.
#[component]
fn ActionForm(
    draft: RwSignal<ActionDraft>,
    version: RwSignal<SqlVersion>,
    sample: RwSignal<Option<Sample>>,
    on_remove: Callback<()>,
    #[prop(into)] id: String,
) -> impl IntoView {
    let kind = draft.with_untracked(|d| d.kind.clone());
    let title = FORMS.iter().find(|(k, _, _)| *k == kind).map_or(kind.clone(), |(_, t, _)| (*t).to_owned());
    let body = match specs(&kind) {
        Some(specs) => specs
            .iter()
            .map(|(path, label, hint, field, required)| {
                let path = *path;
                let value = move || draft.with(|d| d.values.get(path).cloned().unwrap_or_default());
                let set = move |v: String| draft.update(|d| {
                    d.values.insert(path.to_owned(), v);
                });
                let input = match field {
                    Field::Choice(options) => view! {
                        <select data-field=path on:change=move |e| set(event_target_value(&e))>
                            <option value="">"(default)"</option>
                            {options.iter().map(|o| view! { <option value=*o selected=move || value() == *o>{*o}</option> }).collect_view()}
                        </select>
                    }.into_any(),
                    Field::Qos => view! {
                        <select data-field=path on:change=move |e| set(event_target_value(&e))>
                            <option value="0" selected=move || value() != "1">"0"</option>
                            <option value="1" selected=move || value() == "1">"1"</option>
                        </select>
                    }.into_any(),
                    Field::Flag => view! {
                        <input type="checkbox" data-field=path prop:checked=move || value() == "true"
                            on:change=move |e| set(event_target_checked(&e).to_string())/>
                    }.into_any(),
                    Field::Headers => view! {
                        <textarea data-field=path class="short" placeholder=*hint prop:value=value on:input=move |e| set(event_target_value(&e))></textarea>
                    }.into_any(),
                    Field::Text => view! {
                        <input data-field=path placeholder=*hint prop:value=value on:input=move |e| set(event_target_value(&e))/>
                    }.into_any(),
                };
                view! { <label>{*label}{required.then_some(" *")}</label><div>{input}</div> }
            })
            .collect_view()
            .into_any(),
        None => view! {
            <label>"Members (JSON)"</label>
            <textarea class="short" data-field="raw" prop:value=move || draft.with(|d| d.raw.clone())
                on:input=move |e| draft.update(|d| d.raw = event_target_value(&e))></textarea>
        }
        .into_any(),
    };
    let preview = move || {
        let templates = draft.with(ActionDraft::templates);
        if templates.is_empty() {
            return None;
        }
        let rendered: Vec<(String, String)> = sample.with(|s| {
            templates
                .iter()
                .map(|(path, t)| {
                    let out = match thingbox_sql::Template::parse(t, version.get()) {
                        Err(e) => format!("✗ {e}"),
                        Ok(tpl) => match s {
                            Some(s) => format!("→ {}", s.with_input(|i, host| tpl.render(i, host))),
                            None => "→ (run a dry run to preview with a real message)".into(),
                        },
                    };
                    (path.clone(), out)
                })
                .collect()
        });
        Some(
            view! { <div class="template-preview">{rendered.into_iter().map(|(p, r)| view! { <div><span class="mono muted">{p}</span>" "<span class="mono">{r}</span></div> }).collect_view()}</div> },
        )
    };
    let role_field = needs_role(&kind).then(|| view! {
        <label>"Role ARN"</label>
        <div><input data-field="roleArn" prop:value=move || draft.with(|d| d.role.clone()) on:input=move |e| draft.update(|d| d.role = event_target_value(&e))/></div>
    });
    view! {
        <div class="card action-form" id=id data-kind=kind.clone()>
            <div class="spread"><b>{title}</b><button class="danger" on:click=move |_| on_remove.run(())>"Remove"</button></div>
            <div class="form">{body}{role_field}</div>
            {preview}
        </div>
    }
}

/// The kinds offered in "Add action".
fn kind_options() -> impl IntoView {
    let extra = thingbox_model::rules::ACTION_TYPES.iter().map(|t| t.name).filter(|n| specs(n).is_none());
    view! {
        {FORMS.iter().map(|(k, t, _)| view! { <option value=*k>{*t}</option> }).collect_view()}
        {extra.map(|k| view! { <option value=k>{format!("{k} (JSON, recorded)")}</option> }).collect_view()}
    }
}

type Drafts = RwSignal<Vec<(u32, RwSignal<ActionDraft>)>>;

/// Create (`name: None`) or edit a rule.
#[component]
pub fn RuleEditor(name: Option<String>) -> impl IntoView {
    let err = RwSignal::new(None::<ApiError>);
    let editing = name.is_some();
    let rule_name = RwSignal::new(name.clone().unwrap_or_default());
    let description = RwSignal::new(String::new());
    let sql = RwSignal::new("SELECT * FROM 'sensors/+/data' WHERE temperature > 30".to_owned());
    let version = RwSignal::new(SqlVersion::V2016_03_23);
    let disabled = RwSignal::new(false);
    let actions: Drafts = RwSignal::new(Vec::new());
    let error_action = RwSignal::new(None::<RwSignal<ActionDraft>>);
    let next_id = StoredValue::new(0u32);
    let sample = RwSignal::new(None::<Sample>);
    // Drafts belong to the editor, not to whatever view or effect made them (a branch that is
    // re-rendered away would take its signals with it).
    let owner = Owner::current().expect("the editor runs inside an owner");
    let new_draft = StoredValue::new(owner);
    let draft_signal = move |d: ActionDraft| new_draft.with_value(|o| o.with(|| RwSignal::new(d)));
    let add = move |d: ActionDraft| {
        let id = next_id.get_value();
        next_id.set_value(id + 1);
        let d = draft_signal(d);
        actions.update(|a| a.push((id, d)));
    };
    if let Some(n) = name.clone() {
        let existing = load(move || {
            let url = format!("/rules/{}", enc(&n));
            async move { api::get(&url).await }
        });
        Effect::new(move |_| {
            if let Some(Ok(v)) = existing.get() {
                let r = v.get("rule").cloned().unwrap_or_default();
                sql.set(crate::widgets::s(&r, "sql"));
                description.set(crate::widgets::s(&r, "description"));
                version
                    .set(SqlVersion::parse(&crate::widgets::s(&r, "awsIotSqlVersion")).unwrap_or_default());
                disabled.set(r.get("ruleDisabled").and_then(Value::as_bool).unwrap_or(false));
                actions.set(Vec::new());
                for a in r.get("actions").and_then(Value::as_array).cloned().unwrap_or_default() {
                    if let Some(d) = ActionDraft::from_json(&a) {
                        add(d);
                    }
                }
                error_action.set(r.get("errorAction").and_then(ActionDraft::from_json).map(draft_signal));
            } else if let Some(Err(e)) = existing.get() {
                err.set(Some(e));
            }
        });
    } else {
        add(ActionDraft::new("republish"));
    }
    // The payload as the API takes it, checked by the engine's own validation.
    let payload = Memo::new(move |_| -> Result<Value, String> {
        let mut acts = Vec::new();
        for (_, d) in actions.get() {
            acts.push(d.get().to_json()?);
        }
        let mut p = json!({
            "sql": sql.get(), "awsIotSqlVersion": version.get().as_str(), "ruleDisabled": disabled.get(), "actions": acts,
        });
        let desc = description.get();
        if !desc.trim().is_empty() {
            p["description"] = Value::String(desc);
        }
        if let Some(e) = error_action.get() {
            p["errorAction"] = e.get().to_json()?;
        }
        thingbox_model::rules::check_payload(&p).map_err(|e| e.to_string())?;
        if !editing {
            thingbox_model::rules::check_rule_name(&rule_name.get()).map_err(|e| e.to_string())?;
        }
        Ok(p)
    });
    let save = move |_| {
        let Ok(body) = payload.get_untracked() else { return };
        let n = rule_name.get_untracked();
        let (method, url) = (if editing { "PATCH" } else { "POST" }, format!("/rules/{}", enc(&n)));
        act(err, async move { api::call(method, &url, Some(body)).await }, move |_| {
            crate::go(&format!("rules/{n}"))
        });
    };
    let topics = load(|| async { api::get("/console/api/history/topics").await });
    let kind_to_add = RwSignal::new("republish".to_owned());
    view! {
        <div class="spread">
            <h1><a href="#/rules">"Rules"</a>" / "{if editing { format!("Edit {}", name.clone().unwrap_or_default()) } else { "New rule".to_owned() }}</h1>
        </div>
        <ErrorBox err=err/>
        <div class="split rule-builder">
            <div>
                <div class="form">
                    <label for="rule-name">"Name"</label>
                    <input id="rule-name" placeholder="letters, digits and _" prop:value=move || rule_name.get() disabled=editing
                        on:input=move |e| rule_name.set(event_target_value(&e))/>
                    <label for="rule-description">"Description"</label>
                    <input id="rule-description" prop:value=move || description.get() on:input=move |e| description.set(event_target_value(&e))/>
                    <label for="rule-version">"SQL version"</label>
                    <select id="rule-version" on:change=move |e| version.set(SqlVersion::parse(&event_target_value(&e)).unwrap_or_default())>
                        {SqlVersion::ALL.into_iter().map(|v| view! { <option value=v.as_str() selected=move || version.get() == v>{v.as_str()}</option> }).collect_view()}
                    </select>
                    <label for="rule-from">"Topic (FROM)"</label>
                    <div class="row">
                        <input id="rule-from" list="rule-topics" placeholder="pick a topic seen recently"
                            on:change=move |e| { let f = event_target_value(&e); if !f.is_empty() { sql.update(|s| *s = with_from(s, &f)); } }/>
                        <datalist id="rule-topics">{move || topics.get().and_then(Result::ok).map(|v| {
                            v.as_array().cloned().unwrap_or_default().into_iter().map(|t| {
                                let topic = crate::widgets::s(&t, "topic");
                                let mut levels: Vec<&str> = topic.split('/').collect();
                                let wild = (levels.len() > 1).then(|| { levels[1] = "+"; levels.join("/") });
                                view! { <option value=topic.clone()/>{wild.map(|w| view! { <option value=w/> })} }
                            }).collect_view()
                        })}</datalist>
                    </div>
                </div>
                <h2>"SQL"</h2>
                <SqlEditor sql=sql version=version/>
                <h2>"Actions"</h2>
                <For each=move || actions.get() key=|(id, _)| *id children=move |(id, d)| {
                    view! { <ActionForm draft=d version=version sample=sample id=format!("action-{id}")
                        on_remove=Callback::new(move |_| actions.update(|a| a.retain(|(i, _)| *i != id)))/> }
                }/>
                <div class="row">
                    <select id="add-action-kind" on:change=move |e| kind_to_add.set(event_target_value(&e))>{kind_options()}</select>
                    <button id="add-action" on:click=move |_| add(ActionDraft::new(&kind_to_add.get_untracked()))>"Add action"</button>
                </div>
                <h2>"On error"</h2>
                {move || match error_action.get() {
                    Some(d) => view! { <ActionForm draft=d version=version sample=sample id="error-action"
                        on_remove=Callback::new(move |_| error_action.set(None))/> }.into_any(),
                    None => view! { <div class="row"><span class="muted">"No errorAction: a failed action is only counted."</span>
                        <button id="add-error-action" on:click=move |_| error_action.set(Some(draft_signal(ActionDraft::new("republish"))))>"Add errorAction"</button></div> }.into_any(),
                }}
                <div class="row" style="margin-top:14px">
                    <label><input type="checkbox" id="rule-disabled" prop:checked=move || disabled.get() on:change=move |e| disabled.set(event_target_checked(&e))/>" disabled"</label>
                    <button class="primary" id="save-rule" disabled=move || payload.get().is_err() on:click=save>{if editing { "Save changes" } else { "Create rule" }}</button>
                </div>
                <div id="payload-validation">{move || match payload.get() {
                    Ok(_) => view! { <span class="valid">"✓ ready to save"</span> }.into_any(),
                    Err(e) => view! { <span class="invalid">"✗ "{e}</span> }.into_any(),
                }}</div>
            </div>
            <div>
                <h2>"Dry run"</h2>
                <DryRun sql=sql version=version actions=actions sample=sample/>
            </div>
        </div>
    }
}
