//! The forwarder of a build without the `forward` feature: every send fails with the reason, so
//! the action's errorAction runs and the console shows why (see [`super`]).

use serde_json::Value;

use super::ForwardTarget;

/// Stands in for the SDK forwarder.
#[derive(Debug)]
pub struct Forwarder {
    target: ForwardTarget,
    region: String,
}

impl Forwarder {
    /// A forwarder to `target` that sends nothing.
    pub fn new(target: ForwardTarget, region: String, _account: String) -> Self {
        Self { target, region }
    }

    /// Where actions would go, for people.
    pub fn describe(&self) -> String {
        self.target.describe(&self.region)
    }

    /// Always an error: this build has no AWS SDK.
    #[allow(clippy::unused_async)]
    pub async fn send(&self, kind: &str, _body: &Value, _payload: &[u8]) -> Result<String, String> {
        Err(format!(
            "this build of Thingbox has no AWS SDK (built without the engine's `forward` feature), so {kind} actions cannot be sent"
        ))
    }
}
