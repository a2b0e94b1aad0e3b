//! Service `iot` (control plane): registry request and response bodies, with AWS's wire names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `AttributePayload`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributePayload {
    /// Attribute name → value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// Merge instead of replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<bool>,
}

/// `Tag` (note the capitalised members).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    #[serde(rename = "Key")]
    pub key: String,
    /// Value.
    #[serde(rename = "Value", default)]
    pub value: Option<String>,
}

/// `GroupNameAndArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupNameAndArn {
    /// Group name.
    pub group_name: String,
    /// Group ARN.
    pub group_arn: String,
}

/// CreateThing request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingRequest {
    /// Thing type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<String>,
    /// Attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_payload: Option<AttributePayload>,
    /// Billing group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_group_name: Option<String>,
}

/// CreateThing response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingResponse {
    /// Name.
    pub thing_name: String,
    /// ARN.
    pub thing_arn: String,
    /// Id.
    pub thing_id: String,
}

/// DescribeThing response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeThingResponse {
    /// The client id a device of this thing uses by default (its name).
    pub default_client_id: String,
    /// Name.
    pub thing_name: String,
    /// Id.
    pub thing_id: String,
    /// ARN.
    pub thing_arn: String,
    /// Thing type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<String>,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
    /// Version.
    pub version: i64,
    /// Billing group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_group_name: Option<String>,
}

/// UpdateThing request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateThingRequest {
    /// New thing type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<String>,
    /// Attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_payload: Option<AttributePayload>,
    /// Expected current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
    /// Detach the thing type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_thing_type: Option<bool>,
}

/// `ThingAttribute`, an item of ListThings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingAttribute {
    /// Name.
    pub thing_name: String,
    /// Thing type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<String>,
    /// ARN.
    pub thing_arn: String,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
    /// Version.
    pub version: i64,
}

/// ListThings response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingsResponse {
    /// Things on this page.
    pub things: Vec<ThingAttribute>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `PropagatingAttribute`: the registry's own record is already in wire form.
pub use thingbox_model::registry::PropagatingAttribute;

/// `Mqtt5Configuration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mqtt5Configuration {
    /// Propagating attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagating_attributes: Option<Vec<PropagatingAttribute>>,
}

/// `ThingTypeProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingTypeProperties {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_description: Option<String>,
    /// Searchable attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searchable_attributes: Option<Vec<String>>,
    /// MQTT 5 configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt5_configuration: Option<Mqtt5Configuration>,
}

/// `ThingTypeMetadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingTypeMetadata {
    /// Deprecated?
    pub deprecated: bool,
    /// When deprecated (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_date: Option<f64>,
    /// When created (epoch seconds).
    pub creation_date: f64,
}

/// CreateThingType request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingTypeRequest {
    /// Properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_properties: Option<ThingTypeProperties>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// CreateThingType response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingTypeResponse {
    /// Name.
    pub thing_type_name: String,
    /// ARN.
    pub thing_type_arn: String,
    /// Id.
    pub thing_type_id: String,
}

/// DescribeThingType response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeThingTypeResponse {
    /// Name.
    pub thing_type_name: String,
    /// Id.
    pub thing_type_id: String,
    /// ARN.
    pub thing_type_arn: String,
    /// Properties.
    pub thing_type_properties: ThingTypeProperties,
    /// Metadata.
    pub thing_type_metadata: ThingTypeMetadata,
}

/// UpdateThingType request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateThingTypeRequest {
    /// Properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_properties: Option<ThingTypeProperties>,
}

/// `ThingTypeDefinition`, an item of ListThingTypes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingTypeDefinition {
    /// Name.
    pub thing_type_name: String,
    /// ARN.
    pub thing_type_arn: String,
    /// Properties.
    pub thing_type_properties: ThingTypeProperties,
    /// Metadata.
    pub thing_type_metadata: ThingTypeMetadata,
}

/// ListThingTypes response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingTypesResponse {
    /// Types on this page.
    pub thing_types: Vec<ThingTypeDefinition>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// DeprecateThingType request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeprecateThingTypeRequest {
    /// Undo a deprecation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo_deprecate: Option<bool>,
}

/// `ThingGroupProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingGroupProperties {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_description: Option<String>,
    /// Attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_payload: Option<AttributePayload>,
}

