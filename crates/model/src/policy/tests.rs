//! The evaluator over a table of cases, and document validation.

use super::*;

const ACCT: &str = "arn:aws:iot:us-east-1:000000000000";

fn ctx(client: &str) -> Context {
    let mut c = Context::new();
    c.set("iot:ClientId", client);
    c
}

/// Evaluates with the explaining evaluator and checks that the compiled fast path agrees.
fn decide(docs: &[(&str, &str)], action: Action, resource: &str, ctx: &Context) -> Decision {
    let parsed: Vec<(String, Policy)> =
        docs.iter().map(|(n, d)| ((*n).to_owned(), parse(d).unwrap())).collect();
    let refs: Vec<PolicyRef<'_>> =
        parsed.iter().map(|(n, p)| PolicyRef { name: n, version: "1", policy: p }).collect();
    let d = evaluate(&refs, &Request { action, resource }, ctx);
    assert_eq!(
        compile(&refs, ctx).decide(action, resource),
        d.kind,
        "compiled and explained disagree on {resource}"
    );
    d
}

fn device_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
          {{"Effect":"Allow","Action":"iot:Connect","Resource":"{ACCT}:client/${{iot:ClientId}}"}},
          {{"Sid":"own","Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"{ACCT}:topic/devices/${{iot:ClientId}}/*"}},
          {{"Effect":"Allow","Action":"iot:Subscribe","Resource":"{ACCT}:topicfilter/devices/${{iot:ClientId}}/#"}}
        ]}}"#
    )
}

#[test]
fn table_of_cases() {
    let dev = device_policy();
    let deny_secret = format!(
        r#"{{"Statement":{{"Effect":"Deny","Action":"iot:*","Resource":"{ACCT}:topic/devices/*/secret"}}}}"#
    );
    let c = ctx("lamp-1");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Action, String, DecisionKind);
    let cases: Vec<Case<'_>> = vec![
        (
            "connect as self",
            vec![("dev", &dev)],
            Action::Connect,
            format!("{ACCT}:client/lamp-1"),
            DecisionKind::Allowed,
        ),
        (
            "connect as other",
            vec![("dev", &dev)],
            Action::Connect,
            format!("{ACCT}:client/lamp-2"),
            DecisionKind::ImplicitDeny,
        ),
        (
            "publish own",
            vec![("dev", &dev)],
            Action::Publish,
            format!("{ACCT}:topic/devices/lamp-1/state"),
            DecisionKind::Allowed,
        ),
        (
            "* crosses levels",
            vec![("dev", &dev)],
            Action::Publish,
            format!("{ACCT}:topic/devices/lamp-1/a/b/c"),
            DecisionKind::Allowed,
        ),
        (
            "publish other",
            vec![("dev", &dev)],
            Action::Publish,
            format!("{ACCT}:topic/devices/lamp-2/state"),
            DecisionKind::ImplicitDeny,
        ),
        (
            "no statement for retain",
            vec![("dev", &dev)],
            Action::RetainPublish,
            format!("{ACCT}:topic/devices/lamp-1/x"),
            DecisionKind::ImplicitDeny,
        ),
        (
            "filter literal #",
            vec![("dev", &dev)],
            Action::Subscribe,
            format!("{ACCT}:topicfilter/devices/lamp-1/#"),
            DecisionKind::Allowed,
        ),
        (
            "filter + is literal",
            vec![("dev", &dev)],
            Action::Subscribe,
            format!("{ACCT}:topicfilter/devices/+/#"),
            DecisionKind::ImplicitDeny,
        ),
        (
            "deny wins",
            vec![("dev", &dev), ("deny", &deny_secret)],
            Action::Publish,
            format!("{ACCT}:topic/devices/lamp-1/secret"),
            DecisionKind::ExplicitDeny,
        ),
        (
            "deny elsewhere irrelevant",
            vec![("dev", &dev), ("deny", &deny_secret)],
            Action::Publish,
            format!("{ACCT}:topic/devices/lamp-1/ok"),
            DecisionKind::Allowed,
        ),
        ("no policies", vec![], Action::Connect, format!("{ACCT}:client/lamp-1"), DecisionKind::ImplicitDeny),
    ];
    for (what, docs, action, resource, want) in cases {
        let d = decide(&docs, action, &resource, &c);
        assert_eq!(d.kind, want, "{what}: {d:?}");
    }
}

