//! TLS connections of the hub's accept loop (`serve.rs`): the handshake (a plain-http request
//! is told to use https), then HTTP/2 or HTTP/1.1 as ALPN chose — each with its own bounds.
//!
//! HTTP/1.1 keeps hyper's head timer: a request head must arrive within the header timeout,
//! on a new connection and between requests. HTTP/2 has no such timer, so [`drive`] keeps
//! one: the first request must start within the header timeout, and a connection on which no
//! request has started for the idle timeout is shut down gracefully (requests in flight, such
//! as an activity stream, finish). A client that sends nothing at all once the shutdown began
//! (not even the answer to its ping) is disconnected after another header timeout.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::serve::{ConnectionLimits, Routes};

/// What a plain-http request to the https port is told before the connection closes (the
/// TLS alert it would get instead reads, in curl, "Received HTTP/0.9 when not allowed").
const PLAIN_HTTP_ON_TLS: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 52\r\nConnection: close\r\n\r\n\
This port speaks https: use https:// in the URL.\r\n\r\n";

/// The TLS handshake of a new connection; `None` when it fails, or when the client spoke
/// plain http (a TLS connection starts with a handshake record, 0x16), which is answered 400.
pub(crate) async fn open(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0] == 0x16 => acceptor.accept(stream).await.ok(),
        Ok(1) if first[0].is_ascii_uppercase() => {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = stream;
            // The request head is read first: closing with unread bytes would reset the
            // connection and could lose the answer.
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head).await;
            let _ = stream.write_all(PLAIN_HTTP_ON_TLS).await;
            let _ = stream.shutdown().await;
            None
        }
        _ => None,
    }
}

/// Requests one HTTP/2 connection may have open at once (browsers open up to 100 and queue
/// the rest; fewer bounds what one connection can make the hub hold).
const MAX_STREAMS: u32 = 32;
/// Response bytes HTTP/2 buffers per stream for a client that does not read them.
const MAX_SEND_BUFFER: usize = 64 * 1024;

/// The hub's TLS connections: the acceptor and one server per protocol.
pub(crate) struct TlsConnections {
    acceptor: tokio_rustls::TlsAcceptor,
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    limits: ConnectionLimits,
}

impl TlsConnections {
    pub(crate) fn new(acceptor: tokio_rustls::TlsAcceptor, limits: &ConnectionLimits) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true);
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_STREAMS)
            .max_send_buf_size(MAX_SEND_BUFFER)
            // No pings of ours: idleness is judged by requests (`drive`).
            .keep_alive_interval(None);
        TlsConnections {
            acceptor,
            http1,
            http2,
            limits: *limits,
        }
    }

    /// Serves one accepted connection to its end.
    pub(crate) async fn serve(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        routes: Routes,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        // A handshake that does not finish in time is a slow client (or none).
        let opened = tokio::time::timeout(
            self.limits.header_read_timeout,
            open(&self.acceptor, stream),
        );
        let Ok(Some(stream)) = opened.await else {
            return;
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(ReadClock {
            inner: stream,
            activity: activity.clone(),
        });
        let counted = activity.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            counted.request_started();
            routes.answer(peer, request)
        });
        if h2 {
            let connection = self.http2.serve_connection(io, service);
            drive(connection, &activity, Some(&self.limits), stopping).await;
        } else {
            let connection = self.http1.serve_connection(io, service);
            drive(connection, &activity, None, stopping).await;
        }
    }
}

/// What a connection did, in milliseconds since it opened.
pub(crate) struct Activity {
    opened: Instant,
    last_read: AtomicU64,
    last_request: AtomicU64,
    requests: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_read: AtomicU64::new(0),
            last_request: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn request_started(&self) {
        self.last_request.store(self.now(), Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn since(&self, mark: &AtomicU64) -> Duration {
        Duration::from_millis(self.now().saturating_sub(mark.load(Ordering::Relaxed)))
    }
}

/// A stream that notes when it last read something.
struct ReadClock<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadClock<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let now = self.activity.now();
            self.activity.last_read.store(now, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadClock<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Runs `connection` to its end, shutting it down gracefully when the hub stops and, with
/// `idle_limits` (HTTP/2), when no request started in time (module docs).
async fn drive<C: GracefulConnection>(
    connection: C,
    activity: &Activity,
    idle_limits: Option<&ConnectionLimits>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    tokio::pin!(connection);
    let grace = idle_limits.map_or(Duration::MAX, |l| l.header_read_timeout);
    let tick = (grace / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Once shutting down: when it began, and what had been read by then.
    let mut ending: Option<(Instant, u64)> = None;
    loop {
        let begin = tokio::select! {
            // Errors here are clients that went away or timed out: nothing to report.
            _ = connection.as_mut() => return,
            _ = stopping.changed(), if ending.is_none() => true,
            _ = ticks.tick() => match (ending, idle_limits) {
                (Some((began, read_then)), _) => {
                    let silent = activity.last_read.load(Ordering::Relaxed) == read_then;
                    if silent && began.elapsed() >= grace {
                        return;
                    }
                    false
                }
                (None, Some(limits)) => {
                    if activity.requests.load(Ordering::Relaxed) == 0 {
                        activity.opened.elapsed() >= limits.header_read_timeout
                    } else {
                        activity.since(&activity.last_request) >= limits.idle_timeout
                    }
                }
                (None, None) => false,
            },
        };
        if begin && ending.is_none() {
            ending = Some((Instant::now(), activity.last_read.load(Ordering::Relaxed)));
            connection.as_mut().graceful_shutdown();
        }
    }
}
