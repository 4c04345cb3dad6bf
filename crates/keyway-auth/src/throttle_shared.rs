//! Sign-in throttling across the nodes of a cluster (docs/oauth.md, "Sign-in throttling"):
//! each node reserves attempts in its own [`LoginThrottle`] (under one lock, so parallel
//! attempts at one node cannot pass a check-then-act test), and failures are counted in the
//! store as well (`login_failures`, keyed by the SHA-256 of each counter's key), which every
//! node reads before it reserves one. A guesser spreading attempts over the nodes is thus
//! slowed as at one node; attempts running at the same moment on different nodes may each
//! pass, at most one budget per node. The per-account budget of wrong second-factor codes is
//! shared the same way. A SQLite hub is one process and keeps its counts in memory only.

use keyway_store::{Backend, StoreError};

use crate::AuthService;
use crate::second_factor::{FAILURE_WINDOW, MAX_CODE_FAILURES};
use crate::throttle::{Attempt, WINDOW_MS, keys};

/// A counter's row id: an HMAC under the hub's CSRF key, so that someone reading the store
/// cannot tell which usernames failed from which addresses by hashing guesses.
fn counter_id(auth: &AuthService, key: &str) -> String {
    let tag = aws_lc_rs::hmac::sign(&auth.csrf_key, format!("login failures\0{key}").as_bytes());
    let mut id = String::with_capacity(64);
    keyway_kernel::push_hex(&mut id, tag.as_ref());
    id
}

/// The store's counter of wrong second-factor codes for a user.
fn code_counter(auth: &AuthService, user_id: &str) -> String {
    counter_id(auth, &format!("code\n{user_id}"))
}

impl AuthService {
    /// Seconds until `user_id` may try a second-factor code again, counting the wrong codes
    /// every node saw.
    pub(crate) async fn codes_locked_for(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        if let Some(wait) = self.code_failures.locked_for(user_id, now) {
            return Ok(Some(wait));
        }
        if !self.clustered() {
            return Ok(None);
        }
        let since_ms = (now - FAILURE_WINDOW).saturating_mul(1000);
        let shared = self
            .store
            .login_failures(&[code_counter(self, user_id)], since_ms)
            .await?;
        Ok(shared
            .first()
            .filter(|(_, failures, _)| *failures >= i64::from(MAX_CODE_FAILURES))
            .map(|(_, _, last_ms)| (last_ms / 1000 + FAILURE_WINDOW - now).max(1)))
    }

    /// Counts a wrong second-factor code here and, in a cluster, in the store.
    pub(crate) async fn record_code_failure(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.code_failures.record(user_id, now);
        if !self.clustered() {
            return Ok(());
        }
        let window_start_ms = (now - FAILURE_WINDOW).saturating_mul(1000);
        self.store
            .record_login_failure(&[code_counter(self, user_id)], now * 1000, window_start_ms)
            .await
    }

    pub(crate) fn clustered(&self) -> bool {
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
            let ids: Vec<String> = raw.iter().map(|k| counter_id(self, k)).collect();
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
        let ids: Vec<String> = attempt.keys().map(|k| counter_id(self, k)).collect();
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
