use crate::keys::SigningAlg;

pub use keyway_kernel::{Clock, SystemClock};

/// Lifetimes and policy of the authorization server. Durations are in seconds unless named `_ms`.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The issuer identifier (`iss`), an https URL (http allowed for loopback), no trailing `/`.
    pub issuer: String,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
    /// Authorization codes live at most this long (RFC 6749 recommends ≤ 10 min; we use 60 s).
    pub code_ttl: i64,
    /// How long a user has to log in and consent.
    pub authorization_request_ttl: i64,
    pub login_session_ttl: i64,
    /// Reuse of a just-rotated refresh token inside this window is a race, not theft.
    pub refresh_grace_ms: i64,
    pub signing_alg: SigningAlg,
    /// Signing keys rotate automatically after this long.
    pub key_rotation_interval: i64,
    /// `aud` of tokens requested without an RFC 8707 `resource`.
    pub default_audience: String,
    /// Client assertions (RFC 7523) may not live longer than this.
    pub max_assertion_lifetime: i64,
    /// Allowed clock difference for `iat`/`nbf`/`exp` of client assertions.
    pub clock_skew: i64,
    /// A pushed authorization request's `request_uri` lives this long (RFC 9126: ≤ 90 s).
    pub pushed_request_ttl: i64,
    /// Every authorization request must be pushed first (RFC 9126 §5).
    pub require_pushed_requests: bool,
    /// DPoP proofs must carry a nonce the hub handed out (RFC 9449 §8).
    pub require_dpop_nonce: bool,
    /// The master key sealing secrets in the store; `None`: `master.key` in the data
    /// directory, made on first start.
    pub master_key_file: Option<std::path::PathBuf>,
    /// Make the default master key when it does not exist (the hub, on first start). Admin
    /// commands leave it false: they use the hub's key, and one they made would not be it.
    pub create_master_key: bool,
    /// Scopes users must hold to get (exact names or `prefix*`); empty: none.
    pub user_granted_scopes: Vec<String>,
    /// Every client's users need a second factor (`[login] require_mfa`).
    pub require_mfa: bool,
    /// Audit log entries are kept this long, then deleted (`[audit] retention`).
    pub audit_retention: i64,
    /// This process's name in a cluster (`keyway serve --node-id`): the holder of upkeep
    /// leases, shown by `/readyz`. Default: host name and process id.
    pub node_id: String,
}

/// `HOST:PID`, unique among the nodes of a cluster at any one time.
pub(crate) fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}:{}", std::process::id())
}

/// The grace window may not be configured above 5 s: longer would let a thief race the owner.
pub(crate) const MAX_REFRESH_GRACE_MS: i64 = 5_000;

impl AuthConfig {
    pub fn new(issuer: &str) -> AuthConfig {
        let issuer = issuer.trim_end_matches('/').to_string();
        AuthConfig {
            default_audience: issuer.clone(),
            issuer,
            access_token_ttl: 900,
            id_token_ttl: 900,
            refresh_token_ttl: 30 * 24 * 3600,
            code_ttl: 60,
            authorization_request_ttl: 900,
            login_session_ttl: 12 * 3600,
            refresh_grace_ms: 2_000,
            signing_alg: SigningAlg::EdDsa,
            key_rotation_interval: 30 * 24 * 3600,
            max_assertion_lifetime: 300,
            clock_skew: 30,
            pushed_request_ttl: 60,
            require_pushed_requests: false,
            require_dpop_nonce: false,
            master_key_file: None,
            create_master_key: true,
            user_granted_scopes: Vec::new(),
            require_mfa: false,
            audit_retention: 365 * 24 * 3600,
            node_id: default_node_id(),
        }
    }

    /// Checks the policy limits; returns a message naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(0..=MAX_REFRESH_GRACE_MS).contains(&self.refresh_grace_ms) {
            return Err(format!(
                "refresh grace window must be between 0 and {MAX_REFRESH_GRACE_MS} ms"
            ));
        }
        if !(1..=90).contains(&self.pushed_request_ttl) {
            return Err("pushed request lifetime must be 1–90 s".into());
        }
        if !(1..=60).contains(&self.code_ttl) {
            return Err("authorization code lifetime must be 1–60 s".into());
        }
        for (name, value) in [
            ("access token lifetime", self.access_token_ttl),
            ("refresh token lifetime", self.refresh_token_ttl),
            ("key rotation interval", self.key_rotation_interval),
            ("audit retention", self.audit_retention),
        ] {
            if value <= 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        let parsed = url::Url::parse(&self.issuer).map_err(|e| format!("issuer: {e}"))?;
        let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        // `localhost:8080` parses as scheme `localhost`: say what is missing.
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "issuer {:?} has no http:// or https:// in front (e.g. http://{})",
                self.issuer, self.issuer
            ));
        }
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
            return Err("issuer must be an https URL (http only for localhost)".into());
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err("issuer must not have a query or fragment (RFC 8414)".into());
        }
        Ok(())
    }

    /// The longest any token signed now can stay valid: how long a retired key stays published.
    pub fn longest_token_lifetime(&self) -> i64 {
        self.access_token_ttl.max(self.id_token_ttl) + self.clock_skew
    }

    pub fn uses_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(AuthConfig::new("http://127.0.0.1:8080/").validate(), Ok(()));
    }

    #[test]
    fn refuses_plain_http_on_public_hosts_and_long_grace() {
        assert!(AuthConfig::new("http://example.com").validate().is_err());
        let mut config = AuthConfig::new("https://example.com");
        config.refresh_grace_ms = 6_000;
        assert!(config.validate().is_err());
    }

    /// `--issuer localhost:8080` parses as a URL of scheme `localhost`: the error says what
    /// is missing rather than "http only for localhost".
    #[test]
    fn an_issuer_without_a_scheme_is_named_as_such() {
        let why = AuthConfig::new("localhost:18604").validate().unwrap_err();
        assert!(why.contains("no http:// or https://"), "{why}");
        assert!(why.contains("http://localhost:18604"), "{why}");
    }
}
