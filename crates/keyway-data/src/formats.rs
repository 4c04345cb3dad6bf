//! String formats a schema may declare (`format: email`), checked on every write so what the
//! OpenAPI document promises is what the API stores.

/// The formats a `type: string` property may declare.
pub(crate) const FORMATS: [&str; 5] = ["email", "uri", "hostname", "ipv4", "ipv6"];

/// Whether `text` is a valid `format` value; `None` for an unknown format.
pub(crate) fn matches(format: &str, text: &str) -> Option<bool> {
    Some(match format {
        "email" => is_email(text),
        "uri" => is_uri(text),
        "hostname" => is_hostname(text, false),
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        _ => return None,
    })
}

/// A GUID as OData and the `uuid` type write it: 8-4-4-4-12 hex digits (either case).
pub(crate) fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// RFC 5322 `atext`, widened to non-ASCII letters as RFC 6531 (SMTPUTF8) allows.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || is_utf8_text(c)
}

/// A printable non-ASCII character (no controls, no whitespace).
fn is_utf8_text(c: char) -> bool {
    !c.is_ascii() && !c.is_control() && !c.is_whitespace()
}

/// `local@domain`: a dot-atom local part of at most 64 octets and a host name or an
/// address literal (RFC 5321 §4.1.2); quoted local parts are not accepted.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let dot_atom = !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
    let domain_ok = match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        Some(literal) => match literal.strip_prefix("IPv6:") {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => literal.parse::<std::net::Ipv4Addr>().is_ok(),
        },
        None => is_hostname(domain, true),
    };
    dot_atom && domain_ok
}

/// Dot-separated labels of letters, digits and inner hyphens, each 1–63 octets, 253 in all
/// (RFC 1123); `unicode` also admits internationalised labels (RFC 5890 U-labels).
fn is_hostname(text: &str, unicode: bool) -> bool {
    let text = text.strip_suffix('.').unwrap_or(text);
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || (unicode && is_utf8_text(c)))
        })
}

/// An absolute URI (RFC 3986 §4.3): a scheme, `:`, then only URI characters and valid
/// percent-escapes.
fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let escape_ok = bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !escape_ok {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed = b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b);
        if !allowed {
            return false;
        }
        i += 1;
    }
    scheme_ok
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn emails() {
        for good in [
            "ann@example.com",
            "a.b+tag@sub.example.org",
            "ünï@例え.jp",
            "x@[127.0.0.1]",
            "x@[IPv6:::1]",
        ] {
            assert_eq!(matches("email", good), Some(true), "{good}");
        }
        for bad in [
            "plain",
            "@example.com",
            "a..b@example.com",
            "a@",
            "a@-x.com",
            "Þ¢@v\u{87}",
            "a b@example.com",
            "a@exa mple.com",
        ] {
            assert_eq!(matches("email", bad), Some(false), "{bad}");
        }
    }

    #[test]
    fn uris_hosts_and_addresses() {
        assert_eq!(matches("uri", "https://example.com/a?b=c#d"), Some(true));
        assert_eq!(matches("uri", "urn:isbn:0451450523"), Some(true));
        assert_eq!(matches("uri", "example.com/no-scheme"), Some(false));
        assert_eq!(matches("uri", "https://exa mple.com"), Some(false));
        assert_eq!(matches("uri", "https://x/%zz"), Some(false));
        assert_eq!(matches("hostname", "db-1.internal"), Some(true));
        assert_eq!(matches("hostname", "-db.internal"), Some(false));
        assert_eq!(matches("ipv4", "10.0.0.1"), Some(true));
        assert_eq!(matches("ipv6", "10.0.0.1"), Some(false));
        assert_eq!(matches("colour", "red"), None);
    }
}
