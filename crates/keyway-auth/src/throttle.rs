//! Rate limiting of failed logins, per username and per client address.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failed logins allowed per username inside the window.
const PER_USER: u32 = 5;
/// Failed logins allowed per address inside the window (several users behind one NAT).
const PER_ADDRESS: u32 = 20;
/// The window, in milliseconds.
const WINDOW_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (i64, u32)>>,
}

impl LoginThrottle {
    /// Milliseconds until `username` from `address` may try again, or `None` when allowed.
    pub fn retry_after(&self, username: &str, address: &str, now_ms: i64) -> Option<i64> {
        let Ok(failures) = self.failures.lock() else {
            return None;
        };
        let blocked = |key: String, limit: u32| {
            failures.get(&key).and_then(|(start, count)| {
                let left = start + WINDOW_MS - now_ms;
                (*count >= limit && left > 0).then_some(left)
            })
        };
        let user = blocked(format!("u:{}", username.to_lowercase()), PER_USER);
        let addr = blocked(format!("a:{address}"), PER_ADDRESS);
        user.into_iter().chain(addr).max()
    }

    /// Counts one failure against both the username and the address.
    pub fn record_failure(&self, username: &str, address: &str, now_ms: i64) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > 100_000 {
            failures.retain(|_, (start, _)| *start + WINDOW_MS > now_ms);
        }
        for key in [
            format!("u:{}", username.to_lowercase()),
            format!("a:{address}"),
        ] {
            let entry = failures.entry(key).or_insert((now_ms, 0));
            if entry.0 + WINDOW_MS <= now_ms {
                *entry = (now_ms, 0);
            }
            entry.1 += 1;
        }
    }

    /// A successful login clears the username's count (not the address's).
    pub fn record_success(&self, username: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&format!("u:{}", username.to_lowercase()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_five_failures_until_window_ends() {
        let t = LoginThrottle::default();
        for _ in 0..5 {
            assert_eq!(t.retry_after("alice", "1.2.3.4", 0), None);
            t.record_failure("alice", "1.2.3.4", 0);
        }
        assert_eq!(
            t.retry_after("alice", "5.6.7.8", 1_000),
            Some(WINDOW_MS - 1_000)
        );
        assert_eq!(t.retry_after("bob", "1.2.3.4", 1_000), None);
        assert_eq!(t.retry_after("alice", "1.2.3.4", WINDOW_MS), None);
    }

    #[test]
    fn blocks_an_address_spraying_many_users() {
        let t = LoginThrottle::default();
        for i in 0..20 {
            t.record_failure(&format!("user{i}"), "9.9.9.9", 0);
        }
        assert!(t.retry_after("fresh", "9.9.9.9", 10).is_some());
    }
}
