//! AWS IoT SQL: any text is parsed (both SQL versions) and, when it parses, evaluated over any
//! payload; substitution templates are parsed from the same text. Nothing may panic or hang.
#![no_main]

use thingbox_sql::{FixedHost, Input, SqlVersion, Template};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // `sql \0 payload`
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(sql) = std::str::from_utf8(&data[..split]) else { return };
    let payload = data.get(split + 1..).unwrap_or_default();
    let host = FixedHost::new(1_700_000_000_000, 7);
    for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
        let _ = Template::parse(sql, version);
        if let Ok(query) = thingbox_sql::parse(sql, version) {
            let _ = query.topic_filter();
            let _ = query.evaluate(&Input::new("fuzz/topic/1", payload), &host);
        }
    }
});
