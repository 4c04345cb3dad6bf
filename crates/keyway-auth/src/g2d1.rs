//! The g2d1 profile (docs/oauth.md, "The g2d1 profile"): authorization requests and the
//! redirects that answer them are signed with HMAC-SHA256 under the client's signing secret,
//! over a canonical string of all their parameters, so that custom parameters can travel
//! through the flow and be trusted.

use std::collections::HashSet;

use aws_lc_rs::hmac;

use crate::OAuthError;

/// A request's `timestamp` may be this far from the hub's clock.
pub(crate) const TIMESTAMP_WINDOW: i64 = 300;
/// Bounds on custom parameters: they are stored with the request and echoed back.
const MAX_CUSTOM: usize = 10;
const MAX_NAME_LEN: usize = 64;
const MAX_VALUE_LEN: usize = 256;
const MAX_NONCE_LEN: usize = 128;

/// Parameters with a meaning of their own (OAuth 2.0, OpenID Connect, RFC 8707/9101/9126/9449
/// and the g2d1 profile's). Any other name is a custom parameter, which must be signed.
const KNOWN: [&str; 27] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "nonce",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "ui_locales",
    "claims_locales",
    "display",
    "acr_values",
    "claims",
    "resource",
    "request",
    "request_uri",
    "dpop_jkt",
    "appid",
    "type",
    "timestamp",
    "signature_names",
    "signature",
];

/// Names of the answer's own parameters: a custom parameter by one of these names would be
/// echoed beside (or instead of) the hub's, so a request may not carry one.
const ANSWER_NAMES: [&str; 11] = [
    "code",
    "iss",
    "error",
    "error_description",
    "error_uri",
    "response",
    "id_token",
    "access_token",
    "token_type",
    "expires_in",
    "session_state",
];

/// Claim names of JWTs the hub signs (RFC 7519, OpenID Connect, RFC 9068/9449, JARM): a
/// custom parameter travels as a claim of a JARM response, so it may not take one of these
/// names (it would pass for an ID token's or an access token's claim).
const CLAIM_NAMES: [&str; 24] = [
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "azp",
    "typ",
    "cnf",
    "auth_time",
    "acr",
    "amr",
    "idp",
    "sid",
    "at_hash",
    "c_hash",
    "s_hash",
    "preferred_username",
    "name",
    "email",
    "client_id",
    "scope",
    "act",
    "may_act",
];

/// A custom parameter's name: ASCII letters, digits, `_`, `-` and `.`, at most
/// [`MAX_NAME_LEN`] bytes, not (in any case) a parameter of the answer or a claim of the JWTs
/// the hub signs. `Err` says why not.
pub(crate) fn check_custom_name(name: &str) -> Result<(), OAuthError> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(refused(format!(
            "custom parameter names are 1–{MAX_NAME_LEN} of A–Z a–z 0–9 _ - . ({name:?} is not)"
        )));
    }
    let lower = name.to_ascii_lowercase();
    if ANSWER_NAMES.contains(&lower.as_str())
        || CLAIM_NAMES.contains(&lower.as_str())
        || KNOWN.contains(&lower.as_str())
    {
        return Err(refused(format!(
            "{name} is a parameter of the hub's answer or a claim of its tokens; a request may \
             not carry it as a custom parameter"
        )));
    }
    Ok(())
}

/// Whether `name` is a custom parameter of a g2d1 request.
pub(crate) fn is_custom(name: &str) -> bool {
    !KNOWN.contains(&name)
}

/// RFC 3986 §2.3: unreserved characters stay, every other byte is `%XX` in upper case.
fn percent_encode(text: &str, out: &mut String) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// The string a g2d1 signature covers: every parameter but `signature`, sorted by name (byte
/// order), each `name=value` percent-encoded, joined with `&`.
pub fn canonical_string(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().filter(|(n, _)| *n != "signature").collect();
    sorted.sort_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut out = String::new();
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode(name, &mut out);
        out.push('=');
        percent_encode(value, &mut out);
    }
    out
}

