//! The HTTP edge (the only axum code): AWS IoT's REST-JSON services on one port, told apart by the
//! SigV4 credential scope's service name, with AWS-shaped errors and `x-amzn-RequestId` on every
//! response.
//!
//! Routing: [`dispatch`] first applies [`access`] (the Host and Origin checks that keep web pages
//! out, and signature verification when configured), then reads the scope (unsigned requests count
//! as `iot`, the control plane), attaches a [`extract::Ctx`] with the region, and hands the request
//! to that service's router.

pub mod access;
pub mod assets;
mod console;
mod console_export;
mod console_jobs;
mod console_provisioning;
mod console_quotas;
mod console_rules;
mod console_shadows;
pub mod console_sim;
mod console_trace;
mod console_usage;
mod console_viewer;
pub mod error;
pub mod extract;
mod iot;
mod iot_certs;
mod iot_data;
mod iot_events;
mod iot_jobs;
mod iot_policies;
mod iot_provisioning;
mod iot_rules;
mod jobs_data;
mod mqtt_ws;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::response::Response;
use thingbox_model::Timestamp;
use thingbox_model::arn::Scope;
use tower::ServiceExt as _;

use self::error::{AwsErrorType, aws_message};
use self::extract::Ctx;
use crate::ca::LocalCa;
use crate::registry::RegistryService;
use thingbox_wire::sigv4::{self, Service};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// The services and settings behind [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The registry.
    pub registry: Arc<RegistryService>,
    /// The MQTT router.
    pub broker: Arc<crate::broker::Broker>,
    /// Device shadows.
    pub shadows: Arc<crate::shadow::ShadowService>,
    /// The device gateway (serves MQTT over WebSocket).
    pub gateway: crate::gateway::Gateway,
    /// The account ARNs are rendered in.
    pub account: String,
    /// The region for unsigned requests.
    pub default_region: String,
    /// The host name DescribeEndpoint returns.
    pub endpoint_host: String,
    /// The local CA (issues device certificates).
    pub ca: Arc<LocalCa>,
    /// The account's CA registration code (GetRegistrationCode), fixed per data dir.
    pub registration_code: String,
    /// The gateway's authorizer (the console explains its decisions).
    pub authorizer: Arc<crate::policy::PolicyAuthorizer>,
    /// Which `$aws/events/…` messages are published.
    pub switches: Arc<crate::event_config::EventSwitches>,
    /// The console API's token.
    pub console_token: String,
    /// The console's files.
    pub console_assets: &'static [assets::Asset],
    /// What `endpoints.json` says.
    pub endpoints: thingbox_api::Endpoints,
    /// The data dir.
    pub data_dir: std::path::PathBuf,
    /// The topic viewer: tap, history, recordings, replays, console publishing.
    pub viewer: Arc<crate::viewer::ViewerService>,
    /// The rules engine.
    pub rules: Arc<crate::rules::RulesService>,
    /// Jobs.
    pub jobs: Arc<crate::jobs::JobsService>,
    /// Simulated devices.
    pub sim: Arc<crate::sim::Simulator>,
    /// Provisioning templates, claims and fleet provisioning.
    pub provisioning: Arc<crate::provisioning::ProvisioningService>,
    /// Who may call (allowed hosts and origins, access keys).
    pub access: access::AccessConfig,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Wraps the shared state.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The current time, read once per request at the edge and passed into the domain.
    pub fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp::from_millis(ms)
    }
}

#[derive(Clone)]
struct Routers {
    iot: Router,
    iot_data: Router,
    jobs_data: Router,
}

/// Builds the whole HTTP application.
pub fn app(state: AppState) -> Router {
    let routers = Routers {
        iot: iot::routes()
            .merge(iot_certs::routes())
            .merge(iot_policies::routes())
            .merge(iot_provisioning::routes())
            .merge(iot_rules::routes())
            .merge(iot_jobs::routes())
            .merge(iot_events::routes())
            .merge(console_jobs::downloads())
            .merge(console::routes(state.clone()))
            .merge(mqtt_ws::routes())
            .fallback(unknown_operation)
            .method_not_allowed_fallback(unknown_operation)
            .with_state(state.clone()),
        iot_data: iot_data::routes()
            .merge(mqtt_ws::routes())
            .fallback(unknown_operation)
            .method_not_allowed_fallback(unknown_operation)
            .with_state(state.clone()),
        jobs_data: jobs_data::routes()
            .fallback(unknown_operation)
            .method_not_allowed_fallback(unknown_operation)
            .with_state(state.clone()),
    };
    Router::new()
        .fallback(dispatch)
        .with_state((state, Arc::new(routers)))
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(axum::middleware::map_response(add_request_id))
}

