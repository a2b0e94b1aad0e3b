//! The exports over a small registry with one of everything, and the CloudFormation export read
//! back by `import::plan` into the calls that make the same things.

use serde_json::{Value, json};

use super::*;
use crate::Timestamp;
use crate::arn::Scope;
use crate::registry::{AttributePayload, NewResource, ThingGroupProps, ThingTypeProps};

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const A: &str = "000000000000";
const R: &str = "us-east-1";

fn registry() -> Registry {
    let scope = Scope::new(R, A);
    let nr = |id: &str| NewResource { scope: &scope, id: id.into(), now: T0 };
    let mut r = Registry::new();
    let props = ThingTypeProps {
        description: Some("A lamp".into()),
        searchable_attributes: Some(vec!["color".into()]),
        ..Default::default()
    };
    r.create_thing_type(nr("tt"), "lamp-type", &props, &[]).unwrap();
    r.create_thing_group(nr("g1"), "home", None, &ThingGroupProps::default(), &[]).unwrap();
    r.create_thing_group(nr("g2"), "kitchen", Some("home"), &ThingGroupProps::default(), &[]).unwrap();
    let attrs =
        AttributePayload { attributes: Some([("color".to_owned(), "red".to_owned())].into()), merge: false };
    r.create_thing(nr("t1"), "lamp-1", Some("lamp-type"), Some(&attrs), None).unwrap();
    r.add_thing_to_group("kitchen", "lamp-1").unwrap();
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:000000000000:topic/lamps/${iot:ClientId}"}]});
    r.create_policy(&scope, "lamp-policy", &doc.to_string(), &[], T0).unwrap();
    r
}

fn rules() -> Vec<crate::rules::TopicRule> {
    let payload = crate::rules::RulePayload {
        sql: "SELECT * FROM 'lamps/+'".into(),
        aws_iot_sql_version: Some("2016-03-23".into()),
        actions: vec![
            json!({"republish": {"topic": "out/${topic(2)}", "roleArn": "arn:aws:iam::000000000000:role/r", "qos": 1}}),
            json!({"http": {"url": "https://example.com/in", "headers": [{"key": "x-a", "value": "b"}]}}),
            json!({"iotSiteWise": {"putAssetPropertyValueEntries": [], "roleArn": "arn:aws:iam::000000000000:role/r"}}),
        ],
        error_action: Some(
            json!({"lambda": {"functionArn": "arn:aws:lambda:us-east-1:000000000000:function:errs"}}),
        ),
        ..Default::default()
    };
    vec![crate::rules::TopicRule {
        name: "lamp_rule".into(),
        payload,
        created_at: T0,
        tags: Default::default(),
    }]
}

