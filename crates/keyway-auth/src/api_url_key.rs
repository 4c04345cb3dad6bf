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

/// [`api_url_key`] with every loopback host (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`)
/// written `127.0.0.1`: what tells whether a URL reaches this hub itself, which may listen on
/// any of them.
pub(crate) fn reach_key(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return api_url_key(text);
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if loopback && url.set_host(Some("127.0.0.1")).is_err() {
        return api_url_key(text);
    }
    api_url_key(url.as_str())
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
    use super::api_url_key;

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
