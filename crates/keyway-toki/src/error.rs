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
    #[error("too many recent messages from this sender to remember; try again later")]
    ReplayCacheFull,
}

impl TokiError {
    /// A stable snake_case name for the rule that failed: the `error` parameter of
    /// `WWW-Authenticate: Toki`, and a metric label. Never carries secrets or input bytes.
    pub fn code(&self) -> &'static str {
        match self {
            TokiError::Malformed(_) => "malformed",
            TokiError::MissingToken => "missing_token",
            TokiError::UnsupportedVersion => "unsupported_version",
            TokiError::InvalidField(_) => "invalid_field",
            TokiError::InvalidServiceId => "invalid_service_id",
            TokiError::BadKey => "bad_key",
            TokiError::UnknownPeer => "unknown_peer",
            TokiError::WrongCallee => "wrong_callee",
            TokiError::BadSignature => "bad_signature",
            TokiError::HelloStale => "hello_stale",
            TokiError::HelloFromFuture => "hello_from_future",
            TokiError::HelloReplayed => "hello_replayed",
            TokiError::HelloCacheFull => "hello_cache_full",
            TokiError::TooManySessions => "too_many_sessions",
            TokiError::KeyAgreement => "key_agreement",
            TokiError::UnknownSession => "unknown_session",
            TokiError::SessionExpired => "session_expired",
            TokiError::UnknownEpoch => "unknown_epoch",
            TokiError::BadMac => "bad_mac",
            TokiError::TokenStale => "token_stale",
            TokiError::TokenFromFuture => "token_from_future",
            TokiError::Replayed => "replayed",
            TokiError::BelowWindow => "below_window",
            TokiError::CounterExhausted => "counter_exhausted",
            TokiError::ResponseMismatch => "response_mismatch",
            TokiError::ReplayCacheFull => "replay_cache_full",
        }
    }

    /// The inverse of [`TokiError::code`], for clients reading a `WWW-Authenticate` answer.
    /// `Malformed` and `InvalidField` lose their detail.
    pub fn from_code(code: &str) -> Option<TokiError> {
        ALL.iter().copied().find(|error| error.code() == code)
    }
}

const ALL: [TokiError; 26] = [
    TokiError::Malformed("token"),
    TokiError::MissingToken,
    TokiError::UnsupportedVersion,
    TokiError::InvalidField("request"),
    TokiError::InvalidServiceId,
    TokiError::BadKey,
    TokiError::UnknownPeer,
    TokiError::WrongCallee,
    TokiError::BadSignature,
    TokiError::HelloStale,
    TokiError::HelloFromFuture,
    TokiError::HelloReplayed,
    TokiError::HelloCacheFull,
    TokiError::TooManySessions,
    TokiError::KeyAgreement,
    TokiError::UnknownSession,
    TokiError::SessionExpired,
    TokiError::UnknownEpoch,
    TokiError::BadMac,
    TokiError::TokenStale,
    TokiError::TokenFromFuture,
    TokiError::Replayed,
    TokiError::BelowWindow,
    TokiError::CounterExhausted,
    TokiError::ResponseMismatch,
    TokiError::ReplayCacheFull,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_round_trip() {
        let mut codes: Vec<_> = ALL.iter().map(TokiError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
        for error in ALL {
            assert_eq!(
                TokiError::from_code(error.code()).map(|e| e.code()),
                Some(error.code())
            );
        }
    }
}
