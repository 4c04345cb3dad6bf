//! The JOSE pieces keyway needs: compact JWS signing and verification with keys that fix their
//! algorithm (RFC 7515, RFC 8037), JWK encoding and thumbprints (RFC 7517, RFC 7638).
//!
//! The algorithm is a property of the key. A token's `alg` header only has to agree with it;
//! it never chooses how a signature is checked, so `alg: none` and HS256-with-a-public-key
//! tricks have nothing to work with.

mod jwk;
mod jws;

pub use jwk::{PublicJwk, jwk_thumbprint};
pub use jws::{
    CompactJws, JoseError, SigningKey, VERIFIED_ALGS, VerifyingKey, decode_segment, sign_compact,
    split_compact,
};
