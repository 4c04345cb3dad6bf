//! The receiving side: `Server::bind(addr, config).await?.serve(handler)`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::error::HandshakeAbandoned;
use crate::frame::{Frame, Kind, MAX_PAYLOAD, read_frame, write_frame};
use crate::pending_handshakes::{HandshakeTicket, PendingHandshakes};
use crate::{AuthorizedKeys, Identity, KeyRights, PublicKey, TransferError, server_files, tls};

/// Error codes of ERROR frames (docs/transfer.md).
pub(crate) mod codes {
    pub(crate) const PROTOCOL: u16 = 1;
    pub(crate) const TOO_LARGE: u16 = 2;
    pub(crate) const STORAGE: u16 = 4;
}

/// How the server runs.
pub struct ServerConfig {
    pub identity: Identity,
    pub authorized_keys: AuthorizedKeys,
    /// Where files of keys without their own `root=` go.
    pub root: PathBuf,
    /// Largest message or data body accepted (bytes); held in memory for the handler.
    pub max_body: u64,
    /// Largest file accepted (bytes); files stream to disk.
    pub max_file: u64,
    /// A connection that has not completed its TLS handshake within this time is closed.
    pub handshake_timeout: Duration,
    /// A connection that has not sent a single byte within this time is closed (a client
    /// sends its ClientHello at once); `handshake_timeout` still bounds the whole handshake.
    pub first_byte_timeout: Duration,
    /// Handshakes in progress per source address (IPv6: per /64); one more from the same
    /// address evicts that address's oldest (`pending_handshakes.rs`).
    pub max_handshakes_per_address: usize,
    /// Handshakes in progress in all; one more evicts the oldest of the address holding the
    /// most (its own, if its address holds the most), never the newcomer
    /// (`pending_handshakes.rs`).
    pub max_handshakes: usize,
    /// A connection with no frame for this long is closed.
    pub idle_timeout: Duration,
    /// Authenticated connections served at once; one more waits (up to `idle_timeout`) for a
    /// slot after its handshake.
    pub max_connections: usize,
}

impl ServerConfig {
    pub fn new(identity: Identity, authorized_keys: AuthorizedKeys) -> ServerConfig {
        ServerConfig {
            identity,
            authorized_keys,
            root: PathBuf::from("."),
            max_body: 64 << 20,
            max_file: u64::MAX,
            handshake_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(3),
            max_handshakes_per_address: 16,
            max_handshakes: 256,
            idle_timeout: Duration::from_secs(300),
            max_connections: 256,
        }
    }
}

/// One request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub kind: Kind,
    pub name: String,
    pub sender: PublicKey,
    pub rights: KeyRights,
    /// Message or data bytes (empty for files).
    pub body: Vec<u8>,
    /// Where a pushed file was stored (files only).
    pub path: Option<PathBuf>,
}

/// The handler's answer: a status (0 = success, by convention) and a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: i32,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: i32, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            body: body.into(),
        }
    }
}

pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    config: Arc<ServerConfig>,
    authorized: Arc<AuthorizedKeys>,
}

impl Server {
    pub async fn bind(addr: &str, config: ServerConfig) -> Result<Server, TransferError> {
        let authorized = Arc::new(config.authorized_keys.clone());
        let tls_config = tls::server_config(&config.identity, authorized.clone())?;
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(tls_config)),
            config: Arc::new(config),
            authorized,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, TransferError> {
        Ok(self.listener.local_addr()?)
    }

