//! `thingbox export` and `thingbox import`: they talk to the Thingbox serving the data dir — the
//! running one (found through its `endpoints.json`), or one started here for the command and
//! stopped after it — through the console API (`/console/api/export`, `/console/api/import`), so
//! the files are the console's and an import meets the AWS API's own checks.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::Value;
use thingbox_engine::EngineHandle;

use crate::config::{PortOrOff, ServeArgs, Settings};

/// The Thingbox a command talks to.
struct Target {
    api: String,
    token: String,
    /// A Thingbox started for this command, and how to stop it.
    started: Option<(EngineHandle, tokio::sync::oneshot::Sender<()>)>,
}

impl Target {
    async fn finish(self) -> anyhow::Result<()> {
        if let Some((engine, stop)) = self.started {
            let _ = stop.send(());
            engine.wait().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }
}

fn token_of(console_url: &str) -> Option<String> {
    console_url.split_once("token=").map(|(_, t)| t.to_owned())
}

/// The running Thingbox of `data_dir`, if one answers.
async fn running(data_dir: &Path) -> Option<Target> {
    let text = std::fs::read_to_string(data_dir.join("endpoints.json")).ok()?;
    let ep: Value = serde_json::from_str(&text).ok()?;
    let api = ep.get("api")?.as_str()?.to_owned();
    tokio::net::TcpStream::connect(api.trim_start_matches("http://")).await.ok()?;
    Some(Target { token: token_of(ep.get("console")?.as_str()?)?, api, started: None })
}

async fn target(data_dir: Option<PathBuf>) -> anyhow::Result<Target> {
    let dir = crate::config::data_dir_or_default(data_dir.clone())?;
    if let Some(t) = running(&dir).await {
        return Ok(t);
    }
    let off = Some(PortOrOff::Off(crate::config::Off::Off));
    let args = ServeArgs {
        data_dir: Some(dir),
        api_port: Some(0),
        mqtt_tls_port: Some(0),
        mqtt_port: off,
        https_port: off,
        history_messages: Some(0),
        ..ServeArgs::default()
    };
    let settings = Settings::resolve(args)?;
    let (engine, stop) = crate::start(&settings, true).await?;
    let ep = engine.endpoints().clone();
    let token =
        ep.console.as_deref().and_then(token_of).context("the engine did not say its console token")?;
    Ok(Target { api: ep.api, token, started: Some((engine, stop)) })
}

async fn call(
    t: &Target,
    method: reqwest::Method,
    path: &str,
    body: Option<String>,
) -> anyhow::Result<Value> {
    // Plain HTTP to this machine; the TLS set-up only satisfies the client's builder. No timeout: an
    // import of a large template is one long request.
    let mut builder = reqwest::Client::builder();
    if let Some(tls) = thingbox_engine::rules::actions::system_tls_config() {
        builder = builder.use_preconfigured_tls(tls);
    }
    let client = builder.build()?;
    let mut req = client.request(method, format!("{}{path}", t.api)).header("x-thingbox-token", &t.token);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let res = req.send().await.with_context(|| format!("calling {}{path}", t.api))?;
    let status = res.status();
    let kind = res
        .headers()
        .get("x-amzn-ErrorType")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_owned());
    let text = res.text().await?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = v.get("message").and_then(Value::as_str).unwrap_or(&text);
        bail!("{}: {message}", kind.unwrap_or_else(|| status.to_string()));
    }
    Ok(v)
}

/// `thingbox export`: writes the files and the report into `out` and prints a summary.
pub async fn export(data_dir: Option<PathBuf>, format: &str, out: Option<PathBuf>) -> anyhow::Result<()> {
    let t = target(data_dir).await?;
    let result = call(&t, reqwest::Method::GET, &format!("/console/api/export?format={format}"), None).await;
    t.finish().await?;
    let v = result?;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("thingbox-{format}")));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for f in v["files"].as_array().into_iter().flatten() {
        let name = f["name"].as_str().unwrap_or("file");
        let path = out.join(name);
        std::fs::write(&path, f["text"].as_str().unwrap_or_default())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    let notes = v["report"].as_array().map_or(0, Vec::len);
    if notes > 0 {
        println!("{notes} item(s) need a hand on AWS: see {}", out.join("REPORT.md").display());
    }
    Ok(())
}

/// `thingbox import`: makes a CloudFormation template's resources and lists them.
pub async fn import(data_dir: Option<PathBuf>, file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let t = target(data_dir).await?;
    let result = call(&t, reqwest::Method::POST, "/console/api/import", Some(text)).await;
    t.finish().await?;
    let v = result?;
    let made = v["made"].as_array().cloned().unwrap_or_default();
    for m in &made {
        println!("made {} ({})", m["resource"].as_str().unwrap_or(""), m["call"].as_str().unwrap_or(""));
    }
    println!("{} resource call(s) from {}", made.len(), file.display());
    Ok(())
}

/// `thingbox usage`: the metered usage of the last `days` days and what it would cost on AWS.
pub async fn usage(data_dir: Option<PathBuf>, days: u32) -> anyhow::Result<()> {
    let t = target(data_dir).await?;
    let result = call(&t, reqwest::Method::GET, &format!("/console/api/usage?days={days}"), None).await;
    t.finish().await?;
    let v = result?;
    let e = &v["estimate"];
    println!(
        "Usage of the last {days} day(s), priced as AWS IoT Core in {} ({} prices of {}, {})",
        e["region"].as_str().unwrap_or(""),
        e["currency"].as_str().unwrap_or(""),
        e["date"].as_str().unwrap_or(""),
        e["source"].as_str().unwrap_or("")
    );
    println!("{:<22}{:>14}{:>16}", "metric", "units", "cost");
    for l in e["lines"].as_array().into_iter().flatten() {
        println!(
            "{:<22}{:>14}{:>16.6}",
            l["metric"].as_str().unwrap_or(""),
            l["units"].as_u64().unwrap_or(0),
            l["cost"].as_f64().unwrap_or(0.0)
        );
    }
    println!("{:<22}{:>14}{:>16.6}", "total", "", e["total"].as_f64().unwrap_or(0.0));
    let things: Vec<&Value> = v["things"].as_array().into_iter().flatten().collect();
    if !things.is_empty() {
        println!("\nBy thing (\"-\": usage no thing accounts for):");
        for th in things {
            let name = th["thing"].as_str().filter(|s| !s.is_empty()).unwrap_or("-");
            let metrics: Vec<String> = th["metrics"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, n)| format!("{k} {}", n.as_u64().unwrap_or(0)))
                .collect();
            println!("  {name}: {}", metrics.join(", "));
        }
    }
    Ok(())
}
