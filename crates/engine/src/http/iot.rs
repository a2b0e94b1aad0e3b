//! Service `iot`, the registry part: things, thing types, thing groups, tags and DescribeEndpoint.
//! Handlers translate wire shapes to the model's operations and back; the rules live in the model.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use thingbox_api::iot::*;
use thingbox_model::Timestamp;
use thingbox_model::arn::{Arn, ResourceType, Scope};
use thingbox_model::quotas::Quota;
use thingbox_model::registry::{
    self, NewResource, Registry, ThingFilter, ThingGroupProps, ThingTypeProps, ThingUpdate,
};

use super::AppState;
use super::error::ApiError;
use super::extract::{AwsJson, Ctx, Name, Params, required};
use crate::Error;

type Reply<T> = Result<Json<T>, ApiError>;
type Empty = Json<serde_json::Map<String, serde_json::Value>>;

fn empty() -> Empty {
    Json(serde_json::Map::new())
}

/// The routes of the `iot` registry API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/things", get(list_things))
        .route(
            "/things/{thingName}",
            post(create_thing).get(describe_thing).patch(update_thing).delete(delete_thing),
        )
        .route("/things/{thingName}/thing-groups", get(list_thing_groups_for_thing))
        .route("/thing-types", get(list_thing_types))
        .route(
            "/thing-types/{thingTypeName}",
            post(create_thing_type)
                .get(describe_thing_type)
                .patch(update_thing_type)
                .delete(delete_thing_type),
        )
        .route("/thing-types/{thingTypeName}/deprecate", post(deprecate_thing_type))
        .route("/thing-groups", get(list_thing_groups))
        .route("/thing-groups/addThingToThingGroup", put(add_thing_to_thing_group))
        .route("/thing-groups/removeThingFromThingGroup", put(remove_thing_from_thing_group))
        .route("/thing-groups/updateThingGroupsForThing", put(update_thing_groups_for_thing))
        .route(
            "/thing-groups/{thingGroupName}",
            post(create_thing_group)
                .get(describe_thing_group)
                .patch(update_thing_group)
                .delete(delete_thing_group),
        )
        .route("/thing-groups/{thingGroupName}/things", get(list_things_in_thing_group))
        .route("/endpoint", get(describe_endpoint))
        .route("/tags", get(list_tags_for_resource).post(tag_resource))
        .route("/untag", post(untag_resource))
}

/// A fresh id (UUID v4) and the request's scope and time, for a create operation.
fn new_resource(ctx: &Ctx, now: Timestamp) -> NewResource<'_> {
    NewResource { scope: &ctx.scope, id: uuid::Uuid::new_v4().to_string(), now }
}

fn payload(p: Option<AttributePayload>) -> Option<registry::AttributePayload> {
    p.map(|p| registry::AttributePayload { attributes: p.attributes, merge: p.merge.unwrap_or(false) })
}

fn tag_pairs(tags: Option<Vec<Tag>>) -> Vec<(String, String)> {
    tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value.unwrap_or_default())).collect()
}

// ------------------------------------------------------------------------ things

async fn create_thing(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
    AwsJson(req): AwsJson<CreateThingRequest>,
) -> Reply<CreateThingResponse> {
    let attrs = payload(req.attribute_payload);
    let now = s.now();
    let thing = s
        .registry
        .write(|r| {
            r.create_thing(
                new_resource(&ctx, now),
                &name,
                req.thing_type_name.as_deref(),
                attrs.as_ref(),
                req.billing_group_name.as_deref(),
            )
        })
        .await?;
    Ok(Json(CreateThingResponse {
        thing_arn: ctx.scope.arn(ResourceType::Thing, &thing.name),
        thing_name: thing.name,
        thing_id: thing.id,
    }))
}

async fn describe_thing(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
) -> Reply<DescribeThingResponse> {
    let t = s.registry.read(|r| r.thing(&name).cloned())?;
    Ok(Json(DescribeThingResponse {
        default_client_id: t.name.clone(),
        thing_arn: ctx.scope.arn(ResourceType::Thing, &t.name),
        thing_name: t.name,
        thing_id: t.id,
        thing_type_name: t.type_name,
        attributes: t.attributes,
        version: t.version,
        billing_group_name: t.billing_group,
    }))
}

