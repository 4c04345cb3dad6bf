//! TLS connections of the hub's accept loop (`serve.rs`): the handshake (a plain-http request
//! is told to use https), HTTP/2 or HTTP/1.1 by ALPN, and an idle timeout, which HTTP/2 lacks.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::serve::ConnectionLimits;

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

/// The server of TLS connections: HTTP/1.1 with the same head timeout as plain connections,
/// or HTTP/2 (hyper bounds streams per connection, header lists to 16 KiB, and resets).
pub(crate) fn http1_and_http2(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut both = auto::Builder::new(TokioExecutor::new());
    both.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    both.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        // No pings: a client's ping answers would count as activity, and an idle connection
        // is ended by `drive` instead (a dead peer too).
        .keep_alive_interval(None);
    both
}

/// Requests one HTTP/2 connection may have open at once.
const MAX_STREAMS: u32 = 256;

/// When a connection last delivered bytes, as milliseconds since it opened.
pub(crate) struct LastRead {
    opened: Instant,
    millis: AtomicU64,
}

impl LastRead {
    fn touch(&self) {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        self.opened
            .elapsed()
            .saturating_sub(Duration::from_millis(self.millis.load(Ordering::Relaxed)))
    }
}

/// A stream that notes when it last read something.
pub(crate) struct ReadClock<S> {
    inner: S,
    last: Arc<LastRead>,
}

impl<S> ReadClock<S> {
    pub(crate) fn new(inner: S) -> ReadClock<S> {
        ReadClock {
            inner,
            last: Arc::new(LastRead {
                opened: Instant::now(),
                millis: AtomicU64::new(0),
            }),
        }
    }

    pub(crate) fn last_read(&self) -> Arc<LastRead> {
        self.last.clone()
    }
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
            self.last.touch();
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

/// Runs `connection` to its end; shuts it down gracefully (requests in flight finish, no new
/// ones) when the hub stops or when the client has sent nothing for `idle`. A client that
/// then still sends nothing for `idle` (HTTP/2's shutdown waits for a ping answer that a
/// silent client never sends) is disconnected.
pub(crate) async fn drive<C: GracefulConnection>(
    connection: C,
    last_read: &LastRead,
    idle: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    tokio::pin!(connection);
    let mut ticks = tokio::time::interval((idle / 4).max(Duration::from_millis(250)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ending = false;
    loop {
        tokio::select! {
            // Errors here are clients that went away or timed out: nothing to report.
            _ = connection.as_mut() => return,
            _ = stopping.changed(), if !ending => {
                ending = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = ticks.tick() => {
                let quiet = last_read.idle_for() >= idle;
                if quiet && ending {
                    // Silent through a whole idle period after the shutdown began.
                    if last_read.idle_for() >= idle * 2 {
                        return;
                    }
                } else if quiet {
                    ending = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
