//! Rate limiting of sign-in attempts (docs/oauth.md, "Sign-in throttling").
//!
//! An attempt is *reserved* before the password is checked, under one lock, so parallel
//! attempts cannot all pass a check-then-act test. Three counters apply, each with a free
//! budget inside the window and exponential back-off (1 s, 2 s, 4 s … at most 60 s) after it:
//! - a username from one address (5): a guesser at one account;
//! - one address (20): a sprayer over many accounts;
//! - a username from anywhere (100): a distributed guesser. Past it, each address gets one
//!   attempt for that username (then back-off) instead of five; it never blocks by itself.
//!
//! There is no lock-out: whatever a stranger does from other addresses, the owner's address
//! keeps at least one attempt, so a stranger who knows a username cannot keep its owner out.
//! Addresses are counted per IPv4 address and per IPv6 /64 (one subscriber's prefix), with
//! IPv4-mapped IPv6 addresses counted as the IPv4 address they are.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failed attempts for one username from one address before back-off starts.
const PER_USER_AND_ADDRESS: u32 = 5;
/// Failed attempts from one address (several users behind one NAT).
const PER_ADDRESS: u32 = 20;
/// Failed attempts for one username from all addresses together.
const PER_USER: u32 = 100;
/// A counter is forgotten this long after its last failure, in milliseconds.
pub(crate) const WINDOW_MS: i64 = 15 * 60 * 1000;
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

/// The counting unit of an address (`keyway_kernel::address_group`); text that is not an
/// address counts as itself.
fn address_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(ip) => keyway_kernel::address_group(ip).to_string(),
        Err(_) => address.to_string(),
    }
}

pub(crate) fn keys(username: &str, address: &str) -> [(String, u32); 3] {
    let user = username.to_lowercase();
    let address = address_key(address);
    [
        (format!("ua:{user}\n{address}"), PER_USER_AND_ADDRESS),
        (format!("a:{address}"), PER_ADDRESS),
        (format!("u:{user}"), PER_USER),
    ]
}

impl Attempt<'_> {
    /// The counters this attempt counts against.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(key, _)| key.as_str())
    }
}

impl LoginThrottle {
    /// Takes in failures the other nodes of a cluster counted: `(key, failures, last failure
    /// in ms)`. Each counter keeps the larger count (failures counted here were shared too).
    pub(crate) fn absorb(&self, shared: &[(String, u32, i64)], now_ms: i64) {
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        for (key, failures, last_failure_ms) in shared {
            if last_failure_ms + WINDOW_MS <= now_ms {
                continue;
            }
            let counter = counters.entry(key.clone()).or_default();
            if counter.in_flight == 0 && counter.last_failure_ms + WINDOW_MS <= now_ms {
                *counter = Counter::default();
            }
            counter.failures = counter.failures.max(*failures);
            counter.last_failure_ms = counter.last_failure_ms.max(*last_failure_ms);
        }
    }

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
        for (key, _) in &keys {
            if let Some(counter) = counters.get_mut(key)
                && counter.in_flight == 0
                && counter.last_failure_ms + WINDOW_MS <= now_ms
            {
                *counter = Counter::default();
            }
        }
        // A username guessed at from many addresses: one attempt per address from now on.
        let user_over_budget = counters
            .get(&keys[2].0)
            .is_some_and(|c| c.failures >= PER_USER);
        let mut wait = None;
        for (i, (key, limit)) in keys.iter().enumerate() {
            let limit = match i {
                0 if user_over_budget => 1,
                2 => continue,
                _ => *limit,
            };
            if let Some(counter) = counters.get(key) {
                wait = wait.max(counter.wait(limit, now_ms));
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
    fn a_username_guessed_from_many_addresses_slows_strangers_not_its_owner() {
        let t = LoginThrottle::default();
        // The owner signs in once from home.
        let attempt = t.begin("dana", "198.51.100.7", 0).unwrap();
        t.finish(attempt, true, 0);
        // 25 addresses × 4 failures: past the username's budget of 100.
        for a in 0..25 {
            for _ in 0..4 {
                fail(&t, "dana", &format!("203.0.113.{a}"), 10);
            }
        }
        // A fresh address gets one attempt, then waits.
        fail(&t, "dana", "192.0.2.1", 20);
        assert!(t.begin("dana", "192.0.2.1", 30).is_err());
        // The owner's address still gets in, however busy the strangers are.
        assert!(t.begin("dana", "198.51.100.7", 30).is_ok());
    }

    #[test]
    fn ipv6_counts_by_prefix_and_mapped_ipv4_as_ipv4() {
        let t = LoginThrottle::default();
        for i in 1..=5 {
            fail(&t, "erin", &format!("2001:db8::{i:x}"), 0);
        }
        assert!(t.begin("erin", "2001:db8::ff", 10).is_err(), "same /64");
        assert!(
            t.begin("erin", "2001:db8:0:1::1", 10).is_ok(),
            "another /64"
        );
        for _ in 0..5 {
            fail(&t, "finn", "10.4.4.4", 0);
        }
        assert!(t.begin("finn", "::ffff:10.4.4.4", 10).is_err());
    }

    #[test]
    fn failures_counted_at_other_nodes_slow_this_one() {
        let t = LoginThrottle::default();
        let [(user_and_address, _), _, _] = keys("gina", "1.2.3.4");
        t.absorb(&[(user_and_address.clone(), 5, 0)], 10);
        assert!(
            t.begin("gina", "1.2.3.4", 10).is_err(),
            "5 failures elsewhere"
        );
        // Older news than what this node counted changes nothing; stale news is ignored.
        t.absorb(&[(user_and_address, 1, WINDOW_MS + 20)], WINDOW_MS + 20);
        assert!(t.begin("gina", "1.2.3.4", WINDOW_MS + 20).is_ok());
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