async fn update_thing(
    State(s): State<AppState>,
    Name(name): Name,
    AwsJson(req): AwsJson<UpdateThingRequest>,
) -> Result<Empty, ApiError> {
    let update = ThingUpdate {
        type_name: req.thing_type_name,
        remove_type: req.remove_thing_type.unwrap_or(false),
        attributes: payload(req.attribute_payload),
        expected_version: req.expected_version,
    };
    s.registry.change(|r| r.update_thing(&name, &update)).await?;
    Ok(empty())
}

async fn delete_thing(State(s): State<AppState>, Name(name): Name, q: Params) -> Result<Empty, ApiError> {
    let expected = q.int("expectedVersion", i64::MIN, i64::MAX)?;
    s.registry.change(|r| r.delete_thing(&name, expected)).await?;
    Ok(empty())
}

async fn list_things(State(s): State<AppState>, ctx: Ctx, q: Params) -> Reply<ListThingsResponse> {
    let max = q.max_results()?;
    let filter = ThingFilter {
        attribute_name: q.str("attributeName").map(str::to_owned),
        attribute_value: q.str("attributeValue").map(str::to_owned),
        prefix: q.bool("usePrefixAttributeValue")?.unwrap_or(false),
        type_name: q.str("thingTypeName").map(str::to_owned),
    };
    let page = s.registry.read(|r| {
        let p = r.list_things(&filter, q.next_token(), max)?;
        Ok(ListThingsResponse {
            things: p
                .items
                .into_iter()
                .map(|t| ThingAttribute {
                    thing_name: t.name.clone(),
                    thing_type_name: t.type_name.clone(),
                    thing_arn: ctx.scope.arn(ResourceType::Thing, &t.name),
                    attributes: t.attributes.clone(),
                    version: t.version,
                })
                .collect(),
            next_token: p.next_token,
        })
    })?;
    Ok(Json(page))
}

// ------------------------------------------------------------------------ thing types

fn type_props(p: Option<ThingTypeProperties>) -> ThingTypeProps {
    let p = p.unwrap_or_default();
    ThingTypeProps {
        description: p.thing_type_description,
        searchable_attributes: p.searchable_attributes,
        propagating_attributes: p.mqtt5_configuration.and_then(|m| m.propagating_attributes),
    }
}

fn type_wire(t: &registry::ThingType) -> (ThingTypeProperties, ThingTypeMetadata) {
    (
        ThingTypeProperties {
            thing_type_description: t.description.clone(),
            searchable_attributes: Some(t.searchable_attributes.clone()),
            mqtt5_configuration: t
                .propagating_attributes
                .clone()
                .map(|p| Mqtt5Configuration { propagating_attributes: Some(p) }),
        },
        ThingTypeMetadata {
            deprecated: t.deprecated,
            deprecation_date: t.deprecation_date.map(|d| d.epoch_seconds()),
            creation_date: t.created.epoch_seconds(),
        },
    )
}

async fn create_thing_type(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
    AwsJson(req): AwsJson<CreateThingTypeRequest>,
) -> Reply<CreateThingTypeResponse> {
    let props = type_props(req.thing_type_properties);
    let tags = tag_pairs(req.tags);
    let now = s.now();
    let ty = s.registry.write(|r| r.create_thing_type(new_resource(&ctx, now), &name, &props, &tags)).await?;
    Ok(Json(CreateThingTypeResponse {
        thing_type_arn: ctx.scope.arn(ResourceType::ThingType, &ty.name),
        thing_type_name: ty.name,
        thing_type_id: ty.id,
    }))
}

async fn describe_thing_type(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
) -> Reply<DescribeThingTypeResponse> {
    let t = s.registry.read(|r| r.thing_type(&name).cloned())?;
    let (props, meta) = type_wire(&t);
    Ok(Json(DescribeThingTypeResponse {
        thing_type_arn: ctx.scope.arn(ResourceType::ThingType, &t.name),
        thing_type_name: t.name,
        thing_type_id: t.id,
        thing_type_properties: props,
        thing_type_metadata: meta,
    }))
}

async fn update_thing_type(
    State(s): State<AppState>,
    Name(name): Name,
    AwsJson(req): AwsJson<UpdateThingTypeRequest>,
) -> Result<Empty, ApiError> {
    let props = type_props(req.thing_type_properties);
    s.registry.change(|r| r.update_thing_type(&name, &props)).await?;
    Ok(empty())
}

