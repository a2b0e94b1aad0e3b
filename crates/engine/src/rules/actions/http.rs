//! The `http` action, and the `lambda` action run by a local URL or command.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{ActionCtx, Done, LambdaTarget, Payload, failed, ok, s};
use crate::broker::Message;

/// How long one HTTP attempt (http and lambda URL actions) may take.
pub(super) const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a lambda command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Most HTTP attempts (AWS: at most 3, retrying on 429 and 5xx).
const HTTP_TRIES: usize = 3;

async fn post(
    ctx: &ActionCtx,
    url: &str,
    headers: &[(String, String)],
    payload: &Payload,
) -> Result<String, String> {
    let mut content_type =
        if payload.json { "application/json" } else { "application/octet-stream" }.to_owned();
    let mut extra = Vec::new();
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-type") {
            content_type = v.clone();
        } else {
            extra.push((k.clone(), v.clone()));
        }
    }
    let mut last = String::new();
    for attempt in 1..=HTTP_TRIES {
        let mut req = ctx.http.post(url).header("content-type", &content_type).body(payload.bytes.clone());
        for (k, v) in &extra {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(res) => {
                let status = res.status();
                if status.is_success() {
                    return Ok(format!(
                        "HTTP {status} after {attempt} attempt{}",
                        if attempt == 1 { "" } else { "s" }
                    ));
                }
                last = format!("HTTP {status}");
                if status.as_u16() != 429 && !status.is_server_error() {
                    break;
                }
            }
            Err(e) => {
                last = describe_reqwest(&e);
                if e.is_timeout() {
                    break;
                }
            }
        }
    }
    Err(last)
}

/// A client error in a person's words: what failed, and the innermost reason.
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut root = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        root = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        format!("no answer within {} s", HTTP_TIMEOUT.as_secs())
    } else if e.is_connect() {
        format!("could not connect: {root}")
    } else {
        format!("the request failed: {root}")
    }
}

pub(super) async fn http(ctx: &ActionCtx, body: &Value, payload: &Payload) -> Done {
    let url = s(body, "url").to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return failed(url, "the resolved url is not an http:// or https:// URL");
    }
    let headers: Vec<(String, String)> = body
        .get("headers")
        .and_then(Value::as_array)
        .map(|hs| hs.iter().map(|h| (s(h, "key").to_owned(), s(h, "value").to_owned())).collect())
        .unwrap_or_default();
    match post(ctx, &url, &headers, payload).await {
        Ok(detail) => ok(url, detail),
        Err(e) => failed(url, e),
    }
}

/// The local target of a function ARN: by the whole ARN, else by the function name.
pub fn lambda_target<'a>(map: &'a BTreeMap<String, LambdaTarget>, arn: &str) -> Option<&'a LambdaTarget> {
    if let Some(t) = map.get(arn) {
        return Some(t);
    }
    let name = arn.split(":function:").nth(1).map_or(arn, |rest| rest.split(':').next().unwrap_or(rest));
    map.get(name)
}

pub(super) async fn lambda(ctx: &ActionCtx, body: &Value, payload: &Payload, msg: &Message) -> Done {
    let arn = s(body, "functionArn").to_owned();
    let Some(target) = lambda_target(&ctx.lambdas, &arn) else {
        return failed(
            arn,
            "no local target for this function: map it to a URL or a command with \
             `thingbox serve --lambda NAME=TARGET` or [rules.lambda] in thingbox.toml",
        );
    };
    match target {
        LambdaTarget::Url(url) => {
            let headers = vec![("x-thingbox-function-arn".to_owned(), arn.clone())];
            match post(ctx, url, &headers, payload).await {
                Ok(detail) => ok(arn, format!("{url}: {detail}")),
                Err(e) => failed(arn, format!("{url}: {e}")),
            }
        }
        LambdaTarget::Command(argv) => match command(argv, &arn, payload, msg).await {
            Ok(detail) => ok(arn, detail),
            Err(e) => failed(arn, e),
        },
    }
}

/// Bytes of a command's output kept (its tail goes into the action's result).
const OUTPUT_KEPT: usize = 16 * 1024;

/// Reads a pipe to its end, keeping the last [`OUTPUT_KEPT`] bytes.
async fn drain(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let Some(mut pipe) = pipe else { return Vec::new() };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * OUTPUT_KEPT {
            kept.drain(..kept.len() - OUTPUT_KEPT);
        }
    }
    kept
}

async fn command(argv: &[String], arn: &str, payload: &Payload, msg: &Message) -> Result<String, String> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("THINGBOX_FUNCTION_ARN", arn)
        .env("THINGBOX_TOPIC", &msg.topic)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let bytes = payload.bytes.clone();
    // Standard input is written while the output is read, all within the time limit: a command
    // that writes before it reads, or never reads, cannot stall the rule's worker.
    let feed = async move {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&bytes).await;
        }
    };
    let run = async {
        let (_, out, err, status) = tokio::join!(feed, drain(stdout), drain(stderr), child.wait());
        (out, err, status)
    };
    let (out, err, status) = tokio::time::timeout(COMMAND_TIMEOUT, run).await.map_err(|_| {
        format!("{} ran longer than {} s and was stopped", argv[0], COMMAND_TIMEOUT.as_secs())
    })?;
    let status = status.map_err(|e| format!("{}: {e}", argv[0]))?;
    let tail = |b: &[u8]| {
        let t = String::from_utf8_lossy(b);
        let t = t.trim();
        let cut = t.len().saturating_sub(400);
        let cut = (cut..=t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(t.len());
        t[cut..].to_owned()
    };
    if status.success() {
        Ok(format!(
            "{} exited 0{}",
            argv[0],
            if out.is_empty() { String::new() } else { format!(": {}", tail(&out)) }
        ))
    } else {
        Err(format!("{} exited with {status}: {}", argv[0], tail(&err)))
    }
}
