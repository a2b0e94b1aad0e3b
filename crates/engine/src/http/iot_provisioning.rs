//! Service `iot`, provisioning: CreateProvisioningTemplate, DescribeProvisioningTemplate,
//! ListProvisioningTemplates, UpdateProvisioningTemplate, DeleteProvisioningTemplate, the
//! template versions, CreateProvisioningClaim and RegisterThing (`POST /things`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use thingbox_api::provisioning::{
    ListProvisioningTemplatesResponse, PreProvisioningHook, ProvisioningTemplateDescription,
    ProvisioningTemplateSummary,
};
use thingbox_model::arn::{ResourceType, Scope};
use thingbox_model::provisioning::{Hook, NewTemplate, ProvisioningTemplate, TemplateType, TemplateUpdate};

use super::AppState;
use super::error::ApiError;
use super::extract::{AwsJson, Ctx, Name, Params, required};
use crate::Error;

type Reply = Result<Json<Value>, ApiError>;

/// The routes of the provisioning API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/provisioning-templates", get(list).post(create))
        .route("/provisioning-templates/{templateName}", get(describe).patch(update).delete(delete))
        .route("/provisioning-templates/{templateName}/versions", get(list_versions).post(create_version))
        .route(
            "/provisioning-templates/{templateName}/versions/{versionId}",
            get(describe_version).delete(delete_version),
        )
        .route("/provisioning-templates/{templateName}/provisioning-claim", post(create_claim))
        .route("/things", post(register_thing))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    template_name: Option<String>,
    description: Option<String>,
    template_body: Option<String>,
    enabled: Option<bool>,
    provisioning_role_arn: Option<String>,
    pre_provisioning_hook: Option<PreProvisioningHook>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateRequest {
    description: Option<String>,
    enabled: Option<bool>,
    default_version_id: Option<i64>,
    provisioning_role_arn: Option<String>,
    pre_provisioning_hook: Option<PreProvisioningHook>,
    #[serde(default)]
    remove_pre_provisioning_hook: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionRequest {
    template_body: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterThingRequest {
    template_body: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
}

fn hook(h: PreProvisioningHook) -> Hook {
    Hook {
        target_arn: h.target_arn,
        payload_version: h.payload_version.unwrap_or_else(|| "2020-04-01".into()),
    }
}

fn wire_hook(h: &Hook) -> PreProvisioningHook {
    PreProvisioningHook { target_arn: h.target_arn.clone(), payload_version: Some(h.payload_version.clone()) }
}

/// DescribeProvisioningTemplate's shape.
fn describe_wire(scope: &Scope, t: &ProvisioningTemplate) -> ProvisioningTemplateDescription {
    ProvisioningTemplateDescription {
        template_arn: scope.arn(ResourceType::ProvisioningTemplate, &t.name),
        template_name: t.name.clone(),
        description: t.description.clone(),
        creation_date: t.created.epoch_seconds(),
        last_modified_date: t.modified.epoch_seconds(),
        default_version_id: t.default_version,
        template_body: t.body().to_owned(),
        enabled: t.enabled,
        provisioning_role_arn: t.role_arn.clone(),
        pre_provisioning_hook: t.hook.as_ref().map(wire_hook),
        kind: t.kind.as_str().to_owned(),
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn version_id(raw: &str) -> Result<i64, Error> {
    raw.parse().map_err(|_| Error::InvalidRequest(format!("versionId must be a whole number, not '{raw}'")))
}

async fn create(State(s): State<AppState>, ctx: Ctx, AwsJson(req): AwsJson<CreateRequest>) -> Reply {
    let kind = match req.kind.as_deref() {
        None => TemplateType::FleetProvisioning,
        Some(k) => TemplateType::parse(k)?,
    };
    let new = NewTemplate {
        name: required(req.template_name, "templateName")?,
        description: req.description,
        body: required(req.template_body, "templateBody")?,
        enabled: req.enabled.unwrap_or(false),
        role_arn: required(req.provisioning_role_arn, "provisioningRoleArn")?,
        hook: req.pre_provisioning_hook.map(hook),
        kind,
        tags: req.tags.into_iter().map(|t| (t.key, t.value)).collect(),
    };
    let now = s.now();
    let t = s.provisioning.write(|all| all.create(&ctx.scope, new, now)).await?;
    Ok(Json(json!({
        "templateArn": ctx.scope.arn(ResourceType::ProvisioningTemplate, &t.name),
        "templateName": t.name,
        "defaultVersionId": t.default_version,
    })))
}

async fn describe(State(s): State<AppState>, ctx: Ctx, Name(name): Name) -> Reply {
    let t = s.provisioning.read(|all| all.get(&name).cloned())?;
    Ok(Json(to_value(&describe_wire(&ctx.scope, &t))))
}

async fn list(State(s): State<AppState>, ctx: Ctx, q: Params) -> Reply {
    let max = q.max_results()?;
    let page = s.provisioning.read(|all| {
        let p = all.list(q.next_token(), max)?;
        Ok((p.items.into_iter().cloned().collect::<Vec<_>>(), p.next_token))
    })?;
    let templates = page
        .0
        .iter()
        .map(|t| ProvisioningTemplateSummary {
            template_arn: ctx.scope.arn(ResourceType::ProvisioningTemplate, &t.name),
            template_name: t.name.clone(),
            description: t.description.clone(),
            creation_date: t.created.epoch_seconds(),
            last_modified_date: t.modified.epoch_seconds(),
            enabled: t.enabled,
            kind: t.kind.as_str().to_owned(),
        })
        .collect();
    Ok(Json(to_value(&ListProvisioningTemplatesResponse { templates, next_token: page.1 })))
}

async fn update(State(s): State<AppState>, Name(name): Name, AwsJson(req): AwsJson<UpdateRequest>) -> Reply {
    let u = TemplateUpdate {
        description: req.description,
        enabled: req.enabled,
        default_version: req.default_version_id,
        role_arn: req.provisioning_role_arn,
        hook: req.pre_provisioning_hook.map(hook),
        remove_hook: req.remove_pre_provisioning_hook,
    };
    let now = s.now();
    s.provisioning.write(|all| all.update(&name, u, now).map(|c| ((), c))).await?;
    Ok(Json(Value::Object(Map::new())))
}

async fn delete(State(s): State<AppState>, Name(name): Name) -> Reply {
    s.provisioning.write(|all| all.delete(&name).map(|c| ((), c))).await?;
    Ok(Json(Value::Object(Map::new())))
}

async fn create_version(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
    q: Params,
    AwsJson(req): AwsJson<VersionRequest>,
) -> Reply {
    let body = required(req.template_body, "templateBody")?;
    let set_default = q.bool("setAsDefault")?.unwrap_or(false);
    let now = s.now();
    let (t, id) = s
        .provisioning
        .write(|all| all.create_version(&name, body, set_default, now).map(|(t, id, c)| ((t, id), c)))
        .await?;
    Ok(Json(json!({
        "templateArn": ctx.scope.arn(ResourceType::ProvisioningTemplate, &t.name),
        "templateName": t.name,
        "versionId": id,
        "isDefaultVersion": t.default_version == id,
    })))
}

async fn list_versions(State(s): State<AppState>, Name(name): Name, q: Params) -> Reply {
    let max = q.max_results()?;
    let t = s.provisioning.read(|all| all.get(&name).cloned())?;
    let rows: Vec<_> = t.versions.values().cloned().collect();
    let page = q.page(rows, max, |v| format!("{:020}", v.id))?;
    let versions: Vec<Value> = page
        .items
        .iter()
        .map(|v| {
            json!({"versionId": v.id, "creationDate": v.created.epoch_seconds(), "isDefaultVersion": v.id == t.default_version})
        })
        .collect();
    let mut out = json!({"versions": versions});
    if let Some(n) = page.next_token {
        out["nextToken"] = json!(n);
    }
    Ok(Json(out))
}

async fn describe_version(State(s): State<AppState>, Path((name, id)): Path<(String, String)>) -> Reply {
    let id = version_id(&id)?;
    let (t, v) = s.provisioning.read(|all| all.version(&name, id).map(|(t, v)| (t.clone(), v.clone())))?;
    Ok(Json(json!({
        "versionId": v.id,
        "creationDate": v.created.epoch_seconds(),
        "templateBody": v.body,
        "isDefaultVersion": t.default_version == v.id,
    })))
}

async fn delete_version(State(s): State<AppState>, Path((name, id)): Path<(String, String)>) -> Reply {
    let id = version_id(&id)?;
    s.provisioning.write(|all| all.delete_version(&name, id).map(|c| ((), c))).await?;
    Ok(Json(Value::Object(Map::new())))
}

async fn create_claim(State(s): State<AppState>, Name(name): Name) -> Reply {
    let c = s.provisioning.create_claim(&name, s.now()).await?;
    Ok(Json(json!({
        "certificateId": c.certificate_id,
        "certificatePem": c.certificate_pem,
        "keyPair": {"PublicKey": c.public_key, "PrivateKey": c.private_key},
        "expiration": c.expiration.epoch_seconds(),
    })))
}

async fn register_thing(State(s): State<AppState>, AwsJson(req): AwsJson<RegisterThingRequest>) -> Reply {
    let body = required(req.template_body, "templateBody")?;
    let (pem, arns) = s.provisioning.register_thing_inline(&body, req.parameters, s.now()).await?;
    Ok(Json(json!({"certificatePem": pem, "resourceArns": arns})))
}
