//! MQTT over WebSocket at `/mqtt`: `wss://<endpoint>:443/mqtt` on the multiplexed TLS port, as on
//! AWS, and `ws://` on the API port. As on AWS the URL must be SigV4-signed for
//! `iotdevicegateway` (else HTTP 403); the signature is verified only under `--verify-signatures`
//! (in [`super::access`], before this route), and its access key id becomes the connection's identity (an IAM principal: allowed everything, as an admin's
//! credentials would be). Binary WebSocket frames carry the MQTT byte stream, which the gateway
//! serves like any other connection.

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Router, http::Uri};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::AppState;
use crate::broker::Principal;

/// The `/mqtt` route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/mqtt", get(upgrade))
}

async fn upgrade(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    uri: Uri,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let principal = match thingbox_wire::sigv4::presigned_access_key(uri.query()) {
        Ok(key) => Principal::Iam(key),
        Err(why) => {
            tracing::debug!(%peer, why, "WebSocket refused");
            return super::error::aws_message(super::error::AwsErrorType::Forbidden, why);
        }
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return axum::response::IntoResponse::into_response(rejection),
    };
    let gateway = s.gateway.clone();
    ws.protocols(["mqtt"]).on_upgrade(move |socket| bridge(socket, gateway, principal, peer))
}

/// Pumps WebSocket frames to and from an in-memory pipe whose other end the gateway serves.
async fn bridge(
    socket: WebSocket,
    gateway: crate::gateway::Gateway,
    principal: Principal,
    peer: std::net::SocketAddr,
) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut ws_tx, mut ws_rx) = socket.split();
    let (mut pipe_rd, mut pipe_wr) = tokio::io::split(ours);
    let inbound = async move {
        while let Some(Ok(msg)) = ws_rx.next().await {
            let data = match msg {
                WsMessage::Binary(b) => b,
                WsMessage::Close(_) => break,
                _ => continue,
            };
            if pipe_wr.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = pipe_wr.shutdown().await;
    };
    let outbound = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match pipe_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if ws_tx.send(WsMessage::Binary(buf[..n].to_vec().into())).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = ws_tx.close().await;
    };
    let serve = gateway.serve_stream(theirs, principal, peer, "MQTT over WebSocket");
    tokio::join!(inbound, outbound, serve);
}
