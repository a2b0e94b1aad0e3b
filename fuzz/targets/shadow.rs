//! Shadow updates: any bytes are parsed as an update request and applied to no shadow, then to
//! the result (so versions, deletions with null, metadata and delta all run).
#![no_main]

use thingbox_model::shadow;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = shadow::client_token_of(data);
    let Ok(req) = shadow::parse_update(data) else { return };
    let Ok(first) = shadow::update(None, &req, 1_700_000_000) else { return };
    let _ = first.shadow.delta();
    let _ = first.shadow.get_document(Some("t"));
    let mut again = req.clone();
    again.version = None;
    if let Ok(second) = shadow::update(Some(&first.shadow), &again, 1_700_000_001) {
        let _ = shadow::diff::diff(
            &shadow::diff::state_leaves(&first.shadow),
            &shadow::diff::state_leaves(&second.shadow),
        );
        let _ = shadow::delete(&second.shadow, None, 1_700_000_002);
    }
});
