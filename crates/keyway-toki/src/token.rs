//! The `oscartoki` header values and the canonical strings their MACs cover
//! (docs/toki.md, "Request token" and "Response token").

use crate::encoding::{b64_fixed, bindable, decimal_u64, push_b64, push_decimal};
use crate::error::TokiError;
use crate::hello::SessionId;
use crate::identity::ServiceId;

/// The header (HTTP) or message header (brokers) that carries a token.
pub const HEADER_NAME: &str = "oscartoki";
/// Longer header values are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 200;
/// Request flag: ratchet the session keys on this exchange.
pub const FLAG_RATCHET: u64 = 1;

const LINE_REQUEST: &str = "keyway-toki v1 request";
const LINE_RESPONSE: &str = "keyway-toki v1 response";

/// What a request token binds besides the session: the HTTP request line and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestParts<'a> {
    /// As sent, e.g. `POST`.
    pub method: &'a str,
    /// `host[:port]` as sent in `:authority` / `Host`.
    pub authority: &'a str,
    /// The request target in origin form, e.g. `/v1/items?id=7`.
    pub path_and_query: &'a str,
    /// The RFC 9530 `Content-Digest` value of the body (`content_digest(body)`).
    pub content_digest: &'a str,
}

impl RequestParts<'_> {
    pub(crate) fn check_bindable(&self) -> Result<(), TokiError> {
        bindable(self.method, "method")?;
        bindable(self.authority, "authority")?;
        bindable(self.path_and_query, "path and query")?;
        bindable(self.content_digest, "content digest")
    }
}

/// A parsed request token: `v1.<session>.<epoch>.<counter>.<created_ms>.<flags>.<mac>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestToken {
    pub session_id: SessionId,
    pub epoch: u32,
    pub counter: u64,
    pub created_ms: u64,
    pub flags: u64,
    pub mac: [u8; 32],
}

impl RequestToken {
    pub fn parse(value: &str) -> Result<RequestToken, TokiError> {
        let fields = split_fields::<7>(value, "request token")?;
        if fields[0] != "v1" {
            return Err(TokiError::UnsupportedVersion);
        }
        let flags = decimal_u64(fields[5], "request token flags")?;
        if flags & !FLAG_RATCHET != 0 {
            return Err(TokiError::Malformed("request token flags"));
        }
        Ok(RequestToken {
            session_id: SessionId(b64_fixed(fields[1], "request token session")?),
            epoch: epoch(fields[2])?,
            counter: decimal_u64(fields[3], "request token counter")?,
            created_ms: decimal_u64(fields[4], "request token created")?,
            flags,
            mac: b64_fixed(fields[6], "request token mac")?,
        })
    }

    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push_str("v1.");
        push_b64(&mut out, &self.session_id.0);
        for n in [
            u64::from(self.epoch),
            self.counter,
            self.created_ms,
            self.flags,
        ] {
            out.push('.');
            push_decimal(&mut out, n);
        }
        out.push('.');
        push_b64(&mut out, &self.mac);
        out
    }

    pub fn wants_ratchet(&self) -> bool {
        self.flags & FLAG_RATCHET != 0
    }
}

/// A parsed response token: `v1.<session>.<epoch>.<counter>.<mac>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseToken {
    pub session_id: SessionId,
    pub epoch: u32,
    pub counter: u64,
    pub mac: [u8; 32],
}

impl ResponseToken {
    pub fn parse(value: &str) -> Result<ResponseToken, TokiError> {
        let fields = split_fields::<5>(value, "response token")?;
        if fields[0] != "v1" {
            return Err(TokiError::UnsupportedVersion);
        }
        Ok(ResponseToken {
            session_id: SessionId(b64_fixed(fields[1], "response token session")?),
            epoch: epoch(fields[2])?,
            counter: decimal_u64(fields[3], "response token counter")?,
            mac: b64_fixed(fields[4], "response token mac")?,
        })
    }

    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(100);
        out.push_str("v1.");
        push_b64(&mut out, &self.session_id.0);
        out.push('.');
        push_decimal(&mut out, u64::from(self.epoch));
        out.push('.');
        push_decimal(&mut out, self.counter);
        out.push('.');
        push_b64(&mut out, &self.mac);
        out
    }
}

