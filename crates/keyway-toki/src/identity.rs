use std::collections::HashMap;
use std::fmt;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::clock::Entropy;
use crate::error::TokiError;

/// A service's name in toki: its OAuth `client_id` at the hub. 1-255 bytes of visible ASCII
/// (`0x21..=0x7e`), so it can be bound on one line of a canonical string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(String);

impl ServiceId {
    pub fn new(id: impl Into<String>) -> Result<ServiceId, TokiError> {
        let id = id.into();
        let visible = id.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if id.is_empty() || id.len() > 255 || !visible {
            return Err(TokiError::InvalidServiceId);
        }
        Ok(ServiceId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A service's long-term Ed25519 toki key pair. Only the public half is registered at the hub.
pub struct TokiKeyPair(Ed25519KeyPair);

impl fmt::Debug for TokiKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokiKeyPair(public {:?})", self.public_key())
    }
}

impl TokiKeyPair {
    /// The key pair of an RFC 8032 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<TokiKeyPair, TokiError> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(TokiKeyPair)
            .map_err(|_| TokiError::BadKey)
    }

    /// A fresh key pair from `entropy`.
    pub fn generate(entropy: &dyn Entropy) -> Result<TokiKeyPair, TokiError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        entropy.fill(seed.as_mut());
        TokiKeyPair::from_seed(&seed)
    }

    /// Loads a PKCS#8 v1 or v2 document.
    pub fn from_pkcs8(der: &[u8]) -> Result<TokiKeyPair, TokiError> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(TokiKeyPair)
            .map_err(|_| TokiError::BadKey)
    }

    /// The PKCS#8 v2 document [`TokiKeyPair::from_pkcs8`] reads (write it 0600).
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, TokiError> {
        self.0
            .to_pkcs8()
            .map(|document| Zeroizing::new(document.as_ref().to_vec()))
            .map_err(|_| TokiError::BadKey)
    }

    pub fn public_key(&self) -> TokiPublicKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.0.public_key().as_ref());
        TokiPublicKey(bytes)
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut signature = [0u8; 64];
        signature.copy_from_slice(self.0.sign(message).as_ref());
        signature
    }
}

/// A registered Ed25519 public toki key (32 bytes, RFC 8032 encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokiPublicKey(pub [u8; 32]);

/// The key type word of a public key line, shared with keyway-transfer's identities so one
/// Ed25519 key file can serve both.
pub const TOKI_KEY_TYPE: &str = "keyway-ed25519";

impl TokiPublicKey {
    /// Parses a public key line, `keyway-ed25519 <standard base64 of 32 bytes> [comment]`
    /// (what `keyway transfer keygen` writes and [`fmt::Display`] prints).
    pub fn parse(line: &str) -> Result<TokiPublicKey, TokiError> {
        use base64::Engine;
        let mut parts = line.split_whitespace();
        if parts.next() != Some(TOKI_KEY_TYPE) {
            return Err(TokiError::BadKey);
        }
        let encoded = parts.next().ok_or(TokiError::BadKey)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| TokiError::BadKey)?;
        bytes
            .try_into()
            .map(TokiPublicKey)
            .map_err(|_| TokiError::BadKey)
    }

    /// Checks an Ed25519 signature by this key (`BadSignature` when it does not verify).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), TokiError> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .map_err(|_| TokiError::BadSignature)
    }
}

impl fmt::Display for TokiPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(self.0);
        write!(f, "{TOKI_KEY_TYPE} {encoded}")
    }
}

/// Where a service looks up the registered toki keys of its peers (the hub, later; a fixed map
/// in tests and small deployments).
pub trait PeerKeys: Send + Sync {
    fn toki_key(&self, service: &ServiceId) -> Option<TokiPublicKey>;
}

/// A fixed table of peers' toki keys.
#[derive(Debug, Default, Clone)]
pub struct StaticPeerKeys(HashMap<ServiceId, TokiPublicKey>);

impl StaticPeerKeys {
    pub fn new() -> StaticPeerKeys {
        StaticPeerKeys::default()
    }

    pub fn insert(&mut self, service: ServiceId, key: TokiPublicKey) {
        self.0.insert(service, key);
    }
}

impl PeerKeys for StaticPeerKeys {
    fn toki_key(&self, service: &ServiceId) -> Option<TokiPublicKey> {
        self.0.get(service).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids_are_visible_ascii() {
        assert!(ServiceId::new("billing.api").is_ok());
        assert_eq!(ServiceId::new(""), Err(TokiError::InvalidServiceId));
        assert_eq!(ServiceId::new("a b"), Err(TokiError::InvalidServiceId));
        assert_eq!(ServiceId::new("a\nb"), Err(TokiError::InvalidServiceId));
        assert_eq!(ServiceId::new("é"), Err(TokiError::InvalidServiceId));
        assert_eq!(
            ServiceId::new("x".repeat(256)),
            Err(TokiError::InvalidServiceId)
        );
    }

    #[test]
    fn public_key_lines_round_trip() {
        let public = TokiKeyPair::from_seed(&[7u8; 32]).unwrap().public_key();
        let line = public.to_string();
        assert!(line.starts_with("keyway-ed25519 "));
        assert_eq!(TokiPublicKey::parse(&line), Ok(public));
        assert_eq!(
            TokiPublicKey::parse(&format!("{line} orders@host")),
            Ok(public)
        );
        for bad in [
            "",
            "keyway-ed25519",
            "ssh-ed25519 AAAA",
            "keyway-ed25519 !!",
            "keyway-ed25519 AAAA",
        ] {
            assert_eq!(TokiPublicKey::parse(bad), Err(TokiError::BadKey), "{bad:?}");
        }
    }

    #[test]
    fn signatures_verify_only_for_the_signed_message() {
        let pair = TokiKeyPair::from_seed(&[7u8; 32]).unwrap();
        let signature = pair.sign(b"message");
        assert_eq!(pair.public_key().verify(b"message", &signature), Ok(()));
        assert_eq!(
            pair.public_key().verify(b"messagf", &signature),
            Err(TokiError::BadSignature)
        );
    }
}