/// CreateThingGroup request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingGroupRequest {
    /// Parent group (fixed at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_group_name: Option<String>,
    /// Properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_properties: Option<ThingGroupProperties>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// CreateThingGroup response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingGroupResponse {
    /// Name.
    pub thing_group_name: String,
    /// ARN.
    pub thing_group_arn: String,
    /// Id.
    pub thing_group_id: String,
}

/// `ThingGroupMetadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingGroupMetadata {
    /// Parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_group_name: Option<String>,
    /// Ancestors, root first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_to_parent_thing_groups: Option<Vec<GroupNameAndArn>>,
    /// When created (epoch seconds).
    pub creation_date: f64,
}

/// DescribeThingGroup response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeThingGroupResponse {
    /// Name.
    pub thing_group_name: String,
    /// Id.
    pub thing_group_id: String,
    /// ARN.
    pub thing_group_arn: String,
    /// Version.
    pub version: i64,
    /// Properties.
    pub thing_group_properties: ThingGroupProperties,
    /// Metadata.
    pub thing_group_metadata: ThingGroupMetadata,
}

/// UpdateThingGroup request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateThingGroupRequest {
    /// Properties (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_properties: Option<ThingGroupProperties>,
    /// Expected current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
}

/// UpdateThingGroup response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionResponse {
    /// The new version.
    pub version: i64,
}

/// ListThingGroups / ListThingGroupsForThing response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingGroupsResponse {
    /// Groups on this page.
    pub thing_groups: Vec<GroupNameAndArn>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// AddThingToThingGroup / RemoveThingFromThingGroup request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingGroupMembershipRequest {
    /// Group by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_name: Option<String>,
    /// Group by ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_arn: Option<String>,
    /// Thing by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
    /// Thing by ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_arn: Option<String>,
    /// Dynamic-group eviction (accepted; Thingbox has no dynamic groups yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_dynamic_groups: Option<bool>,
}

/// ListThingsInThingGroup response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingsInThingGroupResponse {
    /// Thing names.
    pub things: Vec<String>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// UpdateThingGroupsForThing request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateThingGroupsForThingRequest {
    /// Thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
    /// Groups to join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_groups_to_add: Option<Vec<String>>,
    /// Groups to leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_groups_to_remove: Option<Vec<String>>,
    /// Dynamic-group eviction (accepted; Thingbox has no dynamic groups yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_dynamic_groups: Option<bool>,
}

/// DescribeEndpoint response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeEndpointResponse {
    /// Host name.
    pub endpoint_address: String,
}

/// TagResource request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceRequest {
    /// Resource.
    #[serde(default)]
    pub resource_arn: Option<String>,
    /// Tags to set.
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
}

/// UntagResource request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResourceRequest {
    /// Resource.
    #[serde(default)]
    pub resource_arn: Option<String>,
    /// Keys to remove.
    #[serde(default)]
    pub tag_keys: Option<Vec<String>>,
}

/// ListTagsForResource response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsResponse {
    /// Tags.
    pub tags: Vec<Tag>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

// ------------------------------------------------------------------------ certificates

/// `KeyPair` (note the capitalised members).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPair {
    /// SubjectPublicKeyInfo PEM.
    #[serde(rename = "PublicKey")]
    pub public_key: String,
    /// Private key PEM (returned once, never stored).
    #[serde(rename = "PrivateKey")]
    pub private_key: String,
}

/// CreateKeysAndCertificate / CreateCertificateFromCsr / RegisterCertificate* response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateCreated {
    /// ARN.
    pub certificate_arn: String,
    /// Id (SHA-256 of the DER, hex).
    pub certificate_id: String,
    /// PEM (CreateKeysAndCertificate, CreateCertificateFromCsr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
    /// Key pair (CreateKeysAndCertificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pair: Option<KeyPair>,
}

/// CreateCertificateFromCsr request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCertificateFromCsrRequest {
    /// The CSR (PEM).
    #[serde(default)]
    pub certificate_signing_request: Option<String>,
}

/// RegisterCertificate / RegisterCertificateWithoutCA request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCertificateRequest {
    /// The certificate (PEM).
    #[serde(default)]
    pub certificate_pem: Option<String>,
    /// The issuing CA (PEM), optional.
    #[serde(default)]
    pub ca_certificate_pem: Option<String>,
    /// Initial status.
    #[serde(default)]
    pub status: Option<String>,
}

/// `CertificateValidity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateValidity {
    /// Epoch seconds.
    pub not_before: f64,
    /// Epoch seconds.
    pub not_after: f64,
}

