use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

use crate::frame::{FrameError, TransferIoError};

#[derive(Debug, Error)]
pub enum TransferError {
    #[error("key error: {0}")]
    BadKey(String),
    #[error(
        "the server key of {host} has CHANGED: known {expected}, presented {got}. \
         Someone may be intercepting the connection, or the server was re-keyed; \
         remove the old line from known_hosts only if you know why"
    )]
    ServerKeyChanged {
        host: String,
        expected: String,
        got: String,
    },
    /// The server's key is not the one given with `--server-key`.
    #[error(
        "{host} presented the key {got}, not the one given with --server-key ({expected}): \
         the key given is wrong, or someone is intercepting the connection"
    )]
    ServerKeyMismatch {
        host: String,
        expected: String,
        got: String,
    },
    #[error(
        "{host} is not in known_hosts (its key is {got}); use --accept-new or --server-key to trust it"
    )]
    UnknownServer { host: String, got: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("protocol: {0}")]
    Protocol(#[from] FrameError),
    #[error("the peer reported error {code}: {message}")]
    Remote { code: u16, message: String },
    #[error("the server refused: {message} (status {status})")]
    Refused { status: i32, message: String },
    #[error(
        "the received file does not match its digest; the partial file was removed, send again"
    )]
    Integrity,
    #[error("{0} exists; use --overwrite to replace it")]
    LocalExists(String),
    #[error("transfer stopped by the caller")]
    Aborted,
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("TLS handshake with {peer} abandoned: {why}")]
    Handshake {
        peer: SocketAddr,
        why: HandshakeAbandoned,
    },
    /// The server ended the connection before answering anything: it does not admit this
    /// client's key (`certain` when its TLS alert said so, else the likeliest reading of a
    /// connection closed right after the handshake).
    #[error(
        "{peer} {verdict} this client's key {fingerprint}: add the key's .pub line to the \
         server's authorized_keys (or register it with `keyway client add-key` for a server \
         run with --hub-clients)",
        verdict = if *certain { "refused" } else { "closed the connection at once; it most likely does not accept" }
    )]
    ClientKeyRefused {
        peer: String,
        fingerprint: String,
        certain: bool,
    },
    /// The TCP connection to the server could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    LocalFile {
        path: String,
        source: std::io::Error,
    },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl TransferError {
    /// Whether this is how a server's refusal of the client key looks from the client: its TLS
    /// alert (`Some(true)`), or a connection that broke before any answer (`Some(false)`).
    pub(crate) fn as_key_refusal(&self) -> Option<bool> {
        use std::io::ErrorKind;
        let io = match self {
            TransferError::Io(io) => io,
            TransferError::Protocol(FrameError::Truncated) => return Some(false),
            _ => return None,
        };
        if let Some(rustls::Error::AlertReceived(alert)) = io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            use rustls::AlertDescription as A;
            return matches!(
                alert,
                A::AccessDenied | A::CertificateUnknown | A::BadCertificate | A::UnknownCA
            )
            .then_some(true);
        }
        matches!(
            io.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
        )
        .then_some(false)
    }
}

/// Why the server gave up on a connection before its handshake ended (docs/transfer.md,
/// "Timeouts and limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HandshakeAbandoned {
    #[error("not completed within {0:?}")]
    TimedOut(Duration),
    #[error("no byte received within {0:?}")]
    Silent(Duration),
    #[error(
        "a newer connection took its place (the source address's cap, or the server-wide cap \
         and this address held the most pending handshakes)"
    )]
    Evicted,
}

impl From<TransferIoError> for TransferError {
    fn from(err: TransferIoError) -> TransferError {
        match err {
            TransferIoError::Frame(f) => TransferError::Protocol(f),
            TransferIoError::Io(e) => TransferError::Io(e),
        }
    }
}
