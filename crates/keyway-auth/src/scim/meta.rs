//! `meta` (RFC 7643 §3.1) and weak ETags. The version is a digest of the representation and
//! of the row's write counter, so a change made by the CLI (which does not bump the counter)
//! still changes the ETag, and two writes that restore the same content do not collide.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Adds `meta` to a representation; its `version` is the weak ETag.
pub(crate) fn meta(
    mut body: Map<String, Value>,
    resource_type: &str,
    created: i64,
    last_modified: i64,
    counter: i64,
    location: &str,
) -> Value {
    let mut digest = Sha256::new();
    digest.update(counter.to_le_bytes());
    digest.update(Value::Object(body.clone()).to_string().as_bytes());
    let hash = digest.finalize();
    let hex: String = hash.iter().take(10).map(|b| format!("{b:02x}")).collect();
    body.insert(
        "meta".into(),
        json!({
            "resourceType": resource_type,
            "created": keyway_kernel::rfc3339::format_unix_secs(created),
            "lastModified": keyway_kernel::rfc3339::format_unix_secs(last_modified),
            "location": location,
            "version": format!("W/\"{hex}\""),
        }),
    );
    Value::Object(body)
}

/// The version (weak ETag) of a representation made by [`meta`].
pub fn version_of(body: &Value) -> &str {
    body.pointer("/meta/version")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether an `If-Match` / `If-None-Match` header names `version`: `*`, or one of a
/// comma-separated list, compared weakly (RFC 9110 §8.8.3.2: `W/` ignored).
pub fn etag_matches(header: &str, version: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let wanted = opaque(version);
    header
        .split(',')
        .any(|tag| tag.trim() == "*" || opaque(tag) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_comparison() {
        assert!(etag_matches("W/\"ab\"", "W/\"ab\""));
        assert!(etag_matches("\"ab\"", "W/\"ab\""));
        assert!(etag_matches("\"x\", W/\"ab\"", "W/\"ab\""));
        assert!(etag_matches("*", "W/\"ab\""));
        assert!(!etag_matches("W/\"abc\"", "W/\"ab\""));
    }

    #[test]
    fn the_version_follows_content_and_counter() {
        let body = |name: &str| {
            let mut m = Map::new();
            m.insert("userName".into(), name.into());
            m
        };
        let a = meta(body("a"), "User", 1, 1, 0, "l");
        let b = meta(body("b"), "User", 1, 1, 0, "l");
        let c = meta(body("a"), "User", 1, 1, 1, "l");
        assert_ne!(version_of(&a), version_of(&b));
        assert_ne!(version_of(&a), version_of(&c));
        assert_eq!(
            version_of(&a),
            version_of(&meta(body("a"), "User", 1, 1, 0, "l"))
        );
    }
}
