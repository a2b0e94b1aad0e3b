//! Topic rules: the payload a rule is made of, its validation (names, SQL, actions), and the set of
//! rules as a state machine whose operations return the [`RuleChange`]s to make durable.
//!
//! The SQL is parsed with `thingbox_sql` for the rule's `awsIotSqlVersion`, so a rule that is
//! accepted here is one the engine can run; its FROM filter must be a valid MQTT topic filter.
//! Like the registry, nothing here does IO or reads a clock.

pub mod actions;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thingbox_sql::{Query, SqlError, SqlVersion};

use crate::Timestamp;
use crate::names::ValidationError;
use crate::tags::{self, Tags};

pub use actions::{ACTION_TYPES, ActionType, Served};

/// Most actions one rule may have (AWS's limit).
pub const MAX_ACTIONS: usize = 10;
/// Longest rule name.
pub const MAX_NAME: usize = 128;

/// Why a rule operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// `SqlParseException`: the SQL does not parse, naming where.
    #[error("{0}")]
    SqlParse(String),
    /// `InvalidRequestException`.
    #[error("{0}")]
    InvalidRequest(String),
    /// The rule does not exist. AWS answers `UnauthorizedException` for a rule that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// `ResourceAlreadyExistsException`.
    #[error("{message}")]
    AlreadyExists {
        /// What a person reads.
        message: String,
        /// The rule's ARN.
        arn: String,
    },
}

impl From<ValidationError> for RuleError {
    fn from(e: ValidationError) -> Self {
        RuleError::InvalidRequest(e.to_string())
    }
}

/// Checks a rule name: 1–128 of `[a-zA-Z0-9_]`.
pub fn check_rule_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(ValidationError::new(
            "ruleName",
            name,
            if name.is_empty() {
                "Member must have length greater than or equal to 1"
            } else {
                "Member must have length less than or equal to 128"
            },
        ));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ValidationError::new(
            "ruleName",
            name,
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]+$",
        ));
    }
    Ok(())
}

/// `TopicRulePayload` as stored and returned: the caller's members, actions unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RulePayload {
    /// The SQL statement.
    pub sql: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The actions, each `{"<type>": {…}}`.
    #[serde(default)]
    pub actions: Vec<Value>,
    /// Whether the rule is disabled.
    #[serde(default)]
    pub rule_disabled: bool,
    /// The SQL dialect as given (`None`: the default, 2015-10-08).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_iot_sql_version: Option<String>,
    /// The action taken when an action fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_action: Option<Value>,
}

impl RulePayload {
    /// The dialect (2015-10-08 when none is given).
    pub fn version(&self) -> SqlVersion {
        self.aws_iot_sql_version.as_deref().and_then(SqlVersion::parse).unwrap_or_default()
    }
}

/// A rule's SQL error in AWS's words, naming line and column.
pub fn sql_error(e: &SqlError) -> RuleError {
    RuleError::SqlParse(format!("Invalid SQL: {e}"))
}

/// Reads and checks a `TopicRulePayload` (the JSON body of CreateTopicRule / ReplaceTopicRule).
/// Returns the payload and its parsed SQL.
pub fn check_payload(body: &Value) -> Result<(RulePayload, Query), RuleError> {
    let field = "topicRulePayload";
    let Some(obj) = body.as_object() else {
        return Err(RuleError::InvalidRequest(
            "The request body must be a TopicRulePayload JSON object".into(),
        ));
    };
    let sql = match obj.get("sql") {
        None | Some(Value::Null) => {
            return Err(
                ValidationError::new(format!("{field}.sql"), "null", "Member must not be null").into()
            );
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ValidationError::new(format!("{field}.sql"), other, "Member must be a string").into());
        }
    };
    let actions = match obj.get("actions") {
        None | Some(Value::Null) => {
            return Err(
                ValidationError::new(format!("{field}.actions"), "null", "Member must not be null").into()
            );
        }
        Some(Value::Array(a)) => a.clone(),
        Some(other) => {
            return Err(
                ValidationError::new(format!("{field}.actions"), other, "Member must be a list").into()
            );
        }
    };
    let description = match obj.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ValidationError::new(
                format!("{field}.description"),
                other,
                "Member must be a string",
            )
            .into());
        }
    };
    let rule_disabled = match obj.get("ruleDisabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ValidationError::new(
                format!("{field}.ruleDisabled"),
                other,
                "Member must be a boolean",
            )
            .into());
        }
    };
    let aws_iot_sql_version = match obj.get("awsIotSqlVersion") {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) if SqlVersion::parse(v).is_some() => Some(v.clone()),
        Some(other) => {
            return Err(RuleError::InvalidRequest(format!(
                "awsIotSqlVersion {other} is not one of 2015-10-08, 2016-03-23, beta"
            )));
        }
    };
    let error_action = obj.get("errorAction").filter(|v| !v.is_null()).cloned();
    let payload = RulePayload { sql, description, actions, rule_disabled, aws_iot_sql_version, error_action };
    let version = payload.version();

    if payload.sql.trim().is_empty() {
        return Err(RuleError::SqlParse(
            "Invalid SQL: the statement is empty; a rule's SQL starts with SELECT".into(),
        ));
    }
    let query = thingbox_sql::parse(&payload.sql, version).map_err(|e| sql_error(&e))?;
    if let Some(from) = &query.from
        && let Err(e) = crate::topic::check_filter(&from.topic)
    {
        let err = SqlError::at(&payload.sql, from.span, format!("the FROM topic filter is invalid: {e}"));
        return Err(sql_error(&err));
    }
    if payload.actions.len() > MAX_ACTIONS {
        return Err(ValidationError::new(
            format!("{field}.actions"),
            format!("{} actions", payload.actions.len()),
            "Member must have length less than or equal to 10",
        )
        .into());
    }
    for (i, a) in payload.actions.iter().enumerate() {
        actions::check_action(&format!("{field}.actions.{}.member", i + 1), a, version, false)
            .map_err(|e| RuleError::InvalidRequest(e.to_string()))?;
    }
    if let Some(e) = &payload.error_action {
        actions::check_action(&format!("{field}.errorAction"), e, version, true)
            .map_err(|e| RuleError::InvalidRequest(e.to_string()))?;
    }
    Ok((payload, query))
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRule {
    /// Name.
    pub name: String,
    /// What it does.
    pub payload: RulePayload,
    /// When it was created.
    pub created_at: Timestamp,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
}

