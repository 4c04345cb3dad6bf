//! What both HTTP sides agree on: the handshake endpoint, the challenge header and the error
//! responses (docs/toki.md, "HTTP binding").

use http::StatusCode;
use keyway_toki::TokiError;

/// Where the layer answers a `Hello` (raw bytes, `application/octet-stream`) with a `Welcome`.
pub const HELLO_PATH: &str = "/.well-known/oscartoki/hello";
/// The RFC 9530 header the client also sends (informational: the server always recomputes).
pub const CONTENT_DIGEST: &str = "content-digest";
/// The largest `Hello` (two 255-byte service ids) is 635 bytes.
pub(crate) const MAX_HANDSHAKE_BODY: usize = 1024;
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";

/// The HTTP status for a refused toki step: capacity limits are temporary (503), everything
/// else means "not authenticated" (401) — never a success.
pub fn status_for(error: &TokiError) -> StatusCode {
    match error {
        TokiError::HelloCacheFull | TokiError::TooManySessions => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    }
}

/// `Toki error="bad_mac", error_description="token MAC does not verify"`.
pub fn challenge(error: &TokiError) -> String {
    // Descriptions are fixed English text, but keep the quoted-string valid whatever they hold.
    let description: String = error
        .to_string()
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    format!(
        "Toki error=\"{}\", error_description=\"{description}\"",
        error.code()
    )
}

/// Reads the `error` parameter of a `Toki` challenge.
pub fn challenge_error(value: &str) -> Option<&str> {
    let rest = value.trim_start().strip_prefix("Toki")?;
    let start = rest.find("error=\"")? + "error=\"".len();
    let end = rest[start..].find('"')? + start;
    Some(&rest[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_name_the_rule_and_parse_back() {
        let value = challenge(&TokiError::Malformed("request token"));
        assert_eq!(
            value,
            "Toki error=\"malformed\", error_description=\"malformed request token\""
        );
        assert_eq!(challenge_error(&value), Some("malformed"));
        assert_eq!(challenge_error("Bearer error=\"x\""), None);
        assert_eq!(challenge_error("Toki error=\"unterminated"), None);
        assert_eq!(status_for(&TokiError::BadMac), StatusCode::UNAUTHORIZED);
    }

    proptest::proptest! {
        /// Clients read this header from anyone: it must never panic, and what it returns is
        /// a slice of the input between the quotes.
        #[test]
        fn challenge_parser_takes_any_input(value in "(Toki)?[ -~é\\\"=a-z]{0,60}") {
            if let Some(code) = challenge_error(&value) {
                proptest::prop_assert!(!code.contains('"'));
                let quoted = format!("error=\"{code}\"");
                proptest::prop_assert!(value.contains(&quoted));
            }
        }
    }
}
