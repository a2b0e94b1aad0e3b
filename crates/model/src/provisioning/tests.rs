use std::collections::BTreeMap;

use super::apply::{ApplyError, Provisioning, provision};
use super::template::{Override, PolicyPlan, Template};
use super::*;
use crate::registry::{CertFacts, CertStatus, Registry};

/// The template of the Device SDK's fleet-provisioning README.
const C1: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
const C2: &str = "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2";

const SAMPLE: &str = r#"{
  "Parameters": {
    "DeviceLocation": {"Type": "String"},
    "AWS::IoT::Certificate::Id": {"Type": "String"},
    "SerialNumber": {"Type": "String"}
  },
  "Mappings": {"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}},
  "Resources": {
    "thing": {
      "Type": "AWS::IoT::Thing",
      "Properties": {
        "ThingName": {"Fn::Join": ["", ["ThingPrefix_", {"Ref": "SerialNumber"}]]},
        "AttributePayload": {"version": "v1", "serialNumber": "serialNumber"}
      },
      "OverrideSettings": {"AttributePayload": "MERGE", "ThingTypeName": "REPLACE", "ThingGroups": "DO_NOTHING"}
    },
    "certificate": {
      "Type": "AWS::IoT::Certificate",
      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}
    },
    "policy": {
      "Type": "AWS::IoT::Policy",
      "Properties": {"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}]}"}
    }
  },
  "DeviceConfiguration": {
    "FallbackUrl": "https://www.example.com/test-site",
    "LocationUrl": {"Fn::FindInMap": ["LocationTable", {"Ref": "DeviceLocation"}, "LocationUrl"]}
  }
}"#;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn cert_pseudo(id: &str) -> BTreeMap<String, String> {
    params(&[(template::CERTIFICATE_ID, id)])
}

#[test]
fn the_sdk_readme_template_evaluates_as_documented() {
    let t = Template::parse(SAMPLE).unwrap();
    let plan = t
        .evaluate(&params(&[("SerialNumber", "1"), ("DeviceLocation", "Seattle")]), &cert_pseudo(C1))
        .unwrap();
    let (_, thing) = plan.thing.clone().unwrap();
    assert_eq!(thing.name, "ThingPrefix_1");
    assert_eq!(thing.on_attributes, Override::Merge);
    assert_eq!(plan.certificate, Some(("certificate".into(), C1.to_owned(), true)));
    assert!(matches!(&plan.policies[0].1, PolicyPlan::Document(d) if d.contains("iot:*")));
    assert_eq!(
        plan.device_configuration,
        params(&[
            ("FallbackUrl", "https://www.example.com/test-site"),
            ("LocationUrl", "https://example.aws")
        ])
    );
}

