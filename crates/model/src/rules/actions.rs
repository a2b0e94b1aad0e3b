//! Topic rule actions as the API carries them: `{"<actionType>": {…}}`, exactly one key each.
//!
//! Actions are kept as the JSON the caller sent (GetTopicRule returns them unchanged); this module
//! checks them against botocore's shapes — the action type is known, required members are
//! present with the right JSON type, enumerations hold, and every `${…}` substitution template in
//! a string member parses — and names the first problem the way AWS's validation does.

use serde_json::{Map, Value};
use thingbox_sql::{SqlVersion, Template};

use crate::names::ValidationError;

/// A member's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Str,
    Bool,
    Int,
    Obj,
    List,
}

/// One action type: its wire name, its required members and their types, and the optional members
/// whose type is checked.
#[derive(Debug)]
pub struct ActionType {
    /// The key in the action object (`republish`, `dynamoDBv2`, …).
    pub name: &'static str,
    required: &'static [(&'static str, Ty)],
    optional: &'static [(&'static str, Ty)],
    /// How Thingbox carries it out (docs/compat.md has the same table).
    pub served: Served,
}

/// How Thingbox carries out an action type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Republished through the router.
    Republish,
    /// An HTTP POST.
    Http,
    /// A local command or URL mapped to the function ARN.
    Lambda,
    /// Rows in a local table.
    DynamoDb,
    /// Rows in a local table (`putItem`).
    DynamoDbV2,
    /// A file under the data dir.
    S3,
    /// Sent to an AWS endpoint the user configures, else recorded as "would have sent".
    Forwarded,
}

use Ty::*;