#[test]
fn explains_the_deciding_statement_and_bindings() {
    let dev = device_policy();
    let d = decide(
        &[("dev", &dev)],
        Action::Publish,
        &format!("{ACCT}:topic/devices/lamp-1/state"),
        &ctx("lamp-1"),
    );
    assert_eq!(
        d.allowed_by,
        vec![StatementRef { policy: "dev".into(), version: "1".into(), index: 1, sid: Some("own".into()) }]
    );
    assert!(d.bindings.contains(&Binding { variable: "iot:ClientId".into(), value: Some("lamp-1".into()) }));
}

#[test]
fn unresolvable_variables_make_statements_not_match() {
    let doc = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Action":"iot:Publish","Resource":"{ACCT}:topic/${{iot:Connection.Thing.ThingName}}/*"}}]}}"#
    );
    let d = decide(&[("p", &doc)], Action::Publish, &format!("{ACCT}:topic/x/y"), &ctx("c"));
    assert_eq!(d.kind, DecisionKind::ImplicitDeny);
    assert_eq!(d.missing(), vec!["iot:Connection.Thing.ThingName"]);
    // A value with wildcard characters does not resolve either (client id '+').
    let own = device_policy();
    let d =
        decide(&[("dev", &own)], Action::Subscribe, &format!("{ACCT}:topicfilter/devices/+/#"), &ctx("+"));
    assert_eq!(d.kind, DecisionKind::ImplicitDeny);
}

#[test]
fn thing_variables_and_conditions() {
    let doc = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ACCT}:client/${{iot:Connection.Thing.ThingName}}",
            "Condition":{{"Bool":{{"iot:Connection.Thing.IsAttached":"true"}},
                          "StringEquals":{{"iot:Connection.Thing.Attributes[floor]":"2"}}}}}}]}}"#
    );
    let mut c = ctx("lamp");
    c.set("iot:Connection.Thing.ThingName", "lamp").set("iot:Connection.Thing.IsAttached", "true");
    c.set("iot:Connection.Thing.Attributes[floor]", "2");
    assert!(decide(&[("p", &doc)], Action::Connect, &format!("{ACCT}:client/lamp"), &c).allowed());
    c.set("iot:Connection.Thing.IsAttached", "false");
    assert!(!decide(&[("p", &doc)], Action::Connect, &format!("{ACCT}:client/lamp"), &c).allowed());
    let mut c2 = ctx("lamp");
    c2.set("iot:Connection.Thing.ThingName", "lamp").set("iot:Connection.Thing.IsAttached", "true");
    let d = decide(&[("p", &doc)], Action::Connect, &format!("{ACCT}:client/lamp"), &c2);
    assert!(!d.allowed() && d.missing().contains(&"iot:Connection.Thing.Attributes[floor]"));
}

#[test]
fn operators() {
    let doc = r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
            "Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"},
                          "StringLike":{"iot:ClientId":"sensor-*"},
                          "ForAllValues:StringEquals":{"iot:ConnectAttributes":["PersistentConnect","LastWill"]}}}]}"#;
    let mut c = ctx("sensor-9");
    c.set("aws:SourceIp", "127.0.0.1").set_all("iot:ConnectAttributes", vec!["LastWill".into()]);
    assert!(decide(&[("p", doc)], Action::Connect, &format!("{ACCT}:client/sensor-9"), &c).allowed());
    c.set("aws:SourceIp", "10.0.0.1");
    assert!(!decide(&[("p", doc)], Action::Connect, &format!("{ACCT}:client/sensor-9"), &c).allowed());
    let mut c = ctx("lamp");
    c.set("aws:SourceIp", "127.0.0.1");
    assert!(!decide(&[("p", doc)], Action::Connect, &format!("{ACCT}:client/lamp"), &c).allowed());
}

#[test]
fn wildcards_and_escapes() {
    assert!(glob_match("a/*/c", "a/b/x/c"));
    assert!(glob_match("a/?/c", "a/b/c"));
    assert!(!glob_match("a/?/c", "a/bb/c"));
    assert!(glob_match("*", ""));
    assert!(!glob_match("a", "ab"));
    let doc = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Action":"iot:Publish","Resource":"{ACCT}:topic/literal/${{*}}"}}]}}"#
    );
    assert!(decide(&[("p", &doc)], Action::Publish, &format!("{ACCT}:topic/literal/*"), &ctx("c")).allowed());
    assert!(
        !decide(&[("p", &doc)], Action::Publish, &format!("{ACCT}:topic/literal/x"), &ctx("c")).allowed()
    );
    let any = r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;
    assert!(decide(&[("p", any)], Action::Receive, "arn:whatever", &ctx("c")).allowed());
    let upper = r#"{"Statement":[{"Effect":"Allow","Action":"IOT:PUBLISH","Resource":"*"}]}"#;
    assert!(decide(&[("p", upper)], Action::Publish, "x", &ctx("c")).allowed());
}

