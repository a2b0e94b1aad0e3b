//! Service `iot`, the policy part: policies and versions, attachments, effective policies and
//! TestAuthorization (which uses the same evaluator and context as enforcement).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use thingbox_model::arn::{ResourceType, Scope};
use thingbox_model::policy::Action;
use thingbox_model::registry::{IotPolicy, Target};

use super::AppState;
use super::error::ApiError;
use super::extract::{AwsJson, Ctx, Name, Params, required};
use crate::Error;
use crate::policy;

type Reply = Result<Json<Value>, ApiError>;

/// The routes of the `iot` policy API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/policies", get(list_policies))
        .route("/policies/{policyName}", post(create_policy).get(get_policy).delete(delete_policy))
        .route("/policies/{policyName}/version", post(create_policy_version).get(list_policy_versions))
        .route(
            "/policies/{policyName}/version/{policyVersionId}",
            get(get_policy_version).patch(set_default_policy_version).delete(delete_policy_version),
        )
        .route("/target-policies/{policyName}", put(attach_policy).post(detach_policy))
        .route("/attached-policies/{target}", post(list_attached_policies))
        .route("/policy-targets/{policyName}", post(list_targets_for_policy))
        .route("/effective-policies", post(get_effective_policies))
        .route("/test-authorization", post(test_authorization))
        .route(
            "/principal-policies/{policyName}",
            put(attach_principal_policy).delete(detach_principal_policy),
        )
        .route("/principal-policies", get(list_principal_policies))
}

fn ok() -> Json<Value> {
    Json(json!({}))
}

fn arn(scope: &Scope, name: &str) -> String {
    scope.arn(ResourceType::Policy, name)
}

fn generation(p: &IotPolicy) -> String {
    format!("{:x}{:04x}", p.last_modified.millis(), p.default_version)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DocumentRequest {
    policy_document: Option<String>,
    tags: Option<Vec<thingbox_api::iot::Tag>>,
}

async fn create_policy(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
    AwsJson(req): AwsJson<DocumentRequest>,
) -> Reply {
    let doc = required(req.policy_document, "policyDocument")?;
    let tags: Vec<(String, String)> =
        req.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value.unwrap_or_default())).collect();
    let now = s.now();
    let p = s.registry.write(|r| r.create_policy(&ctx.scope, &name, &doc, &tags, now)).await?;
    Ok(Json(json!({
        "policyName": p.name, "policyArn": arn(&ctx.scope, &p.name),
        "policyDocument": p.default().document, "policyVersionId": "1",
    })))
}

async fn get_policy(State(s): State<AppState>, ctx: Ctx, Name(name): Name) -> Reply {
    let p = s.registry.read(|r| r.policy(&name).cloned())?;
    Ok(Json(json!({
        "policyName": p.name, "policyArn": arn(&ctx.scope, &p.name),
        "policyDocument": p.default().document, "defaultVersionId": p.default_version.to_string(),
        "creationDate": p.created.epoch_seconds(), "lastModifiedDate": p.last_modified.epoch_seconds(),
        "generationId": generation(&p),
    })))
}

async fn list_policies(State(s): State<AppState>, ctx: Ctx, q: Params) -> Reply {
    let size = q.int("pageSize", 1, 250)?.unwrap_or(50) as usize;
    let ascending = q.bool("ascendingOrder")?.or(q.bool("isAscendingOrder")?).unwrap_or(true);
    let marker = q.str("marker").filter(|m| !m.is_empty());
    let out = s.registry.read(|r| {
        let p = r.list_policies(ascending, marker, size)?;
        let policies: Vec<Value> = p
            .items
            .iter()
            .map(|p| json!({"policyName": p.name, "policyArn": arn(&ctx.scope, &p.name)}))
            .collect();
        let mut out = json!({ "policies": policies });
        if let Some(m) = p.next_token {
            out["nextMarker"] = Value::String(m);
        }
        Ok(out)
    })?;
    Ok(Json(out))
}

async fn delete_policy(State(s): State<AppState>, ctx: Ctx, Name(name): Name) -> Reply {
    s.registry.change(|r| r.delete_policy(&ctx.scope, &name)).await?;
    Ok(ok())
}

async fn create_policy_version(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
    q: Params,
    AwsJson(req): AwsJson<DocumentRequest>,
) -> Reply {
    let doc = required(req.policy_document, "policyDocument")?;
    let set_default = q.bool("setAsDefault")?.unwrap_or(false);
    let now = s.now();
    let v = s.registry.write(|r| r.create_policy_version(&name, &doc, set_default, now)).await?;
    Ok(Json(json!({
        "policyArn": arn(&ctx.scope, &name), "policyDocument": v.document,
        "policyVersionId": v.id.to_string(), "isDefaultVersion": set_default,
    })))
}

