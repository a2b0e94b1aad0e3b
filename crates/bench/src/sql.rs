//! `sql`: the AWS IoT SQL evaluator's speed on a typical rule and payload, with and without
//! parsing the payload each time — no broker involved.

use std::time::{Duration, Instant};

use serde_json::json;

/// A typical rule: two fields picked, one derived, a WHERE on two attributes.
const TYPICAL_SQL: &str = "SELECT temperature, humidity, topic(2) AS device, timestamp() AS ts \
     FROM 'sensors/+/data' WHERE temperature > 30 AND status = 'ok'";
/// A typical device payload (about 120 bytes).
const TYPICAL_PAYLOAD: &str = r#"{"temperature": 31.5, "humidity": 48, "status": "ok", "battery": 87, "fw": "1.4.2", "location": {"lat": 47.6, "lon": -122.3}}"#;

pub fn sql(seconds: u64) -> serde_json::Value {
    use thingbox_sql::{FixedHost, Input, SqlVersion};
    let query = thingbox_sql::parse(TYPICAL_SQL, SqlVersion::V2016_03_23).expect("the typical rule parses");
    let host = FixedHost::new(1_700_000_000_000, 1);
    let topic = "sensors/lamp-7/data";
    let run = |parse_each: bool| {
        let input = Input::new(topic, TYPICAL_PAYLOAD.as_bytes());
        let mut n = 0u64;
        let mut fired = 0u64;
        let start = Instant::now();
        let limit = Duration::from_secs(seconds);
        while start.elapsed() < limit {
            for _ in 0..1000 {
                let fresh;
                let i = if parse_each {
                    fresh = Input::new(topic, TYPICAL_PAYLOAD.as_bytes());
                    &fresh
                } else {
                    &input
                };
                let ev = query.evaluate(i, &host);
                fired += u64::from(ev.output.is_some());
                // The engine serializes each output once.
                if let Some(o) = ev.output {
                    std::hint::black_box(o.to_bytes());
                }
            }
            n += 1000;
        }
        assert_eq!(fired, n, "the typical payload fires the typical rule");
        n as f64 / start.elapsed().as_secs_f64()
    };
    json!({"scenario": "sql", "sql": TYPICAL_SQL, "payload_bytes": TYPICAL_PAYLOAD.len(),
           "evals_per_sec_parsed_payload": run(false), "evals_per_sec_with_parse": run(true)})
}