    /// Accepts connections forever. The loop only accepts and admits (which never waits and
    /// never refuses): every handshake runs in a task of its own, under two deadlines and the
    /// caps of [`PendingHandshakes`], so peers that connect and say nothing cannot hold up
    /// anyone else (they used to fill the connection slots, taken before the handshake, and an
    /// authorised client waited for their timeout; later, from 17 addresses, they filled the
    /// server-wide cap of handshakes and newcomers were closed at once).
    /// At most `max_connections` authenticated connections are served at once.
    pub async fn serve<H, F>(self, handler: H) -> Result<(), TransferError>
    where
        H: Fn(Incoming) -> F + Send + Sync + 'static,
        F: Future<Output = Reply> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let slots = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        let pending = PendingHandshakes::new(
            self.config.max_handshakes_per_address,
            self.config.max_handshakes,
        );
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: retrying at once would spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            let ticket = pending.admit(peer.ip());
            let acceptor = self.acceptor.clone();
            let config = self.config.clone();
            let authorized = self.authorized.clone();
            let handler = handler.clone();
            let slots = slots.clone();
            tokio::spawn(async move {
                let peer_connection =
                    match handshake(stream, peer, &acceptor, &config, &authorized, ticket).await {
                        Ok(connection) => connection,
                        Err(err @ TransferError::Handshake { .. }) => {
                            tracing::debug!(error = %err, "transfer handshake abandoned");
                            return;
                        }
                        Err(err) => {
                            tracing::info!(%peer, error = %err, "transfer handshake failed");
                            return;
                        }
                    };
                let Ok(Ok(permit)) =
                    tokio::time::timeout(config.idle_timeout, slots.acquire_owned()).await
                else {
                    tracing::warn!(%peer, limit = config.max_connections, "no connection slot became free; connection closed");
                    return;
                };
                if let Err(err) = connection(peer_connection, config, handler).await {
                    tracing::info!(%peer, error = %err, "transfer connection ended with an error");
                }
                drop(permit);
            });
        }
    }
}

/// Pause after a failed `accept` (for example, no file descriptor left).
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// An authenticated connection: the TLS stream, who the client is and what it may do.
struct PeerConnection {
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    sender: PublicKey,
    rights: KeyRights,
}

/// Runs the TLS handshake of one connection within `handshake_timeout` (its first byte within
/// `first_byte_timeout`), or until a newer connection takes its place; the ticket is given
/// back either way.
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: &TlsAcceptor,
    config: &ServerConfig,
    authorized: &AuthorizedKeys,
    mut ticket: HandshakeTicket,
) -> Result<PeerConnection, TransferError> {
    let abandoned = |why| TransferError::Handshake { peer, why };
    stream.set_nodelay(true)?;
    let handshake = async {
        // A peer that sends nothing holds a slot for nothing: a real client sends its
        // ClientHello as soon as it is connected. Peeked, so that TLS reads it as usual; an
        // error or the end of the stream is left for the TLS handshake to report.
        let mut first = [0u8; 1];
        let first_byte = stream.peek(&mut first);
        if tokio::time::timeout(config.first_byte_timeout, first_byte)
            .await
            .is_err()
        {
            return Err(abandoned(HandshakeAbandoned::Silent(
                config.first_byte_timeout,
            )));
        }
        acceptor
            .accept(stream)
            .await
            .map_err(|e| TransferError::Tls(e.to_string()))
    };
    let accepted = tokio::select! {
        accepted = tokio::time::timeout(config.handshake_timeout, handshake) => accepted,
        () = ticket.evicted() => return Err(abandoned(HandshakeAbandoned::Evicted)),
    };
    drop(ticket);
    let mut tls = accepted
        .map_err(|_| abandoned(HandshakeAbandoned::TimedOut(config.handshake_timeout)))??;
    tls.get_mut().1.set_buffer_limit(Some(tls::SEND_BUFFER));
    let sender = tls::peer_key(tls.get_ref().1.peer_certificates())
        .ok_or_else(|| TransferError::Tls("client presented no key".into()))?;
    let rights = authorized
        .rights(&sender)
        .cloned()
        .ok_or_else(|| TransferError::Tls("client key not authorised".into()))?;
    Ok(PeerConnection {
        tls,
        sender,
        rights,
    })
}

