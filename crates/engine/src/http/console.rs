//! The console's own API under `/console/api/` (JSON, not an AWS API; wire types in
//! `thingbox_api::console`): overview, live connections, device bundles, explained authorization,
//! certificate details, and the live event stream (WebSocket); the rules engine's view is in
//! `console_rules`, jobs' in `console_jobs`, shadows' in `console_shadows`, provisioning claims in
//! `console_provisioning`.
//!
//! Everything here requires the data dir's console token (header `x-thingbox-token`,
//! `Authorization: Bearer …`, or `?token=` for the WebSocket and downloads). The console reads and
//! changes the registry through the AWS API like any AWS client; only what AWS has no API for is
//! here.

use std::io::Write as _;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use thingbox_api::console::{
    BundleRequest, Connection, ConsoleEvent, ExplainRequest, Explanation, Overview, STARTER_POLICY, Stats,
    TOKEN_HEADER,
};
use thingbox_model::arn::ResourceType;
use thingbox_model::policy::Action;
use thingbox_model::registry::{
    CertMode, CertStatus, Change, Registry, RegistryError, Target, ThingPrincipalType,
};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::error::{ApiError, AwsErrorType, aws_message};
use super::extract::{AwsJson, Ctx, Params};
use crate::Error;
use crate::broker::Principal;
use crate::certs;

/// The console routes, behind the token check.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/console/api/overview", get(overview))
        .route("/console/api/connections", get(connections))
        .route("/console/api/things", get(search_things))
        .route("/console/api/events", get(events))
        .route("/console/api/explain", post(explain))
        .route("/console/api/things/{thing}/bundle", post(bundle))
        .route("/console/api/certificates/{id}", get(certificate))
        .merge(super::console_viewer::routes())
        .merge(super::console_rules::routes())
        .merge(super::console_jobs::routes())
        .merge(super::console_shadows::routes())
        .merge(super::console_provisioning::routes())
        .merge(super::console_trace::routes())
        .merge(super::console_export::routes())
        .merge(super::console_usage::routes())
        .merge(super::console_quotas::routes())
        .merge(super::console_sim::routes())
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

/// Compares two tokens in time independent of where they differ.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The console token a request carries: header, bearer token or `?token=`.
pub(super) fn token_of(req: &Request) -> Option<String> {
    let h = req.headers();
    if let Some(t) = h.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(t.to_owned());
    }
    if let Some(t) =
        h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(t.to_owned());
    }
    req.uri().query()?.split('&').find_map(|kv| kv.strip_prefix("token=")).map(str::to_owned)
}

async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match token_of(&req) {
        Some(t) if same(&t, &s.console_token) => next.run(req).await,
        given => aws_message(
            AwsErrorType::Unauthorized,
            if given.is_some() {
                "The console token is wrong. Open the console URL Thingbox printed at start (it is also \
                 \"console\" in endpoints.json in the data dir)."
            } else {
                "The console API needs the console token. Open the console URL Thingbox printed at \
                 start (it is also \"console\" in endpoints.json in the data dir)."
            }
            .to_owned(),
        ),
    }
}

fn stats(s: &AppState, previous: Option<(&Stats, std::time::Instant)>) -> Stats {
    let published = s.broker.stats.published.load(std::sync::atomic::Ordering::Relaxed);
    let published_per_sec = match previous {
        Some((p, at)) => {
            let secs = at.elapsed().as_secs_f64();
            if secs > 0.0 { published.saturating_sub(p.published) as f64 / secs } else { 0.0 }
        }
        None => 0.0,
    };
    Stats {
        timestamp: crate::broker::now_ms(),
        published,
        published_per_sec,
        connections: s.broker.connected_count(),
        consoles: s.broker.console.listeners(),
    }
}

/// `GET /console/api/overview`.
async fn overview(State(s): State<AppState>) -> Result<Json<Overview>, ApiError> {
    let mut o = s.registry.read(|r| {
        Ok(Overview {
            things: r.thing_count(),
            thing_types: r.thing_type_count(),
            thing_groups: r.thing_group_count(),
            certificates: r.certificate_count(),
            policies: r.policy_count(),
            ..Overview::default()
        })
    })?;
    o.endpoints = s.endpoints.clone();
    o.version = env!("CARGO_PKG_VERSION").to_owned();
    o.data_dir = s.data_dir.display().to_string();
    o.stats = stats(&s, None);
    o.recent_events = s.broker.recent_events();
    Ok(Json(o))
}

