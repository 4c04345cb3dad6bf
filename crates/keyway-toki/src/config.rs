/// Policy shared by both ends of a toki session. Durations in milliseconds.
#[derive(Debug, Clone)]
pub struct TokiConfig {
    /// Hellos and request tokens created further than this from the verifier's clock, in the
    /// past or the future, are refused.
    pub skew_ms: i64,
    /// A session is refused this long after it was established; the caller sends a new hello.
    pub session_lifetime_ms: i64,
    /// The client asks to ratchet the session keys after this many calls in one epoch (later,
    /// while a call of the previous epoch is still in flight: each side keeps one previous
    /// epoch, and a call two epochs old could be verified by neither).
    pub ratchet_every: u64,
    /// How many hello nonces the callee remembers (they are forgotten once stale).
    pub hello_cache_capacity: usize,
    /// How many sessions a callee holds at once (expired ones are purged first).
    pub max_sessions: usize,
}

impl Default for TokiConfig {
    fn default() -> TokiConfig {
        TokiConfig {
            skew_ms: 30_000,
            session_lifetime_ms: 3_600_000,
            ratchet_every: 1_000,
            hello_cache_capacity: 65_536,
            max_sessions: 100_000,
        }
    }
}
