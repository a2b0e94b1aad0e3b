//! Amazon Resource Names for AWS IoT resources: built from (region, account, type, id) and parsed
//! back when a client passes an ARN instead of a name.

use std::fmt;

/// The AWS IoT resource types Thingbox names in ARNs (`arn:aws:iot:<region>:<account>:<type>/<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `thing/<thingName>`
    Thing,
    /// `thingtype/<thingTypeName>`
    ThingType,
    /// `thinggroup/<thingGroupName>`
    ThingGroup,
    /// `billinggroup/<billingGroupName>`
    BillingGroup,
    /// `cert/<certificateId>`
    Cert,
    /// `cacert/<caCertificateId>`
    CaCert,
    /// `policy/<policyName>`
    Policy,
    /// `rule/<ruleName>`
    Rule,
    /// `job/<jobId>`
    Job,
    /// `jobtemplate/<jobTemplateId>`
    JobTemplate,
    /// `provisioningtemplate/<templateName>`
    ProvisioningTemplate,
    /// `client/<clientId>`
    Client,
    /// `topic/<topicName>`
    Topic,
    /// `topicfilter/<topicFilter>`
    TopicFilter,
}

impl ResourceType {
    /// The type's word in an ARN.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Thing => "thing",
            Self::ThingType => "thingtype",
            Self::ThingGroup => "thinggroup",
            Self::BillingGroup => "billinggroup",
            Self::Cert => "cert",
            Self::CaCert => "cacert",
            Self::Policy => "policy",
            Self::Rule => "rule",
            Self::Job => "job",
            Self::JobTemplate => "jobtemplate",
            Self::ProvisioningTemplate => "provisioningtemplate",
            Self::Client => "client",
            Self::Topic => "topic",
            Self::TopicFilter => "topicfilter",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "thing" => Self::Thing,
            "thingtype" => Self::ThingType,
            "thinggroup" => Self::ThingGroup,
            "billinggroup" => Self::BillingGroup,
            "cert" => Self::Cert,
            "cacert" => Self::CaCert,
            "policy" => Self::Policy,
            "rule" => Self::Rule,
            "job" => Self::Job,
            "jobtemplate" => Self::JobTemplate,
            "provisioningtemplate" => Self::ProvisioningTemplate,
            "client" => Self::Client,
            "topic" => Self::Topic,
            "topicfilter" => Self::TopicFilter,
            _ => return None,
        })
    }
}

/// The account and region that ARNs are rendered in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// The 12-digit account id.
    pub account: String,
}

impl Scope {
    /// A scope for `region` and `account`.
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Self {
        Self { region: region.into(), account: account.into() }
    }

    /// The ARN of a resource of type `kind` named `id` in this scope.
    pub fn arn(&self, kind: ResourceType, id: &str) -> String {
        format!("arn:aws:iot:{}:{}:{}/{}", self.region, self.account, kind.as_str(), id)
    }
}

/// A parsed AWS IoT ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// Region part.
    pub region: String,
    /// Account part.
    pub account: String,
    /// Resource type.
    pub kind: ResourceType,
    /// Everything after `<type>/`.
    pub id: String,
}

/// Why a string is not an AWS IoT ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid AWS IoT ARN (expected arn:aws:iot:<region>:<account>:<type>/<name>)")]
pub struct ArnError(pub String);

impl Arn {
    /// Parses `arn:<partition>:iot:<region>:<account>:<type>/<id>`.
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        let err = || ArnError(s.to_owned());
        let mut parts = s.splitn(6, ':');
        if parts.next() != Some("arn") {
            return Err(err());
        }
        let partition = parts.next().ok_or_else(err)?;
        if !partition.starts_with("aws") || parts.next() != Some("iot") {
            return Err(err());
        }
        let region = parts.next().ok_or_else(err)?;
        let account = parts.next().ok_or_else(err)?;
        let resource = parts.next().ok_or_else(err)?;
        let (kind, id) = resource.split_once('/').ok_or_else(err)?;
        let kind = ResourceType::parse(kind).ok_or_else(err)?;
        if id.is_empty() {
            return Err(err());
        }
        Ok(Self { region: region.to_owned(), account: account.to_owned(), kind, id: id.to_owned() })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:aws:iot:{}:{}:{}/{}", self.region, self.account, self.kind.as_str(), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses() {
        let scope = Scope::new("eu-west-1", "000000000000");
        let arn = scope.arn(ResourceType::ThingGroup, "floor-2");
        assert_eq!(arn, "arn:aws:iot:eu-west-1:000000000000:thinggroup/floor-2");
        let parsed = Arn::parse(&arn).unwrap();
        assert_eq!(parsed.kind, ResourceType::ThingGroup);
        assert_eq!(parsed.id, "floor-2");
        assert_eq!(parsed.region, "eu-west-1");
        assert_eq!(parsed.to_string(), arn);
    }

    #[test]
    fn keeps_slashes_in_ids() {
        let parsed = Arn::parse("arn:aws:iot:us-east-1:1:topicfilter/a/+/#").unwrap();
        assert_eq!(parsed.kind, ResourceType::TopicFilter);
        assert_eq!(parsed.id, "a/+/#");
    }

    #[test]
    fn rejects_non_iot() {
        for bad in [
            "",
            "thing/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iot:us-east-1:1:spaceship/x",
            "arn:aws:iot:us-east-1:1:thing/",
            "arn:aws:iot:us-east-1:1:thing",
        ] {
            assert!(Arn::parse(bad).is_err(), "{bad}");
        }
        assert!(Arn::parse("arn:aws-cn:iot:cn-north-1:1:thing/x").is_ok());
    }
}
