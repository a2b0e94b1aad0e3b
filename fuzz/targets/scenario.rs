//! Simulator scenarios: any text is read as a scenario; a valid one has every telemetry payload,
//! shadow report and command reply rendered a few times (generators, templates) and its topics.
#![no_main]

use thingbox_model::scenario::{GenState, Rng, Vars, parse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(s) = parse(text) else { return };
    let mut rng = Rng::new(s.seed);
    for f in s.devices.iter().take(4) {
        let vars = Vars { thing: "t-1", index: 1, fleet: &f.name, scenario: &s.name };
        let mut payloads: Vec<_> =
            f.telemetry.iter().map(|t| (&t.payload, t.topic.0.render(&vars))).collect();
        payloads.extend(
            f.commands.iter().filter_map(|c| c.payload.as_ref().map(|p| (p, c.reply.0.render(&vars)))),
        );
        payloads.extend(f.shadow.iter().filter_map(|sh| sh.reported.as_ref().map(|p| (p, String::new()))));
        for (p, _topic) in payloads {
            let mut state = GenState::default();
            for i in 0..3 {
                let _ = p.template.render(&vars, 1_700_000_000_000 + i * 1000, &mut state, &mut rng);
            }
        }
    }
});