fn split_fields<'a, const N: usize>(
    value: &'a str,
    what: &'static str,
) -> Result<[&'a str; N], TokiError> {
    if value.len() > MAX_TOKEN_LEN {
        return Err(TokiError::Malformed(what));
    }
    let mut fields = [""; N];
    let mut parts = value.split('.');
    for field in &mut fields {
        *field = parts.next().ok_or(TokiError::Malformed(what))?;
    }
    if parts.next().is_some() {
        return Err(TokiError::Malformed(what));
    }
    Ok(fields)
}

fn epoch(text: &str) -> Result<u32, TokiError> {
    u32::try_from(decimal_u64(text, "token epoch")?)
        .map_err(|_| TokiError::Malformed("token epoch"))
}

/// The request MAC input: twelve lines joined by `\n`, no trailing line break.
pub fn canonical_request(
    caller: &ServiceId,
    callee: &ServiceId,
    token: &RequestToken,
    parts: &RequestParts<'_>,
) -> String {
    // Built in one buffer without the formatting machinery: this runs on every call, on
    // both sides.
    let mut out = String::with_capacity(
        160 + caller.as_str().len()
            + callee.as_str().len()
            + parts.authority.len()
            + parts.path_and_query.len(),
    );
    push_session_lines(&mut out, LINE_REQUEST, caller, callee, token.session_id);
    for n in [
        u64::from(token.epoch),
        token.counter,
        token.created_ms,
        token.flags,
    ] {
        push_decimal(&mut out, n);
        out.push('\n');
    }
    for field in [parts.method, parts.authority, parts.path_and_query] {
        out.push_str(field);
        out.push('\n');
    }
    out.push_str(parts.content_digest);
    out
}

/// The response MAC input: nine lines joined by `\n`, no trailing line break.
pub fn canonical_response(
    caller: &ServiceId,
    callee: &ServiceId,
    request: &RequestToken,
    status: u16,
    content_digest: &str,
) -> String {
    let mut out = String::with_capacity(200 + caller.as_str().len() + callee.as_str().len());
    push_session_lines(&mut out, LINE_RESPONSE, caller, callee, request.session_id);
    for n in [u64::from(request.epoch), request.counter] {
        push_decimal(&mut out, n);
        out.push('\n');
    }
    push_b64(&mut out, &request.mac);
    out.push('\n');
    push_decimal(&mut out, u64::from(status));
    out.push('\n');
    out.push_str(content_digest);
    out
}

/// The first four lines of both canonical strings, each ended by `\n`.
fn push_session_lines(
    out: &mut String,
    first: &str,
    caller: &ServiceId,
    callee: &ServiceId,
    session: SessionId,
) {
    for line in [first, caller.as_str(), callee.as_str()] {
        out.push_str(line);
        out.push('\n');
    }
    push_b64(out, &session.0);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RequestToken {
        RequestToken {
            session_id: SessionId([1; 16]),
            epoch: 2,
            counter: 3,
            created_ms: 4,
            flags: 1,
            mac: [5; 32],
        }
    }

    #[test]
    fn request_tokens_round_trip() {
        let token = sample();
        assert_eq!(RequestToken::parse(&token.encode()), Ok(token));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let good = sample().encode();
        assert_eq!(
            RequestToken::parse(&good.replacen("v1", "v2", 1)),
            Err(TokiError::UnsupportedVersion)
        );
        let cases = [
            String::new(),
            "v1".to_string(),
            good[..good.len() - 1].to_string(),
            format!("{good}."),
            format!("{good}{}", "A".repeat(MAX_TOKEN_LEN)),
            good.replace(".3.", ".03."),
            good.replace(".1.", ".2."),
        ];
        for case in cases {
            assert!(
                matches!(RequestToken::parse(&case), Err(TokiError::Malformed(_))),
                "{case}"
            );
        }
        assert!(matches!(
            ResponseToken::parse("v1...."),
            Err(TokiError::Malformed(_))
        ));
    }
}
