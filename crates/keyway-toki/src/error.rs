use thiserror::Error;

/// Why a toki message, token or session step was refused. Every variant names one rule of
/// `docs/toki.md`, so a server can map it to a `WWW-Authenticate` error and a metric label.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum TokiError {
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("no oscartoki token")]
    MissingToken,
    #[error("unsupported protocol version")]
    UnsupportedVersion,
    #[error("{0} contains characters that cannot be bound (control characters or line breaks)")]
    InvalidField(&'static str),
    #[error("service identifier must be 1-255 visible ASCII characters")]
    InvalidServiceId,
    #[error("key material rejected")]
    BadKey,
    #[error("the peer service has no registered toki key")]
    UnknownPeer,
    #[error("the hello is addressed to another service")]
    WrongCallee,
    #[error("handshake signature does not verify")]
    BadSignature,
    #[error("hello created too long ago")]
    HelloStale,
    #[error("hello created in the future")]
    HelloFromFuture,
    #[error("hello nonce already used")]
    HelloReplayed,
    #[error("too many recent hellos to remember; try again later")]
    HelloCacheFull,
    #[error("too many open sessions")]
    TooManySessions,
    #[error("key agreement failed")]
    KeyAgreement,
    #[error("unknown session")]
    UnknownSession,
    #[error("session expired; a new hello is needed")]
    SessionExpired,
    #[error("token refers to a key epoch this side does not hold")]
    UnknownEpoch,
    #[error("token MAC does not verify")]
    BadMac,
    #[error("token created too long ago")]
    TokenStale,
    #[error("token created in the future")]
    TokenFromFuture,
    #[error("counter already used")]
    Replayed,
    #[error("counter is below the replay window")]
    BelowWindow,
    #[error("session counter exhausted; a new hello is needed")]
    CounterExhausted,
    #[error("response token answers another request")]
    ResponseMismatch,
}