#[test]
fn functions_evaluate() {
    let body = |expr: &str| {
        format!(
            r#"{{"Parameters":{{"P":{{"Type":"String","Default":"a-b-c"}},"Q":{{"Type":"String"}}}},
            "Resources":{{}},"DeviceConfiguration":{{"out":{expr}}}}}"#
        )
    };
    let cases = [
        (r#"{"Ref":"P"}"#, Ok("a-b-c")),
        (r#"{"Fn::Select":[1,{"Fn::Split":["-",{"Ref":"P"}]}]}"#, Ok("b")),
        (r#"{"Fn::Select":["2",{"Fn::Split":["-",{"Ref":"P"}]}]}"#, Ok("c")),
        (r#"{"Fn::Select":[5,{"Fn::Split":["-",{"Ref":"P"}]}]}"#, Err("outside the list")),
        (r#"{"Fn::Join":["/",["x",{"Ref":"Q"}]]}"#, Ok("x/q")),
        (r#"{"Fn::Sub":"id-${P}-${!Lit}"}"#, Ok("id-a-b-c-${Lit}")),
        (r#"{"Fn::Sub":["${X}:${Q}",{"X":"x"}]}"#, Ok("x:q")),
        (r#"{"Ref":"Nope"}"#, Err("no such parameter")),
        (r#"{"Ref":"AWS::IoT::Certificate::CommonName"}"#, Err("has no AWS::IoT::Certificate::CommonName")),
    ];
    for (expr, want) in cases {
        let t = Template::parse(&body(expr)).unwrap();
        let got = t
            .evaluate(&params(&[("Q", "q")]), &BTreeMap::new())
            .map(|p| p.device_configuration["out"].clone());
        match want {
            Ok(v) => assert_eq!(got.as_deref(), Ok(v), "{expr}"),
            Err(why) => assert!(got.as_ref().is_err_and(|e| e.contains(why)), "{expr}: {got:?}"),
        }
    }
    let t = Template::parse(&body(r#"{"Ref":"Q"}"#)).unwrap();
    assert!(t.evaluate(&BTreeMap::new(), &BTreeMap::new()).unwrap_err().contains("parameter Q has no value"));
}

#[test]
fn bad_bodies_are_refused_when_stored() {
    let cases = [
        ("not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        (r#"{"Parameters":{}}"#, "no Resources"),
        (r#"{"Resources":{"x":{"Type":"AWS::S3::Bucket"}}}"#, "must be AWS::IoT::Thing"),
        (r#"{"Resources":{"x":{"Type":"AWS::IoT::Thing","Properties":{}}}}"#, "needs ThingName"),
        (
            r#"{"Resources":{"x":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":{"Fn::If":[1]}}}}}"#,
            "unknown function Fn::If",
        ),
        (
            r#"{"Resources":{"p":{"Type":"AWS::IoT::Policy","Properties":{}}}}"#,
            "one of PolicyName and PolicyDocument",
        ),
        (r#"{"Resources":{},"Outputs":{}}"#, "unknown section Outputs"),
    ];
    for (body, why) in cases {
        let err = Template::parse(body).unwrap_err();
        assert!(err.contains(why), "{body}: {err}");
    }
    assert!(Template::parse(&" ".repeat(template::MAX_BODY + 1)).unwrap_err().contains("the most is 10240"));
}

fn scope() -> Scope {
    Scope::new("us-east-1", "000000000000")
}

fn registry_with_pending(id: &str) -> Registry {
    let mut r = Registry::new();
    let facts = CertFacts {
        id: id.into(),
        pem: "pem".into(),
        subject: "CN=AWS IoT Certificate".into(),
        issuer: "CN=Thingbox".into(),
        not_before: Timestamp(0),
        not_after: Timestamp(i64::MAX),
    };
    r.add_pending_certificate(&scope(), facts, None, Timestamp(1)).unwrap();
    r
}

fn hash(doc: &str) -> String {
    format!("P{}", doc.len())
}

#[test]
fn provisioning_makes_the_thing_policy_and_activates_the_certificate() {
    let mut r = registry_with_pending(C1);
    let plan = Template::parse(SAMPLE)
        .unwrap()
        .evaluate(&params(&[("SerialNumber", "7"), ("DeviceLocation", "Seattle")]), &cert_pseudo(C1))
        .unwrap();
    let s = scope();
    let p = Provisioning {
        scope: &s,
        certificate_id: C1,
        thing_id: "t-1".into(),
        now: Timestamp(2),
        policy_name: hash,
    };
    let (out, changes) = provision(&mut r, &plan, &p).unwrap();
    assert_eq!(out.thing_name.as_deref(), Some("ThingPrefix_7"));
    assert_eq!(out.resource_arns["thing"], "arn:aws:iot:us-east-1:000000000000:thing/ThingPrefix_7");
    assert!(out.resource_arns["policy"].contains(":policy/P"));
    assert!(!changes.is_empty());
    assert_eq!(r.certificate(C1).unwrap().status, CertStatus::Active);
    assert_eq!(r.thing_principals("ThingPrefix_7").unwrap().len(), 1);
    // Again (a re-provisioned device): nothing conflicts, nothing new.
    let (_, again) = provision(&mut r, &plan, &p).unwrap();
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn a_refused_step_changes_nothing() {
    let mut r = registry_with_pending(C1);
    let body = r#"{"Resources":{
        "thing":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"t","ThingGroups":["missing"]}},
        "certificate":{"Type":"AWS::IoT::Certificate","Properties":{"CertificateId":{"Ref":"AWS::IoT::Certificate::Id"}}}}}"#;
    let plan = Template::parse(body).unwrap().evaluate(&BTreeMap::new(), &cert_pseudo(C1)).unwrap();
    let s = scope();
    let p = Provisioning {
        scope: &s,
        certificate_id: C1,
        thing_id: "t-1".into(),
        now: Timestamp(2),
        policy_name: hash,
    };
    let err = provision(&mut r, &plan, &p).unwrap_err();
    assert!(matches!(err, ApplyError::Registry(_)), "{err:?}");
    assert!(r.thing("t").is_err());
    assert_eq!(r.certificate(C1).unwrap().status, CertStatus::PendingActivation);
    // A certificate resource that names another certificate is refused too.
    let other = Template::parse(
        r#"{"Resources":{"certificate":{"Type":"AWS::IoT::Certificate","Properties":{"CertificateId":{"Ref":"AWS::IoT::Certificate::Id"}}}}}"#,
    )
    .unwrap()
    .evaluate(&BTreeMap::new(), &cert_pseudo(C2))
    .unwrap();
    assert!(
        provision(&mut r, &other, &p).unwrap_err().to_string().contains(&format!("not the device's {C1}"))
    );
}

#[test]
fn override_fail_refuses_a_different_existing_thing() {
    let mut r = registry_with_pending(C1);
    let body = |attr: &str| {
        format!(
            r#"{{"Resources":{{"thing":{{"Type":"AWS::IoT::Thing","Properties":{{"ThingName":"t","AttributePayload":{{"a":"{attr}"}}}},
            "OverrideSettings":{{"ATTRIBUTE_PAYLOAD":"FAIL"}}}}}}}}"#
        )
    };
    let s = scope();
    let p = Provisioning {
        scope: &s,
        certificate_id: C1,
        thing_id: "t-1".into(),
        now: Timestamp(2),
        policy_name: hash,
    };
    let plan =
        |a: &str| Template::parse(&body(a)).unwrap().evaluate(&BTreeMap::new(), &BTreeMap::new()).unwrap();
    provision(&mut r, &plan("1"), &p).unwrap();
    provision(&mut r, &plan("1"), &p).unwrap();
    assert!(matches!(provision(&mut r, &plan("2"), &p), Err(ApplyError::Conflict(_))));
}

#[test]
fn templates_have_versions() {
    let s = scope();
    let mut t = Templates::default();
    let new = NewTemplate {
        name: "fleet".into(),
        body: SAMPLE.into(),
        enabled: true,
        role_arn: "arn:aws:iam::000000000000:role/Provisioning".into(),
        ..NewTemplate::default()
    };
    t.create(&s, new.clone(), Timestamp(1)).unwrap();
    assert!(matches!(t.create(&s, new.clone(), Timestamp(1)), Err(ProvisioningError::AlreadyExists { .. })));
    for bad in ["", "a b", &"x".repeat(37)] {
        let r = t.create(&s, NewTemplate { name: bad.into(), ..new.clone() }, Timestamp(1));
        assert!(matches!(r, Err(ProvisioningError::InvalidRequest(_))), "{bad}");
    }
    let (_, v2, _) = t.create_version("fleet", SAMPLE.into(), false, Timestamp(2)).unwrap();
    assert_eq!((v2, t.get("fleet").unwrap().default_version), (2, 1));
    t.update("fleet", TemplateUpdate { default_version: Some(2), ..Default::default() }, Timestamp(3))
        .unwrap();
    assert!(matches!(t.delete_version("fleet", 2), Err(ProvisioningError::DeleteConflict(_))));
    t.delete_version("fleet", 1).unwrap();
    for _ in 0..4 {
        t.create_version("fleet", SAMPLE.into(), false, Timestamp(4)).unwrap();
    }
    assert!(matches!(
        t.create_version("fleet", SAMPLE.into(), false, Timestamp(5)),
        Err(ProvisioningError::VersionsLimitExceeded(_))
    ));
    let hook = Hook {
        target_arn: "arn:aws:lambda:us-east-1:000000000000:function:hook".into(),
        payload_version: "2020-04-01".into(),
    };
    let jitp = NewTemplate { name: "jitp".into(), kind: TemplateType::Jitp, hook: Some(hook), ..new };
    assert!(
        t.create(&s, jitp, Timestamp(1)).unwrap_err().to_string().contains("only for FLEET_PROVISIONING")
    );
}

#[test]
fn what_a_claim_may_touch() {
    let cases = [
        ("$aws/certificates/create/json", true),
        ("$aws/certificates/create/json/accepted", true),
        ("$aws/certificates/create-from-csr/cbor/rejected", true),
        ("$aws/certificates/create/+", true),
        ("$aws/provisioning-templates/fleet/provision/json", true),
        ("$aws/provisioning-templates/fleet/provision/json/accepted", true),
        ("$aws/provisioning-templates/other/provision/json", false),
        ("$aws/certificates/create/xml", false),
        ("$aws/certificates/create/json/accepted/more", false),
        ("$aws/things/t/shadow/update", false),
        ("#", false),
    ];
    for (topic, allowed) in cases {
        assert_eq!(claim_allows("fleet", topic), allowed, "{topic}");
    }
}

#[test]
fn a_register_thing_template_may_bring_its_certificate() {
    let body = r#"{"Parameters":{"Csr":{"Type":"String"}},"Resources":{"certificate":{"Type":"AWS::IoT::Certificate",
        "Properties":{"CertificateSigningRequest":{"Ref":"Csr"},"Status":"INACTIVE"}}}}"#;
    let plan = Template::parse(body).unwrap().evaluate(&params(&[("Csr", "PEM")]), &BTreeMap::new()).unwrap();
    assert_eq!(plan.certificate_source, Some(template::CertificateSource::Csr("PEM".into())));
    assert_eq!(plan.certificate, Some(("certificate".into(), String::new(), false)));
    assert!(plan.require_certificate_id().unwrap_err().contains("CertificateId only"));
}
