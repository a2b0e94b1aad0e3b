//! Policy documents: the IAM-style JSON grammar AWS IoT accepts, validated with messages that name
//! the offending statement.

use serde_json::Value;

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// A condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Exact, case-sensitive.
    StringEquals,
    /// Not exact.
    StringNotEquals,
    /// Exact, case-insensitive.
    StringEqualsIgnoreCase,
    /// Not exact, case-insensitive.
    StringNotEqualsIgnoreCase,
    /// `*`/`?` pattern.
    StringLike,
    /// Not a `*`/`?` pattern.
    StringNotLike,
    /// `true`/`false`.
    Bool,
    /// ARN exact.
    ArnEquals,
    /// ARN pattern.
    ArnLike,
    /// Not ARN exact.
    ArnNotEquals,
    /// Not ARN pattern.
    ArnNotLike,
    /// Numeric equality.
    NumericEquals,
    /// Numeric inequality.
    NumericNotEquals,
    /// `<`.
    NumericLessThan,
    /// `<=`.
    NumericLessThanEquals,
    /// `>`.
    NumericGreaterThan,
    /// `>=`.
    NumericGreaterThanEquals,
    /// IP in CIDR.
    IpAddress,
    /// IP not in CIDR.
    NotIpAddress,
    /// Key absent (`true`) or present (`false`).
    Null,
}

impl Operator {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "StringEquals" => Self::StringEquals,
            "StringNotEquals" => Self::StringNotEquals,
            "StringEqualsIgnoreCase" => Self::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Self::StringNotEqualsIgnoreCase,
            "StringLike" => Self::StringLike,
            "StringNotLike" => Self::StringNotLike,
            "Bool" => Self::Bool,
            "ArnEquals" => Self::ArnEquals,
            "ArnLike" => Self::ArnLike,
            "ArnNotEquals" => Self::ArnNotEquals,
            "ArnNotLike" => Self::ArnNotLike,
            "NumericEquals" => Self::NumericEquals,
            "NumericNotEquals" => Self::NumericNotEquals,
            "NumericLessThan" => Self::NumericLessThan,
            "NumericLessThanEquals" => Self::NumericLessThanEquals,
            "NumericGreaterThan" => Self::NumericGreaterThan,
            "NumericGreaterThanEquals" => Self::NumericGreaterThanEquals,
            "IpAddress" => Self::IpAddress,
            "NotIpAddress" => Self::NotIpAddress,
            "Null" => Self::Null,
            _ => return None,
        })
    }
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// At least one context value satisfies the operator.
    ForAnyValue,
    /// Every context value satisfies it.
    ForAllValues,
}

/// One `"Operator": {"key": [values]}` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Operator.
    pub operator: Operator,
    /// Set qualifier.
    pub qualifier: Option<SetQualifier>,
    /// `...IfExists`: true when the key is absent.
    pub if_exists: bool,
    /// Context key, e.g. `iot:Connection.Thing.IsAttached`.
    pub key: String,
    /// Values (may contain variables).
    pub values: Vec<String>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// Effect.
    pub effect: Effect,
    /// Action patterns (`iot:Publish`, `iot:*`, `*`).
    pub actions: Vec<String>,
    /// Whether `actions` came from `NotAction`.
    pub not_action: bool,
    /// Resource patterns.
    pub resources: Vec<String>,
    /// Whether `resources` came from `NotResource`.
    pub not_resource: bool,
    /// Conditions (all must hold).
    pub conditions: Vec<Condition>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `Version`.
    pub version: String,
    /// Statements, in document order.
    pub statements: Vec<Statement>,
}

/// Why a document was refused (AWS: `MalformedPolicyException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// Longest document, counting characters other than whitespace (AWS IoT's quota).
pub const MAX_POLICY_CHARS: usize = 2048;

/// Actions a device-side IoT policy can name.
pub const KNOWN_ACTIONS: &[&str] = &[
    "iot:Connect",
    "iot:Publish",
    "iot:RetainPublish",
    "iot:Subscribe",
    "iot:Receive",
    "iot:GetThingShadow",
    "iot:UpdateThingShadow",
    "iot:DeleteThingShadow",
    "iot:ListNamedShadowsForThing",
    "iot:GetRetainedMessage",
    "iot:ListRetainedMessages",
    "iot:DescribeJobExecution",
    "iot:GetPendingJobExecutions",
    "iot:UpdateJobExecution",
    "iot:StartNextPendingJobExecution",
    "iot:AssumeRoleWithCertificate",
    "iot:DeleteConnection",
    "iot:GetConnection",
];

fn strings(v: &Value, what: &str, at: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| PolicyError(format!("{at}: every {what} must be a string")))
            })
            .collect(),
        Value::Array(_) => Err(PolicyError(format!("{at}: {what} must not be empty"))),
        _ => Err(PolicyError(format!("{at}: {what} must be a string or an array of strings"))),
    }
}

