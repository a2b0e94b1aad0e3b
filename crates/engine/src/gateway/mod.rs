//! The device edge: the mutual-TLS MQTT listener, the plain MQTT listener, the multiplexed TLS port
//! ([`alpn`]: MQTT and HTTPS on one port, as AWS's 443), identity, and the authorization hook every
//! CONNECT, PUBLISH, SUBSCRIBE and delivery goes through.
//!
//! Each listener has an accept loop that owns its connection tasks; a TLS handshake and a CONNECT
//! each have a deadline, so a silent socket only ever holds its own task.

pub mod alpn;
pub mod conn;
pub mod tls;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::{Broker, Principal};

/// Who is asking: the authenticated principal, the MQTT client id, the peer address and the
/// connect attributes (`PersistentConnect`, `LastWill`) policies can test.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The authenticated identity.
    pub principal: Principal,
    /// The client id.
    pub client_id: String,
    /// The peer address.
    pub ip: std::net::IpAddr,
    /// `iot:ConnectAttributes` values.
    pub connect_attributes: Vec<&'static str>,
    /// The authorizer's cache (compiled policies). Each task of a connection (reader, writer) holds
    /// its own copy of the `Caller` (a clone starts empty), so its lock is never contended.
    pub cache: AuthCache,
}

/// A per-task authorization cache; cloning gives an empty one.
#[derive(Debug, Default)]
pub struct AuthCache(pub parking_lot::Mutex<Option<crate::policy::CallerPolicies>>);

impl Clone for AuthCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Authorization decisions for device traffic (`crate::policy::PolicyAuthorizer` enforces IoT
/// policies; [`AllowAll`] allows everything).
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// iot:Connect.
    fn connect(&self, who: &Caller) -> bool;
    /// iot:Publish to `topic`.
    fn publish(&self, who: &Caller, topic: &str) -> bool;
    /// iot:RetainPublish to `topic`.
    fn retain(&self, who: &Caller, topic: &str) -> bool;
    /// iot:Subscribe to `filter`.
    fn subscribe(&self, who: &Caller, filter: &str) -> bool;
    /// iot:Receive of a message on `topic`.
    fn receive(&self, who: &Caller, topic: &str) -> bool;
    /// The caller's connection ended (caches may forget it).
    fn disconnected(&self, _who: &Caller) {}
    /// The thing the caller's client id names, if one exists (usage is counted per thing).
    fn thing_of(&self, _who: &Caller) -> Option<String> {
        None
    }
    /// The decision for `action` on `name` (a client id, topic or filter) explained, and why no
    /// policy was evaluated if none was. Slow: only for traced messages.
    fn explain(
        &self,
        _who: &Caller,
        _action: thingbox_model::policy::Action,
        name: &str,
    ) -> (thingbox_api::console::Explanation, Option<String>) {
        crate::policy::not_checked(name.to_owned(), "this gateway checks no policies")
    }
}

/// Allows everything.
#[derive(Debug, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn connect(&self, _: &Caller) -> bool {
        true
    }
    fn publish(&self, _: &Caller, _: &str) -> bool {
        true
    }
    fn retain(&self, _: &Caller, _: &str) -> bool {
        true
    }
    fn subscribe(&self, _: &Caller, _: &str) -> bool {
        true
    }
    fn receive(&self, _: &Caller, _: &str) -> bool {
        true
    }
}

/// Deadlines and identities of the gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// TLS handshake deadline.
    pub handshake_timeout: Duration,
    /// CONNECT deadline (after the handshake).
    pub connect_timeout: Duration,
    /// The identity every plain-listener client gets.
    pub plain_identity: String,
    /// Named IoT policies plain-listener clients are held to; empty = the built-in permissive
    /// policy (`policy::PLAIN_ALLOW_ALL`).
    pub plain_policies: Vec<String>,
    /// Expiry of persistent MQTT 3.1.1 sessions.
    pub default_session_expiry: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            plain_identity: "thingbox-plain-listener".into(),
            plain_policies: Vec::new(),
            default_session_expiry: 3600,
        }
    }
}

