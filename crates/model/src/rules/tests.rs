use serde_json::json;

use super::*;

fn republish(topic: &str) -> Value {
    json!({"republish": {"topic": topic, "roleArn": "arn:aws:iam::123456789012:role/r"}})
}

fn payload(sql: &str, actions: Vec<Value>) -> Value {
    json!({"sql": sql, "actions": actions, "awsIotSqlVersion": "2016-03-23"})
}

#[test]
fn a_good_payload_is_kept_as_given() {
    let body = json!({
        "sql": "SELECT temp FROM 'sensors/+/data' WHERE temp > 30",
        "description": "hot",
        "actions": [republish("alerts/${topic(2)}"), {"http": {"url": "https://example.com/hook", "confirmationUrl": "https://example.com",
            "headers": [{"key": "x-id", "value": "${clientid()}"}]}}],
        "errorAction": republish("errors"),
        "ruleDisabled": true,
        "awsIotSqlVersion": "2016-03-23"
    });
    let (p, q) = check_payload(&body).unwrap();
    assert_eq!(q.topic_filter(), Some("sensors/+/data"));
    assert!(p.rule_disabled);
    assert_eq!(p.version(), SqlVersion::V2016_03_23);
    assert_eq!(serde_json::to_value(&p).unwrap(), body, "stored exactly as sent");
    let (p, _) = check_payload(&json!({"sql": "SELECT * FROM 'a'", "actions": []})).unwrap();
    assert_eq!(p.version(), SqlVersion::V2015_10_08, "the default dialect");
}

#[test]
fn bad_payloads_are_refused_with_aws_errors() {
    let role = "arn:aws:iam::123456789012:role/r";
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"actions": []}),
            "1 validation error detected: Value 'null' at 'topicRulePayload.sql' failed to satisfy constraint: Member must not be null",
        ),
        (
            json!({"sql": "SELECT * FROM 'a'"}),
            "1 validation error detected: Value 'null' at 'topicRulePayload.actions' failed to satisfy constraint: Member must not be null",
        ),
        (
            json!({"sql": 5, "actions": []}),
            "1 validation error detected: Value '5' at 'topicRulePayload.sql' failed to satisfy constraint: Member must be a string",
        ),
        (
            json!({"sql": "SELECT * FROM 'a'", "actions": [], "awsIotSqlVersion": "2020-01-01"}),
            "awsIotSqlVersion \"2020-01-01\" is not one of 2015-10-08, 2016-03-23, beta",
        ),
        (
            payload("SELECT * FORM 'a'", vec![]),
            "Invalid SQL: line 1, column 10: expected ',' or FROM, found 'FORM'",
        ),
        (payload("", vec![]), "Invalid SQL: the statement is empty; a rule's SQL starts with SELECT"),
        (
            payload("SELECT * FROM 'a/#/b'", vec![]),
            "Invalid SQL: line 1, column 15: the FROM topic filter is invalid: the topic filter 'a/#/b' is malformed: + and # must stand alone in their level, and # must be last",
        ),
        (
            payload("SELECT * FROM 'a'", (0..11).map(|_| republish("x")).collect()),
            "1 validation error detected: Value '11 actions' at 'topicRulePayload.actions' failed to satisfy constraint: Member must have length less than or equal to 10",
        ),
        (
            payload("SELECT * FROM 'a'", vec![json!({})]),
            "topicRulePayload.actions.1.member names no action type; give exactly one, e.g. {\"republish\": {…}}",
        ),
        (
            payload(
                "SELECT * FROM 'a'",
                vec![json!({"republish": {"topic": "x", "roleArn": role}, "lambda": {"functionArn": "f"}})],
            ),
            "topicRulePayload.actions.1.member names more than one action type ('lambda' and 'republish'); each action has exactly one",
        ),
        (
            payload("SELECT * FROM 'a'", vec![json!({"carrierPigeon": {}})]),
            "topicRulePayload.actions.1.member has an unknown action type 'carrierPigeon'",
        ),
        (
            payload("SELECT * FROM 'a'", vec![json!({"republish": {"roleArn": role}})]),
            "1 validation error detected: Value 'null' at 'topicRulePayload.actions.1.member.republish.topic' failed to satisfy constraint: Member must not be null",
        ),
        (
            payload(
                "SELECT * FROM 'a'",
                vec![json!({"republish": {"topic": "x", "roleArn": role, "qos": 2}})],
            ),
            "1 validation error detected: Value '2' at 'topicRulePayload.actions.1.member.republish.qos' failed to satisfy constraint: Member must be 0 or 1",
        ),
        (
            payload("SELECT * FROM 'a'", vec![republish("a/+")]),
            "topicRulePayload.actions.1.member.republish.topic: the topic name 'a/+' contains a wildcard",
        ),
        (
            payload("SELECT * FROM 'a'", vec![republish("$aws/things/t/shadow/update")]),
            "to republish to a reserved topic, write $$ for its $",
        ),
        (
            payload("SELECT * FROM 'a'", vec![republish("$$aws/things/t/jobs/get")]),
            "republishing to the reserved job topic '$aws/things/t/jobs/get' is not supported",
        ),
        (
            payload("SELECT * FROM 'a'", vec![republish("out/${upper(}")]),
            "topicRulePayload.actions.1.member.republish.topic: the substitution template 'out/${upper(}' is invalid: line 1, column 13: the statement ends where a value was expected",
        ),
        (
            payload("SELECT * FROM 'a'", vec![json!({"http": {"url": "ftp://x"}})]),
            "Value 'ftp://x' at 'topicRulePayload.actions.1.member.http.url' failed to satisfy constraint: Member must be an http:// or https:// URL",
        ),
        (
            payload(
                "SELECT * FROM 'a'",
                vec![json!({"http": {"url": "https://a.example/x", "confirmationUrl": "https://b.example"}})],
            ),
            "the url 'https://a.example/x' must start with the confirmationUrl 'https://b.example'",
        ),
        (
            payload(
                "SELECT * FROM 'a'",
                vec![json!({"http": {"url": "https://a.example", "headers": [{"key": "k"}]}})],
            ),
            "at 'topicRulePayload.actions.1.member.http.headers.1.member' failed to satisfy constraint: Member must have a string key and a string value",
        ),
        (
            payload(
                "SELECT * FROM 'a'",
                vec![json!({"sns": {"targetArn": "t", "roleArn": role, "messageFormat": "XML"}})],
            ),
            "Member must satisfy enum value set: [RAW, JSON]",
        ),
        (
            payload(
                "SELECT * FROM 'a'",
                vec![
                    json!({"dynamoDB": {"tableName": "t", "roleArn": role, "hashKeyField": "id", "hashKeyValue": "1", "rangeKeyField": "ts"}}),
                ],
            ),
            "rangeKeyField and rangeKeyValue go together",
        ),
        (
            payload("SELECT * FROM 'a'", vec![json!({"dynamoDBv2": {"roleArn": role, "putItem": {}}})]),
            "at 'topicRulePayload.actions.1.member.dynamoDBv2.putItem.tableName' failed to satisfy constraint: Member must not be null",
        ),
        (
            payload("SELECT * FROM 'a'", vec![json!({"lambda": {"functionArn": 7}})]),
            "at 'topicRulePayload.actions.1.member.lambda.functionArn' failed to satisfy constraint: Member must be a string",
        ),
        (
            json!({"sql": "SELECT * FROM 'a'", "actions": [], "errorAction": {"republish": {"topic": "${get_thing_shadow('t', 'r').state}", "roleArn": role}}, "awsIotSqlVersion": "2016-03-23"}),
            "an errorAction's templates may not call external functions (get_thing_shadow())",
        ),
        (json!(["not", "an", "object"]), "The request body must be a TopicRulePayload JSON object"),
    ];
    for (body, want) in cases {
        let err = check_payload(&body).expect_err(&body.to_string()).to_string();
        assert!(err.contains(want), "{body}\n got: {err}\nwant: {want}");
    }
}