async fn deprecate_thing_type(
    State(s): State<AppState>,
    Name(name): Name,
    AwsJson(req): AwsJson<DeprecateThingTypeRequest>,
) -> Result<Empty, ApiError> {
    let now = s.now();
    let undo = req.undo_deprecate.unwrap_or(false);
    s.registry.change(|r| r.deprecate_thing_type(&name, undo, now)).await?;
    Ok(empty())
}

async fn delete_thing_type(State(s): State<AppState>, Name(name): Name) -> Result<Empty, ApiError> {
    // AWS deletes a thing type only 5 minutes after its deprecation; Thingbox does not wait unless
    // strict-AWS mode is on (then it refuses, as AWS does; otherwise it reports it).
    let wait = Quota::ThingTypeDeletionWait.limit() as i64 * 60_000;
    let now = crate::broker::now_ms();
    let deprecated = s.registry.read(|r| Ok(r.thing_type(&name).ok().and_then(|t| t.deprecation_date)))?;
    if let Some(at) = deprecated
        && now - at.millis() < wait
        && s.broker.quotas.exceeded(Quota::ThingTypeDeletionWait, &name, now)
    {
        let left = (wait - (now - at.millis()) + 999) / 1000;
        return Err(crate::Error::InvalidRequest(format!(
            "Thing type {name} was deprecated less than 5 minutes ago; it can be deleted in {left} s \
             (AWS waits 5 minutes after deprecation; strict-AWS mode does too)"
        ))
        .into());
    }
    s.registry.change(|r| r.delete_thing_type(&name)).await?;
    Ok(empty())
}

async fn list_thing_types(State(s): State<AppState>, ctx: Ctx, q: Params) -> Reply<ListThingTypesResponse> {
    let max = q.max_results()?;
    let out = s.registry.read(|r| {
        let p = r.list_thing_types(q.str("thingTypeName"), q.next_token(), max)?;
        Ok(ListThingTypesResponse {
            thing_types: p
                .items
                .into_iter()
                .map(|t| {
                    let (props, meta) = type_wire(t);
                    ThingTypeDefinition {
                        thing_type_name: t.name.clone(),
                        thing_type_arn: ctx.scope.arn(ResourceType::ThingType, &t.name),
                        thing_type_properties: props,
                        thing_type_metadata: meta,
                    }
                })
                .collect(),
            next_token: p.next_token,
        })
    })?;
    Ok(Json(out))
}

// ------------------------------------------------------------------------ thing groups

fn group_props(p: Option<ThingGroupProperties>) -> ThingGroupProps {
    let p = p.unwrap_or_default();
    ThingGroupProps { description: p.thing_group_description, attributes: payload(p.attribute_payload) }
}

fn name_and_arn(scope: &Scope, name: &str) -> GroupNameAndArn {
    GroupNameAndArn { group_name: name.to_owned(), group_arn: scope.arn(ResourceType::ThingGroup, name) }
}

async fn create_thing_group(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
    AwsJson(req): AwsJson<CreateThingGroupRequest>,
) -> Reply<CreateThingGroupResponse> {
    let props = group_props(req.thing_group_properties);
    let tags = tag_pairs(req.tags);
    let now = s.now();
    let g = s
        .registry
        .write(|r| {
            r.create_thing_group(
                new_resource(&ctx, now),
                &name,
                req.parent_group_name.as_deref(),
                &props,
                &tags,
            )
        })
        .await?;
    Ok(Json(CreateThingGroupResponse {
        thing_group_arn: ctx.scope.arn(ResourceType::ThingGroup, &g.name),
        thing_group_name: g.name,
        thing_group_id: g.id,
    }))
}

async fn describe_thing_group(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
) -> Reply<DescribeThingGroupResponse> {
    let out = s.registry.read(|r| {
        let g = r.thing_group(&name)?;
        let chain: Vec<GroupNameAndArn> =
            r.ancestors(&name).iter().map(|a| name_and_arn(&ctx.scope, &a.name)).collect();
        Ok(DescribeThingGroupResponse {
            thing_group_name: g.name.clone(),
            thing_group_id: g.id.clone(),
            thing_group_arn: ctx.scope.arn(ResourceType::ThingGroup, &g.name),
            version: g.version,
            thing_group_properties: ThingGroupProperties {
                thing_group_description: g.description.clone(),
                attribute_payload: Some(AttributePayload {
                    attributes: Some(g.attributes.clone()),
                    merge: None,
                }),
            },
            thing_group_metadata: ThingGroupMetadata {
                parent_group_name: g.parent.clone(),
                root_to_parent_thing_groups: (!chain.is_empty()).then_some(chain),
                creation_date: g.created.epoch_seconds(),
            },
        })
    })?;
    Ok(Json(out))
}