async fn list_policy_versions(State(s): State<AppState>, Name(name): Name) -> Reply {
    let p = s.registry.read(|r| r.policy(&name).cloned())?;
    let versions: Vec<Value> = p
        .versions
        .values()
        .rev()
        .map(|v| {
            json!({"versionId": v.id.to_string(), "isDefaultVersion": v.id == p.default_version,
                   "createDate": v.created.epoch_seconds()})
        })
        .collect();
    Ok(Json(json!({ "policyVersions": versions })))
}

async fn get_policy_version(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((name, version)): Path<(String, String)>,
) -> Reply {
    let (p, v) =
        s.registry.read(|r| r.policy_version(&name, &version).map(|(p, v)| (p.clone(), v.clone())))?;
    Ok(Json(json!({
        "policyArn": arn(&ctx.scope, &p.name), "policyName": p.name, "policyDocument": v.document,
        "policyVersionId": v.id.to_string(), "isDefaultVersion": v.id == p.default_version,
        "creationDate": v.created.epoch_seconds(), "lastModifiedDate": p.last_modified.epoch_seconds(),
        "generationId": generation(&p),
    })))
}

async fn set_default_policy_version(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Reply {
    let now = s.now();
    s.registry.change(|r| r.set_default_policy_version(&name, &version, now)).await?;
    Ok(ok())
}

async fn delete_policy_version(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Reply {
    let now = s.now();
    s.registry.change(|r| r.delete_policy_version(&name, &version, now)).await?;
    Ok(ok())
}

#[derive(Debug, Default, Deserialize)]
struct TargetRequest {
    target: Option<String>,
}

async fn attach_policy(
    State(s): State<AppState>,
    Name(name): Name,
    AwsJson(req): AwsJson<TargetRequest>,
) -> Reply {
    let target = Target::parse(&required(req.target, "target")?)?;
    s.registry.change(|r| r.attach_policy(&name, &target)).await?;
    Ok(ok())
}

async fn detach_policy(
    State(s): State<AppState>,
    Name(name): Name,
    AwsJson(req): AwsJson<TargetRequest>,
) -> Reply {
    let target = Target::parse(&required(req.target, "target")?)?;
    s.registry.change(|r| r.detach_policy(&name, &target)).await?;
    Ok(ok())
}

fn principal_header(h: &HeaderMap) -> Result<Target, Error> {
    let p = h.get("x-amzn-iot-principal").and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ok(Target::parse(&required(p, "principal")?)?)
}

async fn attach_principal_policy(State(s): State<AppState>, Name(name): Name, headers: HeaderMap) -> Reply {
    let target = principal_header(&headers)?;
    s.registry.change(|r| r.attach_policy(&name, &target)).await?;
    Ok(ok())
}

async fn detach_principal_policy(State(s): State<AppState>, Name(name): Name, headers: HeaderMap) -> Reply {
    let target = principal_header(&headers)?;
    s.registry.change(|r| r.detach_policy(&name, &target)).await?;
    Ok(ok())
}

fn policy_list(scope: &Scope, policies: &[&IotPolicy]) -> Vec<Value> {
    policies.iter().map(|p| json!({"policyName": p.name, "policyArn": arn(scope, &p.name)})).collect()
}

async fn list_principal_policies(State(s): State<AppState>, ctx: Ctx, headers: HeaderMap) -> Reply {
    let target = principal_header(&headers)?;
    let list = s.registry.read(|r| Ok(policy_list(&ctx.scope, &r.attached_policies(&target)?)))?;
    Ok(Json(json!({ "policies": list })))
}

async fn list_attached_policies(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(target): Path<String>,
    q: Params,
) -> Reply {
    let target = Target::parse(&target)?;
    let recursive = q.bool("recursive")?.unwrap_or(false);
    let list = s.registry.read(|r| {
        let policies = match (&target, recursive) {
            (Target::ThingGroup(g), true) => {
                let mut all = r.attached_policies(&target)?;
                for a in r.ancestors(g) {
                    for p in r.attached_policies(&Target::ThingGroup(a.name.clone()))? {
                        if !all.iter().any(|x| x.name == p.name) {
                            all.push(p);
                        }
                    }
                }
                all
            }
            _ => r.attached_policies(&target)?,
        };
        Ok(policy_list(&ctx.scope, &policies))
    })?;
    Ok(Json(json!({ "policies": list })))
}

async fn list_targets_for_policy(State(s): State<AppState>, ctx: Ctx, Name(name): Name) -> Reply {
    let targets: Vec<String> =
        s.registry.read(|r| Ok(r.policy_targets(&name)?.into_iter().map(|t| t.arn(&ctx.scope)).collect()))?;
    Ok(Json(json!({ "targets": targets })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrincipalRequest {
    principal: Option<String>,
}

fn cert_of(principal: Option<&str>) -> Result<Option<String>, Error> {
    match principal {
        None => Ok(None),
        Some(p) => match Target::parse(p)? {
            Target::Cert(id) => Ok(Some(id)),
            Target::ThingGroup(_) => {
                Err(Error::InvalidRequest(format!("principal '{p}' must be a certificate ARN")))
            }
        },
    }
}

async fn get_effective_policies(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
    AwsJson(req): AwsJson<PrincipalRequest>,
) -> Reply {
    let cert = cert_of(req.principal.as_deref())?;
    let thing = q.str("thingName").map(str::to_owned);
    let list = s.registry.read(|r| {
        if let Some(c) = &cert {
            r.certificate(c)?;
        }
        if let Some(t) = &thing {
            r.thing(t)?;
        }
        Ok(r.effective_policies(cert.as_deref(), thing.as_deref())
            .iter()
            .map(|p| json!({"policyName": p.name, "policyArn": arn(&ctx.scope, &p.name), "policyDocument": p.default().document}))
            .collect::<Vec<_>>())
    })?;
    Ok(Json(json!({ "effectivePolicies": list })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthInfo {
    action_type: Option<String>,
    resources: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestAuthorizationRequest {
    principal: Option<String>,
    auth_infos: Option<Vec<AuthInfo>>,
    policy_names_to_add: Option<Vec<String>>,
    policy_names_to_skip: Option<Vec<String>>,
}

fn action_of(t: &str) -> Result<Action, Error> {
    Ok(match t {
        "CONNECT" => Action::Connect,
        "PUBLISH" => Action::Publish,
        "SUBSCRIBE" => Action::Subscribe,
        "RECEIVE" => Action::Receive,
        other => {
            return Err(Error::InvalidRequest(format!(
                "actionType '{other}' is not one of PUBLISH, SUBSCRIBE, RECEIVE, CONNECT"
            )));
        }
    })
}

async fn test_authorization(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
    AwsJson(req): AwsJson<TestAuthorizationRequest>,
) -> Reply {
    let infos = required(req.auth_infos, "authInfos")?;
    if infos.is_empty() || infos.len() > 10 {
        return Err(Error::InvalidRequest("authInfos must hold 1 to 10 entries".into()).into());
    }
    let cert = cert_of(req.principal.as_deref())?;
    let client_id = q.str("clientId").map(str::to_owned);
    let add = req.policy_names_to_add.unwrap_or_default();
    let skip = req.policy_names_to_skip.unwrap_or_default();
    let results = s.registry.read(|r| {
        if let Some(c) = &cert {
            r.certificate(c)?;
        }
        let thing = client_id.as_deref().and_then(|c| r.thing(c).ok()).map(|t| t.name.clone());
        let mut chosen: Vec<&IotPolicy> = r
            .effective_policies(cert.as_deref(), thing.as_deref())
            .into_iter()
            .filter(|p| !skip.contains(&p.name))
            .collect();
        for name in &add {
            let p = r.policy(name)?;
            if !chosen.iter().any(|c| c.name == p.name) {
                chosen.push(p);
            }
        }
        let effective = policy::parsed(&chosen);
        let context = policy::context(r, cert.as_deref(), client_id.as_deref(), None, &[]);
        let mut out = Vec::new();
        for info in &infos {
            let action_type = info.action_type.clone().unwrap_or_default();
            let action = action_of(&action_type)
                .map_err(|e| thingbox_model::registry::RegistryError::InvalidRequest(e.to_string()))?;
            let resources = info.resources.clone().unwrap_or_default();
            let mut allowed = Vec::new();
            let mut explicit = Vec::new();
            let mut missing: Vec<String> = Vec::new();
            let mut kind = thingbox_model::policy::DecisionKind::ImplicitDeny;
            for res in &resources {
                let d = policy::decide(&effective, action, res, &context);
                for m in d.missing() {
                    if !missing.iter().any(|x| x == m) {
                        missing.push(m.to_owned());
                    }
                }
                allowed.extend(d.allowed_by.iter().map(|s| s.policy.clone()));
                explicit.extend(d.denied_by.iter().map(|s| s.policy.clone()));
                kind = d.kind;
                if d.kind != thingbox_model::policy::DecisionKind::Allowed {
                    break;
                }
            }
            let names = |v: &mut Vec<String>| {
                v.sort();
                v.dedup();
                v.iter()
                    .map(|n| json!({"policyName": n, "policyArn": arn(&ctx.scope, n)}))
                    .collect::<Vec<_>>()
            };
            let implicit: Vec<String> = if kind == thingbox_model::policy::DecisionKind::ImplicitDeny {
                chosen.iter().map(|p| p.name.clone()).collect()
            } else {
                Vec::new()
            };
            out.push(json!({
                "authInfo": {"actionType": action_type, "resources": resources},
                "allowed": {"policies": names(&mut allowed)},
                "denied": {"implicitDeny": {"policies": names(&mut implicit.clone())},
                           "explicitDeny": {"policies": names(&mut explicit)}},
                "authDecision": kind.as_str(),
                "missingContextValues": missing,
            }));
        }
        Ok(out)
    })?;
    Ok(Json(json!({ "authResults": results })))
}
