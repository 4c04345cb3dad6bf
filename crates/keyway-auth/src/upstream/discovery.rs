//! An upstream's provider metadata (OpenID Connect Discovery 1.0) and JWKS, fetched through
//! the hub's [`super::UpstreamHttp`] and cached per provider: metadata for an hour, keys for
//! 5 minutes, refetched early (at most every 30 s) when an ID token names an unknown `kid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::config::check_url;
use crate::jose::{PublicJwk, VerifyingKey};

const METADATA_FRESH_MS: i64 = 3600 * 1000;
const KEYS_FRESH_MS: i64 = 5 * 60 * 1000;
const REFETCH_GAP_MS: i64 = 30 * 1000;
/// A failed discovery is not retried for this long: anonymous `type=` requests must not turn
/// the hub into a stream of outbound connections to a provider that is down.
const FAILURE_MEMORY_MS: i64 = 10 * 1000;
/// Bound on endpoint URLs taken from an upstream's metadata.
const MAX_URL_LEN: usize = 2048;

/// The parts of the provider metadata the hub uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProviderMetadata {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

#[derive(Deserialize)]
struct RawMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// Parses the metadata document: its `issuer` must be exactly the configured one
/// (Discovery §4.3, against mix-up), and every endpoint https (http only on loopback).
pub(crate) fn parse_metadata(text: &str, issuer: &str) -> Result<ProviderMetadata, String> {
    let raw: RawMetadata = serde_json::from_str(text)
        .map_err(|e| format!("the provider metadata is not valid JSON metadata: {e}"))?;
    if raw.issuer != issuer {
        return Err(format!(
            "the provider metadata names issuer {:?}, not the configured {issuer:?}",
            truncate(&raw.issuer, 200)
        ));
    }
    if raw
        .code_challenge_methods_supported
        .is_some_and(|m| !m.iter().any(|m| m == "S256"))
    {
        return Err("the provider does not support PKCE with S256".into());
    }
    for (what, url) in [
        ("authorization_endpoint", &raw.authorization_endpoint),
        ("token_endpoint", &raw.token_endpoint),
        ("jwks_uri", &raw.jwks_uri),
    ] {
        if url.len() > MAX_URL_LEN {
            return Err(format!("the provider's {what} is too long"));
        }
        check_url(url, what)?;
    }
    Ok(ProviderMetadata {
        authorization_endpoint: raw.authorization_endpoint,
        token_endpoint: raw.token_endpoint,
        jwks_uri: raw.jwks_uri,
    })
}

/// The signing keys of an upstream's JWK Set: keys for encryption, and keys of types keyway
/// cannot verify with, are skipped (a provider may publish them beside its signing keys).
pub(crate) fn parse_upstream_jwks(text: &str) -> Result<Vec<VerifyingKey>, String> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<serde_json::Map<String, serde_json::Value>>,
    }
    let set: Set = serde_json::from_str(text)
        .map_err(|e| format!("the provider's JWKS is not a JWK Set: {e}"))?;
    let keys: Vec<VerifyingKey> = set
        .keys
        .into_iter()
        .filter(|k| {
            k.get("use")
                .and_then(|u| u.as_str())
                .is_none_or(|u| u == "sig")
        })
        .filter_map(|k| serde_json::from_value::<PublicJwk>(serde_json::Value::Object(k)).ok())
        .filter_map(|jwk| VerifyingKey::from_jwk(&jwk).ok())
        .collect();
    if keys.is_empty() {
        return Err("the provider's JWKS has no signing key keyway can use".into());
    }
    Ok(keys)
}

/// At most `max` bytes of `text` (on a character boundary).
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[derive(Default)]
struct Entry {
    metadata: Option<(i64, ProviderMetadata)>,
    keys: Option<(i64, Arc<Vec<VerifyingKey>>)>,
    /// The last failed discovery: when, and why.
    failed: Option<(i64, String)>,
}

/// Per-provider metadata and keys (a handful of providers: no eviction needed).
#[derive(Default)]
pub(crate) struct UpstreamCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl UpstreamCache {
    pub(crate) fn metadata(&self, name: &str, now_ms: i64) -> Option<ProviderMetadata> {
        let entries = self.entries.lock().ok()?;
        let (at, metadata) = entries.get(name)?.metadata.as_ref()?;
        (now_ms - at < METADATA_FRESH_MS).then(|| metadata.clone())
    }

    pub(crate) fn put_metadata(&self, name: &str, now_ms: i64, metadata: ProviderMetadata) {
        if let Ok(mut entries) = self.entries.lock() {
            let entry = entries.entry(name.to_string()).or_default();
            entry.metadata = Some((now_ms, metadata));
            entry.failed = None;
        }
    }

    /// Why discovery failed a moment ago, if it did (then it is not tried again yet).
    pub(crate) fn recent_failure(&self, name: &str, now_ms: i64) -> Option<String> {
        let entries = self.entries.lock().ok()?;
        let (at, why) = entries.get(name)?.failed.as_ref()?;
        (now_ms - at < FAILURE_MEMORY_MS).then(|| why.clone())
    }

    pub(crate) fn put_failure(&self, name: &str, now_ms: i64, why: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.entry(name.to_string()).or_default().failed = Some((now_ms, why.to_string()));
        }
    }

    /// Cached keys if they are fresh and know `kid`, or were fetched a moment ago anyway.
    pub(crate) fn keys(
        &self,
        name: &str,
        kid: Option<&str>,
        now_ms: i64,
    ) -> Option<Arc<Vec<VerifyingKey>>> {
        let entries = self.entries.lock().ok()?;
        let (at, keys) = entries.get(name)?.keys.as_ref()?;
        let knows_kid = kid.is_none_or(|kid| keys.iter().any(|k| k.kid == kid));
        let age = now_ms - at;
        ((age < KEYS_FRESH_MS && knows_kid) || age < REFETCH_GAP_MS).then(|| keys.clone())
    }

    pub(crate) fn put_keys(
        &self,
        name: &str,
        now_ms: i64,
        keys: Vec<VerifyingKey>,
    ) -> Arc<Vec<VerifyingKey>> {
        let keys = Arc::new(keys);
        if let Ok(mut entries) = self.entries.lock() {
            entries.entry(name.to_string()).or_default().keys = Some((now_ms, keys.clone()));
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(issuer: &str, endpoint: &str) -> String {
        serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{endpoint}/authorize"),
            "token_endpoint": format!("{endpoint}/token"),
            "jwks_uri": format!("{endpoint}/jwks"),
        })
        .to_string()
    }

    #[test]
    fn metadata_must_name_the_configured_issuer_and_safe_endpoints() {
        let ok = parse_metadata(
            &doc("https://idp.example", "https://idp.example"),
            "https://idp.example",
        );
        assert_eq!(ok.unwrap().token_endpoint, "https://idp.example/token");
        let mixed = parse_metadata(
            &doc("https://evil.example", "https://idp.example"),
            "https://idp.example",
        );
        assert!(mixed.unwrap_err().contains("evil.example"));
        let plain = parse_metadata(
            &doc("https://idp.example", "http://idp.example"),
            "https://idp.example",
        );
        assert!(plain.unwrap_err().contains("loopback"));
        assert!(parse_metadata("<html>", "https://idp.example").is_err());
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
