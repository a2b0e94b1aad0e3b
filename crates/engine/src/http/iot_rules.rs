//! Service `iot`, topic rules: CreateTopicRule, GetTopicRule, ListTopicRules, ReplaceTopicRule,
//! DeleteTopicRule, EnableTopicRule, DisableTopicRule. The request body of Create and Replace *is*
//! the `TopicRulePayload`; the model checks it (SQL, actions, templates) before anything changes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use thingbox_api::rules::{GetTopicRuleResponse, ListTopicRulesResponse, TopicRuleListItem, TopicRuleWire};
use thingbox_model::arn::ResourceType;
use thingbox_model::rules::{RuleError, TopicRule, check_payload};

use super::AppState;
use super::error::ApiError;
use super::extract::{Ctx, Name, Params};
use crate::Error;

type Empty = Json<serde_json::Map<String, Value>>;

fn empty() -> Empty {
    Json(serde_json::Map::new())
}

/// The routes of the topic rules API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rules", get(list_topic_rules))
        .route(
            "/rules/{ruleName}",
            post(create_topic_rule).get(get_topic_rule).patch(replace_topic_rule).delete(delete_topic_rule),
        )
        .route("/rules/{ruleName}/enable", post(enable_topic_rule))
        .route("/rules/{ruleName}/disable", post(disable_topic_rule))
}

/// The `x-amz-tagging` header: `k1=v1&k2=v2`, URL-encoded.
fn tagging(headers: &HeaderMap) -> Result<Vec<(String, String)>, Error> {
    let Some(raw) = headers.get("x-amz-tagging") else { return Ok(Vec::new()) };
    let raw =
        raw.to_str().map_err(|_| Error::InvalidRequest("The x-amz-tagging header is not text".into()))?;
    let pairs: Vec<(String, String)> = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{raw}")
            .parse()
            .map_err(|_| Error::InvalidRequest("The x-amz-tagging header is malformed".into()))?,
    )
    .map_err(|e| Error::InvalidRequest(format!("The x-amz-tagging header is malformed: {e}")))?
    .0;
    Ok(pairs)
}

fn payload_of(body: &Bytes) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(RuleError::InvalidRequest(
            "The request body must be the TopicRulePayload (a JSON object with sql and actions)".into(),
        )
        .into());
    }
    serde_json::from_slice(body).map_err(|e| {
        Error::InvalidRequest(format!("The request body is not valid JSON for this operation: {e}"))
    })
}

async fn create_topic_rule(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Empty, ApiError> {
    let tags = tagging(&headers)?;
    let (payload, _) = check_payload(&payload_of(&body)?)?;
    let now = s.now();
    let arn = ctx.scope.arn(ResourceType::Rule, &name);
    s.rules.change(|r| r.create(&name, payload, &tags, arn, now)).await?;
    Ok(empty())
}

fn wire(r: &TopicRule) -> TopicRuleWire {
    TopicRuleWire {
        rule_name: r.name.clone(),
        sql: r.payload.sql.clone(),
        description: r.payload.description.clone(),
        created_at: r.created_at.epoch_seconds(),
        actions: r.payload.actions.clone(),
        rule_disabled: r.payload.rule_disabled,
        aws_iot_sql_version: r.payload.version().as_str().to_owned(),
        error_action: r.payload.error_action.clone(),
    }
}

async fn get_topic_rule(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
) -> Result<Json<GetTopicRuleResponse>, ApiError> {
    thingbox_model::rules::check_rule_name(&name).map_err(Error::from)?;
    let rule = s.rules.read(|r| r.get(&name).map(wire))?;
    Ok(Json(GetTopicRuleResponse { rule_arn: ctx.scope.arn(ResourceType::Rule, &name), rule }))
}

async fn list_topic_rules(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
) -> Result<Json<ListTopicRulesResponse>, ApiError> {
    let max = q.int("maxResults", 1, 10_000)?.unwrap_or(1_000) as usize;
    let disabled = q.bool("ruleDisabled")?;
    let topic = q.str("topic").map(str::to_owned);
    let items: Vec<TopicRuleListItem> = s.rules.read(|rules| {
        Ok(rules
            .all()
            .filter(|r| disabled.is_none_or(|d| r.payload.rule_disabled == d))
            .filter_map(|r| {
                let pattern = r.topic_pattern();
                if let Some(t) = &topic {
                    let hit =
                        pattern.as_deref().is_some_and(|p| p == t || thingbox_model::topic::matches(p, t));
                    if !hit {
                        return None;
                    }
                }
                Some(TopicRuleListItem {
                    rule_arn: ctx.scope.arn(ResourceType::Rule, &r.name),
                    rule_name: r.name.clone(),
                    topic_pattern: pattern,
                    created_at: r.created_at.epoch_seconds(),
                    rule_disabled: r.payload.rule_disabled,
                })
            })
            .collect())
    })?;
    let page = q.page(items, max, |i| i.rule_name.clone())?;
    Ok(Json(ListTopicRulesResponse { rules: page.items, next_token: page.next_token }))
}

async fn replace_topic_rule(
    State(s): State<AppState>,
    Name(name): Name,
    body: Bytes,
) -> Result<Empty, ApiError> {
    thingbox_model::rules::check_rule_name(&name).map_err(Error::from)?;
    // A missing rule is reported before a bad payload, as AWS does.
    s.rules.read(|r| r.get(&name).map(drop))?;
    let (payload, _) = check_payload(&payload_of(&body)?)?;
    s.rules.change(|r| r.replace(&name, payload)).await?;
    Ok(empty())
}

async fn delete_topic_rule(State(s): State<AppState>, Name(name): Name) -> Result<Empty, ApiError> {
    s.rules.change(|r| r.delete(&name)).await?;
    Ok(empty())
}

async fn enable_topic_rule(State(s): State<AppState>, Name(name): Name) -> Result<Empty, ApiError> {
    s.rules.change(|r| r.set_enabled(&name, true)).await?;
    Ok(empty())
}

async fn disable_topic_rule(State(s): State<AppState>, Name(name): Name) -> Result<Empty, ApiError> {
    s.rules.change(|r| r.set_enabled(&name, false)).await?;
    Ok(empty())
}