/// The things a connection belongs to: the thing its client id names, and the things its
/// certificate is attached to.
fn things_of_connection(r: &Registry, client_id: &str, principal: Option<&Principal>) -> Vec<String> {
    let mut things: Vec<String> = Vec::new();
    if let Ok(t) = r.thing(client_id) {
        things.push(t.name.clone());
    }
    if let Some(Principal::Certificate(id)) = principal {
        for t in r.things_of_certificate(id) {
            if !things.iter().any(|x| x == t) {
                things.push(t.to_owned());
            }
        }
    }
    things
}

/// `GET /console/api/connections?thing=`: live connections, optionally only a thing's.
async fn connections(State(s): State<AppState>, q: Params) -> Result<Json<Value>, ApiError> {
    let live = s.broker.connections();
    let only = q.str("thing");
    let list: Vec<Connection> = s.registry.read(|r| {
        Ok(live
            .into_iter()
            .map(|(client_id, principal)| Connection {
                things: things_of_connection(r, &client_id, principal.as_ref()),
                principal: principal.map(|p| p.identifier()).unwrap_or_default(),
                client_id,
            })
            .filter(|c| only.is_none_or(|t| c.things.iter().any(|x| x == t)))
            .collect())
    })?;
    Ok(Json(json!({ "connections": list })))
}

/// `GET /console/api/things?q=&offset=&limit=`: things whose name contains `q`, a page at a time
/// with the total, each with whether a connection belongs to it right now.
async fn search_things(State(s): State<AppState>, q: Params) -> Result<Json<Value>, ApiError> {
    let offset = q.int("offset", 0, i64::from(u32::MAX))?.unwrap_or(0) as usize;
    let limit = q.int("limit", 1, 500)?.unwrap_or(50) as usize;
    let text = q.str("q").unwrap_or("");
    let live = s.broker.connections();
    let out = s.registry.read(|r| {
        let online: std::collections::HashSet<String> =
            live.iter().flat_map(|(c, p)| things_of_connection(r, c, p.as_ref())).collect();
        let (total, page) = r.search_things(text, offset, limit);
        let things: Vec<Value> = page
            .iter()
            .map(|t| {
                json!({
                    "thingName": t.name, "thingTypeName": t.type_name, "attributes": t.attributes,
                    "version": t.version, "connected": online.contains(&t.name),
                })
            })
            .collect();
        Ok(json!({ "total": total, "offset": offset, "things": things }))
    })?;
    Ok(Json(out))
}

/// `GET /console/api/events?token=`: the live stream, one JSON [`ConsoleEvent`] per text frame, and
/// the router's counters once a second. Ends when the engine stops.
async fn events(State(s): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| stream_events(s, socket))
}

