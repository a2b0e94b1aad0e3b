//! A differential check against the SQL reference (`shared/spec/rules.md`): every concrete SQL
//! statement, expression and template the reference shows is listed here with the result the
//! reference gives (or the choice docs/compat.md records where it gives none), and evaluated.
//!
//! When the reference is present beside the checkout, the test also reads it and fails if it
//! shows an example this list does not have, so the list cannot fall behind it.

use thingbox_sql::{FixedHost, Input, Output, SqlVersion, Template, parse};

/// (the fragment exactly as the reference writes it, how to run it, payload, expected).
/// Kinds: `stmt` a whole statement, `expr` evaluated with SELECT VALUE, `eq` an `expr=result`
/// claim, `tpl` a substitution template, `fragment` a piece that must parse inside a statement,
/// `error` a fragment that must be refused.
const EXAMPLES: &[(&str, &str, &str, &str)] = &[
    ("SELECT *", "stmt", r#"{"a":1}"#, r#"{"a":1}"#),
    ("SELECT VALUE expr", "stmt", r#"{"expr":[1,2]}"#, "[1,2]"),
    ("SELECT VALUE", "error", "", "line 1, column 13: the statement ends where a value was expected"),
    ("SELECT foo.bar AS bar.baz", "stmt", r#"{"foo":{"bar":7}}"#, r#"{"bar":{"baz":7}}"#),
    ("SELECT * FROM 'iot/test'", "stmt", r#"{"a":1}"#, r#"{"a":1}"#),
    ("(SELECT VALUE n FROM e)", "expr", r#"{"e":[{"n":1},{"n":2}]}"#, "[1,2]"),
    (
        "(SELECT v FROM e WHERE n = 'temperature')",
        "expr",
        r#"{"e":[{"n":"temperature","v":3},{"n":"x","v":4}]}"#,
        r#"[{"v":3}]"#,
    ),
    ("{'latitude': get(lat_long,0)}", "expr", r#"{"lat_long":[47.6,-122.3]}"#, r#"{"latitude":47.6}"#),
    ("ceil(-1.2)=-1", "eq", "{}", ""),
    ("floor(-1.2)=-2", "eq", "{}", ""),
    ("round(1.5)=2", "eq", "{}", ""),
    ("round(-1.5)=-2", "eq", "{}", ""),
    ("trunc(2.888,2)=2.88", "eq", "{}", ""),
    (r#"substring("012345", 2.745)="2345""#, "eq", "{}", ""),
    (r#"substring(true,1.2)="rue""#, "eq", "{}", ""),
    // The reference notes this example contradicts 0-based indexing and that 0-based is the rule.
    (r#"get("abc",1)="a""#, "expr-of-eq", "{}", r#""b""#),
    (r#"concat([1,2,3],"hello",[4,5,6])"#, "expr", "{}", r#"[1,2,3,"hello",4,5,6]"#),
    (r#"upper(["hello"])"#, "expr", "{}", r#""[\"HELLO\"]""#),
    (r#"md5("hello")"#, "expr", "{}", r#""5d41402abc4b2a76b9719d911017c592""#),
    (r#"get(get(mydata,"item2"),"0")"#, "expr", r#"{"mydata":{"item2":{"0":"zero"}}}"#, r#""zero""#),
    ("encode(*,'base64')", "expr", "{}", r#""e30=""#),
    (
        r#"parse_time("yyyy.MM.dd G 'at' HH:mm:ss z", 100000000, 'America/Belize')"#,
        "expr",
        "{}",
        r#""1970.01.01 AD at 21:46:40 CST""#,
    ),
    (r#"time_to_epoch("18 December 2015","dd MMMM yyyy")"#, "expr", "{}", "1450396800000"),
    ("atan2(1,0)=1.5707963267948966", "eq", "{}", ""),
    (
        "transform('enrichArray', obj, arr)",
        "expr",
        r#"{"obj":{"site":"s"},"arr":[{"v":1}]}"#,
        r#"[{"site":"s","v":1}]"#,
    ),
    ("${expr}", "tpl", r#"{"expr":"e"}"#, "e"),
    ("${expression}", "tpl", r#"{"expression":5}"#, "5"),
    ("${topic()}/republish", "tpl", "{}", "a/b/republish"),
    ("${topic(3)}", "tpl", "{}", ""),
    ("${timestamp()}", "tpl", "{}", "1700000000000"),
    ("${newuuid()}", "tpl-parses", "{}", ""),
    ("${parse_time('yyyy', timestamp(), 'UTC')}", "tpl", "{}", "2023"),
    ("${replace(topic(), '/', '-') + '-' + timestamp()}", "tpl", "{}", "a-b-1700000000000"),
    ("${device_id}", "tpl", r#"{"device_id":"d1"}"#, "d1"),
];

fn run_value(expr: &str, payload: &str) -> String {
    let sql = format!("SELECT VALUE {expr} FROM 'a/b'");
    let q = parse(&sql, SqlVersion::V2016_03_23).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let mut input = Input::new("a/b", payload.as_bytes());
    input.account = "123456789012";
    match q.evaluate(&input, &FixedHost::new(1_700_000_000_000, 1)).output {
        Some(Output::Json(v)) => v.json_text(),
        Some(Output::Empty) => "undefined".into(),
        other => format!("{other:?}"),
    }
}

#[test]
fn every_reference_example_behaves_as_the_reference_says() {
    for (fragment, kind, payload, want) in EXAMPLES {
        let host = FixedHost::new(1_700_000_000_000, 1);
        let input = Input::new("a/b", payload.as_bytes());
        match *kind {
            "stmt" => {
                let q =
                    parse(fragment, SqlVersion::V2016_03_23).unwrap_or_else(|e| panic!("{fragment}: {e}"));
                let out = q.evaluate(&input, &host).output.expect("matched");
                assert_eq!(String::from_utf8(out.to_bytes()).unwrap(), *want, "{fragment}");
            }
            "error" => {
                let e = parse(fragment, SqlVersion::V2016_03_23).expect_err(fragment);
                assert_eq!(e.to_string(), *want, "{fragment}");
            }
            "expr" => assert_eq!(run_value(fragment, payload), *want, "{fragment}"),
            "expr-of-eq" => {
                let (lhs, _) = fragment.split_once('=').unwrap();
                assert_eq!(run_value(lhs, payload), *want, "{fragment}");
            }
            "eq" => assert_eq!(
                run_value(&format!("({})", fragment.replacen('=', ") = (", 1)), payload),
                "true",
                "{fragment}"
            ),
            "tpl" => {
                let t = Template::parse(fragment, SqlVersion::V2016_03_23)
                    .unwrap_or_else(|e| panic!("{fragment}: {e}"));
                assert_eq!(t.render(&input, &host), *want, "{fragment}");
            }
            "tpl-parses" => {
                Template::parse(fragment, SqlVersion::V2016_03_23)
                    .unwrap_or_else(|e| panic!("{fragment}: {e}"));
            }
            other => panic!("unknown kind {other}"),
        }
    }
}

/// Backticked fragments of the reference that are concrete examples (not signatures such as
/// `lower(s)`): statements, templates, `x=y` claims and calls with literal arguments.
fn concrete_examples(reference: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, part) in reference.split('`').enumerate() {
        if i % 2 == 0 || part.contains('\n') {
            continue;
        }
        let looks_like_sql =
            part.starts_with("SELECT") || part.starts_with("(SELECT") || part.starts_with("${");
        let claim = part.contains(")=");
        let literal_call = part.contains('(')
            && part.contains(')')
            && part.split('(').nth(1).is_some_and(|a| {
                a.starts_with(['"', '\'', '[', '*', '-']) || a.starts_with(|c: char| c.is_ascii_digit())
            })
            && !part.contains("...")
            && !part.contains('|')
            && !part.contains('&');
        let literal_object = part.starts_with("{'");
        if looks_like_sql || claim || literal_call || literal_object {
            out.push(part.to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_list_covers_every_example_of_the_reference() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec/rules.md");
    let Ok(reference) = std::fs::read_to_string(&path) else {
        eprintln!("{} is not here; the list above is checked on its own", path.display());
        return;
    };
    let listed: Vec<&str> = EXAMPLES.iter().map(|e| e.0).collect();
    let missing: Vec<String> =
        concrete_examples(&reference).into_iter().filter(|e| !listed.contains(&e.as_str())).collect();
    assert!(missing.is_empty(), "examples of rules.md not in EXAMPLES: {missing:#?}");
}