async fn dispatch(State((state, routers)): State<(AppState, Arc<Routers>)>, req: Request) -> Response {
    if let Err(refused) = access::check_host(&state.access, &state.endpoint_host, &req) {
        return refused;
    }
    let limit = extract::body_limit(req.uri().path());
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        // A body a little over the limit is read before answering (a client still writing it when
        // the answer and the close come would see a broken pipe, not 413); a huge one is refused
        // unread, and a slow one is not waited for long.
        if declared.is_some_and(|n| n <= DRAIN_LIMIT as u64) {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(5), drain(req.into_body(), DRAIN_LIMIT))
                    .await;
        }
        return aws_message(
            AwsErrorType::RequestEntityTooLarge,
            format!(
                "The request body is {} bytes; this operation takes at most {limit}",
                declared.unwrap_or(0)
            ),
        );
    }
    let scope = sigv4::scope(req.headers(), req.uri().query());
    if scope.is_none()
        && let Some(res) = assets::serve(state.console_assets, &req)
    {
        return res;
    }
    if let Err(refused) = access::check_origin(&state.access, req.headers()) {
        return refused;
    }
    let mut req = match access::check_signature(&state, req).await {
        Ok(req) => req,
        Err(refused) => return refused,
    };
    let (service, region) = match &scope {
        None => (Service::Iot, state.default_region.clone()),
        Some(s) => match s.known_service() {
            Some(svc) => (svc, s.region.clone()),
            None => {
                return aws_message(
                    AwsErrorType::InvalidRequest,
                    format!(
                        "This endpoint serves the AWS IoT services iot, iotdata and iot-jobs-data; the request \
                         was signed for service '{}'",
                        s.service
                    ),
                );
            }
        },
    };
    req.extensions_mut().insert(Ctx { scope: Scope::new(region, state.account.clone()) });
    let router = match service {
        Service::Iot => routers.iot.clone(),
        Service::IotData => routers.iot_data.clone(),
        Service::IotJobsData => routers.jobs_data.clone(),
    };
    let registry_call = service == Service::Iot && crate::usage::is_registry_call(req.uri().path());
    let res = match router.oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    if registry_call && res.status().is_success() {
        state.broker.meter.add(None, thingbox_model::usage::Metric::RegistryOperations, 1);
    }
    res
}

/// Body bytes read and discarded before refusing a request as too large.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Reads and discards a body, at most `limit` bytes of it.
async fn drain(body: axum::body::Body, limit: usize) {
    use futures_util::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut read = 0;
    while let Some(Ok(chunk)) = stream.next().await {
        read += chunk.len();
        if read > limit {
            break;
        }
    }
}

async fn unknown_operation(req: Request) -> Response {
    aws_message(
        AwsErrorType::UnknownOperation,
        format!("Thingbox does not serve {} {} (yet)", req.method(), req.uri().path()),
    )
}

/// Every answer leaves with `x-amzn-RequestId`, and every refusal in AWS's shape: a framework's
/// plain-text rejection (a body over a route's limit, a failed WebSocket upgrade…) becomes the
/// AWS error type for its status, keeping its words.
async fn add_request_id(res: Response) -> Response {
    let mut res = awsify(res).await;
    if !res.headers().contains_key("x-amzn-RequestId") {
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(v) = HeaderValue::from_str(&id) {
            res.headers_mut().insert("x-amzn-RequestId", v);
        }
    }
    res
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// HTTPS connections the multiplexed port has accepted ([`crate::gateway::alpn`]), as an axum
/// listener.
#[derive(Debug)]
struct Handed(tokio::sync::mpsc::Receiver<crate::gateway::alpn::HttpsConn>, std::net::SocketAddr);

impl axum::serve::Listener for Handed {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.0.recv().await {
            Some(conn) => conn,
            // The port has stopped: wait for the graceful shutdown that follows.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.1)
    }
}

/// Serves `app` over the HTTPS connections handed over by the multiplexed port (`local` is that
/// port's address) until `shutdown` completes.
pub async fn serve_https(
    handed: tokio::sync::mpsc::Receiver<crate::gateway::alpn::HttpsConn>,
    local: std::net::SocketAddr,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    // `tap_io` is a no-op here; axum provides `ConnectInfo<SocketAddr>` only for its own listener
    // types, and a tapped listener is one.
    let listener = Handed(handed, local).tap_io(|_| {});
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

async fn awsify(res: Response) -> Response {
    let plain = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if res.status().as_u16() < 400 || res.headers().contains_key("x-amzn-ErrorType") || !plain {
        return res;
    }
    let status = res.status();
    let text = axum::body::to_bytes(res.into_body(), 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let kind = match status.as_u16() {
        413 => AwsErrorType::RequestEntityTooLarge,
        404 | 405 => AwsErrorType::UnknownOperation,
        401 => AwsErrorType::Unauthorized,
        403 => AwsErrorType::Forbidden,
        s if s >= 500 => AwsErrorType::InternalFailure,
        _ => AwsErrorType::InvalidRequest,
    };
    let message = match kind {
        AwsErrorType::RequestEntityTooLarge => {
            format!("The request body is too large for this operation ({text})")
        }
        _ if text.is_empty() => status.canonical_reason().unwrap_or("refused").to_owned(),
        _ => text,
    };
    aws_message(kind, message)
}