/// `CertificateDescription`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateDescription {
    /// ARN.
    pub certificate_arn: String,
    /// Id.
    pub certificate_id: String,
    /// Issuing registered CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_id: Option<String>,
    /// Status.
    pub status: String,
    /// PEM.
    pub certificate_pem: String,
    /// Account.
    pub owned_by: String,
    /// Epoch seconds.
    pub creation_date: f64,
    /// Epoch seconds.
    pub last_modified_date: f64,
    /// Version.
    pub customer_version: i64,
    /// Generation.
    pub generation_id: String,
    /// Validity.
    pub validity: CertificateValidity,
    /// DEFAULT or SNI_ONLY.
    pub certificate_mode: String,
}

/// DescribeCertificate response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeCertificateResponse {
    /// The description.
    pub certificate_description: CertificateDescription,
}

/// `Certificate`, an item of ListCertificates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSummary {
    /// ARN.
    pub certificate_arn: String,
    /// Id.
    pub certificate_id: String,
    /// Status.
    pub status: String,
    /// DEFAULT or SNI_ONLY (device certificates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_mode: Option<String>,
    /// Epoch seconds.
    pub creation_date: f64,
}

/// ListCertificates / ListCertificatesByCA / ListCACertificates response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCertificatesResponse {
    /// Certificates on this page.
    pub certificates: Vec<CertificateSummary>,
    /// Marker for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// RegisterCACertificate request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCaCertificateRequest {
    /// The CA certificate (PEM).
    #[serde(default)]
    pub ca_certificate: Option<String>,
    /// Proof of possession: CN = registration code, signed by the CA.
    #[serde(default)]
    pub verification_certificate: Option<String>,
    /// Kept as given.
    #[serde(default)]
    pub registration_config: Option<serde_json::Value>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
    /// DEFAULT or SNI_ONLY.
    #[serde(default)]
    pub certificate_mode: Option<String>,
}

/// `CACertificateDescription`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaCertificateDescription {
    /// ARN.
    pub certificate_arn: String,
    /// Id.
    pub certificate_id: String,
    /// ACTIVE or INACTIVE.
    pub status: String,
    /// PEM.
    pub certificate_pem: String,
    /// Account.
    pub owned_by: String,
    /// Epoch seconds.
    pub creation_date: f64,
    /// ENABLE or DISABLE.
    pub auto_registration_status: String,
    /// Epoch seconds.
    pub last_modified_date: f64,
    /// Version.
    pub customer_version: i64,
    /// Generation.
    pub generation_id: String,
    /// Validity.
    pub validity: CertificateValidity,
    /// DEFAULT or SNI_ONLY.
    pub certificate_mode: String,
}

/// DescribeCACertificate response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeCaCertificateResponse {
    /// The description.
    pub certificate_description: CaCertificateDescription,
    /// Registration config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_config: Option<serde_json::Value>,
}

/// UpdateCACertificate request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCaCertificateRequest {
    /// New registration config.
    #[serde(default)]
    pub registration_config: Option<serde_json::Value>,
    /// Remove the registration config.
    #[serde(default)]
    pub remove_auto_registration: Option<bool>,
}

/// GetRegistrationCode response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationCodeResponse {
    /// 64 hex characters.
    pub registration_code: String,
}

/// ListThingPrincipals response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingPrincipalsResponse {
    /// Principal ARNs.
    pub principals: Vec<String>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ThingPrincipalObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingPrincipalObject {
    /// Principal ARN.
    pub principal: String,
    /// EXCLUSIVE_THING or NON_EXCLUSIVE_THING.
    pub thing_principal_type: String,
}

/// ListThingPrincipalsV2 response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingPrincipalsV2Response {
    /// Principals.
    pub thing_principal_objects: Vec<ThingPrincipalObject>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListPrincipalThings response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPrincipalThingsResponse {
    /// Thing names.
    pub things: Vec<String>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One event type's switch (`{"Enabled": bool}`; AWS capitalizes this member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventSwitch {
    /// Whether the type's events are published.
    #[serde(rename = "Enabled", default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// UpdateEventConfigurations request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateEventConfigurationsRequest {
    /// Event type (`THING`, `JOB`, …) → switch.
    #[serde(default)]
    pub event_configurations: BTreeMap<String, EventSwitch>,
}

/// DescribeEventConfigurations response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeEventConfigurationsResponse {
    /// Every event type → switch.
    pub event_configurations: BTreeMap<String, EventSwitch>,
    /// When the switches were first changed (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<f64>,
    /// When they were last changed (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date: Option<f64>,
}
