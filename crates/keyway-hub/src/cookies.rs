//! The two cookies of the hub's browser pages (OAuth sign-in and consent, the hub's own
//! sign-in page).

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The login session (HttpOnly; its digest is stored).
pub(crate) const SESSION: &str = "keyway_session";
/// A random per-browser value that anti-CSRF tokens are bound to.
pub(crate) const BROWSER: &str = "keyway_browser";
/// A sign-in through an upstream provider in progress (sealed, `keyway-auth` upstream).
pub(crate) const UPSTREAM: &str = "keyway_upstream";
/// Longest value of the upstream cookie (the others are short tokens: 256).
pub(crate) const UPSTREAM_MAX: usize = 3800;

/// The name cookie `name` goes by: over https with the `__Host-` prefix, which browsers accept
/// only from this very origin (Secure, `Path=/`, no `Domain`), so a sibling subdomain or an
/// attacker on plain http cannot plant it (a planted browser cookie would let them bind a
/// victim's form to a token of theirs: login CSRF).
fn full_name(name: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_string()
    }
}

/// The value of cookie `name`, if the request carried it (`secure`: the hub is on https).
pub(crate) fn read(headers: &HeaderMap, name: &str, secure: bool) -> Option<String> {
    read_up_to(headers, name, secure, 256)
}

/// As [`read`], for a cookie whose values may be up to `max` bytes long.
pub(crate) fn read_up_to(
    headers: &HeaderMap,
    name: &str,
    secure: bool,
    max: usize,
) -> Option<String> {
    let name = full_name(name, secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name.as_str())
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= max)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure when the hub is served over https.
pub(crate) fn set(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let name = full_name(name, secure);
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// A `Set-Cookie` value that removes cookie `name` (same attributes, empty, `Max-Age=0`).
pub(crate) fn clear(name: &str, secure: bool) -> String {
    set(name, "", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_one_cookie_among_many() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; keyway_session=abc; b=2"),
        );
        assert_eq!(read(&headers, SESSION, false).as_deref(), Some("abc"));
        assert_eq!(read(&headers, BROWSER, false), None);
        // Over https only the __Host- cookie counts: a plain one may have been planted.
        assert_eq!(read(&headers, SESSION, true), None);
        headers.insert(
            COOKIE,
            HeaderValue::from_static("keyway_session=planted; __Host-keyway_session=real"),
        );
        assert_eq!(read(&headers, SESSION, true).as_deref(), Some("real"));
    }

    #[test]
    fn cookie_flags() {
        let c = set(SESSION, "v", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(!set(SESSION, "v", 60, false).contains("Secure"));
        assert_eq!(
            clear(SESSION, true),
            "__Host-keyway_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
        assert!(set(SESSION, "v", 60, false).starts_with("keyway_session=v;"));
    }
}
