//! Settings for `thingbox serve`: command-line flags over `<data dir>/thingbox.toml` over defaults.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde::Deserialize;
use thingbox_engine::EngineConfig;
use thingbox_engine::rules::LambdaTarget;
use thingbox_engine::rules::forward::ForwardTarget;

/// Flags of `thingbox serve`. Every flag can also be set in `<data dir>/thingbox.toml` (same names
/// with underscores, e.g. `api_port = 4580`); flags win.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Where Thingbox keeps its database, local CA and endpoints.json
    /// [default: the platform data dir, e.g. ~/.local/share/thingbox]
    #[arg(long, env = "THINGBOX_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address every listener binds to [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// Port of the AWS APIs (iot, iot-data, iot-jobs-data) and the console; 0 = any free port [default: 4580]
    #[arg(long, value_name = "PORT")]
    pub api_port: Option<u16>,
    /// Port of the mutual-TLS MQTT listener (MQTT 3.1.1 and 5, device certificates); 0 = any free
    /// port [default: 8883]
    #[arg(long, value_name = "PORT")]
    pub mqtt_tls_port: Option<u16>,
    /// Port of the plain MQTT listener (no TLS; every client shares one identity); 0 = any free
    /// port, `off` = no plain listener [default: 1883]
    #[arg(long, value_name = "PORT|off")]
    pub mqtt_port: Option<PortOrOff>,
    /// Port of the multiplexed TLS endpoint, as AWS's 443: MQTT with ALPN x-amzn-mqtt-ca (the
    /// Device SDK's default), HTTPS for the AWS APIs and wss://HOST:PORT/mqtt; 0 = any free port,
    /// `off` = not served. Below 1024 it needs a privilege `sudo thingbox trust` grants
    /// [default: 443]
    #[arg(long, value_name = "PORT|off")]
    pub https_port: Option<PortOrOff>,
    /// Changes kept per shadow for the console's history [default: 1000]
    #[arg(long, value_name = "N")]
    pub shadow_history: Option<u32>,
    /// Messages the topic viewer's history keeps; 0 = no history [default: 100000]
    #[arg(long, value_name = "N")]
    pub history_messages: Option<u64>,
    /// Megabytes (topic + payload) the topic viewer's history keeps [default: 256]
    #[arg(long, value_name = "MB")]
    pub history_mb: Option<u64>,
    /// Strict-AWS mode: refuse what AWS's quotas would (100 publishes and 512 KB a second per
    /// connection, 1 CONNECT a second per client id and 500 in all, 200 topic filters subscribed a
    /// second, 20 shadow requests a second per thing, thing type deletion 5 minutes after
    /// deprecation) instead of only reporting it
    #[arg(long)]
    pub strict: bool,
    /// Messages the message-flow tracer samples per second (besides every message of an armed
    /// trace session); 0 = only armed sessions [default: 100]
    #[arg(long, value_name = "N")]
    pub trace_per_second: Option<u32>,
    /// Hold plain-listener clients to this named IoT policy instead of the built-in permissive
    /// one (thingbox-plain-allow-all); repeat for several
    #[arg(long = "plain-policy", value_name = "NAME")]
    pub plain_policies: Vec<String>,
    /// The emulated AWS account id, 12 digits [default: 000000000000]
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// The region for requests that do not name one (signed requests use their own) [default: us-east-1]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Host name returned by DescribeEndpoint and named in the server certificate [default: localhost]
    #[arg(long, value_name = "HOST")]
    pub endpoint_host: Option<String>,
    /// Threads that move device traffic and serve the APIs (storage, the message history and the
    /// rules engine have their own) [default: half the cores, at least 1: the devices and tools
    /// that talk to Thingbox usually run on the same machine]
    #[arg(long, value_name = "N")]
    pub worker_threads: Option<usize>,
    /// Run a Lambda function that rule actions name on this machine: FUNCTION is its ARN or its
    /// name, TARGET an http(s):// URL (the rule's output is POSTed to it) or a command (the output
    /// on its standard input); repeat for several. In thingbox.toml: [rules.lambda] FUNCTION =
    /// "TARGET" or ["command", "arg"]
    #[arg(long = "lambda", value_name = "FUNCTION=TARGET")]
    pub lambdas: Vec<String>,
    /// Send rule actions for AWS services Thingbox does not run (sqs, sns, kinesis, firehose,
    /// cloudwatch*, stepFunctions, timestream, iotEvents, iotAnalytics, iotSiteWise, location)
    /// to this endpoint with the AWS SDK — a URL such as LocalStack's http://localhost:4566, or
    /// `aws` for AWS itself with this machine's AWS credentials — elasticsearch, openSearch and
    /// salesforce actions to the URL they name, kafka to the cluster they name [default: none;
    /// they are recorded in <data dir>/rules-outbox.jsonl]
    #[arg(long, value_name = "URL|aws")]
    pub forward: Option<String>,
    /// How long a "minute" of a job's in-progress and step timeouts lasts, in milliseconds: for
    /// trying timeouts without waiting (AWS's smallest timeout is one minute) [default: 60000]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs_minute_ms: Option<u32>,
    /// Also answer requests that address Thingbox by this host name (the Host header); IP
    /// addresses, localhost and --endpoint-host always work. Others are refused so that a web page
    /// cannot reach Thingbox by rebinding its DNS name to this machine; `*` turns the check off.
    /// Repeat for several
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// Let web pages of this origin (e.g. http://localhost:3000) call the AWS APIs and open
    /// ws://…/mqtt; pages of other origins than the console's are refused. Repeat for several
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Require every AWS API request (and wss://…/mqtt URL) to be SigV4-signed with one of the
    /// access keys in [access.credentials] of thingbox.toml, as AWS does
    #[arg(long)]
    pub verify_signatures: bool,
    /// Serve the AWS APIs unsigned on a --bind address beyond loopback, where anyone on the
    /// network can then use them (without this, such a --bind needs --verify-signatures)
    #[arg(long)]
    pub allow_unsigned: bool,
}