/// Every action type of botocore's `Action` union.
pub static ACTION_TYPES: &[ActionType] = &[
    ActionType {
        name: "republish",
        required: &[("roleArn", Str), ("topic", Str)],
        optional: &[("qos", Int), ("headers", Obj)],
        served: Served::Republish,
    },
    ActionType {
        name: "http",
        required: &[("url", Str)],
        optional: &[
            ("confirmationUrl", Str),
            ("headers", List),
            ("auth", Obj),
            ("enableBatching", Bool),
            ("batchConfig", Obj),
        ],
        served: Served::Http,
    },
    ActionType { name: "lambda", required: &[("functionArn", Str)], optional: &[], served: Served::Lambda },
    ActionType {
        name: "dynamoDB",
        required: &[("tableName", Str), ("roleArn", Str), ("hashKeyField", Str), ("hashKeyValue", Str)],
        optional: &[
            ("operation", Str),
            ("hashKeyType", Str),
            ("rangeKeyField", Str),
            ("rangeKeyValue", Str),
            ("rangeKeyType", Str),
            ("payloadField", Str),
        ],
        served: Served::DynamoDb,
    },
    ActionType {
        name: "dynamoDBv2",
        required: &[("roleArn", Str), ("putItem", Obj)],
        optional: &[],
        served: Served::DynamoDbV2,
    },
    ActionType {
        name: "s3",
        required: &[("roleArn", Str), ("bucketName", Str), ("key", Str)],
        optional: &[("cannedAcl", Str)],
        served: Served::S3,
    },
    ActionType {
        name: "sns",
        required: &[("targetArn", Str), ("roleArn", Str)],
        optional: &[("messageFormat", Str)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "sqs",
        required: &[("roleArn", Str), ("queueUrl", Str)],
        optional: &[("useBase64", Bool)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "kinesis",
        required: &[("roleArn", Str), ("streamName", Str)],
        optional: &[("partitionKey", Str)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "firehose",
        required: &[("roleArn", Str), ("deliveryStreamName", Str)],
        optional: &[("separator", Str), ("batchMode", Bool)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "cloudwatchMetric",
        required: &[
            ("roleArn", Str),
            ("metricNamespace", Str),
            ("metricName", Str),
            ("metricValue", Str),
            ("metricUnit", Str),
        ],
        optional: &[("metricTimestamp", Str)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "cloudwatchAlarm",
        required: &[("roleArn", Str), ("alarmName", Str), ("stateReason", Str), ("stateValue", Str)],
        optional: &[],
        served: Served::Forwarded,
    },
    ActionType {
        name: "cloudwatchLogs",
        required: &[("roleArn", Str), ("logGroupName", Str)],
        optional: &[("batchMode", Bool)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "elasticsearch",
        required: &[("roleArn", Str), ("endpoint", Str), ("index", Str), ("type", Str), ("id", Str)],
        optional: &[],
        served: Served::Forwarded,
    },
    ActionType {
        name: "openSearch",
        required: &[("roleArn", Str), ("endpoint", Str), ("index", Str), ("type", Str), ("id", Str)],
        optional: &[],
        served: Served::Forwarded,
    },
    ActionType {
        name: "salesforce",
        required: &[("token", Str), ("url", Str)],
        optional: &[],
        served: Served::Forwarded,
    },
    ActionType {
        name: "iotAnalytics",
        required: &[],
        optional: &[("channelArn", Str), ("channelName", Str), ("batchMode", Bool), ("roleArn", Str)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "iotEvents",
        required: &[("inputName", Str), ("roleArn", Str)],
        optional: &[("messageId", Str), ("batchMode", Bool)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "iotSiteWise",
        required: &[("putAssetPropertyValueEntries", List), ("roleArn", Str)],
        optional: &[],
        served: Served::Forwarded,
    },
    ActionType {
        name: "stepFunctions",
        required: &[("stateMachineName", Str), ("roleArn", Str)],
        optional: &[("executionNamePrefix", Str)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "timestream",
        required: &[("roleArn", Str), ("databaseName", Str), ("tableName", Str), ("dimensions", List)],
        optional: &[("timestamp", Obj)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "kafka",
        required: &[("destinationArn", Str), ("topic", Str), ("clientProperties", Obj)],
        optional: &[("key", Str), ("partition", Str), ("headers", List)],
        served: Served::Forwarded,
    },
    ActionType {
        name: "location",
        required: &[
            ("roleArn", Str),
            ("trackerName", Str),
            ("deviceId", Str),
            ("latitude", Str),
            ("longitude", Str),
        ],
        optional: &[("timestamp", Obj)],
        served: Served::Forwarded,
    },
];

/// The action type called `name` (exact case, as on the wire).
pub fn action_type(name: &str) -> Option<&'static ActionType> {
    ACTION_TYPES.iter().find(|t| t.name == name)
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Str => "a string",
        Bool => "a boolean",
        Int => "an integer",
        Obj => "an object",
        List => "a list",
    }
}

fn has_type(v: &Value, t: Ty) -> bool {
    match t {
        Str => v.is_string(),
        Bool => v.is_boolean(),
        Int => v.is_i64() || v.is_u64(),
        Obj => v.is_object(),
        List => v.is_array(),
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// A shape or value problem (`InvalidRequestException`).
    Invalid(String),
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::Invalid(m) => f.write_str(m),
        }
    }
}

fn invalid(field: &str, value: impl std::fmt::Display, constraint: &str) -> ActionError {
    ActionError::Invalid(ValidationError::new(field, value, constraint).to_string())
}

/// Checks one action at `field` (e.g. `topicRulePayload.actions.1.member`); `error_action` forbids
/// external functions in templates, as AWS does. Returns its type.
pub fn check_action(
    field: &str,
    action: &Value,
    version: SqlVersion,
    error_action: bool,
) -> Result<&'static ActionType, ActionError> {
    let Some(obj) = action.as_object() else {
        return Err(ActionError::Invalid(format!(
            "{field} must be an object with one action type as its key"
        )));
    };
    let mut keys = obj.iter().filter(|(_, v)| !v.is_null());
    let (name, body) = match (keys.next(), keys.next()) {
        (Some(one), None) => one,
        (None, _) => {
            return Err(ActionError::Invalid(format!(
                "{field} names no action type; give exactly one, e.g. {{\"republish\": {{…}}}}"
            )));
        }
        (Some((a, _)), Some((b, _))) => {
            return Err(ActionError::Invalid(format!(
                "{field} names more than one action type ('{a}' and '{b}'); each action has exactly one"
            )));
        }
    };
    let Some(ty) = action_type(name) else {
        let known: Vec<&str> = ACTION_TYPES.iter().map(|t| t.name).collect();
        return Err(ActionError::Invalid(format!(
            "{field} has an unknown action type '{name}'; known types: {}",
            known.join(", ")
        )));
    };
    let at = format!("{field}.{name}");
    let Some(body) = body.as_object() else {
        return Err(invalid(&at, body, "Member must be an object"));
    };
    for (member, t) in ty.required {
        match body.get(*member) {
            None | Some(Value::Null) => {
                return Err(invalid(&format!("{at}.{member}"), "null", "Member must not be null"));
            }
            Some(v) if !has_type(v, *t) => {
                return Err(invalid(
                    &format!("{at}.{member}"),
                    v,
                    &format!("Member must be {}", ty_name(*t)),
                ));
            }
            Some(_) => {}
        }
    }
    for (member, t) in ty.optional {
        if let Some(v) = body.get(*member)
            && !v.is_null()
            && !has_type(v, *t)
        {
            return Err(invalid(&format!("{at}.{member}"), v, &format!("Member must be {}", ty_name(*t))));
        }
    }
    check_specifics(ty, &at, body)?;
    check_templates(&at, &Value::Object(body.clone()), version, error_action)?;
    Ok(ty)
}

fn check_specifics(ty: &ActionType, at: &str, body: &Map<String, Value>) -> Result<(), ActionError> {
    let str_of = |k: &str| body.get(k).and_then(Value::as_str);
    match ty.name {
        "republish" => {
            if let Some(q) = body.get("qos").and_then(Value::as_i64)
                && !(0..=1).contains(&q)
            {
                return Err(invalid(&format!("{at}.qos"), q, "Member must be 0 or 1"));
            }
            let topic = str_of("topic").unwrap_or_default();
            if topic.is_empty() {
                return Err(invalid(
                    &format!("{at}.topic"),
                    topic,
                    "Member must have length greater than or equal to 1",
                ));
            }
            let target = topic.strip_prefix("$$").map_or_else(|| topic.to_owned(), |t| format!("${t}"));
            if !topic.contains("${") {
                if let Err(e) = crate::topic::check_name(&target) {
                    return Err(ActionError::Invalid(format!("{at}.topic: {e}")));
                }
                if matches!(crate::topic::reserved(&target), Some(crate::topic::Reserved::Jobs { .. })) {
                    return Err(ActionError::Invalid(format!(
                        "{at}.topic: republishing to the reserved job topic '{target}' is not supported (as on AWS)"
                    )));
                }
            }
            if topic.starts_with('$') && !topic.starts_with("$$") && !topic.starts_with("${") {
                return Err(ActionError::Invalid(format!(
                    "{at}.topic: to republish to a reserved topic, write $$ for its $ (e.g. $$aws/things/MyThing/shadow/update)"
                )));
            }
        }
        "http" => {
            let url = str_of("url").unwrap_or_default();
            if url.len() > 2000 {
                return Err(invalid(
                    &format!("{at}.url"),
                    url,
                    "Member must have length less than or equal to 2000",
                ));
            }
            if !(url.contains("${") || url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid(&format!("{at}.url"), url, "Member must be an http:// or https:// URL"));
            }
            if let Some(c) = str_of("confirmationUrl")
                && !c.contains("${")
                && !url.contains("${")
                && !url.starts_with(c)
            {
                return Err(ActionError::Invalid(format!(
                    "{at}: the url '{url}' must start with the confirmationUrl '{c}'"
                )));
            }
            if let Some(headers) = body.get("headers").and_then(Value::as_array) {
                for (i, h) in headers.iter().enumerate() {
                    let ok = h.get("key").is_some_and(Value::is_string)
                        && h.get("value").is_some_and(Value::is_string);
                    if !ok {
                        return Err(invalid(
                            &format!("{at}.headers.{}.member", i + 1),
                            h,
                            "Member must have a string key and a string value",
                        ));
                    }
                }
            }
        }
        "sns" => {
            if let Some(f) = str_of("messageFormat")
                && f != "RAW"
                && f != "JSON"
            {
                return Err(invalid(
                    &format!("{at}.messageFormat"),
                    f,
                    "Member must satisfy enum value set: [RAW, JSON]",
                ));
            }
        }
        "dynamoDB" => {
            for k in ["hashKeyType", "rangeKeyType"] {
                if let Some(t) = str_of(k)
                    && t != "STRING"
                    && t != "NUMBER"
                {
                    return Err(invalid(
                        &format!("{at}.{k}"),
                        t,
                        "Member must satisfy enum value set: [STRING, NUMBER]",
                    ));
                }
            }
            if str_of("rangeKeyField").is_some() != str_of("rangeKeyValue").is_some() {
                return Err(ActionError::Invalid(format!(
                    "{at}: rangeKeyField and rangeKeyValue go together; give both or neither"
                )));
            }
        }
        "dynamoDBv2" => {
            let table = body.get("putItem").and_then(|p| p.get("tableName"));
            if !table.is_some_and(Value::is_string) {
                return Err(invalid(&format!("{at}.putItem.tableName"), "null", "Member must not be null"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every string member (except role ARNs) with a `${…}` must be a valid template.
fn check_templates(at: &str, v: &Value, version: SqlVersion, error_action: bool) -> Result<(), ActionError> {
    match v {
        Value::String(s) if s.contains("${") => {
            let t = Template::parse(s, version).map_err(|e| {
                ActionError::Invalid(format!("{at}: the substitution template '{s}' is invalid: {e}"))
            })?;
            let ext = t.external_functions();
            if error_action && !ext.is_empty() {
                return Err(ActionError::Invalid(format!(
                    "{at}: an errorAction's templates may not call external functions ({}())",
                    ext.join("(), ")
                )));
            }
            Ok(())
        }
        Value::Object(o) => {
            for (k, v) in o {
                if k != "roleArn" {
                    check_templates(&format!("{at}.{k}"), v, version, error_action)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_templates(&format!("{at}.{}", i + 1), v, version, error_action)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
