//! How API URLs (and RFC 8707 `resource` values) are compared: as the resource server that
//! checks a token's audience would read them, so that `HTTP://b.example/api`,
//! `http://b.example:80/./api/`, `http://b.example/%61pi?x=1` are all client B's
//! `http://b.example/api` and cannot be asked for around the rules.

/// `text` as compared: scheme and host in lower case (an IPv4 address in its usual form), no
/// default port, dot segments resolved, unreserved characters percent-decoded, other escapes
/// in upper case, without userinfo, query, fragment and trailing `/`. Text that is no URL is
/// compared as written, without a trailing `/`.
pub(crate) fn api_url_key(text: &str) -> String {
    let Ok(url) = url::Url::parse(text) else {
        return text.trim_end_matches('/').to_string();
    };
    let mut key = format!("{}://", url.scheme());
    if let Some(host) = url.host_str() {
        key.push_str(host);
    }
    if let Some(port) = url.port() {
        key.push(':');
        key.push_str(&port.to_string());
    }
    key.push_str(decode_unreserved(url.path()).trim_end_matches('/'));
    key
}

/// [`api_url_key`] with every loopback host (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`,
/// the unspecified addresses, IPv4-compatible and -mapped forms of those) written
/// `127.0.0.1`: what tells whether a URL reaches this hub itself, which may listen on any of
/// them.
pub(crate) fn reach_key(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return api_url_key(text);
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            name == "localhost" || name.ends_with(".localhost")
        }
        // The unspecified address reaches this host too (on Linux), as does an IPv4-compatible
        // or -mapped one of a loopback address.
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || ip
                    .to_ipv4()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        }
        None => false,
    };
    if loopback && url.set_host(Some("127.0.0.1")).is_err() {
        return api_url_key(text);
    }
    api_url_key(url.as_str())
}

/// How a `resource` is compared with other clients' API URLs before it is refused (a refusal,
/// so erring wide is safe): as loosely as some resource server might read it. The host as
/// [`reach_key`] has it, an IPv4-mapped IPv6 address as its IPv4 one, without scheme or
/// default port; the path as the most lenient server reads it (`lenient_path.rs`: decoded
/// until no escape is left, `%uXXXX` and overlong UTF-8 too, full-width forms folded), in
/// lower case, without `;parameters`, control characters, spaces and trailing dots of its
/// segments, empty segments, `.` and `..` segments, query and fragment.
/// `https://b.example/API;x/%2561pi%00/` is `b.example/api/api`.
pub(crate) fn resemblance_key(text: &str) -> String {
    resemblance(text, false)
}

/// [`resemblance_key`], and the same with the `..` segments that decoding revealed resolved
/// (`/x/%c0%ae%c0%ae/api` is `/api` to a server that decodes overlong UTF-8): a resource is
/// refused when either lies at or under another client's API URL.
pub(crate) fn resemblance_keys(text: &str) -> [String; 2] {
    [resemblance(text, false), resemblance(text, true)]
}

fn resemblance(text: &str, resolve_dots: bool) -> String {
    let Ok(url) = url::Url::parse(&reach_key(text)) else {
        return text.trim_end_matches('/').to_ascii_lowercase();
    };
    let mut key = match url.host() {
        Some(url::Host::Ipv6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("[{ip}]"),
        },
        Some(host) => host.to_string().trim_end_matches('.').to_string(),
        None => String::new(),
    };
    if let Some(port) = url.port() {
        key.push(':');
        key.push_str(&port.to_string());
    }
    let path = crate::lenient_path::lenient_reading(url.path());
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_lowercase();
    let mut kept: Vec<String> = Vec::new();
    for segment in path.split(['/', '\\']) {
        let name = segment.split(';').next().unwrap_or_default();
        let name: String = name
            .chars()
            .filter(|c| !crate::lenient_path::ignorable(*c))
            .collect();
        let trimmed = name.trim_end_matches(['.', ' ']).trim();
        if trimmed.is_empty() {
            if resolve_dots && name.trim().starts_with("..") {
                kept.pop();
            }
            continue;
        }
        kept.push(trimmed.to_string());
    }
    for name in kept {
        key.push('/');
        key.push_str(&name);
    }
    key
}

