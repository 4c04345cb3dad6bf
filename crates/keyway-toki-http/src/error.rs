use keyway_toki::TokiError;
use thiserror::Error;

/// Why a toki HTTP call failed. A call that returns `Ok` had its answer verified; every
/// failure, including an answer that does not verify, is one of these.
#[derive(Debug, Error)]
pub enum TokiHttpError {
    /// Signing locally failed (bad field, exhausted session).
    #[error("toki: {0}")]
    Toki(#[from] TokiError),
    /// The answer's toki is missing, forged, or does not bind its status and body: the answer
    /// must be treated as not received.
    #[error("response rejected: {0}")]
    ResponseRejected(TokiError),
    /// The callee refused the call (401 names the rule in `WWW-Authenticate`, 413, 503).
    /// Unsigned, so it proves nothing about the callee; it is never taken as success.
    #[error("call refused with HTTP {status}: {}", error.map_or("no toki reason", |e| e.code()))]
    Refused {
        status: u16,
        error: Option<TokiError>,
    },
    #[error("handshake refused with HTTP {status}: {}", error.map_or("no toki reason", |e| e.code()))]
    HandshakeRefused {
        status: u16,
        error: Option<TokiError>,
    },
    #[error("request bodies must be in memory to be digested, not streamed")]
    StreamingBody,
    #[error("response body larger than {0} bytes")]
    ResponseTooLarge(usize),
    #[error("unusable URL: {0}")]
    InvalidUrl(&'static str),
    #[error("toki session state poisoned by a panic elsewhere")]
    Poisoned,
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// A [`crate::PeerSource`] could not answer (its store or the hub is down).
    #[error("peer lookup failed: {0}")]
    PeerLookup(String),
}
