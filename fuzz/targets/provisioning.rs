//! Fleet-provisioning templates: any text is parsed and checked as a template body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = thingbox_model::provisioning::Template::parse(text);
    let _ = thingbox_model::provisioning::claim_allows(text, "$aws/provisioning-templates/t/provision/json");
});
