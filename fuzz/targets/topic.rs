//! Topic names and filters: validation, matching (and its agreement with validation), and the
//! reserved `$aws` topic classification.
#![no_main]

use thingbox_model::topic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (filter, name) = text.split_once('\n').unwrap_or((text, text));
    let name_ok = topic::check_name(name).is_ok();
    let filter_ok = topic::check_filter(filter).is_ok();
    let m = topic::matches(filter, name);
    let _ = topic::reserved(name);
    let _ = topic::client_may_publish(name, true);
    if name_ok && filter_ok && filter == name {
        assert!(m, "a valid name must match itself as a filter: {name:?}");
    }
});
