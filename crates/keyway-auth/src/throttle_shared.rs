//! Sign-in throttling across the nodes of a cluster (docs/oauth.md, "Sign-in throttling"):
//! each node reserves attempts in its own [`LoginThrottle`] (under one lock, so parallel
//! attempts at one node cannot pass a check-then-act test), and failures are counted in the
//! store as well (`login_failures`, keyed by the SHA-256 of each counter's key), which every
//! node reads before it reserves one. A guesser spreading attempts over the nodes is thus
//! slowed as at one node; attempts running at the same moment on different nodes may each
//! pass, at most one budget per node. A SQLite hub is one process and keeps its counts in
//! memory only.

use keyway_store::{Backend, StoreError};

use crate::AuthService;
use crate::throttle::{Attempt, WINDOW_MS, keys};

fn counter_id(key: &str) -> String {
    crate::entropy::sha256_hex(key)
}

impl AuthService {
    fn clustered(&self) -> bool {
        self.store.backend() != Backend::Sqlite
    }

    /// Reserves a sign-in attempt for `name` from `address` (see [`LoginThrottle::begin`]),
    /// after taking in the failures the other nodes counted: `Ok(Err(ms))` says how long to
    /// wait.
    ///
    /// [`LoginThrottle::begin`]: crate::LoginThrottle::begin
    pub(crate) async fn begin_attempt(
        &self,
        name: &str,
        address: &str,
    ) -> Result<Result<Attempt<'_>, i64>, StoreError> {
        if self.clustered() {
            let raw: Vec<String> = keys(name, address).into_iter().map(|(k, _)| k).collect();
            let ids: Vec<String> = raw.iter().map(|k| counter_id(k)).collect();
            let now = self.clock.now_ms();
            let shared = self.store.login_failures(&ids, now - WINDOW_MS).await?;
            let shared: Vec<(String, u32, i64)> = shared
                .into_iter()
                .filter_map(|(id, failures, last)| {
                    let key = raw.iter().zip(&ids).find(|(_, i)| **i == id)?.0;
                    Some((
                        key.clone(),
                        u32::try_from(failures).unwrap_or(u32::MAX),
                        last,
                    ))
                })
                .collect();
            self.throttle.absorb(&shared, now);
        }
        Ok(self.throttle.begin(name, address, self.clock.now_ms()))
    }

    /// Settles an attempt (see [`LoginThrottle::finish`]) here and, in a cluster, in the
    /// store: a failure counts against its counters, a success clears the name's.
    ///
    /// [`LoginThrottle::finish`]: crate::LoginThrottle::finish
    pub(crate) async fn settle_attempt(
        &self,
        attempt: Attempt<'_>,
        succeeded: bool,
    ) -> Result<(), StoreError> {
        let ids: Vec<String> = attempt.keys().map(counter_id).collect();
        let now = self.clock.now_ms();
        self.throttle.finish(attempt, succeeded, now);
        if !self.clustered() {
            return Ok(());
        }
        if succeeded {
            // The address's own counter is not cleared by a success (as in LoginThrottle).
            let names: Vec<String> = [&ids[0], &ids[2]].into_iter().cloned().collect();
            self.store.clear_login_failures(&names).await
        } else {
            self.store
                .record_login_failure(&ids, now, now - WINDOW_MS)
                .await
        }
    }
}
