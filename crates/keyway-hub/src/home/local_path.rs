//! Where the hub's sign-in page sends the browser afterwards (`next`): a path on the hub
//! itself, never another site. Anything that is not plainly a local path becomes `/`.

/// The longest `next` kept (bytes).
const MAX_LEN: usize = 512;

/// `next` if it is a local path, else `/`.
///
/// Kept: starts with a single `/`; no `//` anywhere (`//evil.example` is another host, and
/// some servers fold `/a//b`), no backslash (browsers read `/\evil.example` as `//`), no
/// control or non-ASCII character or space (browsers drop tabs and newlines, so `/\t/evil`
/// is `//evil`), no percent-encoded slash or backslash (a second decoding by a proxy would
/// make one), at most 512 bytes. A scheme cannot appear: the first character is `/`.
pub(crate) fn local_path(next: &str) -> &str {
    let bytes = next.as_bytes();
    let plain = bytes.len() <= MAX_LEN
        && bytes.first() == Some(&b'/')
        && !next.contains("//")
        && bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\');
    let lowercase = next.to_ascii_lowercase();
    let encoded_separator = lowercase.contains("%2f") || lowercase.contains("%5c");
    if plain && !encoded_separator && same_origin(next) {
        next
    } else {
        "/"
    }
}

/// Belt and braces: resolved against a base URL, the path stays on the base's origin.
fn same_origin(path: &str) -> bool {
    let Ok(base) = url::Url::parse("http://hub.invalid/") else {
        return false;
    };
    base.join(path)
        .is_ok_and(|joined| joined.origin() == base.origin())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for path in [
            "/",
            "/activity",
            "/activity?x=1&y=%20",
            "/api/Contact('x')",
            "/a/b#frag",
        ] {
            assert_eq!(local_path(path), path);
        }
        let longest = format!("/{}", "a".repeat(MAX_LEN - 1));
        assert_eq!(local_path(&longest), longest);
    }

    #[test]
    fn everything_else_is_the_home_page() {
        let too_long = format!("/{}", "a".repeat(MAX_LEN));
        for next in [
            "",
            "activity",
            "//evil.example",
            "//evil.example/activity",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/activity//x",
            "https://evil.example",
            "https:evil.example",
            "javascript:alert(1)",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=1",
            "/a b",
            "/\u{7f}",
            "/évil",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            " /activity",
            too_long.as_str(),
        ] {
            assert_eq!(local_path(next), "/", "{next:?}");
        }
    }
}
