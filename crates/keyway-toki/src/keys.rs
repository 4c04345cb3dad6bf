//! The key schedule (docs/toki.md, "Key schedule"). Standard constructions only: SHA-256,
//! HKDF-SHA256 (RFC 5869) and HMAC-SHA256 (RFC 2104), all from aws-lc.

use aws_lc_rs::digest::{self, SHA256};
use aws_lc_rs::hkdf::{self, HKDF_SHA256, Prk, Salt};
use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::TokiError;

pub(crate) const LABEL_HELLO: &[u8] = b"keyway-toki v1 hello";
pub(crate) const LABEL_WELCOME: &[u8] = b"keyway-toki v1 welcome";
pub(crate) const LABEL_TRANSCRIPT: &[u8] = b"keyway-toki v1 transcript";
pub(crate) const LABEL_SESSION_ROOT: &[u8] = b"keyway-toki v1 session root";
pub(crate) const LABEL_REQUEST_KEY: &[u8] = b"keyway-toki v1 request key";
pub(crate) const LABEL_RESPONSE_KEY: &[u8] = b"keyway-toki v1 response key";
pub(crate) const LABEL_RATCHET: &[u8] = b"keyway-toki v1 ratchet";

/// A 32-byte secret that is wiped when dropped.
pub(crate) type Secret = Zeroizing<[u8; 32]>;

/// SHA-256 over `label || 0x00 || hello || welcome`: the salt of the session root.
pub(crate) fn transcript_hash(hello_wire: &[u8], welcome_wire: &[u8]) -> [u8; 32] {
    let mut context = digest::Context::new(&SHA256);
    context.update(LABEL_TRANSCRIPT);
    context.update(&[0]);
    context.update(hello_wire);
    context.update(welcome_wire);
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

fn hkdf_expand(prk: &Prk, info: &[&[u8]]) -> Result<Secret, TokiError> {
    let mut out = Zeroizing::new([0u8; 32]);
    prk.expand(info, HKDF_SHA256)
        .and_then(|okm| okm.fill(out.as_mut()))
        .map_err(|_| TokiError::KeyAgreement)?;
    Ok(out)
}

/// `root_0 = HKDF-SHA256(salt = transcript hash, IKM = X25519 shared secret, info = label)`.
pub(crate) fn session_root(
    shared_secret: &[u8],
    transcript: &[u8; 32],
) -> Result<Secret, TokiError> {
    let prk = Salt::new(HKDF_SHA256, transcript).extract(shared_secret);
    hkdf_expand(&prk, &[LABEL_SESSION_ROOT])
}

/// `root_{e+1} = HKDF-SHA256(salt = request MAC || response MAC, IKM = root_e,
/// info = label || e+1 as u32 BE)`.
pub(crate) fn ratchet_root(
    root: &[u8; 32],
    next_epoch: u32,
    request_mac: &[u8; 32],
    response_mac: &[u8; 32],
) -> Result<Secret, TokiError> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(request_mac);
    salt[32..].copy_from_slice(response_mac);
    let prk = Salt::new(HKDF_SHA256, &salt).extract(root);
    hkdf_expand(&prk, &[LABEL_RATCHET, &next_epoch.to_be_bytes()])
}

/// `HKDF-Expand(PRK = root_e, info = label || e as u32 BE, 32)`: the request or response MAC key.
pub(crate) fn epoch_key(root: &[u8; 32], label: &[u8], epoch: u32) -> Result<Secret, TokiError> {
    let prk = Prk::new_less_safe(hkdf::HKDF_SHA256, root);
    hkdf_expand(&prk, &[label, &epoch.to_be_bytes()])
}

/// The keys of one epoch of a session. The root is kept only to derive the next epoch; aws-lc
/// wipes the HMAC key schedules when they are dropped.
pub(crate) struct EpochKeys {
    pub(crate) epoch: u32,
    root: Secret,
    request: hmac::Key,
    response: hmac::Key,
}

impl EpochKeys {
    pub(crate) fn new(epoch: u32, root: Secret) -> Result<EpochKeys, TokiError> {
        let request = epoch_key(&root, LABEL_REQUEST_KEY, epoch)?;
        let response = epoch_key(&root, LABEL_RESPONSE_KEY, epoch)?;
        Ok(EpochKeys {
            epoch,
            request: hmac::Key::new(hmac::HMAC_SHA256, request.as_ref()),
            response: hmac::Key::new(hmac::HMAC_SHA256, response.as_ref()),
            root,
        })
    }

    /// The keys of the next epoch, anchored on one exchange of this epoch.
    pub(crate) fn ratchet(
        &self,
        request_mac: &[u8; 32],
        response_mac: &[u8; 32],
    ) -> Result<EpochKeys, TokiError> {
        let next_epoch = self
            .epoch
            .checked_add(1)
            .ok_or(TokiError::CounterExhausted)?;
        let root = ratchet_root(&self.root, next_epoch, request_mac, response_mac)?;
        EpochKeys::new(next_epoch, root)
    }

    /// The root, to be shared with the other nodes of a cluster (sealed).
    pub(crate) fn root(&self) -> &[u8; 32] {
        &self.root
    }

    pub(crate) fn request_mac(&self, canonical: &[u8]) -> [u8; 32] {
        mac(&self.request, canonical)
    }

    pub(crate) fn response_mac(&self, canonical: &[u8]) -> [u8; 32] {
        mac(&self.response, canonical)
    }
}

fn mac(key: &hmac::Key, canonical: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(key, canonical).as_ref());
    out
}

/// Compares two MACs in constant time.
pub(crate) fn macs_equal(expected: &[u8; 32], presented: &[u8; 32]) -> bool {
    expected.ct_eq(presented).into()
}