impl TopicRule {
    /// FROM's topic filter (`None` for a rule only reachable through Basic Ingest).
    pub fn topic_pattern(&self) -> Option<String> {
        thingbox_sql::parse(&self.payload.sql, self.payload.version())
            .ok()
            .and_then(|q| q.topic_filter().map(str::to_owned))
    }
}

/// A durable change to the set of rules.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleChange {
    /// Store (create or replace) a rule.
    Put(Box<TopicRule>),
    /// Remove a rule.
    Delete(String),
}

/// Every rule, by name.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: BTreeMap<String, TopicRule>,
}

fn not_found(name: &str) -> RuleError {
    RuleError::NotFound(format!("The rule '{name}' does not exist"))
}

impl Rules {
    /// The set holding `rules` (loaded from storage).
    pub fn new(rules: impl IntoIterator<Item = TopicRule>) -> Self {
        Self { rules: rules.into_iter().map(|r| (r.name.clone(), r)).collect() }
    }

    /// One rule.
    pub fn get(&self, name: &str) -> Result<&TopicRule, RuleError> {
        self.rules.get(name).ok_or_else(|| not_found(name))
    }

    /// Every rule, sorted by name.
    pub fn all(&self) -> impl Iterator<Item = &TopicRule> {
        self.rules.values()
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// CreateTopicRule.
    pub fn create(
        &mut self,
        name: &str,
        payload: RulePayload,
        tags: &[(String, String)],
        arn: String,
        now: Timestamp,
    ) -> Result<Vec<RuleChange>, RuleError> {
        check_rule_name(name)?;
        if self.rules.contains_key(name) {
            return Err(RuleError::AlreadyExists {
                message: format!("The rule '{name}' already exists"),
                arn,
            });
        }
        let tags = tags::merged(&Tags::new(), tags).map_err(|e| RuleError::InvalidRequest(e.to_string()))?;
        let rule = TopicRule { name: name.to_owned(), payload, created_at: now, tags };
        self.rules.insert(name.to_owned(), rule.clone());
        Ok(vec![RuleChange::Put(Box::new(rule))])
    }

    fn update(&mut self, name: &str, f: impl FnOnce(&mut TopicRule)) -> Result<Vec<RuleChange>, RuleError> {
        check_rule_name(name)?;
        let rule = self.rules.get_mut(name).ok_or_else(|| not_found(name))?;
        let before = rule.clone();
        f(rule);
        if *rule == before {
            return Ok(Vec::new());
        }
        Ok(vec![RuleChange::Put(Box::new(rule.clone()))])
    }

    /// ReplaceTopicRule (keeps the creation time and tags).
    pub fn replace(&mut self, name: &str, payload: RulePayload) -> Result<Vec<RuleChange>, RuleError> {
        self.update(name, |r| r.payload = payload)
    }

    /// EnableTopicRule / DisableTopicRule.
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<Vec<RuleChange>, RuleError> {
        self.update(name, |r| r.payload.rule_disabled = !enabled)
    }

    /// TagResource on a rule.
    pub fn tag(&mut self, name: &str, new: &[(String, String)]) -> Result<Vec<RuleChange>, RuleError> {
        let rule = self.get(name)?;
        let tags = tags::merged(&rule.tags, new).map_err(|e| RuleError::InvalidRequest(e.to_string()))?;
        self.update(name, |r| r.tags = tags)
    }

    /// UntagResource on a rule.
    pub fn untag(&mut self, name: &str, keys: &[String]) -> Result<Vec<RuleChange>, RuleError> {
        self.update(name, |r| {
            for k in keys {
                r.tags.remove(k);
            }
        })
    }

    /// DeleteTopicRule.
    pub fn delete(&mut self, name: &str) -> Result<Vec<RuleChange>, RuleError> {
        check_rule_name(name)?;
        self.rules.remove(name).ok_or_else(|| not_found(name))?;
        Ok(vec![RuleChange::Delete(name.to_owned())])
    }
}

#[cfg(test)]
mod tests;
