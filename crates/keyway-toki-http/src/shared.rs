//! Toki sessions across the nodes of a cluster (docs/toki.md, "Sessions in a cluster"): the
//! node that answers a hello publishes the session before it answers, a node that meets a
//! session or an epoch it does not hold loads it, and every accepted counter (and hello nonce)
//! is claimed once for the whole cluster, so a token replayed to another node is refused.
//!
//! The layer knows nothing of where sessions are kept: the hub keeps them in its SQL store
//! (roots sealed under its master key).

use std::future::Future;
use std::pin::Pin;

use keyway_toki::{
    Callee, Clock, Hello, RatchetAnchor, RequestToken, SessionId, SessionState, TokiConfig,
    VerifiedRequest, Welcome,
};

use crate::layer::{DynPeers, Shared};

/// What a [`SharedSessions`] call returns.
pub type ShareFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ShareError>> + Send + 'a>>;

/// The shared state could not be read or written (the store is unreachable, say): the call
/// is answered 503 and changes nothing the caller relies on.
#[derive(Debug, thiserror::Error)]
#[error("shared toki sessions unavailable: {0}")]
pub struct ShareError(pub String);

/// Something used once in the whole cluster: a session's counter, or a hello's nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayKey {
    Counter(SessionId, u64),
    HelloNonce([u8; 16]),
}

/// Where the nodes of a cluster keep their toki sessions.
pub trait SharedSessions: Send + Sync {
    /// A session some node published, as it is now; `None` when no node opened it (or it
    /// expired).
    fn load(&self, id: SessionId) -> ShareFuture<'_, Option<SessionState>>;

    /// Publishes a session just opened by a hello.
    fn open(&self, id: SessionId, state: SessionState) -> ShareFuture<'_, ()>;

    /// Publishes the epoch a node just installed (`state.current`, one above the shared
    /// one); a no-op when another node did first.
    fn advance(&self, id: SessionId, state: SessionState) -> ShareFuture<'_, ()>;

    /// Publishes the anchor of `epoch` when it is later than the shared one.
    fn anchor(&self, id: SessionId, epoch: u32, anchor: RatchetAnchor) -> ShareFuture<'_, ()>;

    /// Records `key` until `expires_ms`: true the first time in the whole cluster.
    fn claim(&self, key: ReplayKey, expires_ms: i64) -> ShareFuture<'_, bool>;
}

/// How long a claim must be remembered: a token or hello is refused as stale once its
/// `created_ms` is more than the skew behind a node's clock, so a claim outlives every node
/// that could still accept it (nodes' clocks may differ by up to the skew as well).
fn claim_expiry(created_ms: u64, config: &TokiConfig, clock: &dyn Clock) -> i64 {
    let created = i64::try_from(created_ms).unwrap_or(i64::MAX);
    created
        .max(clock.now_ms())
        .saturating_add(config.skew_ms.saturating_mul(3))
}

/// Loads a session from the cluster when this node does not hold it, or holds an earlier
/// epoch than the token's; returns the epoch this node holds now.
pub(crate) async fn refresh_from_cluster(
    shared: &Shared,
    token: &RequestToken,
) -> Result<Option<u32>, ShareError> {
    let held = lock(shared)?.session_epoch(&token.session_id);
    let Some(cluster) = &shared.cluster else {
        return Ok(held);
    };
    if held.is_some_and(|epoch| epoch >= token.epoch) {
        return Ok(held);
    }
    let Some(state) = cluster.load(token.session_id).await? else {
        return Ok(held);
    };
    let mut callee = lock(shared)?;
    // A state this node cannot take (a full session table) leaves the call to be refused by
    // the ordinary checks.
    if let Err(error) = callee.adopt_session(token.session_id, state, shared.clock.as_ref()) {
        tracing::debug!(error = error.code(), "shared toki session not adopted");
    }
    Ok(callee.session_epoch(&token.session_id))
}

/// Claims the verified counter for the whole cluster, and publishes the epoch the call
/// installed here, if it did.
pub(crate) async fn claim_in_cluster(
    shared: &Shared,
    verified: &VerifiedRequest,
    epoch_before: Option<u32>,
) -> Result<bool, ShareError> {
    let Some(cluster) = &shared.cluster else {
        return Ok(true);
    };
    let token = &verified.token;
    let expires = claim_expiry(token.created_ms, &shared.config, shared.clock.as_ref());
    let key = ReplayKey::Counter(token.session_id, token.counter);
    if !cluster.claim(key, expires).await? {
        return Ok(false);
    }
    if epoch_before.is_some_and(|epoch| token.epoch > epoch) {
        let state = lock(shared)?.session_state(&token.session_id);
        if let Some(state) = state
            && let Err(error) = cluster.advance(token.session_id, state).await
        {
            // The other nodes still derive this epoch from the shared anchor themselves.
            tracing::warn!(%error, "toki epoch not published");
        }
    }
    Ok(true)
}

pub(crate) async fn publish_anchor(
    shared: &Shared,
    verified: &VerifiedRequest,
) -> Result<(), ShareError> {
    let Some(cluster) = &shared.cluster else {
        return Ok(());
    };
    let token = &verified.token;
    if !token.wants_ratchet() {
        return Ok(());
    }
    let anchor = lock(shared)?
        .session_state(&token.session_id)
        .filter(|state| state.current.epoch == token.epoch)
        .and_then(|state| state.anchor)
        .filter(|anchor| anchor.counter == token.counter);
    match anchor {
        Some(anchor) => cluster.anchor(token.session_id, token.epoch, anchor).await,
        None => Ok(()),
    }
}

pub(crate) async fn claim_hello_in_cluster(
    shared: &Shared,
    wire: &[u8],
) -> Result<bool, ShareError> {
    let (Some(cluster), Ok(hello)) = (&shared.cluster, Hello::from_wire(wire)) else {
        return Ok(true);
    };
    let expires = claim_expiry(hello.created_ms, &shared.config, shared.clock.as_ref());
    cluster
        .claim(ReplayKey::HelloNonce(hello.nonce), expires)
        .await
}

pub(crate) async fn publish_session(shared: &Shared, welcome: &[u8]) -> Result<(), ShareError> {
    let Some(cluster) = &shared.cluster else {
        return Ok(());
    };
    let id = Welcome::from_wire(welcome)
        .map_err(|error| ShareError(error.to_string()))?
        .session_id;
    let state = lock(shared)?.session_state(&id);
    match state {
        Some(state) => cluster.open(id, state).await,
        None => Ok(()),
    }
}

fn lock(shared: &Shared) -> Result<std::sync::MutexGuard<'_, Callee<DynPeers>>, ShareError> {
    shared
        .callee
        .lock()
        .map_err(|_| ShareError("toki state unavailable".into()))
}