#[test]
fn names() {
    assert!(check_rule_name("my_rule_1").is_ok());
    for bad in ["", "has-hyphen", "space here", "ünï"] {
        assert!(check_rule_name(bad).is_err(), "{bad}");
    }
    assert!(check_rule_name(&"a".repeat(129)).unwrap_err().to_string().contains("less than or equal to 128"));
}

#[test]
fn the_rule_set_state_machine() {
    let (p, _) = check_payload(&payload("SELECT * FROM 'a/#'", vec![republish("b")])).unwrap();
    let mut rules = Rules::default();
    let now = Timestamp::from_millis(1_000);
    let arn = || "arn:aws:iot:us-east-1:123456789012:rule/r1".to_owned();
    let c = rules.create("r1", p.clone(), &[("k".into(), "v".into())], arn(), now).unwrap();
    assert!(matches!(&c[..], [RuleChange::Put(r)] if r.name == "r1" && r.tags["k"] == "v"));
    assert!(matches!(rules.create("r1", p.clone(), &[], arn(), now), Err(RuleError::AlreadyExists { .. })));
    assert!(matches!(
        rules.create("bad-name", p.clone(), &[], arn(), now),
        Err(RuleError::InvalidRequest(_))
    ));
    assert!(matches!(
        rules.create("r2", p.clone(), &[("aws:x".into(), "v".into())], arn(), now),
        Err(RuleError::InvalidRequest(_))
    ));
    assert_eq!(rules.len(), 1, "refused creates changed nothing");
    assert_eq!(rules.get("r1").unwrap().topic_pattern().as_deref(), Some("a/#"));

    assert_eq!(rules.set_enabled("r1", true).unwrap(), vec![], "already enabled: nothing to write");
    assert_eq!(rules.set_enabled("r1", false).unwrap().len(), 1);
    assert!(rules.get("r1").unwrap().payload.rule_disabled);
    let (p2, _) = check_payload(&payload("SELECT 1 AS x FROM 'c'", vec![])).unwrap();
    rules.replace("r1", p2).unwrap();
    let r = rules.get("r1").unwrap();
    assert_eq!((r.payload.sql.as_str(), r.created_at, r.tags.len()), ("SELECT 1 AS x FROM 'c'", now, 1));
    rules.untag("r1", &["k".into()]).unwrap();
    assert!(rules.get("r1").unwrap().tags.is_empty());
    assert!(matches!(rules.replace("nope", p), Err(RuleError::NotFound(_))));
    assert_eq!(rules.delete("r1").unwrap(), vec![RuleChange::Delete("r1".into())]);
    assert!(matches!(rules.delete("r1"), Err(RuleError::NotFound(_))));
}
