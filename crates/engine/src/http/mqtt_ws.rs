//! MQTT over WebSocket at `/mqtt` on the API port (`wss://<endpoint>/mqtt` on AWS). The SigV4 query
//! parameters are read for the access key id, which becomes the connection's identity; they are not
//! verified. Binary WebSocket frames carry the MQTT byte stream, which the gateway serves like any
//! other connection.

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

fn access_key(uri: &Uri) -> Option<String> {
    let q = uri.query()?;
    let cred = q.split('&').find_map(|kv| kv.strip_prefix("X-Amz-Credential="))?;
    let cred = cred.replace("%2F", "/").replace("%2f", "/");
    cred.split('/').next().filter(|k| !k.is_empty()).map(str::to_owned)
}

async fn upgrade(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let principal = Principal::Iam(access_key(&uri).unwrap_or_else(|| "anonymous".into()));
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
    let serve = gateway.serve_stream(theirs, principal, peer);
    tokio::join!(inbound, outbound, serve);
}
