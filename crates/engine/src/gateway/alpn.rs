//! The multiplexed TLS port (443 on AWS): one listener, told apart by the ClientHello's ALPN.
//! `x-amzn-mqtt-ca` (or `mqtt`) gets mutual-TLS MQTT, exactly as on the MQTT TLS port; anything
//! else (`http/1.1`, `h2`, no ALPN) gets HTTPS without a client certificate, handed to the HTTP
//! edge, which serves the AWS APIs and `wss://…/mqtt` there as on the API port.
//!
//! The ClientHello is read before a configuration is chosen (rustls' `LazyConfigAcceptor`), so a
//! device never sees a certificate request on an HTTPS connection and vice versa.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::Gateway;
use super::tls::MQTT_ALPN;

/// An HTTPS connection accepted on the multiplexed port, for the HTTP edge to serve.
pub type HttpsConn = (TlsStream<TcpStream>, SocketAddr);

/// What the multiplexed port needs besides the gateway.
#[derive(Debug, Clone)]
pub struct Multiplexed {
    /// Mutual TLS for MQTT ([`super::tls::server_config`]).
    pub mqtt: Arc<rustls::ServerConfig>,
    /// Server-only TLS for HTTPS ([`super::tls::https_config`]).
    pub https: Arc<rustls::ServerConfig>,
    /// Where HTTPS connections go once their handshake is done.
    pub to_http: mpsc::Sender<HttpsConn>,
}

/// Which side of the port a ClientHello asks for.
fn wants_mqtt<'a>(mut alpn: impl Iterator<Item = &'a [u8]>) -> bool {
    alpn.any(|p| MQTT_ALPN.contains(&p))
}

impl Gateway {
    /// Serves the multiplexed TLS port on `listener` until shutdown.
    pub async fn serve_multiplexed(self, listener: tokio::net::TcpListener, mux: Multiplexed) {
        self.accept_loop(listener, move |gw, socket, peer| {
            let mux = mux.clone();
            async move {
                let handshake = async {
                    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), socket).await?;
                    let mqtt = start.client_hello().alpn().is_some_and(wants_mqtt);
                    let config = if mqtt { mux.mqtt.clone() } else { mux.https.clone() };
                    start.into_stream(config).await.map(|s| (mqtt, s))
                };
                let Some((mqtt, stream)) = gw.handshake(peer, "multiplexed", handshake).await else {
                    return;
                };
                if mqtt {
                    gw.serve_device(stream, peer, "the multiplexed TLS port (ALPN)").await;
                } else {
                    let _ = mux.to_http.send((stream, peer)).await;
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::wants_mqtt;

    #[test]
    fn alpn_picks_the_side() {
        let cases: [(&[&[u8]], bool); 5] = [
            (&[b"x-amzn-mqtt-ca"], true),
            (&[b"mqtt"], true),
            (&[b"h2", b"http/1.1"], false),
            (&[b"x-amzn-http-ca"], false),
            (&[], false),
        ];
        for (offered, mqtt) in cases {
            assert_eq!(wants_mqtt(offered.iter().copied()), mqtt, "{offered:?}");
        }
    }
}
