//! How a channel opens its sockets: through the tenant's socket-open budget, the outbound address policy
//! (the address checked is the address connected), the connect timeout and the tenant's TLS settings.

use std::sync::Arc;
use std::time::Duration;

use super::burst::BurstReader;
use super::error::ChannelError;
use super::flows::{WsStream, socket_config};
use super::tls_stream::TlsStream;
use super::transport::Transport;
use crate::egress::{Egress, EgressError};
use crate::metrics::TenantMetrics;
use crate::upstream::UpstreamError;

/// Socket opens a tenant may make in any [`SOCKET_OPEN_WINDOW`]: enough for every channel of a large tenant
/// to reconnect at once after a network blip, not enough for a storm of `socket_closing` (or of closes) to
/// become thousands of connects.
pub const SOCKET_OPENS_PER_WINDOW: usize = 50;
/// The window of [`SOCKET_OPENS_PER_WINDOW`].
pub const SOCKET_OPEN_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// A tenant's budget of socket opens (a sliding window), shared by its channels; a channel over it waits.
#[derive(Clone)]
pub struct SocketOpens {
    budget: Arc<parking_lot::Mutex<crate::upstream::RateBudget>>,
    metrics: Arc<TenantMetrics>,
}

impl SocketOpens {
    pub fn new(metrics: Arc<TenantMetrics>) -> SocketOpens {
        SocketOpens {
            budget: Arc::new(parking_lot::Mutex::new(crate::upstream::RateBudget::new(
                SOCKET_OPENS_PER_WINDOW,
                SOCKET_OPEN_WINDOW,
            ))),
            metrics,
        }
    }

    /// Waits for room in the budget and takes one open.
    pub async fn acquire(&self) {
        let mut waited = false;
        loop {
            let wait = self.budget.lock().try_acquire(std::time::Instant::now());
            match wait {
                Ok(()) => return,
                Err(d) => {
                    if !waited {
                        waited = true;
                        self.metrics.socket_open_throttled();
                    }
                    tokio::time::sleep(d).await;
                }
            }
        }
    }
}

/// How a channel opens sockets: the tenant's connect timeout, TLS settings, outbound address policy and
/// socket-open budget.
#[derive(Clone)]
pub(super) struct Dialer {
    pub(super) timeout: Duration,
    pub(super) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    pub(super) egress: Egress,
    pub(super) opens: SocketOpens,
}

impl Dialer {
    /// Opens the socket at `uri`, once the tenant's socket-open budget has room (a storm of closes must not
    /// become a storm of connects): its host is resolved through the outbound address policy and the socket
    /// is connected to one of the permitted addresses (so the address checked is the address used).
    pub(super) async fn open(self, uri: &str) -> Result<WsStream, ChannelError> {
        self.opens.acquire().await;
        let url = reqwest::Url::parse(uri)
            .map_err(|e| ChannelError::Socket(format!("the connect URI is not a URL: {e}")))?;
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let egress = self.egress;
        let tls = self.tls;
        let connect = async {
            let addrs = egress.resolve(&host, port).await.map_err(|e| match e {
                EgressError::Refused { .. } => {
                    ChannelError::Upstream(UpstreamError::Refused(e.to_string()))
                }
                EgressError::Unresolved { .. } => ChannelError::Socket(e.to_string()),
            })?;
            let tcp = tokio::net::TcpStream::connect(&addrs[..])
                .await
                .map_err(|e| {
                    ChannelError::Socket(format!("connect to {host}:{port} failed: {e}"))
                })?;
            let mut stream = match url.scheme() {
                "wss" => {
                    let config = match tls {
                        Some(config) => config,
                        None => crate::tls::public_roots()
                            .map_err(|e| ChannelError::Socket(format!("TLS settings: {e}")))?,
                    };
                    let name =
                        rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| {
                            ChannelError::Socket(format!("{host} is not a TLS server name: {e}"))
                        })?;
                    let tls = TlsStream::connect(config, name, tcp).await.map_err(|e| {
                        ChannelError::Socket(format!("TLS with {host} failed: {e}"))
                    })?;
                    Transport::Tls(Box::new(tls))
                }
                "ws" => Transport::Plain(tcp),
                other => {
                    return Err(ChannelError::Socket(format!(
                        "the connect URI's scheme is {other}, not ws or wss"
                    )));
                }
            };
            let tail = super::handshake::upgrade(&mut stream, &url)
                .await
                .map_err(|e| ChannelError::Socket(format!("connect failed: {e}")))?;
            Ok(tokio_tungstenite::WebSocketStream::from_partially_read(
                BurstReader::new(stream),
                tail,
                tokio_tungstenite::tungstenite::protocol::Role::Client,
                Some(socket_config()),
            )
            .await)
        };
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(ChannelError::Timeout(self.timeout)),
        }
    }
}