/// Lower-case hex HMAC-SHA256 of the canonical string of `params` under `secret`.
pub fn g2d1_signature(secret: &[u8], params: &[(&str, &str)]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, canonical_string(params).as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a signed g2d1 request carries through the flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SignedExtras {
    /// The custom parameters, in the order `signature_names` gave them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) custom: Vec<(String, String)>,
    /// The login type asked for (`type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) login_type: Option<String>,
    /// The client that handed the user over (a transmitted sign-in, not a g2d1 parameter):
    /// its code and tokens say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) transmitted_from: Option<String>,
}

fn refused(why: impl std::fmt::Display) -> OAuthError {
    OAuthError::invalid_request(format!("g2d1 signature: {why}"))
}

/// Checks a g2d1 request's signature and rules (everything but the nonce's single use, which
/// needs the store): the signed custom parameters and the nonce when all hold.
pub(crate) fn check_request(
    secret: &[u8],
    params: &[(String, String)],
    now: i64,
) -> Result<(SignedExtras, String), OAuthError> {
    let mut seen = HashSet::new();
    for (name, _) in params {
        if !seen.insert(name.as_str()) {
            return Err(refused(format!("{name} is given twice")));
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let required = |name: &str| get(name).ok_or_else(|| refused(format!("{name} is required")));
    let timestamp = required("timestamp")?;
    let at: i64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()) && timestamp.len() <= 12)
        .ok_or_else(|| refused("timestamp must be Unix seconds"))?;
    if (now - at).abs() > TIMESTAMP_WINDOW {
        return Err(refused(format!(
            "timestamp {at} is more than {TIMESTAMP_WINDOW} s from the hub's clock ({now})"
        )));
    }
    let nonce = required("nonce")?;
    if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(refused(format!(
            "nonce must be 1–{MAX_NONCE_LEN} characters"
        )));
    }
    let names_text = required("signature_names")?;
    let names: Vec<&str> = if names_text.is_empty() {
        Vec::new()
    } else {
        names_text.split(',').collect()
    };
    if names.iter().any(|n| n.is_empty()) {
        return Err(refused("signature_names has an empty name (a stray comma)"));
    }
    let mut named = HashSet::new();
    for name in &names {
        if !is_custom(name) {
            return Err(refused(format!(
                "signature_names may only name custom parameters, not {name}"
            )));
        }
        if !named.insert(*name) {
            return Err(refused(format!("signature_names names {name} twice")));
        }
        if get(name).is_none() {
            return Err(refused(format!(
                "signature_names names {name}, which is not given"
            )));
        }
    }
    let custom: Vec<&(String, String)> = params.iter().filter(|(n, _)| is_custom(n)).collect();
    for (name, _) in &custom {
        check_custom_name(name)?;
    }
    if let Some((name, _)) = custom.iter().find(|(n, _)| !named.contains(n.as_str())) {
        return Err(refused(format!(
            "the custom parameter {name} is not in signature_names, so it cannot be trusted"
        )));
    }
    if custom.len() > MAX_CUSTOM {
        return Err(refused(format!("at most {MAX_CUSTOM} custom parameters")));
    }
    if let Some((name, _)) = custom
        .iter()
        .find(|(n, v)| n.len() > MAX_NAME_LEN || v.len() > MAX_VALUE_LEN)
    {
        return Err(refused(format!(
            "{name}: names are at most {MAX_NAME_LEN} bytes, values {MAX_VALUE_LEN}"
        )));
    }
    let given = required("signature")?.to_ascii_lowercase();
    let borrowed: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let expected = g2d1_signature(secret, &borrowed);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        expected.as_bytes(),
    )) {
        return Err(refused(
            "the signature does not match the parameters (HMAC-SHA256 of the canonical string \
             under the client's signing secret; docs/oauth.md)",
        ));
    }
    let extras = SignedExtras {
        custom: names
            .iter()
            .filter_map(|n| get(n).map(|v| ((*n).to_string(), v.to_string())))
            .collect(),
        login_type: get("type").map(str::to_string),
        transmitted_from: None,
    };
    Ok((extras, nonce.to_string()))
}