/// Serves the requests of one authenticated connection until it ends.
async fn connection<H, F>(
    peer: PeerConnection,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
) -> Result<(), TransferError>
where
    H: Fn(Incoming) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let PeerConnection {
        mut tls,
        sender,
        rights,
    } = peer;
    loop {
        let frame = match tokio::time::timeout(config.idle_timeout, read_frame(&mut tls)).await {
            Err(_) => return Err(TransferError::Timeout("idle connection")),
            Ok(frame) => frame,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(()),
            Err(err) => {
                let err = TransferError::from(err);
                refuse(&mut tls, codes::PROTOCOL, &err.to_string()).await;
                return Err(err);
            }
        };
        let Frame::Request {
            kind,
            flags,
            size,
            name,
        } = frame
        else {
            refuse(&mut tls, codes::PROTOCOL, "expected a request").await;
            return Err(TransferError::Protocol(
                crate::frame::FrameError::Malformed("request"),
            ));
        };
        let incoming = match kind {
            Kind::FileGet => {
                let refusal = server_files::send(&mut tls, &config, &rights, size, &name).await?;
                if let Some(reply) = refusal {
                    send_reply(&mut tls, reply).await?;
                }
                continue;
            }
            Kind::FilePush => {
                match server_files::receive(&mut tls, &config, &sender, &rights, flags, size, &name)
                    .await?
                {
                    server_files::PushOutcome::Refused(reply) => {
                        send_reply(&mut tls, reply).await?;
                        continue;
                    }
                    server_files::PushOutcome::Stored(path) => Incoming {
                        kind,
                        name,
                        sender,
                        rights: rights.clone(),
                        body: Vec::new(),
                        path: Some(path),
                    },
                }
            }
            Kind::Message | Kind::Data => {
                if size > config.max_body {
                    let message = format!(
                        "body of {size} bytes exceeds the server's {}-byte limit",
                        config.max_body
                    );
                    refuse(&mut tls, codes::TOO_LARGE, &message).await;
                    return Ok(());
                }
                let body = match read_body(&mut tls, size).await {
                    Ok(body) => body,
                    Err(err) => {
                        refuse(&mut tls, codes::PROTOCOL, &err.to_string()).await;
                        return Err(err);
                    }
                };
                Incoming {
                    kind,
                    name,
                    sender,
                    rights: rights.clone(),
                    body,
                    path: None,
                }
            }
        };
        let reply = handler(incoming).await;
        send_reply(&mut tls, reply).await?;
    }
}

async fn send_reply<S: AsyncWrite + Unpin>(
    stream: &mut S,
    mut reply: Reply,
) -> Result<(), TransferError> {
    if reply.body.len() > MAX_PAYLOAD - 4 {
        reply = Reply::new(-1, "response too large for one frame");
    }
    write_frame(
        stream,
        &Frame::Response {
            status: reply.status,
            body: reply.body,
        },
    )
    .await?;
    tokio::io::AsyncWriteExt::flush(stream).await?;
    Ok(())
}

/// Reads DATA frames up to END; their total must be exactly the announced size.
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    size: u64,
) -> Result<Vec<u8>, TransferError> {
    let mut body = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
    loop {
        match read_frame(stream).await? {
            Some(Frame::Data(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > size {
                    return Err(TransferError::Protocol(
                        crate::frame::FrameError::Malformed("data (more than announced)"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Some(Frame::End) if body.len() as u64 == size => return Ok(body),
            Some(Frame::End) => {
                return Err(TransferError::Protocol(
                    crate::frame::FrameError::Malformed("end (less than announced)"),
                ));
            }
            Some(_) => {
                return Err(TransferError::Protocol(
                    crate::frame::FrameError::Malformed("body (unexpected frame)"),
                ));
            }
            None => return Err(TransferError::Protocol(crate::frame::FrameError::Truncated)),
        }
    }
}

/// How long a connection is read on after its ERROR frame (see [`refuse`]).
const STOP_DRAIN: Duration = Duration::from_secs(2);

/// Tells the peer why we stop (best effort) before the connection closes. The peer may still
/// be sending: reading on for a moment (discarding), instead of closing on unread data, which
/// resets the connection, lets the ERROR frame reach it. Clients stop sending as soon as they
/// see it.
pub(crate) async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    code: u16,
    message: &str,
) {
    let frame = Frame::Error {
        code,
        message: message.chars().take(1000).collect(),
    };
    if write_frame(stream, &frame).await.is_err() {
        return;
    }
    let _ = tokio::io::AsyncWriteExt::shutdown(stream).await;
    let mut discard = vec![0u8; 64 << 10];
    let drain = async {
        while matches!(
            tokio::io::AsyncReadExt::read(stream, &mut discard).await,
            Ok(n) if n > 0
        ) {}
    };
    let _ = tokio::time::timeout(STOP_DRAIN, drain).await;
}
