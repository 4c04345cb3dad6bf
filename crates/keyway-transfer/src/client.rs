//! The sending side: `Client::connect(addr, identity, pin).await?`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::frame::{Frame, Kind, read_frame, write_frame};
use crate::{Identity, PublicKey, Reply, ServerPin, TransferError, tls};

/// Bytes per DATA frame the client sends.
const CHUNK: usize = 256 * 1024;
/// How long a client waits for the frame a server sends when it stops a body early.
const STOP_FRAME_WAIT: Duration = Duration::from_secs(5);

pub struct Client {
    pub(crate) stream: TlsStream<TcpStream>,
    server_key: PublicKey,
    /// HOST:PORT as given, for errors.
    peer: String,
    /// This client's key, for errors.
    own_fingerprint: String,
    /// Whether the server has sent a frame: until then, a connection that breaks at once
    /// means the server refused our key (rustls refuses it after the handshake completes on
    /// our side).
    answered: bool,
    /// When the handshake completed: only a break soon after it is read as a refusal.
    connected_at: std::time::Instant,
}

/// How soon after the handshake a broken connection is read as the server refusing our key
/// (a refusal comes within a round trip; a handler that dies later is something else).
const REFUSAL_WINDOW: Duration = Duration::from_secs(1);

impl Client {
    /// Connects, completes the TLS handshake (10 s at most), and checks the server key against
    /// `pin` before anything is sent.
    pub async fn connect(
        addr: &str,
        identity: &Identity,
        pin: ServerPin,
    ) -> Result<Client, TransferError> {
        let config = tls::client_config(identity)?;
        let connect_error = |source| TransferError::Connect {
            addr: addr.to_string(),
            source,
        };
        let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .map_err(|_| {
                connect_error(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer within 10 s",
                ))
            })?
            .map_err(connect_error)?;
        tcp.set_nodelay(true)?;
        // The name is not checked (the key is pinned instead); SNI carries it for the logs.
        let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| TransferError::Tls(format!("bad host name {host:?}: {e}")))?;
        let mut stream = tokio::time::timeout(
            Duration::from_secs(10),
            TlsConnector::from(Arc::new(config)).connect(name, tcp),
        )
        .await
        .map_err(|_| TransferError::Timeout("handshake"))?
        .map_err(|e| {
            let why = e.to_string();
            // Plain text where TLS records belong: an HTTP server or another service.
            let hint = if why.contains("InvalidContentType") || why.contains("corrupt message") {
                " (is it a keyway transfer server? it does not speak TLS)"
            } else {
                ""
            };
            TransferError::Tls(format!("handshake with {addr} failed: {why}{hint}"))
        })?;
        let server_key = tls::peer_key(stream.get_ref().1.peer_certificates())
            .ok_or_else(|| TransferError::Tls("server presented no key".into()))?;
        pin.check(addr, &server_key)?;
        stream.get_mut().1.set_buffer_limit(Some(tls::SEND_BUFFER));
        Ok(Client {
            stream,
            server_key,
            peer: addr.to_string(),
            own_fingerprint: identity.public_key().fingerprint(),
            answered: false,
            connected_at: std::time::Instant::now(),
        })
    }

    /// Ends the connection with TLS `close_notify`, so the server sees a clean end rather than
    /// a connection cut short (errors are of no use here: the work is done).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.stream.shutdown()).await;
    }

    pub fn server_key(&self) -> PublicKey {
        self.server_key
    }

    pub async fn send_message(&mut self, text: &str) -> Result<Reply, TransferError> {
        let result = self.request(Kind::Message, "", text.as_bytes()).await;
        self.explain_refusal(result).await
    }

    pub async fn send_data(&mut self, name: &str, bytes: &[u8]) -> Result<Reply, TransferError> {
        let result = self.request(Kind::Data, name, bytes).await;
        self.explain_refusal(result).await
    }

    /// A connection that breaks before the server's first frame: the server refused our key.
    /// The TLS alert that says so may still be unread behind a failed write.
    pub(crate) async fn explain_refusal<T>(
        &mut self,
        result: Result<T, TransferError>,
    ) -> Result<T, TransferError> {
        let err = match result {
            Err(err) if !self.answered => err,
            other => return other,
        };
        let Some(mut certain) = err.as_key_refusal() else {
            return Err(err);
        };
        if !certain && self.connected_at.elapsed() > REFUSAL_WINDOW {
            return Err(err);
        }
        if !certain {
            let later = tokio::time::timeout(STOP_FRAME_WAIT, read_frame(&mut self.stream)).await;
            if let Ok(Err(read_err)) = later {
                certain = TransferError::from(read_err).as_key_refusal() == Some(true);
            }
        }
        Err(TransferError::ClientKeyRefused {
            peer: self.peer.clone(),
            fingerprint: self.own_fingerprint.clone(),
            certain,
        })
    }

    /// The next frame from the server (none at its clean end).
    pub(crate) async fn next_frame(&mut self) -> Result<Option<Frame>, TransferError> {
        let frame = read_frame(&mut self.stream).await?;
        self.answered |= frame.is_some();
        Ok(frame)
    }

    async fn request(
        &mut self,
        kind: Kind,
        name: &str,
        body: &[u8],
    ) -> Result<Reply, TransferError> {
        let header = Frame::Request {
            kind,
            flags: 0,
            size: body.len() as u64,
            name: name.to_string(),
        };
        let frames = std::iter::once(header)
            .chain(body.chunks(CHUNK).map(|chunk| Frame::Data(chunk.to_vec())))
            .chain(std::iter::once(Frame::End));
        for frame in frames {
            // A server refusing the body (too large) says so with an ERROR and stops reading.
            if let Some(stop) = self.early_answer().await {
                return Err(stop);
            }
            if let Err(err) = write_frame(&mut self.stream, &frame).await {
                return Err(self.why_sending_failed(err.into()).await);
            }
        }
        if let Err(err) = self.stream.flush().await {
            return Err(self.why_sending_failed(err.into()).await);
        }
        self.read_reply().await
    }

    /// Writes `bytes` as they are inside the encrypted connection, then reads the answer as
    /// after a request: for tests of how servers treat malformed frames.
    #[doc(hidden)]
    pub async fn exchange_raw_for_testing(
        &mut self,
        bytes: &[u8],
        then_close: bool,
    ) -> Result<Reply, TransferError> {
        self.stream.write_all(bytes).await?;
        if then_close {
            self.stream.shutdown().await?;
        } else {
            self.stream.flush().await?;
        }
        self.read_reply().await
    }

    /// The RESPONSE to a request, or the ERROR that ended the connection.
    pub(crate) async fn read_reply(&mut self) -> Result<Reply, TransferError> {
        reply_of(self.next_frame().await?)
    }

    /// Whether the server has said something while we are still sending a body, without waiting:
    /// it only does that to stop us, with an ERROR frame.
    pub(crate) async fn early_answer(&mut self) -> Option<TransferError> {
        // Ready means bytes, the end or an error: all worth a look; pending means silence.
        let waiting = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(Pin::new(&mut self.stream).poll_fill_buf(cx).is_ready())
        })
        .await;
        if !waiting {
            return None;
        }
        Some(self.read_stop().await)
    }

    /// A failed write of a body: the server may have explained why before it closed
    /// (an ERROR frame); that explanation is the better error.
    pub(crate) async fn why_sending_failed(&mut self, err: TransferError) -> TransferError {
        match self.read_stop().await {
            stop @ (TransferError::Remote { .. } | TransferError::Refused { .. }) => stop,
            _ => err,
        }
    }

    /// Reads the frame the server sent to stop a body (briefly: it is on its way or absent).
    async fn read_stop(&mut self) -> TransferError {
        match tokio::time::timeout(STOP_FRAME_WAIT, self.next_frame()).await {
            Ok(Ok(frame)) => reply_of(frame).map_or_else(|err| err, refusal),
            Ok(Err(err)) => err,
            Err(_) => crate::frame::FrameError::Truncated.into(),
        }
    }
}

/// What a frame read where an answer is due means: a RESPONSE is the reply, an ERROR ended the
/// connection, anything else (or nothing) is a protocol failure.
pub(crate) fn reply_of(frame: Option<Frame>) -> Result<Reply, TransferError> {
    use crate::frame::FrameError;
    match frame {
        Some(Frame::Response { status, body }) => Ok(Reply { status, body }),
        Some(Frame::Error { code, message }) => Err(TransferError::Remote { code, message }),
        Some(_) => Err(FrameError::Malformed("reply (unexpected frame)").into()),
        None => Err(FrameError::Truncated.into()),
    }
}

/// A RESPONSE that refuses what was asked (a file request): its status and text as an error.
pub(crate) fn refusal(reply: Reply) -> TransferError {
    TransferError::Refused {
        status: reply.status,
        message: String::from_utf8_lossy(&reply.body).into_owned(),
    }
}