/// What a pushed or signed-object request of a g2d1 client carries through the flow: its
/// custom parameters (under the same name rules and bounds as signed ones) and `type`.
pub(crate) fn carried(params: &[(String, String)]) -> Result<SignedExtras, OAuthError> {
    let custom: Vec<(String, String)> = params
        .iter()
        .filter(|(n, _)| is_custom(n))
        .cloned()
        .collect();
    if custom.len() > MAX_CUSTOM {
        return Err(refused(format!("at most {MAX_CUSTOM} custom parameters")));
    }
    for (name, value) in &custom {
        check_custom_name(name)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(refused(format!(
                "{name}: values are at most {MAX_VALUE_LEN} bytes"
            )));
        }
    }
    Ok(SignedExtras {
        custom,
        login_type: params
            .iter()
            .find(|(n, _)| n == "type")
            .map(|(_, v)| v.clone()),
        transmitted_from: None,
    })
}

/// Adds the g2d1 parameters to a redirect's `pairs` (which hold `code` or `error…`, `state`
/// and `iss`) and signs them all: the signed custom parameters, `type`, `signature_names`, a
/// fresh `timestamp` and `nonce`, then `signature`.
pub(crate) fn sign_response(
    secret: &[u8],
    pairs: &mut Vec<(String, String)>,
    extras: &SignedExtras,
    now: i64,
    nonce: String,
) {
    pairs.extend(extras.custom.iter().cloned());
    if let Some(login_type) = &extras.login_type {
        pairs.push(("type".into(), login_type.clone()));
    }
    let names: Vec<&str> = extras.custom.iter().map(|(n, _)| n.as_str()).collect();
    pairs.push(("signature_names".into(), names.join(",")));
    pairs.push(("timestamp".into(), now.to_string()));
    pairs.push(("nonce".into(), nonce));
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let signature = g2d1_signature(secret, &borrowed);
    pairs.push(("signature".into(), signature));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of docs/oauth.md ("The g2d1 profile").
    pub(crate) const SECRET: &str = "kw-g2d1-test-vector-secret-0123456789abcdef";

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn vector_request() -> Vec<(&'static str, &'static str)> {
        vec![
            ("appid", "app_7Qx"),
            ("response_type", "code"),
            ("redirect_uri", "https://shop.example/cb?x=1"),
            ("scope", "openid read"),
            ("state", "s 1/2"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("type", "password"),
            ("order_id", "A-17"),
            ("note", "héllo wörld"),
            ("timestamp", "1767225600"),
            ("nonce", "n-0001"),
            ("signature_names", "order_id,note"),
        ]
    }

    #[test]
    fn canonical_string_of_the_documented_request() {
        assert_eq!(
            canonical_string(&vector_request()),
            "appid=app_7Qx&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&\
             code_challenge_method=S256&nonce=n-0001&note=h%C3%A9llo%20w%C3%B6rld&\
             order_id=A-17&redirect_uri=https%3A%2F%2Fshop.example%2Fcb%3Fx%3D1&\
             response_type=code&scope=openid%20read&signature_names=order_id%2Cnote&\
             state=s%201%2F2&timestamp=1767225600&type=password"
        );
    }

    #[test]
    fn a_signed_request_passes_and_every_change_fails() {
        let mut request = vector_request();
        let signature = g2d1_signature(SECRET.as_bytes(), &request);
        request.push(("signature", &signature));
        let now = 1767225600 + 100;
        let (extras, nonce) = check_request(SECRET.as_bytes(), &owned(&request), now).unwrap();
        assert_eq!(nonce, "n-0001");
        assert_eq!(
            extras.custom,
            owned(&[("order_id", "A-17"), ("note", "héllo wörld")])
        );
        assert_eq!(extras.login_type.as_deref(), Some("password"));
        let with = |name: &str, value: &str| {
            let mut changed = owned(&request);
            match changed.iter_mut().find(|(n, _)| n == name) {
                Some(pair) => pair.1 = value.to_string(),
                None => changed.push((name.to_string(), value.to_string())),
            }
            check_request(SECRET.as_bytes(), &changed, now)
                .map(|_| ())
                .unwrap_err()
                .description
        };
        assert!(with("order_id", "A-18").contains("does not match"));
        assert!(with("extra", "1").contains("not in signature_names"));
        assert!(with("signature_names", "order_id").contains("note is not in"));
        assert!(with("signature_names", "order_id,scope,note").contains("only name custom"));
        assert!(with("signature_names", "order_id,note,gone").contains("not given"));
        assert!(with("timestamp", "1767225000").contains("more than 300 s"));
        assert!(with("timestamp", "-1").contains("Unix seconds"));
        assert!(with("code", "forged").contains("parameter of the hub's answer"));
        for claim in ["aud", "sub", "exp", "Iss", "AZP", "preferred_username"] {
            assert!(with(claim, "x").contains("claim of its tokens"), "{claim}");
        }
        for bad in ["co\0de", "a&b", "a=b", "code ", "h\u{e9}"] {
            assert!(
                with(bad, "x").contains("custom parameter names are"),
                "{bad:?}"
            );
        }
        assert!(with("signature_names", "order_id,note,").contains("stray comma"));
        let mut twice = owned(&request);
        twice.push(("order_id".into(), "A-17".into()));
        assert!(
            check_request(SECRET.as_bytes(), &twice, now)
                .unwrap_err()
                .description
                .contains("twice")
        );
        assert!(check_request(b"another secret", &owned(&request), now).is_err());
        // Upper-case hex is the same signature.
        let upper = signature.to_ascii_uppercase();
        let mut shouted = owned(&request);
        if let Some(pair) = shouted.iter_mut().find(|(n, _)| n == "signature") {
            pair.1 = upper;
        }
        assert!(check_request(SECRET.as_bytes(), &shouted, now).is_ok());
    }

    #[test]
    fn the_documented_signatures() {
        let mut request = vector_request();
        let signature = g2d1_signature(SECRET.as_bytes(), &request);
        request.push(("signature", &signature));
        let extras = SignedExtras {
            custom: owned(&[("order_id", "A-17"), ("note", "héllo wörld")]),
            login_type: Some("password".into()),
            transmitted_from: None,
        };
        let mut redirect = owned(&[
            ("code", "kwc_SplxlOBeZQQYbYS6WxSbIA"),
            ("state", "s 1/2"),
            ("iss", "https://auth.example.com"),
        ]);
        sign_response(
            SECRET.as_bytes(),
            &mut redirect,
            &extras,
            1767225660,
            "r-0001".into(),
        );
        let borrowed: Vec<(&str, &str)> = redirect
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            canonical_string(&borrowed),
            "code=kwc_SplxlOBeZQQYbYS6WxSbIA&iss=https%3A%2F%2Fauth.example.com&nonce=r-0001&\
             note=h%C3%A9llo%20w%C3%B6rld&order_id=A-17&signature_names=order_id%2Cnote&\
             state=s%201%2F2&timestamp=1767225660&type=password"
        );
        assert_eq!(signature, REQUEST_SIGNATURE);
        assert_eq!(redirect.last().unwrap().1, REDIRECT_SIGNATURE);
    }

    const REQUEST_SIGNATURE: &str =
        "93831b50f8cf9cc696ddc92e8cd9c342f7f1764df54766273f435cee25532ed9";
    const REDIRECT_SIGNATURE: &str =
        "7bd7bcb46e77ff497d105fa7cb37c673e0bf8b8935138188f53934fa586d8ff0";
}