fn check_action(a: &str, at: &str) -> Result<(), PolicyError> {
    if a == "*" {
        return Ok(());
    }
    let name = a.get(..4).filter(|p| p.eq_ignore_ascii_case("iot:")).map(|_| &a[4..]);
    let Some(name) = name else {
        return Err(PolicyError(format!(
            "{at}: action '{a}' is not an AWS IoT action (they start with 'iot:')"
        )));
    };
    if name.contains(['*', '?']) {
        return Ok(());
    }
    if !KNOWN_ACTIONS.iter().any(|k| k.eq_ignore_ascii_case(a)) {
        return Err(PolicyError(format!(
            "{at}: action '{a}' is not an AWS IoT policy action (e.g. iot:Connect, iot:Publish, iot:Subscribe, \
             iot:Receive, iot:RetainPublish)"
        )));
    }
    Ok(())
}

fn check_resource(r: &str, at: &str) -> Result<(), PolicyError> {
    if r == "*" || r.starts_with("arn:") {
        return Ok(());
    }
    Err(PolicyError(format!(
        "{at}: resource '{r}' must be '*' or an ARN (arn:aws:iot:<region>:<account>:<type>/<name>)"
    )))
}

fn parse_conditions(v: &Value, at: &str) -> Result<Vec<Condition>, PolicyError> {
    let obj = v.as_object().ok_or_else(|| PolicyError(format!("{at}: Condition must be an object")))?;
    let mut out = Vec::new();
    for (op_text, block) in obj {
        let (qualifier, rest) = if let Some(r) = op_text.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else if let Some(r) = op_text.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else {
            (None, op_text.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let operator = Operator::parse(base)
            .ok_or_else(|| PolicyError(format!("{at}: condition operator '{op_text}' is not supported")))?;
        let block = block
            .as_object()
            .ok_or_else(|| PolicyError(format!("{at}: condition '{op_text}' must map keys to values")))?;
        for (key, values) in block {
            let values = match values {
                Value::Bool(b) => vec![b.to_string()],
                Value::Number(n) => vec![n.to_string()],
                other => strings(other, &format!("value of condition key '{key}'"), at)?,
            };
            out.push(Condition { operator, qualifier, if_exists, key: key.clone(), values });
        }
    }
    Ok(out)
}

/// Parses and validates a policy document.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let compact = text.chars().filter(|c| !c.is_whitespace()).count();
    if compact > MAX_POLICY_CHARS {
        return Err(PolicyError(format!(
            "The policy document has {compact} characters (not counting white space); the limit is {MAX_POLICY_CHARS}"
        )));
    }
    let v: Value = serde_json::from_str(text)
        .map_err(|e| PolicyError(format!("The policy document is not valid JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| PolicyError("The policy document must be a JSON object".into()))?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "Version" | "Statement" | "Id") {
            return Err(PolicyError(format!("The policy document has an unknown top-level member '{key}'")));
        }
    }
    let version = match obj.get("Version") {
        None => "2008-10-17".to_owned(),
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => v.clone(),
        Some(other) => {
            return Err(PolicyError(format!(
                "Version must be \"2012-10-17\" (or \"2008-10-17\"), not {other}"
            )));
        }
    };
    let raw = match obj.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        Some(_) => {
            return Err(PolicyError("Statement must be an object or a non-empty array of objects".into()));
        }
        None => return Err(PolicyError("The policy document has no Statement".into())),
    };
    let mut statements = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let sid = s.get("Sid").and_then(Value::as_str);
        let at = match sid {
            Some(sid) => format!("Statement {} (Sid {sid})", i + 1),
            None => format!("Statement {}", i + 1),
        };
        let so = s.as_object().ok_or_else(|| PolicyError(format!("{at} must be an object")))?;
        for key in so.keys() {
            if !matches!(
                key.as_str(),
                "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition"
            ) {
                return Err(PolicyError(format!("{at} has an unknown member '{key}'")));
            }
        }
        let effect = match so.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            Some(other) => {
                return Err(PolicyError(format!(
                    "{at}: Effect must be \"Allow\" or \"Deny\", not \"{other}\""
                )));
            }
            None => return Err(PolicyError(format!("{at} has no Effect"))),
        };
        let (actions, not_action) = match (so.get("Action"), so.get("NotAction")) {
            (Some(a), None) => (strings(a, "Action", &at)?, false),
            (None, Some(a)) => (strings(a, "NotAction", &at)?, true),
            (Some(_), Some(_)) => return Err(PolicyError(format!("{at} has both Action and NotAction"))),
            (None, None) => return Err(PolicyError(format!("{at} has no Action"))),
        };
        for a in &actions {
            check_action(a, &at)?;
        }
        let (resources, not_resource) = match (so.get("Resource"), so.get("NotResource")) {
            (Some(r), None) => (strings(r, "Resource", &at)?, false),
            (None, Some(r)) => (strings(r, "NotResource", &at)?, true),
            (Some(_), Some(_)) => return Err(PolicyError(format!("{at} has both Resource and NotResource"))),
            (None, None) => return Err(PolicyError(format!("{at} has no Resource"))),
        };
        for r in &resources {
            check_resource(r, &at)?;
        }
        let conditions = match so.get("Condition") {
            Some(c) => parse_conditions(c, &at)?,
            None => Vec::new(),
        };
        statements.push(Statement {
            sid: sid.map(str::to_owned),
            effect,
            actions,
            not_action,
            resources,
            not_resource,
            conditions,
        });
    }
    Ok(Policy { version, statements })
}