async fn update_thing_group(
    State(s): State<AppState>,
    Name(name): Name,
    AwsJson(req): AwsJson<UpdateThingGroupRequest>,
) -> Reply<VersionResponse> {
    let props = required(req.thing_group_properties, "thingGroupProperties")?;
    let props = group_props(Some(props));
    let version = s.registry.write(|r| r.update_thing_group(&name, &props, req.expected_version)).await?;
    Ok(Json(VersionResponse { version }))
}

async fn delete_thing_group(
    State(s): State<AppState>,
    Name(name): Name,
    q: Params,
) -> Result<Empty, ApiError> {
    let expected = q.int("expectedVersion", i64::MIN, i64::MAX)?;
    s.registry.change(|r| r.delete_thing_group(&name, expected)).await?;
    Ok(empty())
}

async fn list_thing_groups(State(s): State<AppState>, ctx: Ctx, q: Params) -> Reply<ListThingGroupsResponse> {
    let max = q.max_results()?;
    let recursive = q.bool("recursive")?.unwrap_or(false);
    let out = s.registry.read(|r| {
        let p = r.list_thing_groups(
            q.str("parentGroup"),
            q.str("namePrefixFilter"),
            recursive,
            q.next_token(),
            max,
        )?;
        Ok(ListThingGroupsResponse {
            thing_groups: p.items.iter().map(|g| name_and_arn(&ctx.scope, &g.name)).collect(),
            next_token: p.next_token,
        })
    })?;
    Ok(Json(out))
}

/// Resolves a name-or-ARN pair from a membership request; `member` is the wire prefix
/// (`thingGroup` for `thingGroupName`/`thingGroupArn`).
fn name_or_arn(
    name: Option<String>,
    arn: Option<String>,
    kind: ResourceType,
    member: &str,
) -> Result<String, Error> {
    match (name, arn) {
        (Some(n), _) => Ok(n),
        (None, Some(a)) => {
            let parsed = Arn::parse(&a).map_err(|e| Error::InvalidRequest(e.to_string()))?;
            if parsed.kind != kind {
                return Err(Error::InvalidRequest(format!(
                    "{member}Arn '{a}' is not the ARN of a {}",
                    kind.as_str()
                )));
            }
            Ok(parsed.id)
        }
        (None, None) => Err(Error::InvalidRequest(format!("Give either {member}Name or {member}Arn"))),
    }
}

fn membership(req: ThingGroupMembershipRequest) -> Result<(String, String), Error> {
    let group =
        name_or_arn(req.thing_group_name, req.thing_group_arn, ResourceType::ThingGroup, "thingGroup")?;
    let thing = name_or_arn(req.thing_name, req.thing_arn, ResourceType::Thing, "thing")?;
    Ok((group, thing))
}

async fn add_thing_to_thing_group(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<ThingGroupMembershipRequest>,
) -> Result<Empty, ApiError> {
    let (group, thing) = membership(req)?;
    s.registry.change(|r| r.add_thing_to_group(&group, &thing)).await?;
    Ok(empty())
}

async fn remove_thing_from_thing_group(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<ThingGroupMembershipRequest>,
) -> Result<Empty, ApiError> {
    let (group, thing) = membership(req)?;
    s.registry.change(|r| r.remove_thing_from_group(&group, &thing)).await?;
    Ok(empty())
}

async fn update_thing_groups_for_thing(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<UpdateThingGroupsForThingRequest>,
) -> Result<Empty, ApiError> {
    let thing = req.thing_name.ok_or_else(|| {
        ApiError(Error::InvalidRequest(
            "UpdateThingGroupsForThing needs thingName: the thing whose groups change".into(),
        ))
    })?;
    let add = req.thing_groups_to_add.unwrap_or_default();
    let remove = req.thing_groups_to_remove.unwrap_or_default();
    s.registry.change(|r| r.update_groups_for_thing(&thing, &add, &remove)).await?;
    Ok(empty())
}

