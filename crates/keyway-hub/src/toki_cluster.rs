//! The hub's toki sessions shared through its store when it runs as a cluster on PostgreSQL
//! or MariaDB (docs/toki.md, "Sessions in a cluster"; ARCHITECTURE.md says why the store and
//! not Redis): each session's roots sealed under the master key, one row per session, and one
//! insert per accepted call into `replay_claims`, whose primary key refuses a replay at any node.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyway_auth::AuthService;
use keyway_store::TokiSessionRow;
use keyway_toki::{RatchetAnchor, SessionId, SessionState};
use keyway_toki_http::{AnchorOutcome, ReplayKey, ShareError, ShareFuture, SharedSessions};

/// Toki sessions in the hub's store.
pub(crate) struct StoreSessions(pub(crate) Arc<AuthService>);

fn session_key(id: &SessionId) -> String {
    URL_SAFE_NO_PAD.encode(id.0)
}

/// The sealing context: a sealed session copied to another row does not open.
fn context(key: &str) -> String {
    format!("toki session {key}")
}

fn unavailable(error: impl std::fmt::Display) -> ShareError {
    ShareError(error.to_string())
}

impl StoreSessions {
    fn sealed(&self, key: &str, state: &SessionState) -> Result<String, ShareError> {
        self.0
            .seal_shared(&context(key), &state.secret_bytes())
            .map_err(unavailable)
    }

    fn opened(&self, key: &str, row: TokiSessionRow) -> Result<SessionState, ShareError> {
        let bytes = self
            .0
            .open_shared(&context(key), &row.sealed)
            .map_err(unavailable)?;
        let anchor = match &row.anchor {
            None => None,
            Some((counter, macs)) => {
                let macs = URL_SAFE_NO_PAD.decode(macs).map_err(unavailable)?;
                let counter = u64::try_from(*counter).map_err(unavailable)?;
                Some(RatchetAnchor::from_macs(counter, &macs).ok_or_else(|| {
                    ShareError(format!("toki session {key}: anchor is not two MACs"))
                })?)
            }
        };
        let state = SessionState::from_secret_bytes(&bytes, anchor).map_err(unavailable)?;
        if i64::from(state.current.epoch) != row.epoch {
            return Err(ShareError(format!(
                "toki session {key}: sealed epoch differs from the row's"
            )));
        }
        Ok(state)
    }
}

impl SharedSessions for StoreSessions {
    fn load(&self, id: SessionId) -> ShareFuture<'_, Option<SessionState>> {
        Box::pin(async move {
            let key = session_key(&id);
            let now = self.0.clock().now_ms();
            match self.0.store().toki_session(&key, now).await {
                Ok(Some(row)) => self.opened(&key, row).map(Some),
                Ok(None) => Ok(None),
                Err(error) => Err(unavailable(error)),
            }
        })
    }

    fn open(&self, id: SessionId, state: SessionState) -> ShareFuture<'_, ()> {
        Box::pin(async move {
            let key = session_key(&id);
            let row = TokiSessionRow {
                expires_at: state.expires_ms,
                epoch: i64::from(state.current.epoch),
                sealed: self.sealed(&key, &state)?,
                anchor: None,
            };
            self.0
                .store()
                .insert_toki_session(&key, &row)
                .await
                .map_err(unavailable)
        })
    }

    fn advance(&self, id: SessionId, state: SessionState) -> ShareFuture<'_, ()> {
        Box::pin(async move {
            let key = session_key(&id);
            let sealed = self.sealed(&key, &state)?;
            self.0
                .store()
                .advance_toki_session(&key, i64::from(state.current.epoch), &sealed)
                .await
                .map(drop)
                .map_err(unavailable)
        })
    }

    fn anchor(
        &self,
        id: SessionId,
        epoch: u32,
        anchor: RatchetAnchor,
    ) -> ShareFuture<'_, AnchorOutcome> {
        Box::pin(async move {
            let counter = i64::try_from(anchor.counter).map_err(unavailable)?;
            let key = session_key(&id);
            let store = self.0.store();
            let macs = URL_SAFE_NO_PAD.encode(anchor.macs());
            let recorded = store
                .anchor_toki_session(&key, i64::from(epoch), counter, &macs)
                .await
                .map_err(unavailable)?;
            if recorded {
                return Ok(AnchorOutcome::Done);
            }
            // Not recorded: a later anchor or epoch is there (fine), or the row is behind.
            let now = self.0.clock().now_ms();
            let row = store.toki_session(&key, now).await.map_err(unavailable)?;
            Ok(match row {
                Some(row) if row.epoch < i64::from(epoch) => AnchorOutcome::Behind,
                _ => AnchorOutcome::Done,
            })
        })
    }

    fn claim(&self, key: ReplayKey, expires_ms: i64) -> ShareFuture<'_, bool> {
        Box::pin(async move {
            let claim = match key {
                ReplayKey::Counter(id, counter) => format!("c.{}.{counter}", session_key(&id)),
                ReplayKey::HelloNonce(nonce) => format!("h.{}", URL_SAFE_NO_PAD.encode(nonce)),
            };
            self.0
                .store()
                .claim_once(&claim, expires_ms)
                .await
                .map_err(unavailable)
        })
    }
}