#[test]
fn compiled_matching_handles_unicode_and_question_marks() {
    let doc = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Action":"iot:Publish","Resource":"{ACCT}:topic/caf?/*/x"}}]}}"#
    );
    for (topic, want) in [("café/a/x", true), ("cafe/a/b/x", true), ("caffé/a/x", false), ("café/x", false)]
    {
        let d = decide(&[("p", &doc)], Action::Publish, &format!("{ACCT}:topic/{topic}"), &ctx("c"));
        assert_eq!(d.allowed(), want, "{topic}");
    }
}

#[test]
fn bad_documents_name_the_statement() {
    let cases = [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        (r#"{"Statement":[]}"#, "non-empty"),
        (r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, "Version"),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#,
            "Statement 2",
        ),
        (
            r#"{"Statement":[{"Sid":"x","Effect":"Allow","Action":"iot:Publsh","Resource":"*"}]}"#,
            "Statement 1 (Sid x): action 'iot:Publsh'",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
            "not an AWS IoT action",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"client/x"}]}"#,
            "must be '*' or an ARN",
        ),
        (r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect"}]}"#, "no Resource"),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Sometimes":{"a":"b"}}}]}"#,
            "not supported",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Extra":1}]}"#,
            "unknown member",
        ),
    ];
    for (doc, fragment) in cases {
        let err = parse(doc).unwrap_err();
        assert!(err.0.contains(fragment), "{doc}: {err}");
    }
    let big = format!(
        r#"{{"Statement":[{}]}}"#,
        (0..40)
            .map(|i| format!(r#"{{"Effect":"Allow","Action":"iot:Publish","Resource":"{ACCT}:topic/t{i}"}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(parse(&big).unwrap_err().0.contains("2048"));
}

#[test]
fn compiled_connect_with_client_id_variable() {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ACCT}:client/${{iot:ClientId}}"}}]}}"#
    );
    let mut c = ctx("dev-1");
    c.set("aws:SourceIp", "127.0.0.1").set("iot:Connection.Thing.IsAttached", "false");
    c.set_all("iot:ConnectAttributes", vec![]);
    let d = decide(&[("p", &doc)], Action::Connect, &format!("{ACCT}:client/dev-1"), &c);
    assert!(d.allowed());
}

#[test]
fn the_specs_typical_device_policy() {
    let acct = "arn:aws:iot:us-east-1:123456789012";
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[
 {{"Effect":"Allow","Action":"iot:Connect",
  "Resource":"{acct}:client/${{iot:Connection.Thing.ThingName}}",
  "Condition":{{"Bool":{{"iot:Connection.Thing.IsAttached":"true"}}}}}},
 {{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],
  "Resource":"{acct}:topic/$aws/things/${{iot:Connection.Thing.ThingName}}/shadow/*"}},
 {{"Effect":"Allow","Action":"iot:Subscribe",
  "Resource":"{acct}:topicfilter/$aws/things/${{iot:Connection.Thing.ThingName}}/shadow/*"}},
 {{"Effect":"Deny","Action":"iot:Publish",
  "Resource":"{acct}:topic/$aws/things/*/shadow/delete"}}]}}"#
    );
    let mut c = ctx("lamp1");
    c.set("iot:Connection.Thing.ThingName", "lamp1").set("iot:Connection.Thing.IsAttached", "true");
    let run = |action, res: &str| decide(&[("p", &doc)], action, &format!("{acct}:{res}"), &c).kind;
    assert_eq!(run(Action::Connect, "client/lamp1"), DecisionKind::Allowed);
    assert_eq!(run(Action::Publish, "topic/$aws/things/lamp1/shadow/update"), DecisionKind::Allowed);
    assert_eq!(
        run(Action::Subscribe, "topicfilter/$aws/things/lamp1/shadow/update/#"),
        DecisionKind::Allowed
    );
    assert_eq!(run(Action::Publish, "topic/$aws/things/lamp1/shadow/delete"), DecisionKind::ExplicitDeny);
    assert_eq!(
        run(Action::Subscribe, "topicfilter/$aws/things/lamp2/shadow/get/accepted"),
        DecisionKind::ImplicitDeny
    );
}