#[test]
fn cloudformation_has_every_resource_and_reports_what_it_cannot_carry() {
    let reg = registry();
    let rules = rules();
    let inv = Inventory {
        registry: &reg,
        rules: &rules,
        job_templates: &[],
        provisioning: &[],
        local_lambdas: &["errs".into()],
        account: A,
        region: R,
    };
    let (t, report) = cloudformation::export(&inv);
    let res = t["Resources"].as_object().unwrap();
    let kinds: Vec<&str> = res.values().map(|r| r["Type"].as_str().unwrap()).collect();
    for k in [
        "AWS::IoT::ThingType",
        "AWS::IoT::ThingGroup",
        "AWS::IoT::Thing",
        "AWS::IoT::Policy",
        "AWS::IoT::TopicRule",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(
        res.keys().all(|k| k.chars().all(|c| c.is_ascii_alphanumeric())),
        "logical ids: {:?}",
        res.keys()
    );
    let kitchen = res.values().find(|r| r["Properties"]["ThingGroupName"] == "kitchen").unwrap();
    assert_eq!(kitchen["Properties"]["ParentGroupName"], json!({"Ref": "ThingGroupHome"}));
    let policy = res.values().find(|r| r["Type"] == "AWS::IoT::Policy").unwrap();
    assert_eq!(
        policy["Properties"]["PolicyDocument"]["Statement"][0]["Resource"],
        json!({"Fn::Sub": "arn:aws:iot:${AWS::Region}:${AWS::AccountId}:topic/lamps/${!iot:ClientId}"})
    );
    let rule = res.values().find(|r| r["Type"] == "AWS::IoT::TopicRule").unwrap();
    let actions = &rule["Properties"]["TopicRulePayload"]["Actions"];
    assert_eq!(actions[0]["Republish"]["Topic"], "out/${topic(2)}");
    assert_eq!(
        actions[0]["Republish"]["RoleArn"],
        json!({"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/r"})
    );
    assert_eq!(actions[1]["Http"]["Headers"][0], json!({"Key": "x-a", "Value": "b"}));
    let md = report.markdown("CloudFormation");
    assert!(md.contains("thing lamp-1") && md.contains("--thing-type-name lamp-type"), "{md}");
    assert!(md.contains("add-thing-to-thing-group"), "{md}");
    assert!(md.contains("ran it as a local command"), "{md}");

    // Read back: the calls that make the same resources, parents first, names and documents intact.
    let calls = import::plan(&t, "111122223333", "eu-west-1").unwrap();
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    let home = paths.iter().position(|p| *p == "/thing-groups/home").unwrap();
    let kitchen = paths.iter().position(|p| *p == "/thing-groups/kitchen").unwrap();
    assert!(home < kitchen && paths[0] == "/thing-types/lamp-type", "{paths:?}");
    let thing = calls.iter().find(|c| c.path == "/things/lamp-1").unwrap();
    assert_eq!(thing.body, json!({"attributePayload": {"attributes": {"color": "red"}}}));
    let pol = calls.iter().find(|c| c.path == "/policies/lamp-policy").unwrap();
    let doc: Value = serde_json::from_str(pol.body["policyDocument"].as_str().unwrap()).unwrap();
    assert_eq!(
        doc["Statement"][0]["Resource"],
        "arn:aws:iot:eu-west-1:111122223333:topic/lamps/${iot:ClientId}"
    );
    let rule = calls.iter().find(|c| c.path == "/rules/lamp_rule").unwrap();
    assert_eq!(rule.body["actions"][0]["republish"]["roleArn"], "arn:aws:iam::111122223333:role/r");
    assert_eq!(rule.body["actions"][1]["http"]["headers"][0], json!({"key": "x-a", "value": "b"}));
    assert_eq!(rule.body["sql"], "SELECT * FROM 'lamps/+'");
}

#[test]
fn terraform_escapes_variables_and_reports_missing_action_types() {
    let reg = registry();
    let rules = rules();
    let inv = Inventory {
        registry: &reg,
        rules: &rules,
        job_templates: &[],
        provisioning: &[],
        local_lambdas: &[],
        account: A,
        region: R,
    };
    let (tf, report) = terraform::export(&inv);
    assert!(tf.contains("resource \"aws_iot_thing\" \"thing_lamp_1\""), "{tf}");
    assert!(tf.contains("thing_type_name = aws_iot_thing_type.type_lamp_type.name"), "{tf}");
    assert!(tf.contains("parent_group_name = aws_iot_thing_group.group_home.name"), "{tf}");
    assert!(tf.contains("resource \"aws_iot_thing_group_membership\""), "{tf}");
    assert!(
        tf.contains("\"arn:aws:iot:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:topic/lamps/$${iot:ClientId}\""),
        "{tf}"
    );
    assert!(tf.contains("topic = \"out/$${topic(2)}\""), "{tf}");
    assert!(tf.contains("http_header {"), "{tf}");
    assert!(tf.contains("error_action {\n    lambda {"), "{tf}");
    assert!(!tf.contains("iot_site_wise"), "{tf}");
    let md = report.markdown("Terraform");
    assert!(md.contains("no iotSiteWise action"), "{md}");
    // Braces balance (a cheap syntax check; the suite parses it with an HCL parser).
    assert_eq!(tf.matches('{').count(), tf.matches('}').count());
}

#[test]
fn import_refuses_what_it_cannot_make_before_making_anything() {
    let t = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {}}}});
    assert!(import::plan(&t, A, R).unwrap_err().0.contains("resource Q: type 'AWS::SQS::Queue'"));
    let t = json!({"Resources": {"P": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p",
        "PolicyDocument": {"Fn::Join": ["", ["a"]]}}}}});
    assert!(import::plan(&t, A, R).unwrap_err().0.contains("Fn::Join is not read"));
    let t = json!({"Resources": {"P": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": {"Fn::Sub": "${Nope}"}}}}});
    assert!(import::plan(&t, A, R).is_err());
    assert!(import::plan(&json!({}), A, R).unwrap_err().0.contains("no Resources"));
}
