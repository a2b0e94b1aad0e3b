//! Provisioning templates and claims (service `iot`): the shapes of Describe/List responses,
//! shared with the console.

use serde::{Deserialize, Serialize};

/// `preProvisioningHook`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PreProvisioningHook {
    /// The Lambda function ARN.
    pub target_arn: String,
    /// `2020-04-01`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_version: Option<String>,
}

/// DescribeProvisioningTemplate's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningTemplateDescription {
    /// ARN.
    pub template_arn: String,
    /// Name.
    pub template_name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Created (epoch seconds).
    pub creation_date: f64,
    /// Last changed (epoch seconds).
    pub last_modified_date: f64,
    /// The version devices get.
    pub default_version_id: i64,
    /// The default version's body.
    pub template_body: String,
    /// Whether devices may use it.
    pub enabled: bool,
    /// The role.
    pub provisioning_role_arn: String,
    /// The hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_provisioning_hook: Option<PreProvisioningHook>,
    /// `FLEET_PROVISIONING` or `JITP`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// One ListProvisioningTemplates item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningTemplateSummary {
    /// ARN.
    pub template_arn: String,
    /// Name.
    pub template_name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Created.
    pub creation_date: f64,
    /// Last changed.
    pub last_modified_date: f64,
    /// Enabled.
    pub enabled: bool,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
}

/// ListProvisioningTemplates' response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListProvisioningTemplatesResponse {
    /// The page.
    pub templates: Vec<ProvisioningTemplateSummary>,
    /// More.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}