/// A port number, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PortOrOff {
    /// A port (0 = any free port).
    Port(u16),
    /// No listener.
    Off(Off),
}

/// The word `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Off {
    /// off
    Off,
}

impl std::str::FromStr for PortOrOff {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off(Off::Off));
        }
        s.parse().map(Self::Port).map_err(|_| format!("'{s}' is not a port number (0-65535) or 'off'"))
    }
}

/// `thingbox.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<IpAddr>,
    api_port: Option<u16>,
    mqtt_tls_port: Option<u16>,
    mqtt_port: Option<PortOrOff>,
    https_port: Option<PortOrOff>,
    #[serde(default)]
    plain_policies: Vec<String>,
    shadow_history: Option<u32>,
    history_messages: Option<u64>,
    history_mb: Option<u64>,
    trace_per_second: Option<u32>,
    #[serde(default)]
    strict: bool,
    account: Option<String>,
    region: Option<String>,
    endpoint_host: Option<String>,
    worker_threads: Option<usize>,
    #[serde(default)]
    rules: RulesFile,
    #[serde(default)]
    access: AccessFile,
}

/// `[access]` in `thingbox.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessFile {
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    #[serde(default)]
    verify_signatures: bool,
    #[serde(default)]
    allow_unsigned: bool,
    /// Access key id → secret access key.
    #[serde(default)]
    credentials: BTreeMap<String, String>,
}

/// `[rules]` in `thingbox.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    /// Function ARN or name → URL or command.
    #[serde(default)]
    lambda: BTreeMap<String, LambdaSpec>,
    /// `forward = "http://localhost:4566"` or `"aws"`.
    forward: Option<String>,
}

/// A Lambda target in `thingbox.toml`: a URL or command line, or a command as a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LambdaSpec {
    Line(String),
    Argv(Vec<String>),
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub bind: IpAddr,
    pub api_port: u16,
    pub mqtt_tls_port: u16,
    /// `None`: no plain listener.
    pub mqtt_port: Option<u16>,
    /// `None` = off.
    pub https_port: Option<u16>,
    pub plain_policies: Vec<String>,
    pub shadow_history: u32,
    pub history_messages: u64,
    pub history_mb: u64,
    pub trace_per_second: u32,
    pub strict: bool,
    pub account: String,
    pub region: String,
    pub endpoint_host: String,
    pub worker_threads: usize,
    /// Function ARN or name → where it runs.
    pub lambdas: BTreeMap<String, LambdaTarget>,
    /// Where rule actions for AWS services are sent.
    pub forward: Option<ForwardTarget>,
    /// A job timeout "minute", in milliseconds.
    pub jobs_minute_ms: u32,
    /// Who may call the HTTP APIs.
    pub access: thingbox_engine::http::access::AccessConfig,
    /// Unsigned AWS API requests accepted beyond loopback.
    pub allow_unsigned: bool,
}