/// `path` with escapes of unreserved characters (RFC 3986 §2.3) decoded and the rest's hex
/// digits in upper case (§6.2.2.1-2).
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut at = 0;
    while at < bytes.len() {
        let escape = (bytes[at] == b'%')
            .then(|| path.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok().map(|byte| (byte, hex)));
        match escape {
            Some((byte, _)) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(char::from(byte));
                at += 3;
            }
            Some((_, hex)) => {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
                at += 3;
            }
            None => {
                let ch = path[at..].chars().next().unwrap_or_default();
                out.push(ch);
                at += ch.len_utf8().max(1);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{api_url_key, resemblance_key, resemblance_keys};

    /// Spellings a lenient resource server may read as B's API (seen accepted by an
    /// audience check by prefix, or by one that decodes, folds case or strips parameters).
    #[test]
    fn spellings_that_resemble_an_api_url_are_caught() {
        let api = resemblance_key("http://127.0.0.1:18401/api");
        assert_eq!(api, "127.0.0.1:18401/api");
        for alike in [
            "http://127.0.0.1:18401/api;x",
            "http://127.0.0.1:18401//api",
            "http://127.0.0.1:18401/API",
            "http://127.0.0.1:18401/%2561pi",
            "http://127.0.0.1:18401/api%00",
            "http://127.0.0.1:18401/api%20",
            "http://127.0.0.1:18401/api%09",
            "http://127.0.0.1:18401/api../",
            "http://127.0.0.1:18401/api%3Fx",
            "http://[::ffff:127.0.0.1]:18401/api",
            "http://localhost:18401/api",
            "https://127.0.0.1:18401/api",
            // Overlong UTF-8, IIS escapes, full-width and leader look-alikes.
            "http://127.0.0.1:18401/api%c0%af",
            "http://127.0.0.1:18401/api%e0%80%af",
            "http://127.0.0.1:18401/api%f0%80%80%af",
            "http://127.0.0.1:18401/api%c0%ae",
            "http://127.0.0.1:18401/api%u002f",
            "http://127.0.0.1:18401/api%e2%80%a4",
            "http://127.0.0.1:18401/api%ef%bc%8e",
            "http://127.0.0.1:18401/%EF%BC%A1%EF%BC%B0%EF%BC%A9",
            "http://127.0.0.1:18401/api%ef%bb%bf",
            "http://127.0.0.1:18401/api%e2%80%8b",
            "http://127.0.0.1:18401/api%a0",
            "http://127.0.0.1:18401/ap%c4%b1",
            "http://[::127.0.0.1]:18401/api",
            "http://0.0.0.0:18401/api",
            "http://[::]:18401/api",
        ] {
            assert_eq!(resemblance_key(alike), api, "{alike}");
        }
        for under in [
            "http://127.0.0.1:18401/api%2forders",
            "http://127.0.0.1:18401/api\\orders",
            "http://127.0.0.1:18401/api%ef%bc%8fx",
            "http://127.0.0.1:18401/api%ef%bc%bcx",
            "http://127.0.0.1:18401/api%ef%b9%a8x",
            "http://127.0.0.1:18401/api%e2%88%95x",
        ] {
            assert!(
                resemblance_key(under).starts_with(&format!("{api}/")),
                "{under}"
            );
        }
        // A way back up that only decoding reveals: the resolved reading is B's API.
        let [as_written, resolved] = resemblance_keys("http://127.0.0.1:18401/x/%c0%ae%c0%ae/api");
        let [_, resolved_fold] = resemblance_keys("http://127.0.0.1:18401/x/%ef%b8%b0/api");
        assert_eq!(resolved_fold, api);
        assert_eq!(
            (as_written.as_str(), resolved.as_str()),
            ("127.0.0.1:18401/x/api", api.as_str())
        );
        for other in [
            "http://127.0.0.1:18401/apix",
            "http://127.0.0.1:18402/api",
            "http://10.0.0.1:18401/api",
        ] {
            assert_ne!(resemblance_key(other), api, "{other}");
        }
    }

    #[test]
    fn spellings_of_one_api_url_are_one_key() {
        let key = api_url_key("http://127.0.0.1:18401/api");
        for same in [
            "http://127.0.0.1:18401/api/",
            "HTTP://127.0.0.1:18401/api",
            "http://127.0.0.1:18401/./api",
            "http://127.0.0.1:18401/api/../api",
            "http://127.0.0.1:18401/%61pi",
            "http://127.0.0.1:018401/api",
            "http://127.0.0.1:18401/api?x=1",
            "http://127.0.0.1:18401/api#top",
            "http://user@127.0.0.1:18401/api",
            "http://127.1:18401/api",
        ] {
            assert_eq!(api_url_key(same), key, "{same}");
        }
        for other in [
            "http://127.0.0.1:18401/apix",
            "http://127.0.0.1:18402/api",
            "https://127.0.0.1:18401/api",
            "http://127.0.0.1:18401/api/v1",
        ] {
            assert_ne!(api_url_key(other), key, "{other}");
        }
        assert_eq!(
            api_url_key("https://B.example:443/a%2fb%7e"),
            "https://b.example/a%2Fb~"
        );
        assert_eq!(api_url_key("not a url/"), "not a url");
        // docs/oauth.md's example.
        assert_eq!(
            api_url_key("HTTPS://B.example:443/./%61pi/?x=1"),
            "https://b.example/api"
        );
    }
}
