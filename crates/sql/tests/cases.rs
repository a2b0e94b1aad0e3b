//! AWS IoT SQL, table-driven: every function and operator, AWS's Undefined rules, statements,
//! versions, substitution templates and parse errors. Each row names what it checks; expected
//! values are JSON text (`undefined` for an Undefined value, `<filtered>` when WHERE is not true).

use thingbox_sql::{FixedHost, Host, Input, Output, Properties, SqlVersion, Template, Value, parse};

const NOW: i64 = 1_700_000_000_000;
const TOPIC: &str = "sensors/lamp-1/data";

const PAYLOAD: &str = r#"{"temp": 21.5, "hum": 40, "name": "Lamp", "on": true, "nothing": null,
  "tags": ["a", "b"], "nested": {"a": {"b": 5}}, "str_num": "10", "dec_str": "2.5", "text": " hi\t",
  "items": [{"n": "temperature", "v": 20}, {"n": "humidity", "v": 50}], "b64": "eyJhIjoxfQ==",
  "lat_long": [47.606, -122.332], "device_id": "dev-9", "whole": 10.0}"#;

/// A host with a fixed clock plus a shadow and a table for the external functions.
struct TestHost(FixedHost);

impl Host for TestHost {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
    fn uuid(&self) -> String {
        self.0.uuid()
    }
    fn random(&self) -> f64 {
        self.0.random()
    }
    fn thing_shadow(&self, thing: &str, shadow: Option<&str>) -> Option<serde_json::Value> {
        match (thing, shadow) {
            ("lamp-1", None) => {
                Some(serde_json::json!({"state": {"reported": {"on": true, "alarm": "high"}}, "version": 3}))
            }
            ("lamp-1", Some("cfg")) => {
                Some(serde_json::json!({"state": {"desired": {"mode": "eco"}}, "version": 1}))
            }
            _ => None,
        }
    }
    fn dynamodb_get(&self, table: &str, key: &[(String, Value)]) -> Option<Value> {
        (table == "devices" && key == [("id".to_owned(), Value::String("dev-9".into()))]).then(|| {
            thingbox_sql::parse_payload(br#"{"id": "dev-9", "site": "north"}"#, SqlVersion::V2016_03_23)
                .unwrap()
        })
    }
}

fn host() -> TestHost {
    TestHost(FixedHost::new(NOW, 7))
}

fn input<'a>(payload: &'a [u8], props: Properties<'a>) -> Input<'a> {
    let mut i = Input::new(TOPIC, payload);
    i.client_id = Some("lamp-1");
    i.principal = Some("0123abcd");
    i.account = "123456789012";
    i.source_ip = Some("10.0.0.5");
    i.properties = props;
    i
}

fn render(out: &Option<Output>) -> String {
    match out {
        None => "<filtered>".into(),
        Some(Output::Empty) => "undefined".into(),
        Some(Output::Binary(b)) => format!("<binary:{}>", String::from_utf8_lossy(b)),
        Some(Output::Json(v)) => v.json_text(),
    }
}

fn run(sql: &str, version: SqlVersion, payload: &[u8]) -> String {
    let props = Properties {
        content_type: Some("application/json"),
        format_indicator: Some(1),
        user_properties: &[],
        ..Properties::default()
    };
    let q = parse(sql, version).unwrap_or_else(|e| panic!("{sql}: {e}"));
    render(&q.evaluate(&input(payload, props), &host()).output)
}

#[test]
fn expressions() {
    // (expression, expected) evaluated as `SELECT VALUE <expr> FROM 'sensors/+/data'` (2016-03-23).
    let cases: &[(&str, &str)] = &[
        // literals and paths
        ("1", "1"),
        ("1.5", "1.5"),
        ("-3", "-3"),
        ("'x'", r#""x""#),
        (r#""y""#, r#""y""#),
        ("'it''s'", r#""it's""#),
        ("true", "true"),
        ("NULL", "null"),
        ("temp", "21.5"),
        ("whole", "10"),
        ("missing", "undefined"),
        ("nested.a.b", "5"),
        ("nested.a.c", "undefined"),
        ("nested.x.y", "undefined"),
        ("name.first", "undefined"),
        ("tags[1]", r#""b""#),
        ("get(tags, 0)", r#""a""#),
        ("get(tags, 5)", "undefined"),
        ("get(tags, -1)", "undefined"),
        ("get(tags, '1')", r#""b""#),
        ("get('abc', 1)", r#""b""#),
        ("get(nested, 'a')", r#"{"b":5}"#),
        ("get(get(nested, 'a'), 'b')", "5"),
        ("get(5, 0)", "undefined"),
        ("{'x': temp, 'y': missing}", r#"{"x":21.5}"#),
        ("[hum, missing]", "[40,null]"),
        ("{}", "{}"),
        ("[]", "[]"),
        // arithmetic
        ("1 + 2", "3"),
        ("7 / 2", "3"),
        ("7.5 / 2", "3.75"),
        ("7 % 3", "1"),
        ("-7 % 3", "-1"),
        ("7.5 % 2", "1.5"),
        ("1 / 0", "undefined"),
        ("1 % 0", "undefined"),
        ("2 * 3.5", "7.0"),
        ("10 - 2 - 3", "5"),
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("'a' + 1", r#""a1""#),
        ("1 + '2'", r#""12""#),
        ("tags + 'x'", r#""[\"a\",\"b\"]x""#),
        ("str_num - 1", "9.0"),
        ("str_num * 2", "20.0"),
        ("'7' / '2'", "3.5"),
        ("'5' % 2", "1.0"),
        ("dec_str * 2", "5.0"),
        ("'abc' - 1", "undefined"),
        ("true + 1", "undefined"),
        ("missing + 1", "undefined"),
        ("nothing + 1", "undefined"),
        ("'x' + nothing", "undefined"),
        ("9223372036854775807 + 1", "9.223372036854776e+18"),
        ("-temp", "-21.5"),
        ("-str_num", "-10.0"),
        ("-name", "undefined"),
        ("- -4", "4"),
        // comparisons
        ("temp > 20", "true"),
        ("temp >= 21.5", "true"),
        ("temp < 21.5", "false"),
        ("hum <= 40", "true"),
        ("str_num > 9", "true"),
        ("'b' > 'a'", "undefined"),
        ("missing > 1", "undefined"),
        ("nothing > 1", "undefined"),
        ("hum = 40", "true"),
        ("hum = 40.0", "true"),
        ("hum = '40'", "false"),
        ("name = 'Lamp'", "true"),
        ("name = 'lamp'", "false"),
        ("tags = ['a', 'b']", "true"),
        ("tags = ['b', 'a']", "false"),
        ("nested = {'a': {'b': 5}}", "true"),
        ("nothing = NULL", "true"),
        ("missing = 1", "undefined"),
        ("nothing <> NULL", "false"),
        ("hum <> '40'", "true"),
        ("missing <> 1", "undefined"),
        ("hum != 41", "true"),
        ("on = true", "true"),
        // logic
        ("true AND false", "false"),
        ("true OR missing", "undefined"),
        ("false AND missing", "undefined"),
        ("'TRUE' AND 'false'", "false"),
        ("'yes' AND true", "undefined"),
        ("NOT on", "false"),
        ("NOT 'false'", "true"),
        ("NOT 1", "undefined"),
        ("NOT missing", "undefined"),
        ("NOT hum > 50 AND on", "true"),
        ("true OR false AND false", "true"),
        ("temp > 20 and hum < 50 or false", "true"),
        // CASE
        ("CASE name WHEN 'Lamp' THEN 1 WHEN 'x' THEN 2 ELSE 3 END", "1"),
        ("CASE hum WHEN 41 THEN 'a' END", "undefined"),
        ("CASE hum WHEN 41 THEN 'a' ELSE 'b' END", r#""b""#),
        ("CASE missing WHEN 1 THEN 'a' ELSE 'b' END", "undefined"),
        ("CASE WHEN temp > 30 THEN 'hot' WHEN temp > 20 THEN 'warm' ELSE 'cold' END", r#""warm""#),
        ("CASE hum WHEN 40.0 THEN 'num' END", r#""num""#),
        ("case name when 'Lamp' then upper(name) end", r#""LAMP""#),
        // cast
        ("cast(temp AS Int)", "21"),
        ("cast(-1.5 AS Int)", "-2"),
        ("cast(str_num AS Int)", "10"),
        ("cast('2.7' AS Integer)", "2"),
        ("cast(true AS Int)", "1"),
        ("cast(hum AS String)", r#""40""#),
        ("cast(on AS varchar)", r#""true""#),
        ("cast(tags AS Text)", r#""[\"a\",\"b\"]""#),
        ("cast(nothing AS String)", "undefined"),
        ("cast(hum AS Decimal)", "40.0"),
        ("cast('x' AS Double)", "undefined"),
        ("cast(0 AS Boolean)", "false"),
        ("cast(2.5 AS Bool)", "true"),
        ("cast('TRUE' AS Boolean)", "true"),
        ("cast('yes' AS Bool)", "undefined"),
        ("cast(missing AS Int)", "undefined"),
        // math
        ("abs(-5)", "5"),
        ("abs(-2.5)", "2.5"),
        ("abs('-3')", "3.0"),
        ("abs('x')", "undefined"),
        ("abs(missing)", "undefined"),
        ("acos(1)", "0.0"),
        ("asin(0)", "0.0"),
        ("atan(0)", "0.0"),
        ("atan2(1, 0)", "1.5707963267948966"),
        ("cos(0)", "1.0"),
        ("cosh(0)", "1.0"),
        ("sin(0)", "0.0"),
        ("sinh(0)", "0.0"),
        ("tan(0)", "0.0"),
        ("tanh(0)", "0.0"),
        ("exp(0)", "1.0"),
        ("ln(1)", "0.0"),
        ("log(100)", "2.0"),
        ("sqrt(16)", "4.0"),
        ("sqrt(-1)", "undefined"),
        ("acos(2)", "undefined"),
        ("ln(0)", "undefined"),
        ("power(2, 10)", "1024.0"),
        ("power(-8, 0.5)", "undefined"),
        ("ceil(-1.2)", "-1"),
        ("ceil(1.2)", "2"),
        ("floor(-1.2)", "-2"),
        ("floor(5)", "5"),
        ("round(1.5)", "2"),
        ("round(-1.5)", "-2"),
        ("round(2.4)", "2"),
        ("round('2.5')", "3"),
        ("sign(-3)", "-1"),
        ("sign(0)", "0"),
        ("sign(2.5)", "1"),
        ("mod(7, 3)", "1"),
        ("remainder(-7, 3)", "-1"),
        ("mod(7.5, 2)", "1.5"),
        ("mod(1, 0)", "undefined"),
        ("trunc(2.888, 2)", "2.88"),
        ("trunc(2.888, 0)", "2"),
        ("trunc(-2.5, 0)", "-2"),
        ("trunc(5, 2)", "5"),
        ("trunc(1.23456, 40)", "1.23456"),
        ("bitand(12, 10)", "8"),
        ("bitor(12, 10)", "14"),
        ("bitxor(12, 10)", "6"),
        ("bitnot(0)", "-1"),
        ("bitnot(1.9)", "-2"),
        ("bitand('x', 1)", "undefined"),
        ("nanvl(missing, 5)", "5"),
        ("nanvl(nothing, 'x')", r#""x""#),
        ("nanvl(3, 5)", "3"),
        // strings
        ("concat()", "undefined"),
        ("concat('a')", r#""a""#),
        ("concat('a', 'b', 1)", r#""ab1""#),
        (r#"concat([1,2,3], "hello", [4,5,6])"#, r#"[1,2,3,"hello",4,5,6]"#),
        ("concat('a', missing)", "undefined"),
        ("lower('ABC')", r#""abc""#),
        ("upper('abc')", r#""ABC""#),
        (r#"upper(["hello"])"#, r#""[\"HELLO\"]""#),
        ("lower(5)", r#""5""#),
        ("lower(nothing)", "undefined"),
        ("length('héllo')", "5"),
        ("numbytes('héllo')", "6"),
        ("length(missing)", "undefined"),
        ("indexof('hello', 'l')", "2"),
        ("indexof('hello', 'z')", "-1"),
        (r#"substring("012345", 2.745)"#, r#""2345""#),
        ("substring(true, 1.2)", r#""rue""#),
        ("substring('012345', 1, 3)", r#""12""#),
        ("substring('012345', 4, 2)", r#""""#),
        ("substring('012345', -5, 100)", r#""012345""#),
        ("substring('abc', 'x')", "undefined"),
        ("trim(text)", r#""hi""#),
        ("ltrim(text)", r#""hi\t""#),
        ("rtrim(text)", r#"" hi""#),
        ("lpad('a', 2)", r#""  a""#),
        ("rpad('a', 2)", r#""a  ""#),
        ("lpad('a', -1)", r#""a""#),
        ("startswith('hello', 'he')", "true"),
        ("endswith('hello', 'lo')", "true"),
        ("startswith(missing, 'a')", "undefined"),
        ("startswith(nothing, 'a')", "undefined"),
        ("replace('a-b-c', '-', '/')", r#""a/b/c""#),
        ("regexp_matches('abc123', '[0-9]+')", "true"),
        ("regexp_matches('abc', '^b')", "false"),
        ("regexp_matches('abc', '(')", "undefined"),
        ("regexp_replace('abc123def', '[0-9]+', '#')", r#""abc#def""#),
        (r"regexp_replace('john smith', '(\w+) (\w+)', '$2 $1')", r#""smith john""#),
        ("regexp_substr('abc123def456', '[0-9]+')", r#""123""#),
        ("regexp_substr('abc', '[0-9]+')", "undefined"),
        ("chr(65)", r#""A""#),
        ("chr(-1)", "undefined"),
        (r#"md5("hello")"#, r#""5d41402abc4b2a76b9719d911017c592""#),
        ("md2('abc')", r#""da853b0d3f88d99b30283a69e6ded6bb""#),
        ("md5('abc')", r#""900150983cd24fb0d6963f7d28e17f72""#),
        ("sha1('abc')", r#""a9993e364706816aba3e25717850c26c9cd0d89d""#),
        ("sha224('abc')", r#""23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7""#),
        ("sha256('abc')", r#""ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#),
        (
            "sha384('abc')",
            r#""cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7""#,
        ),
        (
            "sha512('abc')",
            r#""ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f""#,
        ),
        ("md5(missing)", "undefined"),
        ("encode('hi', 'base64')", r#""aGk=""#),
        ("encode('x', 'hex')", "undefined"),
        ("decode(b64, 'base64')", r#"{"a":1}"#),
        ("decode('aGk=', 'base64')", r#""hi""#),
        ("decode('!!!', 'base64')", "null"),
        // collections and types
        ("isNull(nothing)", "true"),
        ("isNull(missing)", "false"),
        ("isUndefined(missing)", "true"),
        ("isundefined(nothing)", "false"),
        (
            "transform('enrichArray', {'site': 'a'}, items)",
            r#"[{"site":"a","n":"temperature","v":20},{"site":"a","n":"humidity","v":50}]"#,
        ),
        ("transform('other', {}, items)", "undefined"),
        ("transform('enrichArray', name, items)", "undefined"),
        // nested queries
        ("(SELECT VALUE n FROM items)", r#"["temperature","humidity"]"#),
        ("(SELECT v FROM items WHERE n = 'temperature')", r#"[{"v":20}]"#),
        ("(SELECT * FROM items WHERE v > 30)", r#"[{"n":"humidity","v":50}]"#),
        ("(SELECT VALUE v FROM name)", "undefined"),
        ("(SELECT VALUE v * 2 FROM items WHERE missing = 1)", "[]"),
        // metadata
        ("topic()", r#""sensors/lamp-1/data""#),
        ("topic(2)", r#""lamp-1""#),
        ("topic(4)", "undefined"),
        ("topic(0)", "undefined"),
        ("clientid()", r#""lamp-1""#),
        ("principal()", r#""0123abcd""#),
        ("timestamp()", "1700000000000"),
        ("accountid()", r#""123456789012""#),
        ("sql_version()", r#""2016-03-23""#),
        ("traceid()", "undefined"),
        ("sourceip()", r#""10.0.0.5""#),
        ("get_mqtt_property('content_type')", r#""application/json""#),
        ("get_mqtt_property('format_indicator')", r#""UTF8_DATA""#),
        ("get_mqtt_property('response_topic')", "undefined"),
        ("get_user_properties('k')", "undefined"),
        // time
        (
            r#"parse_time("yyyy.MM.dd G 'at' HH:mm:ss z", 100000000, 'America/Belize')"#,
            r#""1970.01.01 AD at 21:46:40 CST""#,
        ),
        ("parse_time('yyyy-MM-dd', timestamp())", r#""2023-11-14""#),
        ("parse_time('yyyy', 0, 'Nowhere/Else')", "undefined"),
        (r#"time_to_epoch("18 December 2015", "dd MMMM yyyy")"#, "1450396800000"),
        ("time_to_epoch('garbage', 'yyyy')", "undefined"),
        // external functions, served by the host
        ("get_thing_shadow('lamp-1', 'arn:aws:iam::1:role/r').state.reported.alarm", r#""high""#),
        ("get_thing_shadow('lamp-1', 'cfg', 'arn:aws:iam::1:role/r').state.desired.mode", r#""eco""#),
        ("get_thing_shadow('nobody', 'arn:aws:iam::1:role/r')", "undefined"),
        ("get_dynamodb('devices', 'id', device_id, 'arn:aws:iam::1:role/r').site", r#""north""#),
        ("get_dynamodb('devices', 'id', 'other', 'arn:aws:iam::1:role/r')", "undefined"),
        ("aws_lambda('arn:aws:lambda:us-east-1:1:function:f', {})", "undefined"),
    ];
    let mut failures = Vec::new();
    for (expr, want) in cases {
        let sql = format!("SELECT VALUE {expr} FROM 'sensors/+/data'");
        let got = run(&sql, SqlVersion::V2016_03_23, PAYLOAD.as_bytes());
        if got != *want {
            failures.push(format!("{expr}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(cases.len() >= 200, "{} expression cases", cases.len());
}

#[test]
fn statements() {
    use SqlVersion::{Beta, V2015_10_08 as V15, V2016_03_23 as V16};
    let color = r#"{"color":"red","temperature":50}"#;
    let cases: &[(&str, SqlVersion, &str, &str)] = &[
        // The SELECT examples of the AWS developer guide.
        ("SELECT * FROM 'topic/subtopic'", V16, color, r#"{"color":"red","temperature":50}"#),
        ("SELECT color FROM 'topic/subtopic'", V16, color, r#"{"color":"red"}"#),
        ("SELECT color AS my_color FROM 'topic/subtopic'", V16, color, r#"{"my_color":"red"}"#),
        (
            "SELECT color as my_color, temperature as fahrenheit FROM 'topic/subtopic'",
            V16,
            color,
            r#"{"my_color":"red","fahrenheit":50}"#,
        ),
        (
            "SELECT *, 15 as speed FROM 'topic/subtopic'",
            V16,
            color,
            r#"{"color":"red","temperature":50,"speed":15}"#,
        ),
        ("SELECT VALUE color FROM 'topic/subtopic'", V16, color, r#""red""#),
        (
            "SELECT color.red as red_value FROM 'topic/subtopic'",
            V16,
            r#"{"color":{"red":255,"green":0,"blue":0},"temperature":50}"#,
            r#"{"red_value":255}"#,
        ),
        ("SELECT foo.bar AS bar.baz FROM 'a/b'", V16, r#"{"foo":{"bar":1}}"#, r#"{"bar":{"baz":1}}"#),
        (
            "SELECT temp, md5(deviceid) AS hashed_id FROM 'topic/#'",
            V16,
            r#"{"deviceid":"iot123","temp":54.98,"humidity":32.43}"#,
            r#"{"temp":54.98,"hashed_id":"e37f81fb397e595c4aeb5645b8cbbbd1"}"#,
        ),
        (
            "SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long FROM 'topic/subtopic'",
            V16,
            r#"{"lat_long":[47.606,-122.332]}"#,
            r#"{"lat_long":{"latitude":47.606,"longitude":-122.332}}"#,
        ),
        (
            "SELECT [lat,long] as lat_long FROM 'topic/subtopic'",
            V16,
            r#"{"lat":47.606,"long":-122.332}"#,
            r#"{"lat_long":[47.606,-122.332]}"#,
        ),
        (
            "SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'topic'",
            V16,
            r#"{"e":[{"n":"temperature","u":"Cel","v":23.5},{"n":"humidity","u":"%RH","v":45}]}"#,
            r#"{"temperature":[{"v":23.5}]}"#,
        ),
        ("SELECT VALUE (SELECT VALUE n FROM e) FROM 'topic'", V16, r#"{"e":[{"n":1},{"n":2}]}"#, "[1,2]"),
        // WHERE
        ("SELECT * FROM 'a' WHERE false", V16, color, "<filtered>"),
        ("SELECT * FROM 'a' WHERE missing = 1", V16, color, "<filtered>"),
        ("SELECT * FROM 'a' WHERE 'true'", V16, color, r#"{"color":"red","temperature":50}"#),
        ("SELECT color FROM 'a' WHERE temperature > 40 AND color = 'red'", V16, color, r#"{"color":"red"}"#),
        ("SELECT color AS c FROM 'a' WHERE c = 'red'", V16, color, "<filtered>"),
        ("SELECT * WHERE temperature > 0", V16, color, r#"{"color":"red","temperature":50}"#),
        ("select * from 'a' where temperature > 1", V16, color, r#"{"color":"red","temperature":50}"#),
        // Undefined in the output
        ("SELECT VALUE missing FROM 'a'", V16, color, "undefined"),
        ("SELECT missing FROM 'a'", V16, color, "{}"),
        ("SELECT missing, color FROM 'a'", V16, color, r#"{"color":"red"}"#),
        // keys
        ("SELECT upper(color) FROM 'a'", V16, color, r#"{"upper":"RED"}"#),
        ("SELECT 1, 2 FROM 'a'", V16, color, r#"{"_1":1,"_2":2}"#),
        ("SELECT value FROM 'a'", V16, r#"{"value":3}"#, r#"{"value":3}"#),
        ("SELECT value AS v FROM 'a'", V16, r#"{"value":3}"#, r#"{"v":3}"#),
        ("SELECT Upper(color) AS u, Round(temperature) AS r FROM 'a'", V16, color, r#"{"u":"RED","r":50}"#),
        ("SELECT color AS x, temperature AS x FROM 'a'", V16, color, r#"{"x":50}"#),
        ("SELECT color AS 'my key' FROM 'a'", V16, color, r#"{"my key":"red"}"#),
        // non-object and binary payloads
        ("SELECT * FROM 'a'", V16, "[1,2]", "[1,2]"),
        ("SELECT a FROM 'a'", V16, "42", "{}"),
        ("SELECT * FROM 'a'", V16, "\u{1}binary\u{2}", "<binary:\u{1}binary\u{2}>"),
        ("SELECT VALUE * FROM 'a'", V16, "not json", "<binary:not json>"),
        ("SELECT *, 1 AS x FROM 'a'", V16, "not json", r#"{"x":1}"#),
        ("SELECT encode(*, 'base64') AS data FROM 'a'", V16, "not json", r#"{"data":"bm90IGpzb24="}"#),
        ("SELECT * FROM 'a' WHERE device_type = 'thermostat'", V16, "not json", "<filtered>"),
        ("SELECT topic() AS t FROM 'a'", V16, "", r#"{"t":"sensors/lamp-1/data"}"#),
        // versions
        ("SELECT VALUE 10.0 FROM 'a'", V15, color, "10.0"),
        ("SELECT VALUE 10.0 FROM 'a'", V16, color, "10"),
        ("SELECT * FROM 'a'", V15, r#"{"a":10.0}"#, r#"{"a":10.0}"#),
        ("SELECT * FROM 'a'", V16, r#"{"a":10.0}"#, r#"{"a":10}"#),
        ("SELECT sql_version() AS v FROM 'a'", V15, color, r#"{"v":"2015-10-08"}"#),
        ("SELECT sql_version() AS v FROM 'a'", Beta, color, r#"{"v":"beta"}"#),
        ("SELECT {'a': 1} AS o FROM 'a'", Beta, color, r#"{"o":{"a":1}}"#),
    ];
    let mut failures = Vec::new();
    for (sql, version, payload, want) in cases {
        let got = run(sql, *version, payload.as_bytes());
        if got != *want {
            failures.push(format!("{sql} ({}): got {got}, want {want}", version.as_str()));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn parse_errors_name_the_place() {
    use SqlVersion::{V2015_10_08 as V15, V2016_03_23 as V16};
    let deep = format!("SELECT VALUE {}1{} FROM 'a'", "(".repeat(200), ")".repeat(200));
    let cases: &[(&str, SqlVersion, &str)] = &[
        ("", V16, "line 1, column 1: a rule's SQL starts with SELECT"),
        ("INSERT INTO x", V16, "line 1, column 1: a rule's SQL starts with SELECT"),
        ("SELECT", V16, "line 1, column 7: the statement ends where a value was expected"),
        ("SELECT * FORM 'a'", V16, "line 1, column 10: expected ',' or FROM, found 'FORM'"),
        ("SELECT VALUE a b", V16, "line 1, column 16: expected FROM, found 'b'"),
        (
            "SELECT * FROM a",
            V16,
            "line 1, column 15: expected the topic filter in single quotes after FROM, found 'a'",
        ),
        (
            "SELECT * FROM \"a\"",
            V16,
            "line 1, column 15: FROM takes the topic filter in single quotes, e.g. FROM 'sensors/+/data'",
        ),
        ("SELECT foo(1) FROM 'a'", V16, "line 1, column 8: unknown function 'foo'"),
        ("SELECT uper(x) FROM 'a'", V16, "line 1, column 8: unknown function 'uper'; did you mean upper()?"),
        ("SELECT abs(1, 2) FROM 'a'", V16, "line 1, column 8: abs() takes 1 argument, not 2"),
        ("SELECT topic(1, 2) FROM 'a'", V16, "line 1, column 8: topic() takes 0 to 1 arguments, not 2"),
        ("SELECT * FROM 'a' WHERE", V16, "line 1, column 24: the statement ends where a value was expected"),
        (
            "SELECT a FROM 'a' extra",
            V16,
            "line 1, column 19: unexpected 'extra' after the end of the statement",
        ),
        ("SELECT 'abc FROM x", V16, "line 1, column 8: the string starting here has no closing '"),
        ("SELECT CASE a END FROM 'x'", V16, "line 1, column 15: expected WHEN, found 'END'"),
        ("SELECT CASE a WHEN 1 THEN 2 FROM 'x'", V16, "line 1, column 29: expected END, found 'FROM'"),
        (
            "SELECT cast(a AS Money) FROM 'x'",
            V16,
            "line 1, column 18: unknown type 'money' in cast; use String, Int, Integer, Double, Decimal, Bool or Boolean",
        ),
        ("SELECT a AS FROM 'x'", V16, "line 1, column 13: expected a name after AS, found the keyword FROM"),
        ("SELECT a,\n  b c FROM 'x'", V16, "line 2, column 5: expected ',' or FROM, found 'c'"),
        ("SELECT 1 +", V16, "line 1, column 11: the statement ends where a value was expected"),
        ("SELECT a[1 FROM 'x'", V16, "line 1, column 12: expected ']', found 'FROM'"),
        ("SELECT {'a' 1} FROM 'x'", V16, "line 1, column 13: expected ':', found the number 1"),
        ("SELECT ~a FROM 'x'", V16, "line 1, column 8: unexpected character '~'"),
        (
            "SELECT a.0 FROM 'x'",
            V16,
            "line 1, column 10: a member name cannot start with a digit; use get(obj, \"0\") or get(array, 0)",
        ),
        (
            "SELECT 2abc FROM 'x'",
            V16,
            "line 1, column 8: '2abc' is not a number or a name (names cannot start with a digit; use get(obj, \"2abc\"))",
        ),
        (
            "SELECT (SELECT a) FROM 'x'",
            V16,
            "line 1, column 17: expected FROM (a nested query iterates over an array: FROM attribute), found ')'",
        ),
        ("SELECT WHERE FROM 'x'", V16, "line 1, column 8: expected a value, found the keyword WHERE"),
        (
            "SELECT {'a': 1} FROM 'x'",
            V15,
            "line 1, column 8: object literals need awsIotSqlVersion 2016-03-23 or later (this rule uses 2015-10-08)",
        ),
        (
            "SELECT [1] FROM 'x'",
            V15,
            "line 1, column 8: array literals need awsIotSqlVersion 2016-03-23 or later (this rule uses 2015-10-08)",
        ),
        (
            "SELECT (SELECT VALUE a FROM b) FROM 'x'",
            V15,
            "line 1, column 9: nested queries need awsIotSqlVersion 2016-03-23 or later (this rule uses 2015-10-08)",
        ),
        (
            "SELECT decode(a, 'base64') FROM 'x'",
            V15,
            "line 1, column 8: the function decode() needs awsIotSqlVersion 2016-03-23 or later (this rule uses 2015-10-08)",
        ),
        (
            "SELECT cast(a AS Bool) FROM 'x'",
            V15,
            "line 1, column 18: cast to Decimal and Bool/Boolean need awsIotSqlVersion 2016-03-23 or later (this rule uses 2015-10-08)",
        ),
    ];
    let mut failures = Vec::new();
    for (sql, version, want) in cases {
        match parse(sql, *version) {
            Ok(_) => failures.push(format!("{sql:?}: parsed, want error {want}")),
            Err(e) if e.to_string() != *want => failures.push(format!("{sql:?}: got {e}, want {want}")),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    let e = parse(&deep, SqlVersion::V2016_03_23).unwrap_err();
    assert!(e.message.contains("nested more than 48 levels"), "{e}");
    // Long operator chains are fine up to a bound that keeps evaluation's recursion small.
    let ors: Vec<String> = (0..100).map(|i| format!("hum = {i}")).collect();
    let sql = format!("SELECT VALUE true FROM 'a' WHERE {}", ors.join(" OR "));
    assert_eq!(run(&sql, SqlVersion::V2016_03_23, PAYLOAD.as_bytes()), "true");
    let chain = format!("SELECT VALUE 1{} FROM 'a'", " + 1".repeat(10_000));
    assert!(parse(&chain, SqlVersion::V2016_03_23).unwrap_err().message.contains("too deep"));
    let path = format!("SELECT VALUE a{} FROM 'a'", ".b".repeat(10_000));
    assert!(parse(&path, SqlVersion::V2016_03_23).unwrap_err().message.contains("too deep"));
}

#[test]
fn substitution_templates() {
    let cases: &[(&str, &str)] = &[
        ("${topic()}/republish", "sensors/lamp-1/data/republish"),
        ("${topic(3)}", "data"),
        ("${timestamp()}", "1700000000000"),
        ("${replace(topic(), '/', '-') + '-' + timestamp()}", "sensors-lamp-1-data-1700000000000"),
        ("${parse_time('yyyy', timestamp(), 'UTC')}", "2023"),
        ("${device_id}", "dev-9"),
        ("devices/${device_id}/${hum}", "devices/dev-9/40"),
        ("plain/topic", "plain/topic"),
        ("${missing}x", "x"),
        ("${nested}", r#"{"a":{"b":5}}"#),
        ("$$aws/things/${device_id}/shadow/update", "$$aws/things/dev-9/shadow/update"),
        ("${ {'k': 1}.k }", "1"),
        ("${'}'}", "}"),
    ];
    let payload = PAYLOAD.as_bytes();
    let input = input(payload, Properties::default());
    for (t, want) in cases {
        let tpl = Template::parse(t, SqlVersion::V2016_03_23).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(tpl.render(&input, &host()), *want, "{t}");
    }
    assert!(Template::parse("plain", SqlVersion::V2016_03_23).unwrap().is_literal());
    let uuid = Template::parse("${newuuid()}", SqlVersion::V2016_03_23).unwrap().render(&input, &host());
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(
        Template::parse("a${", SqlVersion::V2016_03_23).unwrap_err().to_string(),
        "line 1, column 2: the template's ${ has no closing }"
    );
    assert_eq!(
        Template::parse("x/${upper(}", SqlVersion::V2016_03_23).unwrap_err().to_string(),
        "line 1, column 11: the statement ends where a value was expected"
    );
    let ext =
        Template::parse("${get_thing_shadow('x', 'r').state}/${topic()}", SqlVersion::V2016_03_23).unwrap();
    assert_eq!(ext.external_functions(), ["get_thing_shadow"]);
    let nested = Template::parse(
        "${(SELECT VALUE get_dynamodb('t', 'k', v, 'r') FROM items)}",
        SqlVersion::V2016_03_23,
    );
    assert_eq!(nested.unwrap().external_functions(), ["get_dynamodb"], "a nested query's select list counts");
}

#[test]
fn randomness_comes_from_the_host() {
    let payload = b"{}";
    let i = input(payload, Properties::default());
    let q = parse("SELECT rand() AS r, newuuid() AS u FROM 'a'", SqlVersion::V2016_03_23).unwrap();
    let Some(Output::Json(Value::Object(o))) = q.evaluate(&i, &host()).output else { panic!() };
    let Some(Value::Decimal(r)) = o.get("r") else { panic!("{o:?}") };
    assert!((0.0..1.0).contains(r));
    let Some(Value::String(u)) = o.get("u") else { panic!("{o:?}") };
    assert_eq!(u.matches('-').count(), 4);
    // Same seed, same answers: a dry run is repeatable.
    assert_eq!(q.evaluate(&i, &host()), q.evaluate(&i, &host()));
}

#[test]
fn user_properties_and_correlation_data() {
    let props = vec![("k".to_owned(), "1".to_owned()), ("k".to_owned(), "2".to_owned())];
    let p = Properties {
        user_properties: &props,
        correlation_data: Some(b"abc"),
        response_topic: Some("r/t"),
        ..Properties::default()
    };
    let payload = b"{}";
    let i = input(payload, p);
    let q = parse(
        "SELECT get_user_properties('k') AS k, get_mqtt_property('correlation_data') AS c, \
         get_mqtt_property('response_topic') AS r, get_mqtt_property('format_indicator') AS f FROM 'a'",
        SqlVersion::V2016_03_23,
    )
    .unwrap();
    assert_eq!(
        render(&q.evaluate(&i, &host()).output),
        r#"{"k":["1","2"],"c":"YWJj","r":"r/t","f":"UNSPECIFIED_BYTES"}"#
    );
}
