//! IoT policy documents: any text is parsed; a policy that parses is evaluated for each action
//! against resources taken from the input, with the variables of a device connection.
#![no_main]

use thingbox_model::policy::{self, Action, Context, PolicyRef, Request};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(p) = policy::parse(text) else { return };
    let mut ctx = Context::new();
    ctx.set("iot:ClientId", "fuzz-client");
    ctx.set("iot:Connection.Thing.ThingName", "fuzz-thing");
    ctx.set("aws:SourceIp", "127.0.0.1");
    let refs = [PolicyRef { name: "fuzz", version: "1", policy: &p }];
    let compiled = policy::compile(&refs, &ctx);
    let tail = text.get(text.len().saturating_sub(40)..).unwrap_or("x");
    for action in
        [Action::Connect, Action::Publish, Action::RetainPublish, Action::Subscribe, Action::Receive]
    {
        for resource in [
            format!("arn:aws:iot:us-east-1:000000000000:topic/{tail}"),
            format!("arn:aws:iot:us-east-1:000000000000:topicfilter/{tail}"),
            "arn:aws:iot:us-east-1:000000000000:client/fuzz-client".to_owned(),
        ] {
            let req = Request { action, resource: &resource };
            let _ = policy::evaluate(&refs, &req, &ctx);
            let _ = compiled.decide(action, &resource);
        }
    }
});
