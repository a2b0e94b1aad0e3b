use serde_json::json;

use super::template::{GenState, Rng, Template, Vars};
use super::*;

const EXAMPLES: [(&str, &str); 3] = [
    ("smart-lamps", include_str!("../../../../assets/scenarios/smart-lamps.yaml")),
    ("ota-rollout", include_str!("../../../../assets/scenarios/ota-rollout.yaml")),
    ("telemetry-rules", include_str!("../../../../assets/scenarios/telemetry-rules.yaml")),
];

#[test]
fn the_shipped_examples_parse() {
    for (name, text) in EXAMPLES {
        let s = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name, name);
    }
    let lamps = parse(EXAMPLES[0].1).unwrap();
    assert_eq!(lamps.device_names().count(), 10);
    assert_eq!(lamps.device_names().last().unwrap().2, "lamp-10");
    assert!(matches!(lamps.steps[0].action, Action::Desired { .. }));
    let ota = parse(EXAMPLES[1].1).unwrap();
    assert_eq!(ota.devices[0].jobs.as_ref().unwrap().fail, Ratio(0.1));
    assert!(matches!(&ota.steps[0].action, Action::File { size: 262_144, .. }));
    let Action::Job { document, rollout_per_minute, .. } = &ota.steps[1].action else { panic!() };
    assert_eq!(*rollout_per_minute, Some(600));
    assert!(document["url"].as_str().unwrap().starts_with("${aws:iot:s3-presigned-url:"));
}

#[test]
fn the_documented_schema_parses() {
    let doc = include_str!("../../../../docs/simulator.md");
    let yaml = doc.split("```yaml\n").nth(1).and_then(|b| b.split("```").next()).expect("a yaml block");
    let s = parse(yaml).unwrap_or_else(|e| panic!("docs/simulator.md: {e}"));
    assert_eq!(s.steps.len(), 6);
    let lamp = &s.devices[0];
    assert_eq!(lamp.shadow.as_ref().unwrap().ignore, ["colour"]);
    assert_eq!(lamp.jobs.as_ref().unwrap().reject_operations, ["reboot"]);
}

/// A scenario with one problem, the line it is on, and words the message must have.
const BAD: &[(&str, usize, &str)] = &[
    ("name: x\ndevices:\n  - name: lamp\n    cont: 3\n", 4, "unknown field `cont`"),
    ("name: x\ndevices:\n  - name: lamp\n    count: many\n", 4, "invalid type"),
    (
        "name: x\ndevices:\n  - name: lamp\n    telemetry:\n      - topic: a/#\n        every: 1s\n        payload: 1\n",
        5,
        "wildcard",
    ),
    (
        "name: x\ndevices:\n  - name: lamp\n    telemetry:\n      - topic: a/${thng}\n        every: 1s\n        payload: 1\n",
        5,
        "unknown variable '${thng}'",
    ),
    (
        "name: x\ndevices:\n  - name: lamp\n    telemetry:\n      - topic: t\n        every: 5 parsecs\n        payload: 1\n",
        6,
        "unknown unit",
    ),
    (
        "name: x\ndevices:\n  - name: lamp\n    telemetry:\n      - topic: t\n        every: 1s\n        payload: {randomWalk: {start: 1, min: 5, max: 2}}\n",
        7,
        "min 5 is above max 2",
    ),
    (
        "name: x\ndevices:\n  - name: lamp\n    telemetry:\n      - topic: t\n        every: 1s\n        payload: {sine: {amplitude: 1, wavelength: 3}}\n",
        7,
        "unknown field 'wavelength'",
    ),
    ("name: x\ndevices:\n  - name: lamp\n    faults: {drop: 1.5}\n", 4, "not a ratio"),
    ("name: x\ndevices:\n  - name: lamp\nsteps:\n  - at: 1s\n", 5, "needs one of"),
    (
        "name: x\ndevices:\n  - name: lamp\nsteps:\n  - at: 1s\n    stop: true\n    desired: {devices: '*', state: {a: 1}}\n",
        5,
        "does one thing",
    ),
    (
        "name: x\ndevices:\n  - name: lamp\nsteps:\n  - at: 1s\n    rule: {name: r, sql: SELEC * FROM 'a', actions: []}\n",
        6,
        "rule 'r'",
    ),
    (
        "name: x\ndevices:\n  - name: lamp\nsteps:\n  - at: 1s\n    fault: {devices: lamp-1, wobble: true}\n",
        5,
        "unknown field `wobble`",
    ),
    ("name: x\ndevices:\n  - name: lamp\n    count: 0\n", 4, "count must be at least 1"),
    ("name: x\ndevices:\n  - name: lamp\n  - name: lamp\n", 4, "named twice"),
    ("name: x\ndevices:\n  - name: 'bad name'\n", 3, "fleet name 'bad name'"),
    (
        "name: x\ndevices:\n  - name: lamp\nsteps:\n  - at: 1s\n    job: {id: j, targets: [lamps], document: {}}\n",
        6,
        "job target 'lamps'",
    ),
    ("name: x\ndevices:\n  - name: lamp\n    connection: {online: 5s}\n", 4, "both 'online' and 'offline'"),
    (
        "name: x\ndevices:\n  - name: lamp\n    telemetry:\n      - {topic: t, every: 1s, qos: 2, payload: 1}\n",
        5,
        "qos 2",
    ),
    ("name: x\n", 1, "missing field `devices`"),
    (
        "name: x\ndevices:\n  - name: lamp\nsteps:\n  - at: 1s\n    file: {bucket: fw, key: k, size: 1}\n",
        6,
        "bucket 'fw'",
    ),
    ("devices: [\n", 2, ""),
];