async fn stream_events(s: AppState, mut socket: WebSocket) {
    let mut rx = s.broker.console.subscribe();
    let mut stop = s.gateway.shutdown.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = (stats(&s, None), std::time::Instant::now());
    loop {
        let mut rules_due = false;
        let event = tokio::select! {
            e = rx.recv() => match e {
                Ok(e) => (*e).clone(),
                Err(RecvError::Lagged(skipped)) => ConsoleEvent::Lagged { skipped },
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => {
                let now = stats(&s, Some((&last.0, last.1)));
                last = (now.clone(), std::time::Instant::now());
                rules_due = true;
                ConsoleEvent::Stats(now)
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok(text) = serde_json::to_string(&event) else { continue };
        if socket.send(WsMessage::Text(text.into())).await.is_err() {
            break;
        }
        // Once a second, with the router's counters: every rule's (while there are rules).
        if rules_due
            && let Some((rules, engine)) = s.rules.stats()
            && let Ok(text) = serde_json::to_string(&ConsoleEvent::Rules { rules, engine })
            && socket.send(WsMessage::Text(text.into())).await.is_err()
        {
            break;
        }
    }
    let _ = socket.send(WsMessage::Close(None)).await;
}

fn action_named(name: &str) -> Result<Action, Error> {
    Ok(match name {
        "iot:Connect" | "CONNECT" => Action::Connect,
        "iot:Publish" | "PUBLISH" => Action::Publish,
        "iot:RetainPublish" => Action::RetainPublish,
        "iot:Subscribe" | "SUBSCRIBE" => Action::Subscribe,
        "iot:Receive" | "RECEIVE" => Action::Receive,
        other => {
            return Err(Error::InvalidRequest(format!(
                "action '{other}' is not one of iot:Connect, iot:Publish, iot:RetainPublish, iot:Subscribe, \
                 iot:Receive"
            )));
        }
    })
}

/// `POST /console/api/explain`: the gateway's decision for a caller and an action, with the
/// statements that decided it and how each policy variable resolved.
async fn explain(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<ExplainRequest>,
) -> Result<Json<Explanation>, ApiError> {
    let action = action_named(&req.action)?;
    if req.client_id.is_empty() {
        return Err(Error::InvalidRequest("clientId must not be empty".into()).into());
    }
    let cert = req.certificate_id.as_deref().filter(|c| !c.is_empty()).map(str::to_ascii_lowercase);
    if let Some(c) = &cert {
        s.registry.read(|r| r.certificate(c).map(drop))?;
    }
    let ip: std::net::IpAddr = match req.source_ip.as_deref().filter(|i| !i.is_empty()) {
        Some(i) => {
            i.parse().map_err(|_| Error::InvalidRequest(format!("sourceIp '{i}' is not an IP address")))?
        }
        None => std::net::IpAddr::from([127, 0, 0, 1]),
    };
    let draft = match req.draft {
        Some(d) => {
            let p = thingbox_model::policy::parse(&d.document)
                .map_err(|e| RegistryError::MalformedPolicy(e.0))?;
            Some((d.policy_name, p))
        }
        None => None,
    };
    let name = if action == Action::Connect { req.client_id.clone() } else { req.topic.clone() };
    if name.is_empty() {
        return Err(Error::InvalidRequest("topic must not be empty for this action".into()).into());
    }
    let (d, resource, policies) =
        s.authorizer.explain_for(cert.as_deref(), &req.client_id, ip, action, &name, draft);
    Ok(Json(crate::policy::explanation(d, resource, policies)))
}

/// The starter policy: a device whose client id is its thing name may connect, and use its own
/// topics (`things/<thing>/…`) and its shadows.
fn starter_policy() -> String {
    let v = "${iot:Connection.Thing.ThingName}";
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ConnectAsThing", "Effect": "Allow", "Action": "iot:Connect",
             "Resource": format!("arn:aws:iot:*:*:client/{v}")},
            {"Sid": "OwnTopics", "Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:RetainPublish"],
             "Resource": [format!("arn:aws:iot:*:*:topic/things/{v}/*"),
                          format!("arn:aws:iot:*:*:topic/$aws/things/{v}/*")]},
            {"Sid": "OwnFilters", "Effect": "Allow", "Action": "iot:Subscribe",
             "Resource": [format!("arn:aws:iot:*:*:topicfilter/things/{v}/*"),
                          format!("arn:aws:iot:*:*:topicfilter/$aws/things/{v}/*")]}
        ]
    })
    .to_string()
}

/// `POST /console/api/things/{thing}/bundle`: a new ACTIVE certificate (and key) attached to the
/// thing (and to a policy), answered as a zip with everything a device needs. The private key
/// exists only in that answer, as with CreateKeysAndCertificate.
async fn bundle(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(thing): Path<String>,
    AwsJson(req): AwsJson<BundleRequest>,
) -> Result<Response, ApiError> {
    // Check everything that can be checked before making anything.
    s.registry.read(|r| {
        r.thing(&thing)?;
        if let Some(p) = &req.policy_name {
            r.policy(p)?;
        }
        Ok(())
    })?;
    let (issued, parsed) = super::iot_certs::issue_with_new_key(&s).await?;
    let now = s.now();
    let scope = ctx.scope.clone();
    let starter = starter_policy();
    let outcome = s
        .registry
        .write(|r| {
            let (cert, mut changes) =
                r.add_certificate(&scope, parsed.facts, CertStatus::Active, None, CertMode::Default, now)?;
            // Each step below is applied as it succeeds; should one fail, the steps before it are
            // still committed (memory and disk must agree) and the error is reported.
            let mut attach = |changes: &mut Vec<Change>| -> Result<(), RegistryError> {
                let arn = scope.arn(ResourceType::Cert, &cert.facts.id);
                changes.append(&mut r.attach_thing_principal(
                    &thing,
                    &arn,
                    ThingPrincipalType::NonExclusiveThing,
                )?);
                let target = Target::Cert(cert.facts.id.clone());
                if req.starter_policy {
                    if r.policy(STARTER_POLICY).is_err() {
                        changes.append(&mut r.create_policy(&scope, STARTER_POLICY, &starter, &[], now)?.1);
                    }
                    changes.append(&mut r.attach_policy(STARTER_POLICY, &target)?);
                }
                if let Some(p) = &req.policy_name {
                    changes.append(&mut r.attach_policy(p, &target)?);
                }
                Ok(())
            };
            let done = attach(&mut changes);
            Ok((done.map(|()| cert), changes))
        })
        .await?;
    let cert = outcome.map_err(Error::from)?;
    let endpoints = s.endpoints.clone();
    let files = device_files(&thing, &cert.facts.pem, &issued.private_key_pem, s.ca.root_pem(), &endpoints);
    zip_download(&format!("{thing}-device-bundle"), &thing, &files, Some(&cert.facts.id))
}

