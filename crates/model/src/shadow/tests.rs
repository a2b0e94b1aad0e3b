//! Shadow documents, case by case (the shadow spec's edge cases).

use serde_json::json;

use super::*;

fn req(v: Value) -> UpdateRequest {
    parse_update(v.to_string().as_bytes()).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn first_update_creates_version_1_and_echoes_the_request() {
    let r = req(json!({"state": {"reported": {"temp": 21, "led": {"on": true}}}, "clientToken": "t1"}));
    let u = update(None, &r, 100).unwrap();
    assert_eq!(u.shadow.version, 1);
    assert_eq!(
        u.accepted,
        json!({"state": {"reported": {"temp": 21, "led": {"on": true}}},
               "metadata": {"reported": {"temp": {"timestamp": 100}, "led": {"on": {"timestamp": 100}}}},
               "version": 1, "timestamp": 100, "clientToken": "t1"})
    );
    assert_eq!(u.documents["previous"], Value::Null);
    assert_eq!(u.documents["current"]["version"], 1);
    assert!(u.delta.is_none());
}

#[test]
fn merge_deletes_nulls_replaces_arrays_and_prunes_empty_objects() {
    let s =
        update(None, &req(json!({"state": {"desired": {"a": {"b": 1, "c": 2}, "list": [1, 2], "x": 1}}})), 1)
            .unwrap()
            .shadow;
    let u = update(Some(&s), &req(json!({"state": {"desired": {"a": {"b": null, "c": null}, "list": [3], "x": null, "new": {"z": null}}}})), 2)
        .unwrap();
    assert_eq!(u.shadow.desired, Some(obj(json!({"list": [3]}))));
    assert_eq!(u.shadow.meta_desired, Some(obj(json!({"list": [{"timestamp": 2}]}))));
    assert_eq!(u.shadow.version, 2);
    // The accepted document echoes the nulls with metadata.
    assert_eq!(u.accepted["state"]["desired"]["x"], Value::Null);
    assert_eq!(u.accepted["metadata"]["desired"]["x"], json!({"timestamp": 2}));
}

#[test]
fn sections_and_whole_state_can_be_cleared() {
    let s =
        update(None, &req(json!({"state": {"desired": {"a": 1}, "reported": {"a": 2}}})), 1).unwrap().shadow;
    let only_reported = update(Some(&s), &req(json!({"state": {"desired": null}})), 2).unwrap().shadow;
    assert_eq!(only_reported.desired, None);
    assert_eq!(only_reported.reported, Some(obj(json!({"a": 2}))));
    let empty = update(Some(&only_reported), &req(json!({"state": null})), 3).unwrap();
    assert_eq!(empty.shadow.reported, None);
    assert_eq!(empty.shadow.version, 3);
    assert_eq!(empty.shadow.get_document(None)["state"], json!({}));
}

#[test]
fn delta_rules() {
    let cases = [
        (json!({"a": 1}), None, Some(json!({"a": 1}))),
        (json!({"a": 1}), Some(json!({"a": 1.0})), None),
        (json!({"a": [1, 2]}), Some(json!({"a": [1]})), Some(json!({"a": [1, 2]}))),
        (
            json!({"l": {"c": {"g": 255, "r": 1}}}),
            Some(json!({"l": {"c": {"g": 0, "r": 1}}})),
            Some(json!({"l": {"c": {"g": 255}}})),
        ),
        (json!({"a": 1}), Some(json!({"a": 1, "only_reported": 5})), None),
        (json!({"a": {"b": 1}}), Some(json!({"a": {"b": 1, "extra": 2}})), None),
        (json!({"a": "x"}), Some(json!({"a": {"nested": true}})), Some(json!({"a": "x"}))),
    ];
    for (desired, reported, want) in cases {
        let d = delta(Some(&obj(desired.clone())), reported.as_ref().map(|r| obj(r.clone())).as_ref());
        assert_eq!(d.map(Value::Object), want, "desired {desired} reported {reported:?}");
    }
    assert_eq!(delta(None, Some(&obj(json!({"a": 1})))), None);
}

#[test]
fn delta_is_published_with_desired_timestamps_and_the_full_current_delta() {
    let s = update(None, &req(json!({"state": {"desired": {"color": "red", "fan": 1}}})), 10).unwrap().shadow;
    let u = update(
        Some(&s),
        &req(json!({"state": {"reported": {"color": "blue", "fan": 1}}, "clientToken": "dev"})),
        20,
    )
    .unwrap();
    let d = u.delta.unwrap();
    assert_eq!(d["state"], json!({"color": "red"}));
    assert_eq!(d["metadata"], json!({"color": {"timestamp": 10}}));
    assert_eq!((d["version"].clone(), d["clientToken"].clone()), (json!(2), json!("dev")));
    // Back in sync: no delta; removing a reported key brings it back.
    let synced = update(Some(&u.shadow), &req(json!({"state": {"reported": {"color": "red"}}})), 30).unwrap();
    assert!(synced.delta.is_none());
    let dropped =
        update(Some(&synced.shadow), &req(json!({"state": {"reported": {"fan": null}}})), 40).unwrap();
    assert_eq!(dropped.delta.unwrap()["state"], json!({"fan": 1}));
    assert_eq!(dropped.shadow.get_document(None)["state"]["delta"], json!({"fan": 1}));
}

#[test]
fn versions_conflict_and_survive_delete() {
    let s = update(None, &req(json!({"state": {"reported": {"a": 1}}})), 1).unwrap().shadow;
    let err = update(Some(&s), &req(json!({"state": {"reported": {"a": 2}}, "version": 7})), 2).unwrap_err();
    assert_eq!((err.code, err.message.as_str()), (409, "Version conflict"));
    let ok = update(Some(&s), &req(json!({"state": {"reported": {"a": 2}}, "version": 1})), 2).unwrap();
    assert_eq!(ok.shadow.version, 2);
    let (gone, accepted) = delete(&ok.shadow, Some("tok"), 3);
    assert_eq!(accepted, json!({"version": 2, "timestamp": 3, "clientToken": "tok"}));
    assert!(gone.deleted);
    let again = update(Some(&gone), &req(json!({"state": {"reported": {"b": 1}}})), 4).unwrap();
    assert_eq!(again.shadow.version, 3);
    assert_eq!(again.documents["previous"], Value::Null);
    assert_eq!(again.shadow.reported, Some(obj(json!({"b": 1}))));
}

#[test]
fn rejections_use_aws_codes_and_messages() {
    let cases: [(&[u8], u16, &str); 11] = [
        (b"not json", 400, "Invalid JSON"),
        (b"[]", 400, "Invalid JSON"),
        (br#"{"version":1}"#, 400, "Missing required node: state"),
        (br#"{"state":5}"#, 400, "State node must be an object"),
        (br#"{"state":{"desired":5}}"#, 400, "Desired node must be an object"),
        (br#"{"state":{"reported":"x"}}"#, 400, "Reported node must be an object"),
        (br#"{"state":{"other":{}}}"#, 400, "State contains an invalid node"),
        (br#"{"state":{},"version":"1"}"#, 400, "Invalid version"),
        (br#"{"state":{},"clientToken":5}"#, 400, "Invalid clientToken"),
        (br#"{"state":{"desired":{"a":[1,null]}}}"#, 400, "Invalid JSON"),
        (b"\xff\xfe", 415, "Unsupported documented encoding; supported encoding is UTF-8"),
    ];
    for (payload, code, message) in cases {
        let e = parse_update(payload).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (code, message), "{}", String::from_utf8_lossy(payload));
    }
    let long_token = format!(r#"{{"state":{{}},"clientToken":"{}"}}"#, "t".repeat(65));
    assert_eq!(parse_update(long_token.as_bytes()).unwrap_err().message, "Invalid clientToken");
    // `delta` inside state is accepted and dropped.
    assert!(parse_update(br#"{"state":{"delta":{"a":1}}}"#).unwrap().state.unwrap().is_empty());
}

#[test]
fn nesting_and_size_limits() {
    let six = json!({"state": {"desired": {"1": {"2": {"3": {"4": {"5": {"6": 1}}}}}}}});
    assert!(parse_update(six.to_string().as_bytes()).is_ok());
    let seven = json!({"state": {"desired": {"1": {"2": {"3": {"4": {"5": {"6": {"7": 1}}}}}}}}});
    let e = parse_update(seven.to_string().as_bytes()).unwrap_err();
    assert_eq!(e.message, "JSON contains too many levels of nesting; maximum is 6");
    let big = json!({"state": {"reported": {"blob": "x".repeat(8 * 1024)}}});
    let e = update(None, &req(big), 1).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (413, "The payload exceeds the maximum size allowed"));
}

#[test]
fn rejection_documents() {
    let e = ShadowError::not_found("lamp");
    assert_eq!(e.message, "No shadow exists with name: 'lamp'");
    assert_eq!(
        e.document(Some("c1"), 5),
        json!({"code": 404, "message": "No shadow exists with name: 'lamp'", "timestamp": 5, "clientToken": "c1"})
    );
    assert_eq!(client_token_of(br#"{"clientToken":"abc","state":7}"#).as_deref(), Some("abc"));
}