/// `FUNCTION=TARGET` from `--lambda`.
fn lambda_flag(flag: &str) -> anyhow::Result<(String, LambdaTarget)> {
    let (name, target) = flag
        .split_once('=')
        .filter(|(n, t)| !n.trim().is_empty() && !t.trim().is_empty())
        .with_context(|| {
        format!("--lambda takes FUNCTION=TARGET, e.g. myFunction=http://localhost:9000/ (got '{flag}')")
    })?;
    let target =
        LambdaTarget::parse(target).with_context(|| format!("--lambda {flag}: the target is empty"))?;
    Ok((name.trim().to_owned(), target))
}

fn lambda_file(name: &str, spec: LambdaSpec) -> anyhow::Result<(String, LambdaTarget)> {
    let target = match spec {
        LambdaSpec::Line(l) => LambdaTarget::parse(&l),
        LambdaSpec::Argv(argv) => (!argv.is_empty()).then_some(LambdaTarget::Command(argv)),
    };
    let target =
        target.with_context(|| format!("[rules.lambda] {name} in {CONFIG_FILE}: the target is empty"))?;
    Ok((name.to_owned(), target))
}

/// Flags over `[access]`: the lists add up; keys only from the file (not the command line, where
/// other users of the machine could read them).
fn access_config(
    args: &ServeArgs,
    file: &AccessFile,
) -> anyhow::Result<thingbox_engine::http::access::AccessConfig> {
    let mut allowed_hosts = file.allowed_hosts.clone();
    allowed_hosts.extend(args.allowed_hosts.iter().cloned());
    for h in &allowed_hosts {
        if h != "*" && (h.is_empty() || h.contains(['/', ':', ' '])) {
            anyhow::bail!(
                "--allow-host takes a host name such as thingbox.lan, without scheme or port (got '{h}')"
            );
        }
    }
    let mut allowed_origins = file.allowed_origins.clone();
    allowed_origins.extend(args.allowed_origins.iter().cloned());
    for o in &allowed_origins {
        let ok = o == "*"
            || o.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https")
                    && !rest.trim_end_matches('/').is_empty()
                    && !rest.trim_end_matches('/').contains('/')
            });
        if !ok {
            anyhow::bail!("--allow-origin takes a web origin such as http://localhost:3000 (got '{o}')");
        }
    }
    let credentials = if args.verify_signatures || file.verify_signatures {
        if file.credentials.is_empty() {
            anyhow::bail!(
                "--verify-signatures needs access keys to verify with: add them to {CONFIG_FILE} in the data dir as\n\
                 [access.credentials]\nAKIDEXAMPLE = \"its secret access key\""
            );
        }
        if let Some((k, _)) =
            file.credentials.iter().find(|(k, v)| k.is_empty() || k.contains(['/', ' ']) || v.is_empty())
        {
            anyhow::bail!(
                "[access.credentials] in {CONFIG_FILE}: '{k}' needs a non-empty secret and a key id without '/' or spaces"
            );
        }
        Some(file.credentials.clone())
    } else {
        None
    };
    Ok(thingbox_engine::http::access::AccessConfig { allowed_hosts, allowed_origins, credentials })
}

/// The default number of runtime worker threads: half the cores, rounded up. Thingbox shares its
/// machine with the devices, SDK samples, test suites and browser that talk to it; measured on 2
/// cores with the clients on the same machine (docs/benchmarks.md), one worker moved more MQTT
/// messages and answered API calls with a lower tail latency than one per core, because fewer
/// threads mean fewer cross-core wake-ups and no runtime thread competing with the clients.
pub fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2)).min(MAX_WORKER_THREADS)
}

/// The most worker threads accepted.
const MAX_WORKER_THREADS: usize = 256;

/// The file name of the optional config file in the data dir.
pub const CONFIG_FILE: &str = "thingbox.toml";

/// `dir`, or the platform data dir when none is given.
pub fn data_dir_or_default(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match dir {
        Some(d) => Ok(d),
        None => default_data_dir(),
    }
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    dirs::data_dir()
        .map(|d| d.join("thingbox"))
        .context("cannot find the platform data dir (is HOME set?); pass --data-dir")
}

