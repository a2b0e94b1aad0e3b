//! `thingbox`, the headless server: parses the command line and `thingbox.toml`, binds the
//! listeners, starts the engine, prints the banner, and stops cleanly on Ctrl-C or SIGTERM.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use thingbox_server::config::{self, ServeArgs, Settings};
use thingbox_server::{simulate, start, tools, trust, wait_for_signal};

/// AWS IoT Core on the desk: device registry, local CA and the AWS APIs, on your machine.
#[derive(Debug, Parser)]
#[command(name = "thingbox", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the headless server: the AWS IoT APIs on --api-port and MQTT on --mqtt-tls-port/--mqtt-port.
    Serve(ServeArgs),
    /// Add the local root CA to the system trust store (needs root), so programs that only trust
    /// the system store (e.g. the AWS IoT Device SDK samples) connect unchanged.
    Trust {
        /// The data dir whose root CA to trust [default: the platform data dir]
        #[arg(long, env = "THINGBOX_DATA_DIR", value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// Remove it from the trust store instead.
        #[arg(long)]
        uninstall: bool,
    },
    /// Write what this Thingbox holds as infrastructure code for AWS: a CloudFormation template or a
    /// Terraform configuration, and REPORT.md with what to do by hand (never private keys).
    Export {
        /// The data dir to export [default: the platform data dir]
        #[arg(long, env = "THINGBOX_DATA_DIR", value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// cloudformation or terraform
        #[arg(long, value_parser = ["cloudformation", "terraform"], default_value = "cloudformation")]
        format: String,
        /// Where to write the files [default: ./thingbox-<format>]
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Print what this Thingbox's traffic would be billed as on AWS IoT Core — messages, connection
    /// minutes, registry and shadow operations, rules, actions, job executions — and its cost.
    Usage {
        /// The data dir [default: the platform data dir]
        #[arg(long, env = "THINGBOX_DATA_DIR", value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// How many days back, today included
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
    },
    /// Make a CloudFormation template's AWS IoT resources (things, types, groups, policies, topic
    /// rules, job and provisioning templates) in this Thingbox — e.g. one `thingbox export` wrote.
    Import {
        /// The template (JSON)
        file: std::path::PathBuf,
        /// The data dir to import into [default: the platform data dir]
        #[arg(long, env = "THINGBOX_DATA_DIR", value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
    },
    /// Run a scenario's simulated devices (YAML or JSON; see docs/simulator.md) against the
    /// running Thingbox of the data dir, or, with --endpoint, --cert, --key and --ca, against any
    /// AWS IoT endpoint. Ctrl-C stops them.
    Simulate {
        /// The scenario file
        file: std::path::PathBuf,
        /// The data dir of the Thingbox to simulate against [default: the platform data dir]
        #[arg(long, env = "THINGBOX_DATA_DIR", value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// Another MQTT endpoint, host[:port] (8883 when absent), e.g. your AWS IoT data endpoint
        #[arg(long, value_name = "HOST[:PORT]")]
        endpoint: Option<String>,
        /// With --endpoint: the device certificate (PEM) every simulated device presents
        #[arg(long, value_name = "FILE", requires = "endpoint")]
        cert: Option<std::path::PathBuf>,
        /// With --endpoint: its private key (PEM)
        #[arg(long, value_name = "FILE", requires = "endpoint")]
        key: Option<std::path::PathBuf>,
        /// With --endpoint: the CA of the endpoint's certificate (AmazonRootCA1.pem for AWS)
        #[arg(long, value_name = "FILE", requires = "endpoint")]
        ca: Option<std::path::PathBuf>,
    },
}

/// Runs a command's future on a small runtime of its own.
fn one_shot(f: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?.block_on(f)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    thingbox_server::init_tracing();
    let result = match cli.command {
        Command::Serve(args) => {
            Settings::resolve(args).and_then(|settings| settings.runtime()?.block_on(serve(settings)))
        }
        Command::Trust { data_dir, uninstall } => {
            config::data_dir_or_default(data_dir).and_then(|d| trust::trust(&d, uninstall))
        }
        Command::Export { data_dir, format, out } => one_shot(tools::export(data_dir, &format, out)),
        Command::Import { file, data_dir } => one_shot(tools::import(data_dir, &file)),
        Command::Usage { data_dir, days } => one_shot(tools::usage(data_dir, days)),
        Command::Simulate { file, data_dir, endpoint, cert, key, ca } => {
            let remote = simulate::Remote { endpoint, cert, key, ca };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(simulate::simulate(data_dir, &file, remote)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let (engine, stop_tx) = start(&settings, false).await?;
    let ep = engine.endpoints();
    let dir = settings.data_dir.canonicalize().unwrap_or_else(|_| settings.data_dir.clone());
    println!("Thingbox is running. Data dir: {}", dir.display());
    if let Some(console) = &ep.console {
        if thingbox_console_assets::built() {
            println!("  Console    {console}");
        } else {
            println!("  Console    not built into this binary (scripts/build-ui, then rebuild)");
        }
    }
    println!("  AWS API    {}    try: aws --endpoint-url {} iot list-things", ep.api, ep.api);
    println!("  Root CA    {}", ep.root_ca);
    println!("  Account    {} ({})", ep.account, ep.region);
    if let Some(tls) = &ep.mqtt_tls {
        println!(
            "  MQTT+TLS   {tls}    (device certificates: aws iot create-keys-and-certificate + a policy)"
        );
    }
    match (&ep.https, &ep.https_unavailable) {
        (Some(https), _) => {
            let port = https.rsplit(':').next().unwrap_or("443");
            println!(
                "  TLS {port:<6} {https}    (as AWS's 443: MQTT with ALPN x-amzn-mqtt-ca, https:// API, wss://…/mqtt)"
            );
        }
        (None, Some(why)) => println!("  TLS 443    not served: {why}"),
        (None, None) => println!("  TLS 443    off (--https-port off)"),
    }
    match &ep.mqtt {
        Some(plain) => {
            let policy = if settings.plain_policies.is_empty() {
                thingbox_engine::policy::PLAIN_ALLOW_ALL.to_owned()
            } else {
                settings.plain_policies.join(", ")
            };
            println!("  MQTT       {plain}    (plain, no TLS; policy: {policy})");
        }
        None => println!("  MQTT       plain listener off (--mqtt-port off)"),
    }
    let lambdas = settings.lambdas.len();
    let forward = match &settings.forward {
        Some(thingbox_engine::rules::forward::ForwardTarget::Endpoint(url)) => format!("sent to {url}"),
        Some(thingbox_engine::rules::forward::ForwardTarget::Aws) => "sent to AWS".into(),
        None => "recorded in rules-outbox.jsonl (--forward URL|aws sends them)".into(),
    };
    println!(
        "  Rules      {lambdas} Lambda mapping{} (--lambda); actions for other AWS services {forward}",
        if lambdas == 1 { "" } else { "s" }
    );
    println!("  Endpoints  {}", dir.join(thingbox_engine::ENDPOINTS_FILE).display());
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    println!(
        "  Threads    {workers} runtime worker{} (--worker-threads)",
        if workers == 1 { "" } else { "s" }
    );
    println!("Press Ctrl-C to stop.");

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
    tokio::select! {
        r = engine.wait() => r.map_err(|e| anyhow::anyhow!("{e}"))?,
        () = wait_for_signal() => anyhow::bail!("interrupted again during shutdown; stopped without waiting"),
    }
    tracing::info!("stopped");
    Ok(())
}