/// A zip download named `<name>.zip` holding `files` (name, text, unix mode) in the folder `dir`,
/// with the id of the certificate it carries in `x-thingbox-certificate-id`: the console's device
/// and claim bundles.
pub(super) fn zip_download(
    name: &str,
    dir: &str,
    files: &[(&str, impl AsRef<str>, u32)],
    certificate_id: Option<&str>,
) -> Result<Response, ApiError> {
    let zipped = (|| -> zip::result::ZipResult<Vec<u8>> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (file, text, mode) in files {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(*mode);
            w.start_file(format!("{dir}/{file}"), opts)?;
            w.write_all(text.as_ref().as_bytes())?;
        }
        Ok(w.finish()?.into_inner())
    })()
    .map_err(|e| Error::InvalidRequest(format!("building the bundle failed: {e}")))?;
    let mut res = Response::new(Body::from(zipped));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.zip\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(v) = certificate_id.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("x-thingbox-certificate-id", v);
    }
    Ok(res)
}

fn host_port(addr: &str) -> (&str, &str) {
    addr.rsplit_once(':').unwrap_or((addr, "8883"))
}

/// What a device bundle holds: certificate, key, root CA, endpoints and runnable connect snippets.
fn device_files(
    thing: &str,
    cert_pem: &str,
    key_pem: &str,
    root_pem: &str,
    endpoints: &thingbox_api::Endpoints,
) -> Vec<(&'static str, String, u32)> {
    let tls = endpoints.mqtt_tls.clone().unwrap_or_else(|| "localhost:8883".into());
    let (_, port) = host_port(&tls);
    // The server certificate names localhost; devices connect by that name.
    let host = "localhost";
    let mut public = endpoints.clone();
    public.console = None;
    vec![
        ("device.pem.crt", cert_pem.to_owned(), 0o644),
        ("private.pem.key", key_pem.to_owned(), 0o600),
        ("root-CA.crt", root_pem.to_owned(), 0o644),
        ("endpoints.json", serde_json::to_string_pretty(&public).unwrap_or_default(), 0o644),
        ("README.md", readme(thing, host, port), 0o644),
        ("mosquitto.sh", mosquitto(thing, host, port), 0o755),
        ("connect.py", python(thing, host, port), 0o755),
        ("connect.js", javascript(thing, host, port), 0o644),
    ]
}

fn readme(thing: &str, host: &str, port: &str) -> String {
    format!(
        "# Device bundle for `{thing}`\n\n\
         Made by Thingbox. The private key exists only in this bundle: keep it safe.\n\n\
         | file | what |\n|---|---|\n\
         | device.pem.crt | the device certificate (ACTIVE, attached to thing `{thing}`) |\n\
         | private.pem.key | its private key |\n\
         | root-CA.crt | Thingbox's root CA: the device trusts the broker through it |\n\
         | endpoints.json | where Thingbox serves (MQTT over mutual TLS: `{host}:{port}`) |\n\n\
         Connect with the client id `{thing}` (the starter policy allows exactly that) and use the \
         topics under `things/{thing}/` and the thing's shadow topics.\n\n\
         * `./mosquitto.sh` — subscribe and publish with mosquitto_sub / mosquitto_pub\n\
         * `python3 connect.py` — the AWS IoT Device SDK v2 for Python (`pip install awsiotsdk`)\n\
         * `node connect.js` — the AWS IoT Device SDK v2 for JavaScript (`npm install aws-iot-device-sdk-v2`)\n"
    )
}

fn mosquitto(thing: &str, host: &str, port: &str) -> String {
    format!(
        "#!/bin/sh\n# Subscribes to things/{thing}/#, publishes one message, and shows it arriving.\n\
         cd \"$(dirname \"$0\")\"\n\
         TLS=\"--cafile root-CA.crt --cert device.pem.crt --key private.pem.key -h {host} -p {port}\"\n\
         mosquitto_sub $TLS -i {thing} -t 'things/{thing}/#' -v -C 1 &\n\
         sleep 1\n\
         mosquitto_pub $TLS -i {thing}-pub -t 'things/{thing}/hello' -m '{{\"hello\": \"from mosquitto\"}}' -q 1 \
         || echo 'publish refused: the starter policy allows one client id per thing ({thing}); attach a policy \
         that allows {thing}-pub too, or publish from the subscriber'\n\
         wait\n"
    )
}

