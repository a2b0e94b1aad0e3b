//! The pre-provisioning hook: AWS calls a Lambda function before every RegisterThing; Thingbox
//! calls what `--lambda` maps the function to (a URL gets the input POSTed as JSON, a command gets
//! it on standard input; either answers with JSON), within AWS's five seconds.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::rules::actions::{LambdaTarget, lambda_target};

/// AWS's limit for a hook.
const DEADLINE: Duration = Duration::from_secs(5);

/// What the hook decided: the parameter overrides when it allows provisioning.
pub type HookAnswer = Result<BTreeMap<String, String>, String>;

/// Calls the hook `arn` with `input`.
pub async fn call(
    lambdas: &BTreeMap<String, LambdaTarget>,
    http: &reqwest::Client,
    arn: &str,
    input: &Value,
) -> HookAnswer {
    let Some(target) = lambda_target(lambdas, arn) else {
        return Err(format!(
            "the pre-provisioning hook {arn} is not mapped to a local URL or command (thingbox serve --lambda)"
        ));
    };
    let output = match tokio::time::timeout(DEADLINE, invoke(target, http, input)).await {
        Ok(r) => r?,
        Err(_) => return Err(format!("the pre-provisioning hook {arn} did not answer within 5 seconds")),
    };
    let answer: Value = serde_json::from_slice(&output)
        .map_err(|e| format!("the pre-provisioning hook {arn} did not answer JSON: {e}"))?;
    let allowed = matches!(answer.get("allowProvisioning"), Some(Value::Bool(true)))
        || answer
            .get("allowProvisioning")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("true"));
    if !allowed {
        return Err(format!("the pre-provisioning hook {arn} did not allow provisioning"));
    }
    let overrides = answer
        .get("parameterOverrides")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect()
        })
        .unwrap_or_default();
    Ok(overrides)
}

async fn invoke(target: &LambdaTarget, http: &reqwest::Client, input: &Value) -> Result<Vec<u8>, String> {
    let body = input.to_string();
    match target {
        LambdaTarget::Url(url) => {
            let res = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            if !res.status().is_success() {
                return Err(format!("{url} answered {}", res.status()));
            }
            res.bytes().await.map(|b| b.to_vec()).map_err(|e| format!("{url}: {e}"))
        }
        LambdaTarget::Command(argv) => {
            use tokio::io::AsyncWriteExt as _;
            let mut child = tokio::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(body.as_bytes()).await;
            }
            let out = child.wait_with_output().await.map_err(|e| format!("{}: {e}", argv[0]))?;
            if !out.status.success() {
                return Err(format!("{} exited with {}", argv[0], out.status));
            }
            Ok(out.stdout)
        }
    }
}
