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

/// What publishing an anchor did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorOutcome {
    /// Recorded, or a later anchor (or epoch) was there already.
    Done,
    /// The shared session is at an earlier epoch than the anchor's (publishing that epoch
    /// failed before): publish the epoch, then the anchor again.
    Behind,
}

/// Loads of shared sessions a node runs at once, and how soon a load that brought nothing new
/// is tried again: a token naming a session (or an epoch) this node does not hold costs a
/// database read before any MAC can be checked, so strangers must not be able to take the
/// store's connections with made-up session ids or epochs.
pub(crate) struct LoadGate {
    permits: tokio::sync::Semaphore,
    /// Session id → when (the layer's clock, ms) a load of it last found nothing new.
    recent: std::sync::Mutex<std::collections::HashMap<SessionId, i64>>,
}

const LOADS_AT_ONCE: usize = 4;
const LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// A session whose last load found nothing new is not loaded again sooner than this (ms).
const RELOAD_AFTER_MS: i64 = 200;
const RECENT_LIMIT: usize = 10_000;

impl Default for LoadGate {
    fn default() -> LoadGate {
        LoadGate {
            permits: tokio::sync::Semaphore::new(LOADS_AT_ONCE),
            recent: std::sync::Mutex::default(),
        }
    }
}

impl LoadGate {
    /// Whether `id` may be loaded now: not while a load that found nothing new is recent.
    fn admit(&self, id: &SessionId, now_ms: i64) -> bool {
        self.recent.lock().is_ok_and(|recent| {
            recent
                .get(id)
                .is_none_or(|at| now_ms - at >= RELOAD_AFTER_MS)
        })
    }

    /// Notes a load of `id` that found nothing new (no such session, or what this node held).
    fn fruitless(&self, id: SessionId, now_ms: i64) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        if recent.len() >= RECENT_LIMIT {
            recent.retain(|_, at| now_ms - *at < RELOAD_AFTER_MS);
            // Still full of recent ids (a flood of made-up ones): forget them; the permits
            // still bound the loads they may cause.
            if recent.len() >= RECENT_LIMIT {
                recent.clear();
            }
        }
        recent.insert(id, now_ms);
    }
}

/// Where the nodes of a cluster keep their toki sessions.
pub trait SharedSessions: Send + Sync {
    /// A session some node published, as it is now; `None` when no node opened it (or it
    /// expired).
    fn load(&self, id: SessionId) -> ShareFuture<'_, Option<SessionState>>;

    /// Publishes a session just opened by a hello.
    fn open(&self, id: SessionId, state: SessionState) -> ShareFuture<'_, ()>;

    /// Publishes the epoch a node installed (`state.current`), if the shared session is at
    /// an earlier one; a no-op when another node did first.
    fn advance(&self, id: SessionId, state: SessionState) -> ShareFuture<'_, ()>;

    /// Publishes the anchor of `epoch` when it is later than the shared one.
    fn anchor(
        &self,
        id: SessionId,
        epoch: u32,
        anchor: RatchetAnchor,
    ) -> ShareFuture<'_, AnchorOutcome>;

    /// Records `key` until `expires_ms`: true the first time in the whole cluster.
    fn claim(&self, key: ReplayKey, expires_ms: i64) -> ShareFuture<'_, bool>;
}

/// How long a claim must be remembered: a token or hello is refused as stale once its
/// `created_ms` is more than the skew behind a node's clock, so a claim outlives every node
/// that could still accept it (nodes' clocks may differ by up to the skew as well).
fn claim_expiry(created_ms: u64, config: &TokiConfig, clock: &dyn Clock) -> i64 {
    // Claims are made before the hello's freshness is checked: one from the far future is
    // kept no longer than a fresh one.
    let now = clock.now_ms();
    let created = i64::try_from(created_ms).unwrap_or(i64::MAX);
    created
        .clamp(now, now.saturating_add(config.skew_ms))
        .saturating_add(config.skew_ms.saturating_mul(3))
}

/// Loads a session from the cluster when this node does not hold it, or holds an earlier
/// epoch than the token's; returns the epoch this node holds now.
pub(crate) async fn refresh_from_cluster(
    shared: &Shared,
    token: &RequestToken,
) -> Result<Option<u32>, ShareError> {
    let id = token.session_id;
    let progress = lock(shared)?.session_progress(&id);
    let held = progress.map(|(epoch, _)| epoch);
    let Some(cluster) = &shared.cluster else {
        return Ok(held);
    };
    // Held keys verify the token, or derive the next epoch's from the anchor held.
    let covered = progress.is_some_and(|(epoch, anchor)| {
        token.epoch <= epoch || (anchor.is_some() && Some(token.epoch) == epoch.checked_add(1))
    });
    let now_ms = shared.clock.now_ms();
    if covered || !shared.loads.admit(&id, now_ms) {
        return Ok(held);
    }
    let Ok(Ok(_permit)) = tokio::time::timeout(LOAD_WAIT, shared.loads.permits.acquire()).await
    else {
        return Err(ShareError("too many toki session loads at once".into()));
    };
    let Some(state) = cluster.load(id).await? else {
        shared.loads.fruitless(id, now_ms);
        return Ok(held);
    };
    let mut callee = lock(shared)?;
    // A state this node cannot take (a full session table) leaves the call to be refused by
    // the ordinary checks.
    if let Err(error) = callee.adopt_session(id, state, shared.clock.as_ref()) {
        tracing::debug!(error = error.code(), "shared toki session not adopted");
    }
    let now = callee.session_progress(&id);
    if now == progress {
        shared.loads.fruitless(id, now_ms);
    }
    Ok(now.map(|(epoch, _)| epoch))
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
    let Some(state) = lock(shared)?
        .session_state(&token.session_id)
        .filter(|state| state.current.epoch == token.epoch)
    else {
        return Ok(());
    };
    let Some(anchor) = state
        .anchor
        .filter(|anchor| anchor.counter == token.counter)
    else {
        return Ok(());
    };
    let id = token.session_id;
    if cluster.anchor(id, token.epoch, anchor).await? == AnchorOutcome::Behind {
        // The epoch this node installed never reached the store: publish it now, or the
        // other nodes could not follow the caller past it.
        cluster.advance(id, state).await?;
        cluster.anchor(id, token.epoch, anchor).await?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fruitless_load_is_not_repeated_soon_and_the_memory_is_bounded() {
        let gate = LoadGate::default();
        let id = SessionId([7; 16]);
        assert!(gate.admit(&id, 1_000));
        gate.fruitless(id, 1_000);
        assert!(gate.admit(&id, 1_200), "after 200 ms, loaded again");
        assert!(
            !gate.admit(&id, 1_199),
            "made-up ids cost one read per 200 ms, not one per request"
        );
        assert!(
            gate.admit(&SessionId([8; 16]), 1_000),
            "other sessions are not held up"
        );
        for n in 0..(RECENT_LIMIT as u32 + 10) {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&n.to_be_bytes());
            gate.fruitless(SessionId(bytes), 1_000);
        }
        assert!(gate.recent.lock().unwrap().len() <= RECENT_LIMIT + 1);
        assert_eq!(gate.permits.available_permits(), LOADS_AT_ONCE);
    }
}