fn python(thing: &str, host: &str, port: &str) -> String {
    format!(
        r#"#!/usr/bin/env python3
"""Connects as thing '{thing}' with the AWS IoT Device SDK v2 (pip install awsiotsdk), subscribes to
things/{thing}/#, publishes a message to it, prints what arrives, and disconnects."""
import json, os, sys, threading
from awscrt import mqtt
from awsiot import mqtt_connection_builder

here = os.path.dirname(os.path.abspath(__file__))
path = lambda name: os.path.join(here, name)
received = threading.Event()

def on_message(topic, payload, **kwargs):
    print(f"received on {{topic}}: {{payload.decode()}}")
    received.set()

connection = mqtt_connection_builder.mtls_from_path(
    endpoint="{host}", port={port}, cert_filepath=path("device.pem.crt"), pri_key_filepath=path("private.pem.key"),
    ca_filepath=path("root-CA.crt"), client_id="{thing}", clean_session=True, keep_alive_secs=30)
connection.connect().result(timeout=10)
print("connected as {thing}")
subscribed, _ = connection.subscribe(topic="things/{thing}/#", qos=mqtt.QoS.AT_LEAST_ONCE, callback=on_message)
subscribed.result(timeout=10)
published, _ = connection.publish(topic="things/{thing}/hello", payload=json.dumps({{"hello": "from the Device SDK"}}),
                                  qos=mqtt.QoS.AT_LEAST_ONCE)
published.result(timeout=10)
ok = received.wait(timeout=10)
connection.disconnect().result(timeout=10)
sys.exit(0 if ok else 1)
"#
    )
}

fn javascript(thing: &str, host: &str, port: &str) -> String {
    format!(
        r#"// Connects as thing '{thing}' with the AWS IoT Device SDK v2 for JavaScript
// (npm install aws-iot-device-sdk-v2), subscribes to things/{thing}/#, publishes and disconnects.
const {{ mqtt, iot }} = require('aws-iot-device-sdk-v2');
const path = (name) => require('path').join(__dirname, name);

async function main() {{
  const config = iot.AwsIotMqttConnectionConfigBuilder
    .new_mtls_builder_from_path(path('device.pem.crt'), path('private.pem.key'))
    .with_certificate_authority_from_path(undefined, path('root-CA.crt'))
    .with_endpoint('{host}')
    .with_port({port})
    .with_client_id('{thing}')
    .with_clean_session(true)
    .build();
  const connection = new mqtt.MqttClient().new_connection(config);
  await connection.connect();
  console.log('connected as {thing}');
  await connection.subscribe('things/{thing}/#', mqtt.QoS.AtLeastOnce, (topic, payload) => {{
    console.log(`received on ${{topic}}: ${{Buffer.from(payload).toString()}}`);
  }});
  await connection.publish('things/{thing}/hello', JSON.stringify({{ hello: 'from the Device SDK' }}), mqtt.QoS.AtLeastOnce);
  await new Promise((r) => setTimeout(r, 1000));
  await connection.disconnect();
}}
main().catch((e) => {{ console.error(e); process.exit(1); }});
"#
    )
}

/// `GET /console/api/certificates/{id}`: what DescribeCertificate says, plus the parsed subject,
/// issuer, validity, serial, fingerprints, and the things and policies attached.
async fn certificate(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = id.to_ascii_lowercase();
    let out = s.registry.read(|r| {
        let c = r.certificate(&id)?;
        let things: Vec<&str> = r.things_of_certificate(&id).collect();
        let policies: Vec<String> =
            r.attached_policies(&Target::Cert(id.clone()))?.iter().map(|p| p.name.clone()).collect();
        Ok(json!({
            "certificateId": c.facts.id,
            "certificateArn": ctx.scope.arn(ResourceType::Cert, &c.facts.id),
            "status": c.status.as_str(),
            "subject": c.facts.subject,
            "issuer": c.facts.issuer,
            "notBefore": c.facts.not_before.millis(),
            "notAfter": c.facts.not_after.millis(),
            "created": c.created.millis(),
            "caCertificateId": c.ca_id,
            "pem": c.facts.pem,
            "things": things,
            "policies": policies,
        }))
    })?;
    let pem = out["pem"].as_str().unwrap_or_default().to_owned();
    let mut out = out;
    if let Ok(parsed) = certs::parse_cert_pem("certificatePem", &pem) {
        // The certificate id is the SHA-256 of the DER: the fingerprint.
        out["fingerprintSha256"] = json!(certs::cert_id(&parsed.der));
        out["serialNumber"] = json!(certs::serial_hex(&parsed.der));
    }
    Ok(Json(out))
}