/// What the accept loops share.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The router.
    pub broker: Arc<Broker>,
    /// Authorization.
    pub auth: Arc<dyn Authorizer>,
    /// Settings.
    pub config: GatewayConfig,
    /// Fires when the engine stops.
    pub shutdown: watch::Receiver<bool>,
}

impl Gateway {
    fn ctx(&self, principal: Principal, peer: std::net::SocketAddr, listener: &'static str) -> conn::ConnCtx {
        conn::ConnCtx {
            listener,
            broker: self.broker.clone(),
            auth: self.auth.clone(),
            principal,
            peer,
            shutdown: self.shutdown.clone(),
            connect_timeout: self.config.connect_timeout,
            default_session_expiry: self.config.default_session_expiry,
        }
    }

    /// Serves mutual-TLS MQTT on `listener` until shutdown; returns once every connection is closed.
    pub async fn serve_tls(self, listener: TcpListener, tls: Arc<rustls::ServerConfig>) {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        self.accept_loop(listener, move |gw, socket, peer| {
            let acceptor = acceptor.clone();
            async move {
                if let Some(stream) = gw.handshake(peer, "mqtt-tls", acceptor.accept(socket)).await {
                    gw.serve_device(stream, peer, "the mutual-TLS MQTT port").await;
                }
            }
        })
        .await;
    }

    /// Runs a TLS handshake under the configured deadline; a failure or timeout is logged (at
    /// debug: scanners and misconfigured clients are common) and gives `None`; `listener` names the
    /// port in that log line.
    async fn handshake<T>(
        &self,
        peer: std::net::SocketAddr,
        listener: &'static str,
        handshake: impl std::future::Future<Output = std::io::Result<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.config.handshake_timeout, handshake).await {
            Ok(Ok(s)) => Some(s),
            Ok(Err(e)) => {
                tracing::debug!(%peer, listener, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, listener, "TLS handshake timed out");
                None
            }
        }
    }

    /// Serves a mutual-TLS stream whose handshake is done as the certificate the device presented
    /// (the verifier made sure there is one; without one the connection is just closed).
    async fn serve_device(
        &self,
        stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        peer: std::net::SocketAddr,
        listener: &'static str,
    ) {
        let Some(cert) = stream.get_ref().1.peer_certificates().and_then(|c| c.first()) else {
            return;
        };
        let principal = Principal::Certificate(crate::certs::cert_id(cert.as_ref()));
        conn::serve(stream, self.ctx(principal, peer, listener)).await;
    }

    /// Serves one already-established byte stream (e.g. MQTT over WebSocket) as `principal`.
    pub async fn serve_stream<S>(
        &self,
        stream: S,
        principal: Principal,
        peer: std::net::SocketAddr,
        listener: &'static str,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        conn::serve(stream, self.ctx(principal, peer, listener)).await;
    }

    /// Serves plain MQTT on `listener` until shutdown.
    pub async fn serve_plain(self, listener: TcpListener) {
        self.accept_loop(listener, |gw, socket, peer| async move {
            let principal = Principal::Plain(gw.config.plain_identity.clone());
            conn::serve(socket, gw.ctx(principal, peer, "the plain MQTT port")).await;
        })
        .await;
    }

    async fn accept_loop<F, Fut>(self, listener: TcpListener, handle: F)
    where
        F: Fn(Gateway, tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut tasks = JoinSet::new();
        let mut shutdown = self.shutdown.clone();
        loop {
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((socket, peer)) => {
                        let _ = socket.set_nodelay(true);
                        tasks.spawn(handle(self.clone(), socket, peer));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = shutdown.changed() => break,
            }
        }
        drop(listener);
        // Connections see the same shutdown signal and close; give them a moment, then stop them.
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }
}
