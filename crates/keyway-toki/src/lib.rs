//! keyway-toki: rolling, mutually authenticated per-call tokens (`oscartoki`) between
//! services. Wire format, key schedule, verification order and test vectors: `docs/toki.md`.
//!
//! 1. The caller sends a signed [`Hello`] ([`PendingHello::new`]); the callee answers with a
//!    signed `Welcome` ([`Callee::accept_hello`]); both derive a session root from ephemeral
//!    X25519 (forward secrecy) and erase the ephemeral keys.
//! 2. Each request carries a request token ([`ClientSession::sign_request`]) that the callee
//!    checks ([`Callee::verify_request`]); each response carries a response token bound to the
//!    request ([`Callee::sign_response`], [`ClientSession::verify_response`]).
//! 3. Keys ratchet forward on a flagged exchange; sessions expire and a new hello is needed.
//!
//! 4. One-way broker messages carry a signed [`MessageToken`] ([`MessageSigner`],
//!    [`MessageVerifier`]) with a replay cache per sender.
//!
//! This crate is transport-free: HTTP, broker and hub integration live on top of it.
//!
//! ```
//! use keyway_toki::*;
//!
//! # fn main() -> Result<(), TokiError> {
//! let (clock, entropy) = (SystemClock, SystemEntropy::default());
//! let (orders, ledger) = (ServiceId::new("orders")?, ServiceId::new("ledger")?);
//! let orders_key = TokiKeyPair::generate(&entropy)?;
//! let ledger_key = TokiKeyPair::generate(&entropy)?;
//! let ledger_public = ledger_key.public_key();
//!
//! // The callee knows the caller's registered toki key (from the hub, later).
//! let mut peers = StaticPeerKeys::new();
//! peers.insert(orders.clone(), orders_key.public_key());
//! let config = TokiConfig::default();
//! let mut callee = Callee::new(ledger.clone(), ledger_key, peers, config.clone());
//!
//! // Handshake.
//! let hello = PendingHello::new(&orders_key, orders, ledger, clock.now_ms(), &entropy)?;
//! let welcome = callee.accept_hello(hello.wire(), &clock, &entropy)?;
//! let mut session = ClientSession::establish(hello, &welcome, &ledger_public, &clock, &config)?;
//!
//! // One call.
//! let body = content_digest(br#"{"amount":100}"#);
//! let request = RequestParts {
//!     method: "POST",
//!     authority: "ledger.internal:8443",
//!     path_and_query: "/v1/entries",
//!     content_digest: &body,
//! };
//! let signed = session.sign_request(&clock, &request)?;
//! let verified = callee.verify_request(Some(&signed.header_value), &request, &clock)?;
//! assert_eq!(verified.caller.as_str(), "orders");
//! let answer = content_digest(br#"{"id":7}"#);
//! let response_header = callee.sign_response(&verified, 201, &answer)?;
//! session.verify_response(&signed.sent, 201, &answer, Some(&response_header))?;
//!
//! // A replay is refused.
//! let replay = callee.verify_request(Some(&signed.header_value), &request, &clock);
//! assert_eq!(replay.err(), Some(TokiError::Replayed));
//! # Ok(())
//! # }
//! ```

mod client;
mod clock;
mod config;
mod encoding;
mod error;
mod hello;
mod identity;
mod keys;
mod message;
mod server;
mod shared;
mod token;
mod window;

pub use client::{
    ClientSession, IN_FLIGHT_PRESUMED_LOST_AFTER_CALLS, RATCHET_RETRY_AFTER_CALLS, SentRequest,
    SignedRequest,
};
pub use clock::{Clock, Entropy, ManualClock, SystemClock, SystemEntropy};
pub use config::TokiConfig;
pub use encoding::content_digest;
pub use error::TokiError;
pub use hello::{Hello, PendingHello, SessionId, Welcome};
pub use identity::{
    PeerKeys, ServiceId, StaticPeerKeys, TOKI_KEY_TYPE, TokiKeyPair, TokiPublicKey,
};
pub use message::{
    MAX_MESSAGE_TOKEN_LEN, MessagePolicy, MessageRoute, MessageSigner, MessageToken,
    MessageVerifier, VerifiedMessage, canonical_message,
};
pub use server::{Callee, VerifiedRequest};
pub use shared::{EpochRoot, RatchetAnchor, SessionState};
pub use token::{
    FLAG_RATCHET, HEADER_NAME, MAX_TOKEN_LEN, RequestParts, RequestToken, ResponseToken,
    canonical_request, canonical_response,
};
pub use window::{ReplayWindow, WINDOW_BITS, WindowVerdict};

#[cfg(test)]
mod tests;
