//! A callee's session as plain data, so that the nodes of a cluster can share it (docs/toki.md,
//! "Sessions in a cluster"): the node that answers a hello publishes the session, another node
//! adopts it when a call names a session (or an epoch) it does not hold.
//!
//! The roots are secrets: whoever stores [`SessionState::to_bytes`] must encrypt it. The
//! ratchet anchor is not (both MACs travel in the exchange's tokens).

use zeroize::Zeroizing;

use crate::encoding::Reader;
use crate::error::TokiError;
use crate::identity::ServiceId;

/// One epoch's root key.
pub struct EpochRoot {
    pub epoch: u32,
    pub root: Zeroizing<[u8; 32]>,
}

/// The flagged exchange the next epoch derives from: `(counter, request MAC, response MAC)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatchetAnchor {
    pub counter: u64,
    pub request_mac: [u8; 32],
    pub response_mac: [u8; 32],
}

impl RatchetAnchor {
    /// Both MACs, request first (64 bytes).
    pub fn macs(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.request_mac);
        out[32..].copy_from_slice(&self.response_mac);
        out
    }

    pub fn from_macs(counter: u64, macs: &[u8]) -> Option<RatchetAnchor> {
        let (request, response) = (macs.get(..32)?, macs.get(32..)?);
        Some(RatchetAnchor {
            counter,
            request_mac: request.try_into().ok()?,
            response_mac: response.try_into().ok()?,
        })
    }
}

/// What a callee holds of one session, besides its replay window (which each node keeps for
/// itself: the cluster-wide replay check is the transport's, see keyway-toki-http).
pub struct SessionState {
    pub caller: ServiceId,
    pub expires_ms: i64,
    pub current: EpochRoot,
    pub previous: Option<EpochRoot>,
    pub anchor: Option<RatchetAnchor>,
}

/// The byte layout's version (`to_bytes`).
const STATE_VERSION: u8 = 1;

impl SessionState {
    /// The secret part (caller, expiry, roots) as bytes, to be sealed by whoever stores it:
    /// `0x01 · lp(caller) · expires_ms:i64 · epoch:u32 · root[32] · (0x00 | 0x01 · epoch:u32 ·
    /// root[32])`. The anchor is not included (it is public and changes on its own).
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let caller = self.caller.as_str().as_bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(1 + 2 + caller.len() + 8 + 2 * 37));
        out.push(STATE_VERSION);
        // Service ids are at most 255 bytes.
        out.extend_from_slice(&(caller.len() as u16).to_be_bytes());
        out.extend_from_slice(caller);
        out.extend_from_slice(&self.expires_ms.to_be_bytes());
        out.extend_from_slice(&self.current.epoch.to_be_bytes());
        out.extend_from_slice(self.current.root.as_ref());
        match &self.previous {
            None => out.push(0),
            Some(previous) => {
                out.push(1);
                out.extend_from_slice(&previous.epoch.to_be_bytes());
                out.extend_from_slice(previous.root.as_ref());
            }
        }
        out
    }

    /// The inverse of [`SessionState::secret_bytes`], with the anchor stored beside it.
    pub fn from_secret_bytes(
        bytes: &[u8],
        anchor: Option<RatchetAnchor>,
    ) -> Result<SessionState, TokiError> {
        let malformed = || TokiError::Malformed("shared session");
        let mut reader = Reader::new(bytes, "shared session");
        if reader.fixed::<1>()? != [STATE_VERSION] {
            return Err(TokiError::UnsupportedVersion);
        }
        let caller = std::str::from_utf8(reader.prefixed()?).map_err(|_| malformed())?;
        let caller = ServiceId::new(caller)?;
        let expires_ms = i64::from_be_bytes(reader.fixed()?);
        let current = epoch_root(&mut reader)?;
        let previous = match reader.fixed::<1>()? {
            [0] => None,
            [1] => Some(epoch_root(&mut reader)?),
            _ => return Err(malformed()),
        };
        reader.finish()?;
        if previous
            .as_ref()
            .is_some_and(|p| Some(p.epoch) != current.epoch.checked_sub(1))
        {
            return Err(malformed());
        }
        Ok(SessionState {
            caller,
            expires_ms,
            current,
            previous,
            anchor,
        })
    }
}

fn epoch_root(reader: &mut Reader<'_>) -> Result<EpochRoot, TokiError> {
    let epoch = u32::from_be_bytes(reader.fixed()?);
    let root = Zeroizing::new(reader.fixed::<32>()?);
    Ok(EpochRoot { epoch, root })
}
