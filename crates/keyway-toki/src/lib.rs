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
//! This crate is transport-free: HTTP, broker and hub integration live on top of it.

mod client;
mod clock;
mod config;
mod encoding;
mod error;
mod hello;
mod identity;
mod keys;
mod server;
mod token;
mod window;

pub use client::{ClientSession, RATCHET_RETRY_AFTER_CALLS, SentRequest, SignedRequest};
pub use clock::{Clock, Entropy, ManualClock, SystemClock, SystemEntropy};
pub use config::TokiConfig;
pub use encoding::content_digest;
pub use error::TokiError;
pub use hello::{Hello, PendingHello, SessionId, Welcome};
pub use identity::{PeerKeys, ServiceId, StaticPeerKeys, TokiKeyPair, TokiPublicKey};
pub use server::{Callee, VerifiedRequest};
pub use token::{
    FLAG_RATCHET, HEADER_NAME, MAX_TOKEN_LEN, RequestParts, RequestToken, ResponseToken,
    canonical_request, canonical_response,
};
pub use window::{ReplayWindow, WINDOW_BITS, WindowVerdict};

#[cfg(test)]
mod tests;