async fn list_things_in_thing_group(
    State(s): State<AppState>,
    Name(name): Name,
    q: Params,
) -> Reply<ListThingsInThingGroupResponse> {
    let max = q.max_results()?;
    let recursive = q.bool("recursive")?.unwrap_or(false);
    let out = s.registry.read(|r| {
        let p = r.list_things_in_group(&name, recursive, q.next_token(), max)?;
        Ok(ListThingsInThingGroupResponse {
            things: p.items.into_iter().map(str::to_owned).collect(),
            next_token: p.next_token,
        })
    })?;
    Ok(Json(out))
}

async fn list_thing_groups_for_thing(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(name): Name,
    q: Params,
) -> Reply<ListThingGroupsResponse> {
    let max = q.max_results()?;
    let out = s.registry.read(|r| {
        let p = r.list_groups_for_thing(&name, q.next_token(), max)?;
        Ok(ListThingGroupsResponse {
            thing_groups: p.items.iter().map(|g| name_and_arn(&ctx.scope, &g.name)).collect(),
            next_token: p.next_token,
        })
    })?;
    Ok(Json(out))
}

// ------------------------------------------------------------------------ endpoint and tags

/// The endpoint types DescribeEndpoint knows.
const ENDPOINT_TYPES: [&str; 4] = ["iot:Data", "iot:Data-ATS", "iot:CredentialProvider", "iot:Jobs"];

async fn describe_endpoint(State(s): State<AppState>, q: Params) -> Reply<DescribeEndpointResponse> {
    if let Some(t) = q.str("endpointType")
        && !ENDPOINT_TYPES.contains(&t)
    {
        return Err(ApiError(Error::InvalidRequest(format!(
            "Endpoint type {t} is not valid; use one of {}",
            ENDPOINT_TYPES.join(", ")
        ))));
    }
    Ok(Json(DescribeEndpointResponse { endpoint_address: s.endpoint_host.clone() }))
}

/// The (kind, name) of a taggable registry resource.
fn taggable(arn: Option<&str>) -> Result<(ResourceType, String), Error> {
    let arn = required(arn, "resourceArn")?;
    let parsed = Arn::parse(arn).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    Ok((parsed.kind, parsed.id))
}

async fn list_tags_for_resource(State(s): State<AppState>, q: Params) -> Reply<ListTagsResponse> {
    let (kind, name) = taggable(q.str("resourceArn"))?;
    let tags = if kind == ResourceType::Rule {
        s.rules.read(|r| r.get(&name).map(|r| r.tags.clone()))?
    } else if kind == ResourceType::Job {
        s.jobs.read(|j| j.job(&name).map(|j| j.tags.clone()))?
    } else if kind == ResourceType::JobTemplate {
        s.jobs.read(|j| j.template(&name).map(|t| t.tags.clone()))?
    } else {
        s.registry.read(|r: &Registry| r.tags(kind, &name).cloned())?
    };
    Ok(Json(ListTagsResponse {
        tags: tags.into_iter().map(|(key, value)| Tag { key, value: Some(value) }).collect(),
        next_token: None,
    }))
}

async fn tag_resource(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<TagResourceRequest>,
) -> Result<Empty, ApiError> {
    let (kind, name) = taggable(req.resource_arn.as_deref())?;
    let tags = tag_pairs(req.tags);
    if kind == ResourceType::Rule {
        s.rules.change(|r| r.tag(&name, &tags)).await?;
    } else if matches!(kind, ResourceType::Job | ResourceType::JobTemplate) {
        s.jobs.change(|j| j.tag(&name, &tags)).await?;
    } else {
        s.registry.change(|r| r.tag(kind, &name, &tags)).await?;
    }
    Ok(empty())
}

async fn untag_resource(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<UntagResourceRequest>,
) -> Result<Empty, ApiError> {
    let (kind, name) = taggable(req.resource_arn.as_deref())?;
    let keys = req.tag_keys.unwrap_or_default();
    if kind == ResourceType::Rule {
        s.rules.change(|r| r.untag(&name, &keys)).await?;
    } else if matches!(kind, ResourceType::Job | ResourceType::JobTemplate) {
        s.jobs.change(|j| j.untag(&name, &keys)).await?;
    } else {
        s.registry.change(|r| r.untag(kind, &name, &keys)).await?;
    }
    Ok(empty())
}
