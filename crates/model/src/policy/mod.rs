//! AWS IoT policies: parsing and validating documents, and a pure evaluator that explains itself —
//! which policy, version and statement allowed or denied, and how every `${iot:...}` variable
//! resolved. The engine enforces with it and the console runs it in the browser.
//!
//! Rules (AWS's): explicit deny wins, then any allow, else implicit deny. Resource patterns use
//! IAM wildcards (`*` any run of characters including `/`, `?` one character) over the whole ARN;
//! MQTT's `+` and `#` are literal characters. A statement whose resource or condition needs a
//! variable that cannot be resolved does not match.

mod doc;
mod eval;

pub use doc::{Condition, Effect, Operator, Policy, PolicyError, SetQualifier, Statement, parse};
pub use eval::{
    Action, Binding, Compiled, Context, Decision, DecisionKind, PolicyRef, Request, StatementRef, compile,
    evaluate, glob_match,
};

#[cfg(test)]
mod tests;