/// Checks that the data dir can be created and written, with one clear line if not.
fn check_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .and_then(|()| {
            let probe = dir.join(".write-test");
            std::fs::write(&probe, b"ok")?;
            std::fs::remove_file(&probe)
        })
        .map_err(|e| {
            anyhow::anyhow!(
                "the data dir {} is not writable ({e}); fix its permissions or pass --data-dir",
                dir.display()
            )
        })
}

fn read_file_config(dir: &Path) -> anyhow::Result<FileConfig> {
    let path = dir.join(CONFIG_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("{} is not a valid Thingbox config", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

impl Settings {
    /// Flags over the data dir's `thingbox.toml` over defaults, validated.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let data_dir = data_dir_or_default(args.data_dir.clone())?;
        check_data_dir(&data_dir)?;
        let file = read_file_config(&data_dir)?;
        let access = access_config(&args, &file.access)?;
        let settings = Self {
            bind: args.bind.or(file.bind).unwrap_or(IpAddr::from([127, 0, 0, 1])),
            api_port: args.api_port.or(file.api_port).unwrap_or(4580),
            mqtt_tls_port: args.mqtt_tls_port.or(file.mqtt_tls_port).unwrap_or(8883),
            mqtt_port: match args.mqtt_port.or(file.mqtt_port) {
                None => Some(1883),
                Some(PortOrOff::Port(p)) => Some(p),
                Some(PortOrOff::Off(_)) => None,
            },
            https_port: match args.https_port.or(file.https_port) {
                None => Some(443),
                Some(PortOrOff::Port(p)) => Some(p),
                Some(PortOrOff::Off(_)) => None,
            },
            plain_policies: if args.plain_policies.is_empty() {
                file.plain_policies
            } else {
                args.plain_policies
            },
            shadow_history: args.shadow_history.or(file.shadow_history).unwrap_or(1000).max(1),
            history_messages: args.history_messages.or(file.history_messages).unwrap_or(100_000),
            history_mb: args.history_mb.or(file.history_mb).unwrap_or(256),
            trace_per_second: args.trace_per_second.or(file.trace_per_second).unwrap_or(100),
            strict: args.strict || file.strict,
            account: args.account.or(file.account).unwrap_or_else(|| "000000000000".into()),
            region: args.region.or(file.region).unwrap_or_else(|| "us-east-1".into()),
            endpoint_host: args.endpoint_host.or(file.endpoint_host).unwrap_or_else(|| "localhost".into()),
            worker_threads: args
                .worker_threads
                .or(file.worker_threads)
                .unwrap_or_else(default_worker_threads),
            forward: match args.forward.clone().or(file.rules.forward.clone()) {
                None => None,
                Some(f) => Some(ForwardTarget::parse(&f).with_context(|| {
                    format!("--forward (forward in [rules] of thingbox.toml) takes an http(s):// URL or `aws`, not '{f}'")
                })?),
            },
            jobs_minute_ms: args.jobs_minute_ms.unwrap_or(60_000),
            access,
            allow_unsigned: args.allow_unsigned || file.access.allow_unsigned,
            lambdas: {
                // The file's mappings, then the flags' (a flag wins for the same function).
                let mut map = BTreeMap::new();
                for (name, spec) in file.rules.lambda {
                    let (n, t) = lambda_file(&name, spec)?;
                    map.insert(n, t);
                }
                for flag in &args.lambdas {
                    let (n, t) = lambda_flag(flag)?;
                    map.insert(n, t);
                }
                map
            },
            data_dir,
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.account.len() != 12 || !self.account.bytes().all(|b| b.is_ascii_digit()) {
            anyhow::bail!("--account must be 12 digits, like 000000000000 (got '{}')", self.account);
        }
        let region_ok = !self.region.is_empty()
            && self.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            anyhow::bail!("--region must look like us-east-1 (got '{}')", self.region);
        }
        if self.endpoint_host.is_empty()
            || self.endpoint_host.contains(['/', ' ', ':']) && self.endpoint_host.parse::<IpAddr>().is_err()
        {
            anyhow::bail!("--endpoint-host must be a host name or IP address (got '{}')", self.endpoint_host);
        }
        if self.history_mb == 0 && self.history_messages > 0 || self.history_mb > 1024 * 1024 {
            anyhow::bail!(
                "--history-mb must be between 1 and 1048576 (got {}); turn the history off with --history-messages 0",
                self.history_mb
            );
        }
        if self.trace_per_second > 100_000 {
            anyhow::bail!(
                "--trace-per-second (trace_per_second in thingbox.toml) must be at most 100000 (got {})",
                self.trace_per_second
            );
        }
        if !(1..=MAX_WORKER_THREADS).contains(&self.worker_threads) {
            anyhow::bail!(
                "--worker-threads (worker_threads in thingbox.toml) must be between 1 and {MAX_WORKER_THREADS} (got {})",
                self.worker_threads
            );
        }
        if !self.bind.is_loopback() && self.access.credentials.is_none() {
            if !self.allow_unsigned {
                anyhow::bail!(
                    "--bind {} listens beyond this machine, where anyone who can reach it could use the AWS APIs \
                     (your registry, certificates and keys): add --verify-signatures with access keys in \
                     [access.credentials] of thingbox.toml, or --allow-unsigned to accept that",
                    self.bind
                );
            }
            tracing::warn!(bind = %self.bind, "listening beyond this machine with unsigned AWS APIs (--allow-unsigned): anyone who can reach it can use them");
        }
        Ok(())
    }

    /// The async runtime the engine runs on, with `worker_threads` workers.
    pub fn runtime(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .enable_all()
            .build()
            .context("cannot start the async runtime")
    }

    /// The engine's part of the settings.
    pub fn engine_config(&self) -> EngineConfig {
        let mut config = EngineConfig {
            account: self.account.clone(),
            region: self.region.clone(),
            bind: self.bind,
            endpoint_host: self.endpoint_host.clone(),
            ..EngineConfig::new(&self.data_dir)
        };
        config.gateway.plain_policies = self.plain_policies.clone();
        config.shadow_history = i64::from(self.shadow_history);
        config.history = thingbox_engine::viewer::history::HistoryConfig {
            max_messages: self.history_messages,
            max_bytes: self.history_mb * 1024 * 1024,
        };
        config.broker.trace.per_second = self.trace_per_second;
        config.broker.strict = self.strict;
        config.console_assets = thingbox_console_assets::ASSETS;
        config.rules.lambdas = self.lambdas.clone();
        config.rules.forward = self.forward.clone();
        config.jobs.minute_ms = i64::from(self.jobs_minute_ms);
        config.access = self.access.clone();
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> ServeArgs {
        ServeArgs {
            data_dir: Some(dir.to_owned()),
            bind: None,
            api_port: None,
            mqtt_tls_port: None,
            mqtt_port: None,
            https_port: None,
            plain_policies: Vec::new(),
            shadow_history: None,
            history_messages: None,
            history_mb: None,
            trace_per_second: None,
            strict: false,
            account: None,
            region: None,
            endpoint_host: None,
            worker_threads: None,
            lambdas: Vec::new(),
            forward: None,
            jobs_minute_ms: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            verify_signatures: false,
            allow_unsigned: false,
        }
    }

    #[test]
    fn access_settings() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::resolve(args(dir.path())).unwrap();
        assert!(s.access.credentials.is_none() && s.access.allowed_hosts.is_empty());
        // Beyond loopback: refused unless signatures are verified or unsigned access is accepted.
        let open = ServeArgs { bind: Some(IpAddr::from([0, 0, 0, 0])), ..args(dir.path()) };
        let e = Settings::resolve(open.clone()).unwrap_err();
        assert!(
            e.to_string().contains("--verify-signatures") && e.to_string().contains("--allow-unsigned"),
            "{e}"
        );
        assert!(Settings::resolve(ServeArgs { allow_unsigned: true, ..open.clone() }).is_ok());
        let e = Settings::resolve(ServeArgs { verify_signatures: true, ..open.clone() }).unwrap_err();
        assert!(e.to_string().contains("[access.credentials]"), "{e}");
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[access]\nallowed_hosts = [\"thingbox.lan\"]\n[access.credentials]\nAKIDTEAM = \"s3cret\"\n",
        )
        .unwrap();
        let s = Settings::resolve(ServeArgs {
            verify_signatures: true,
            allowed_hosts: vec!["other.lan".into()],
            allowed_origins: vec!["http://localhost:3000".into()],
            ..open
        })
        .unwrap();
        assert_eq!(s.access.allowed_hosts, ["thingbox.lan", "other.lan"]);
        assert_eq!(s.access.credentials.as_ref().unwrap()["AKIDTEAM"], "s3cret");
        assert_eq!(s.engine_config().access.allowed_origins, ["http://localhost:3000"]);
        for (host, origin) in [
            ("http://x", "http://ok"),
            ("a:80", "http://ok"),
            ("ok", "localhost:3000"),
            ("ok", "ftp://x"),
            ("ok", "http://x/path"),
        ] {
            let e = Settings::resolve(ServeArgs {
                allowed_hosts: vec![host.into()],
                allowed_origins: vec![origin.into()],
                ..args(dir.path())
            })
            .unwrap_err();
            assert!(e.to_string().contains("--allow-"), "{host} {origin}: {e}");
        }
    }

    #[test]
    fn lambda_mappings_from_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[rules.lambda]\nf1 = \"http://localhost:9000/f1\"\nf2 = [\"python3\", \"h.py\"]\nf3 = \"./run.sh --fast\"\n",
        )
        .unwrap();
        let s = Settings::resolve(ServeArgs { lambdas: vec!["f3=http://x/".into()], ..args(dir.path()) })
            .unwrap();
        assert_eq!(s.lambdas["f1"], LambdaTarget::Url("http://localhost:9000/f1".into()));
        assert_eq!(s.lambdas["f2"], LambdaTarget::Command(vec!["python3".into(), "h.py".into()]));
        assert_eq!(s.lambdas["f3"], LambdaTarget::Url("http://x/".into()), "the flag wins");
        assert_eq!(s.forward, None);
        let s = Settings::resolve(ServeArgs { forward: Some("aws".into()), ..args(dir.path()) }).unwrap();
        assert_eq!(s.forward, Some(ForwardTarget::Aws));
        let e = Settings::resolve(ServeArgs { forward: Some("localstack".into()), ..args(dir.path()) })
            .unwrap_err();
        assert!(e.to_string().contains("--forward"), "{e}");
        for bad in ["noequals", "=http://x", "f="] {
            let e =
                Settings::resolve(ServeArgs { lambdas: vec![bad.into()], ..args(dir.path()) }).unwrap_err();
            assert!(e.to_string().contains("--lambda"), "{e}");
        }
    }

    #[test]
    fn flags_win_over_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::resolve(args(dir.path())).unwrap();
        assert_eq!(
            (s.api_port, s.mqtt_tls_port, s.mqtt_port, s.https_port),
            (4580, 8883, Some(1883), Some(443))
        );
        let off =
            Settings::resolve(ServeArgs { mqtt_port: Some("off".parse().unwrap()), ..args(dir.path()) })
                .unwrap();
        assert_eq!(off.mqtt_port, None);
        assert_eq!(s.bind, IpAddr::from([127, 0, 0, 1]));
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "api_port = 5000\nregion = \"eu-west-1\"\nhttps_port = \"off\"\n",
        )
        .unwrap();
        let s = Settings::resolve(args(dir.path())).unwrap();
        assert_eq!((s.api_port, s.region.as_str(), s.https_port), (5000, "eu-west-1", None));
        let s = Settings::resolve(ServeArgs { api_port: Some(0), ..args(dir.path()) }).unwrap();
        assert_eq!(s.api_port, 0);
    }

    #[test]
    fn worker_threads_default_to_half_the_cores_and_can_be_set() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::resolve(args(dir.path())).unwrap();
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(s.worker_threads, cores.div_ceil(2));
        assert!(s.worker_threads >= 1);
        std::fs::write(dir.path().join(CONFIG_FILE), "worker_threads = 3\n").unwrap();
        assert_eq!(Settings::resolve(args(dir.path())).unwrap().worker_threads, 3);
        let s = Settings::resolve(ServeArgs { worker_threads: Some(2), ..args(dir.path()) }).unwrap();
        assert_eq!(s.worker_threads, 2, "the flag wins over the file");
        let rt = s.runtime().unwrap();
        assert_eq!(rt.metrics().num_workers(), 2);
        for bad in [0, 100_000] {
            let e =
                Settings::resolve(ServeArgs { worker_threads: Some(bad), ..args(dir.path()) }).unwrap_err();
            assert!(
                e.to_string().contains("worker_threads in thingbox.toml) must be between 1 and 256"),
                "{e}"
            );
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Settings::resolve(ServeArgs { account: Some("12".into()), ..args(dir.path()) }).unwrap_err();
        assert!(e.to_string().contains("12 digits"));
        std::fs::write(dir.path().join(CONFIG_FILE), "api_prot = 1\n").unwrap();
        let e = Settings::resolve(args(dir.path())).unwrap_err();
        assert!(format!("{e:#}").contains("api_prot"), "{e:#}");
    }
}
