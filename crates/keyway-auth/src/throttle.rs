//! Rate limiting of sign-in attempts (docs/oauth.md, "Sign-in throttling").
//!
//! An attempt is *reserved* before the password is checked, under one lock, so parallel
//! attempts cannot all pass a check-then-act test. Three counters apply, each with a free
//! budget inside the window and exponential back-off (1 s, 2 s, 4 s … at most 60 s) after it:
//! - a username from one address (5): a guesser at one account;
//! - one address (20): a sprayer over many accounts;
//! - a username from anywhere (100): a distributed guesser.
//!
//! There is no hard lock-out: a stranger who knows a username can slow its owner by at most
//! the back-off (the owner's own address has a budget of its own), never lock them out.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failed attempts for one username from one address before back-off starts.
const PER_USER_AND_ADDRESS: u32 = 5;
/// Failed attempts from one address (several users behind one NAT).
const PER_ADDRESS: u32 = 20;
/// Failed attempts for one username from all addresses together.
const PER_USER: u32 = 100;
/// A counter is forgotten this long after its last failure, in milliseconds.
const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Longest back-off between attempts once a budget is spent.
const MAX_BACKOFF_MS: i64 = 60 * 1000;
/// Counters kept before idle ones are dropped.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    failures: u32,
    in_flight: u32,
    last_failure_ms: i64,
}

impl Counter {
    /// Milliseconds until another attempt may start, or `None` when one may start now.
    fn wait(&self, limit: u32, now_ms: i64) -> Option<i64> {
        if self.failures + self.in_flight < limit {
            return None;
        }
        if self.in_flight > 0 {
            // Past the budget only one attempt runs at a time.
            return Some(1_000);
        }
        let over = self.failures.saturating_sub(limit).min(16);
        let backoff = (1_000i64 << over).min(MAX_BACKOFF_MS);
        let left = self.last_failure_ms + backoff - now_ms;
        (left > 0).then_some(left)
    }
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    counters: Mutex<HashMap<String, Counter>>,
}

/// A reserved sign-in attempt; [`LoginThrottle::finish`] settles it. Dropped unsettled (the
/// request went away), it is released without counting as a failure.
#[must_use]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: [(String, u32); 3],
    settled: bool,
}

fn keys(username: &str, address: &str) -> [(String, u32); 3] {
    let user = username.to_lowercase();
    [
        (format!("ua:{user}\n{address}"), PER_USER_AND_ADDRESS),
        (format!("a:{address}"), PER_ADDRESS),
        (format!("u:{user}"), PER_USER),
    ]
}

impl LoginThrottle {
    /// Reserves an attempt for `username` from `address`, or says how many milliseconds to
    /// wait. Nothing changes when the answer is to wait.
    pub fn begin(&self, username: &str, address: &str, now_ms: i64) -> Result<Attempt<'_>, i64> {
        let keys = keys(username, address);
        let Ok(mut counters) = self.counters.lock() else {
            return Err(1_000);
        };
        if counters.len() >= MAX_ENTRIES {
            counters.retain(|_, c| c.in_flight > 0 || c.last_failure_ms + WINDOW_MS > now_ms);
        }
        let mut wait = None;
        for (key, limit) in &keys {
            if let Some(counter) = counters.get_mut(key) {
                if counter.in_flight == 0 && counter.last_failure_ms + WINDOW_MS <= now_ms {
                    *counter = Counter::default();
                }
                wait = wait.max(counter.wait(*limit, now_ms));
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (key, _) in &keys {
            counters.entry(key.clone()).or_default().in_flight += 1;
        }
        Ok(Attempt {
            throttle: self,
            keys,
            settled: false,
        })
    }

    /// Settles an attempt: a failure counts against all three counters, a success clears the
    /// username's (not the address's).
    pub fn finish(&self, mut attempt: Attempt<'_>, succeeded: bool, now_ms: i64) {
        attempt.settled = true;
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        for (i, (key, _)) in attempt.keys.iter().enumerate() {
            let Some(counter) = counters.get_mut(key) else {
                continue;
            };
            counter.in_flight = counter.in_flight.saturating_sub(1);
            if succeeded && i != 1 {
                counter.failures = 0;
            } else if !succeeded {
                counter.failures = counter.failures.saturating_add(1);
                counter.last_failure_ms = now_ms;
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Ok(mut counters) = self.throttle.counters.lock() {
            for (key, _) in &self.keys {
                if let Some(counter) = counters.get_mut(key) {
                    counter.in_flight = counter.in_flight.saturating_sub(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(t: &LoginThrottle, user: &str, address: &str, now: i64) {
        let attempt = t.begin(user, address, now).unwrap();
        t.finish(attempt, false, now);
    }

    #[test]
    fn parallel_attempts_cannot_exceed_the_budget() {
        let t = LoginThrottle::default();
        let held: Vec<_> = (0..40)
            .filter_map(|_| t.begin("alice", "1.2.3.4", 0).ok())
            .collect();
        assert_eq!(held.len(), PER_USER_AND_ADDRESS as usize);
    }

    #[test]
    fn back_off_doubles_after_the_budget_and_never_locks_out() {
        let t = LoginThrottle::default();
        for _ in 0..5 {
            fail(&t, "alice", "1.2.3.4", 0);
        }
        assert_eq!(t.begin("alice", "1.2.3.4", 10).err(), Some(990));
        fail(&t, "alice", "1.2.3.4", 1_000);
        assert_eq!(t.begin("alice", "1.2.3.4", 1_000).err(), Some(2_000));
        // The owner, from another address, is not slowed by the stranger's failures.
        assert!(t.begin("alice", "5.6.7.8", 1_000).is_ok());
        // The back-off is capped.
        let mut now = 3_000;
        for _ in 0..20 {
            now += MAX_BACKOFF_MS;
            fail(&t, "alice", "1.2.3.4", now);
        }
        assert_eq!(t.begin("alice", "1.2.3.4", now).err(), Some(MAX_BACKOFF_MS));
    }

    #[test]
    fn a_success_clears_the_username_and_the_window_forgets() {
        let t = LoginThrottle::default();
        for _ in 0..5 {
            fail(&t, "bob", "1.2.3.4", 0);
        }
        assert!(t.begin("bob", "1.2.3.4", 500).is_err());
        assert!(t.begin("bob", "1.2.3.4", WINDOW_MS).is_ok());
        let t = LoginThrottle::default();
        for _ in 0..4 {
            fail(&t, "bob", "1.2.3.4", 0);
        }
        let attempt = t.begin("bob", "1.2.3.4", 0).unwrap();
        t.finish(attempt, true, 0);
        for _ in 0..5 {
            fail(&t, "bob", "1.2.3.4", 0);
        }
    }

    #[test]
    fn an_address_spraying_many_users_is_slowed() {
        let t = LoginThrottle::default();
        for i in 0..20 {
            fail(&t, &format!("user{i}"), "9.9.9.9", 0);
        }
        assert!(t.begin("fresh", "9.9.9.9", 10).is_err());
        assert!(t.begin("fresh", "9.9.9.8", 10).is_ok());
    }

    #[test]
    fn an_abandoned_attempt_is_released_uncounted() {
        let t = LoginThrottle::default();
        for _ in 0..10 {
            drop(t.begin("carol", "1.2.3.4", 0).unwrap());
        }
        assert!(t.begin("carol", "1.2.3.4", 0).is_ok());
    }
}