#[test]
fn bad_scenarios_name_their_line() {
    for (text, line, words) in BAD {
        let e = parse(text).expect_err(text);
        assert_eq!(e.line, Some(*line), "{text}\n→ {e}");
        assert!(e.message.contains(words), "{text}\n→ {e}");
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    }
}

#[test]
fn durations() {
    for (text, ms) in
        [("250ms", 250), ("5s", 5000), ("2m", 120_000), ("1h", 3_600_000), ("1.5s", 1500), ("-30s", -30_000)]
    {
        assert_eq!(parse_duration(&json!(text)), Ok(ms), "{text}");
    }
    assert_eq!(parse_duration(&json!(2)), Ok(2000));
    assert!(parse_duration(&json!("soon")).is_err());
    assert!(parse_duration(&json!(true)).is_err());
}

#[test]
fn selectors() {
    assert!(selects("*", "lamp-1", "lamp"));
    assert!(selects("lamp", "lamp-1", "lamp"), "a fleet's name selects its devices");
    assert!(selects("lamp-*", "lamp-12", "lamp"));
    assert!(selects("lamp-1", "lamp-1", "lamp") && !selects("lamp-1", "lamp-12", "lamp"));
    assert!(selects("*-1*", "lamp-12", "lamp") && !selects("*-3", "lamp-12", "lamp"));
}

fn render(v: serde_json::Value, n: usize) -> Vec<serde_json::Value> {
    let mut slots = 0;
    let t = Template::parse(&v, &mut slots).unwrap();
    let vars = Vars { thing: "lamp-2", index: 2, fleet: "lamp", scenario: "s" };
    let (mut state, mut rng) = (GenState::default(), Rng::new(1));
    (0..n).map(|i| t.render(&vars, 1_000 * i as i64, &mut state, &mut rng)).collect()
}

#[test]
fn generators() {
    let out = render(
        json!({"n": {"counter": {"start": 5, "step": 2}}, "who": "${thing}/${index}", "k": [1, {"constant": {"counter": 1}}]}),
        3,
    );
    assert_eq!(out[0], json!({"n": 5, "who": "lamp-2/2", "k": [1, {"counter": 1}]}));
    assert_eq!(out[2]["n"], json!(9));

    let walk = render(json!({"randomWalk": {"start": 10, "step": 1, "min": 9, "max": 11}}), 200);
    assert_eq!(walk[0], json!(10));
    assert!(walk.iter().all(|v| (9.0..=11.0).contains(&v.as_f64().unwrap())));
    assert!(walk.windows(2).all(|w| (w[0].as_f64().unwrap() - w[1].as_f64().unwrap()).abs() <= 1.0 + 1e-9));

    let sine = render(json!({"sine": {"amplitude": 2, "period": "4s", "offset": 10}}), 4);
    assert_eq!(sine, [json!(10), json!(12), json!(10), json!(8)]);

    let cycle = render(json!({"enum": {"values": ["a", "b"], "cycle": true}}), 3);
    assert_eq!(cycle, [json!("a"), json!("b"), json!("a")]);
    let pick = render(json!({"enum": ["x", "y", "z"]}), 50);
    assert!(pick.iter().all(|v| ["x", "y", "z"].contains(&v.as_str().unwrap())));
    assert!(pick.iter().any(|v| v != &pick[0]), "random picks vary");

    let uni = render(json!({"uniform": {"min": 1, "max": 2}}), 50);
    assert!(uni.iter().all(|v| (1.0..2.0).contains(&v.as_f64().unwrap())));
    assert_eq!(render(json!({"timestamp": "s"}), 2), [json!(0), json!(1)]);
    assert_eq!(render(json!({"timestamp": "iso"}), 1), [json!("1970-01-01T00:00:00.000Z")]);

    // The same seed gives the same values.
    assert_eq!(render(json!({"uniform": {}}), 5), render(json!({"uniform": {}}), 5));
    // An object with two members is data, not a generator.
    assert_eq!(render(json!({"counter": 1, "x": 2}), 1), [json!({"counter": 1, "x": 2})]);
}
