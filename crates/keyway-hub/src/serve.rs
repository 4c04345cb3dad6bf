//! The hub's accept loop: HTTP/1.1 over hyper (and HTTP/2 over TLS) with the limits axum's
//! `serve` does not set.
//! - A request head must arrive within [`ConnectionLimits::header_read_timeout`]: this closes
//!   slow-header (slowloris) connections and, since hyper starts the same timer when a
//!   keep-alive connection waits for its next request, idle ones too.
//! - At most [`ConnectionLimits::max_connections`] connections are served at once; further
//!   clients wait in the kernel's accept queue until one closes. One address (an IPv6 /64)
//!   holds at most [`ConnectionLimits::max_connections_per_address`] of them (trusted proxies
//!   excepted); beyond that a new connection is closed at once, so one host cannot take every
//!   slot. Request bodies must keep arriving (`body_deadline.rs`).
//! - Accepted connections are served by [`ConnectionLimits::workers`] threads, each with a
//!   single-threaded runtime (`serve_workers.rs` says why).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::client_address::TrustedProxies;
use crate::serve_tls;
use crate::serve_workers::Workers;

/// Connection limits of the hub's HTTP server (docs/oauth.md, "Limits").
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time a client has to send a complete request head, on a new connection or between
    /// requests of a kept-alive one.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one address (an IPv6 /64) may hold; trusted proxies are not limited.
    pub max_connections_per_address: usize,
    /// How long a shutdown waits for requests in flight before closing them.
    pub drain_timeout: Duration,
    /// A TLS connection that has sent nothing for this long is shut down gracefully (its
    /// requests in flight finish): HTTP/2 has no per-request head timeout to end idle ones.
    pub idle_timeout: Duration,
    /// Threads serving connections (at least one; the default is one per CPU).
    pub workers: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(15),
            max_connections: 4096,
            max_connections_per_address: 256,
            drain_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            workers: crate::serve_workers::default_count(),
        }
    }
}

/// What answers requests: the gateway's own way in for its calls (`gateway/direct.rs`), the
/// router for everything else.
#[derive(Clone)]
pub(crate) struct Routes {
    pub(crate) router: Router,
    pub(crate) gateway: Arc<crate::gateway::Direct>,
}

impl Routes {
    /// Answers `request` from `peer`.
    pub(crate) fn answer(
        &self,
        peer: SocketAddr,
        mut request: hyper::Request<Incoming>,
    ) -> impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send + use<>
    {
        request
            .extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(peer));
        let request = request.map(axum::body::Body::new);
        if self.gateway.takes(&request) {
            let gateway = self.gateway.clone();
            Either::Left(async move { Ok(gateway.serve(peer, request).await) })
        } else {
            Either::Right(self.router.clone().oneshot(request))
        }
    }
}

/// Serves `routes` on `listener` until `shutdown` resolves, then drains open connections.
/// With `tls`, every connection is a TLS one (the handshake must finish within the header
/// read timeout) speaking HTTP/2 or HTTP/1.1 as ALPN chose; without, HTTP/1.1.
pub(crate) async fn serve(
    listener: TcpListener,
    routes: Routes,
    limits: ConnectionLimits,
    trusted: Arc<TrustedProxies>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    workers: &Workers,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let per_address = Arc::new(PerAddress::default());
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let tls = tls.map(|acceptor| Arc::new(serve_tls::TlsConnections::new(acceptor, &limits)));
    // TLS connections are drained through this signal (and counted by their slots).
    let (stop_tls, stopping) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(held) = per_address.take(peer.ip(), &limits, &trusted) else {
            // Closing at once costs the client a reset and us nothing.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The socket leaves this runtime's reactor for its worker's.
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let routes = routes.clone();
        match &tls {
            None => {
                let http = http.clone();
                let watcher = graceful.watcher();
                workers.hand(Box::new(move |served| {
                    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                        return;
                    };
                    let service =
                        hyper::service::service_fn(move |request| routes.answer(peer, request));
                    let connection =
                        watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        // Errors here are clients that went away or timed out: nothing to report.
                        let _ = connection.await;
                        drop((held, permit, served));
                    });
                }));
            }
            Some(tls) => {
                let tls = tls.clone();
                let stopping = stopping.clone();
                workers.hand(Box::new(move |served| {
                    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                        return;
                    };
                    tokio::spawn(async move {
                        tls.serve(stream, peer, routes, stopping).await;
                        drop((held, permit, served));
                    });
                }));
            }
        }
    }
    drop(listener);
    let _ = stop_tls.send(true);
    let every_slot = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let drained = async {
        graceful.shutdown().await;
        // Every connection gives its slot back when it ends, TLS ones included.
        let _ = slots.acquire_many(every_slot).await;
    };
    if tokio::time::timeout(limits.drain_timeout, drained)
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
    Ok(())
}

/// Connections held per address.
#[derive(Default)]
struct PerAddress(std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>);

/// One address's connection; released when dropped.
struct Held {
    map: Arc<PerAddress>,
    key: Option<IpAddr>,
}

impl PerAddress {
    fn take(
        self: &Arc<Self>,
        ip: IpAddr,
        limits: &ConnectionLimits,
        trusted: &TrustedProxies,
    ) -> Option<Held> {
        if trusted.contains(ip) {
            return Some(Held {
                map: self.clone(),
                key: None,
            });
        }
        let key = keyway_kernel::address_group(ip);
        let mut map = self.0.lock().ok()?;
        let held = map.entry(key).or_insert(0);
        if *held >= limits.max_connections_per_address {
            return None;
        }
        *held += 1;
        Some(Held {
            map: self.clone(),
            key: Some(key),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(key) = self.key else {
            return;
        };
        if let Ok(mut map) = self.map.0.lock()
            && let Some(held) = map.get_mut(&key)
        {
            *held = held.saturating_sub(1);
            if *held == 0 {
                map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_at_most_its_share_and_proxies_are_not_counted() {
        let limits = ConnectionLimits {
            max_connections_per_address: 2,
            ..ConnectionLimits::default()
        };
        let trusted = TrustedProxies::parse(&["10.0.0.1".into()]).unwrap();
        let map = Arc::new(PerAddress::default());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = map.take(ip("192.0.2.1"), &limits, &trusted).unwrap();
        let _b = map.take(ip("192.0.2.1"), &limits, &trusted).unwrap();
        assert!(map.take(ip("192.0.2.1"), &limits, &trusted).is_none());
        assert!(map.take(ip("192.0.2.2"), &limits, &trusted).is_some());
        drop(a);
        assert!(map.take(ip("192.0.2.1"), &limits, &trusted).is_some());
        // One IPv6 /64 is one address; a trusted proxy is never limited.
        let _c = map.take(ip("2001:db8::1"), &limits, &trusted).unwrap();
        let _d = map.take(ip("2001:db8::2"), &limits, &trusted).unwrap();
        assert!(map.take(ip("2001:db8::3"), &limits, &trusted).is_none());
        for _ in 0..5 {
            assert!(map.take(ip("10.0.0.1"), &limits, &trusted).is_some());
        }
    }
}
