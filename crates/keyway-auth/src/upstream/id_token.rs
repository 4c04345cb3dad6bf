//! Validation of an upstream's ID token (OpenID Connect Core §3.1.3.7), pure: the keys, the
//! expected values and the time come in as arguments.

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::jose::{VerifyingKey, split_compact};
use crate::tokens::Audience;

/// An ID token longer than this is not one (they are a few hundred bytes to a few KiB).
const MAX_ID_TOKEN_LEN: usize = 16 * 1024;
/// OpenID Connect Core §2: `sub` is at most 255 ASCII characters.
const MAX_SUBJECT_LEN: usize = 255;
/// Longest claim value kept as a username candidate.
const MAX_USERNAME_CLAIM_LEN: usize = 128;

/// Why an upstream's ID token was refused (shown on the error page, so no token content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is not a signed JWT")]
    Malformed,
    #[error("no key of the provider's JWKS verifies the ID token's signature")]
    BadSignature,
    #[error("the ID token's issuer is not the configured issuer")]
    WrongIssuer,
    #[error("the ID token is not meant for this hub (aud does not contain its client_id)")]
    WrongAudience,
    #[error("the ID token's azp is not this hub's client_id")]
    WrongAuthorizedParty,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token was issued in the future, or is not valid yet (iat, nbf)")]
    IssuedInFuture,
    #[error("the ID token's iat is missing or not a number")]
    NoIssuedAt,
    #[error("the ID token names critical header extensions (crit) this hub does not understand")]
    CriticalHeader,
    #[error("the ID token's nonce is not the one this sign-in sent")]
    WrongNonce,
    #[error("the ID token has no usable sub (1–255 printable characters)")]
    BadSubject,
}

/// What the ID token must say.
pub(crate) struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: i64,
    pub skew: i64,
    pub username_claim: &'a str,
}

/// The person the upstream vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpstreamClaims {
    pub sub: String,
    /// The configured username claim's value, when it is a reasonable string.
    pub username: Option<String>,
    /// When the person authenticated at the provider (`auth_time`), when it says so.
    pub auth_time: Option<i64>,
}

/// Verifies signature, `iss`, `aud`/`azp`, `exp`/`iat` (with `skew` seconds) and `nonce`.
pub(crate) fn validate_id_token(
    token: &str,
    keys: &[VerifyingKey],
    expected: &Expected<'_>,
) -> Result<UpstreamClaims, IdTokenError> {
    if token.len() > MAX_ID_TOKEN_LEN {
        return Err(IdTokenError::Malformed);
    }
    let jws = split_compact(token).map_err(|_| IdTokenError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&jws.header).map_err(|_| IdTokenError::Malformed)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(IdTokenError::Malformed)?;
    // RFC 7515 §4.1.11: an extension the recipient must understand and does not.
    if header.contains_key("crit") {
        return Err(IdTokenError::CriticalHeader);
    }
    let kid = header.get("kid").and_then(Value::as_str);
    // The key is chosen by kid when there is one; each key checks the header's alg is its own
    // (so `none` or an HMAC alg never verifies).
    let verified = keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.kid == kid))
        .any(|k| {
            k.verify(alg, jws.signing_input.as_bytes(), &jws.signature)
                .is_ok()
        });
    if !verified {
        return Err(IdTokenError::BadSignature);
    }
    let claims: Map<String, Value> =
        serde_json::from_slice(&jws.payload).map_err(|_| IdTokenError::Malformed)?;
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(IdTokenError::WrongIssuer);
    }
    let audience: Audience = claims
        .get("aud")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or(IdTokenError::WrongAudience)?;
    if !audience.contains(expected.client_id) {
        return Err(IdTokenError::WrongAudience);
    }
    let several = matches!(&audience, Audience::Many(list) if list.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != expected.client_id => return Err(IdTokenError::WrongAuthorizedParty),
        None if several => return Err(IdTokenError::WrongAuthorizedParty),
        _ => {}
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(IdTokenError::Expired)?;
    if exp + expected.skew <= expected.now {
        return Err(IdTokenError::Expired);
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(IdTokenError::NoIssuedAt)?;
    if iat > expected.now + expected.skew {
        return Err(IdTokenError::IssuedInFuture);
    }
    match claims.get("nbf") {
        None => {}
        Some(nbf) => match nbf.as_i64() {
            Some(nbf) if nbf <= expected.now + expected.skew => {}
            _ => return Err(IdTokenError::IssuedInFuture),
        },
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())) {
        return Err(IdTokenError::WrongNonce);
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_SUBJECT_LEN && !s.chars().any(char::is_control))
        .ok_or(IdTokenError::BadSubject)?;
    let username = claims
        .get(expected.username_claim)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_USERNAME_CLAIM_LEN)
        .map(str::to_string);
    Ok(UpstreamClaims {
        sub: sub.to_string(),
        username,
        auth_time: claims.get("auth_time").and_then(Value::as_i64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::PublicJwk;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn key() -> (Ed25519KeyPair, VerifyingKey) {
        let pair = Ed25519KeyPair::generate().unwrap();
        let mut jwk = PublicJwk::ed25519(pair.public_key().as_ref());
        jwk.kid = Some("k1".into());
        (pair, VerifyingKey::from_jwk(&jwk).unwrap())
    }

    fn sign(pair: &Ed25519KeyPair, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = pair.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "keyway",
            nonce: "n-1",
            now: 1_000,
            skew: 30,
            username_claim: "preferred_username",
        }
    }

    fn good() -> Value {
        serde_json::json!({"iss": "https://idp.example", "aud": "keyway", "sub": "u-1",
            "exp": 1_300, "iat": 990, "nonce": "n-1", "preferred_username": "ada"})
    }

    fn check(claims: Value) -> Result<UpstreamClaims, IdTokenError> {
        let (pair, key) = key();
        let header = serde_json::json!({"alg": "EdDSA", "kid": "k1"});
        validate_id_token(&sign(&pair, &header, &claims), &[key], &expected())
    }

    fn with(field: &str, value: Value) -> Value {
        let mut claims = good();
        claims[field] = value;
        claims
    }

    #[test]
    fn critical_headers_are_refused() {
        let (pair, key) = key();
        let header = serde_json::json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp"]});
        assert_eq!(
            validate_id_token(&sign(&pair, &header, &good()), &[key], &expected()),
            Err(IdTokenError::CriticalHeader)
        );
    }

    #[test]
    fn a_good_token_names_its_subject() {
        assert_eq!(
            check(good()).unwrap(),
            UpstreamClaims {
                sub: "u-1".into(),
                username: Some("ada".into()),
                auth_time: None,
            }
        );
    }

    #[test]
    fn each_bad_claim_is_named() {
        use IdTokenError::*;
        let cases = [
            (with("iss", "https://other".into()), WrongIssuer),
            (with("aud", "someone-else".into()), WrongAudience),
            (
                with("aud", serde_json::json!(["keyway", "x"])),
                WrongAuthorizedParty,
            ),
            (with("azp", "x".into()), WrongAuthorizedParty),
            (with("exp", 969.into()), Expired),
            (with("iat", 1_031.into()), IssuedInFuture),
            (with("nbf", 1_031.into()), IssuedInFuture),
            (with("nonce", "n-2".into()), WrongNonce),
            (with("sub", "".into()), BadSubject),
            (with("sub", "x".repeat(256).into()), BadSubject),
        ];
        for (claims, err) in cases {
            assert_eq!(check(claims.clone()), Err(err), "{claims}");
        }
        let mut no_nonce = good();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(no_nonce), Err(WrongNonce));
        let several = with("aud", serde_json::json!(["keyway", "x"]));
        let mut several_ok = several.clone();
        several_ok["azp"] = "keyway".into();
        assert!(check(several_ok).is_ok());
    }

    #[test]
    fn signature_and_algorithm_are_checked() {
        let (pair, key) = key();
        let (_, other) = key_pair_other();
        let header = serde_json::json!({"alg": "EdDSA", "kid": "k1"});
        let token = sign(&pair, &header, &good());
        assert!(validate_id_token(&token, std::slice::from_ref(&key), &expected()).is_ok());
        assert_eq!(
            validate_id_token(&token, &[other], &expected()),
            Err(IdTokenError::BadSignature)
        );
        // alg none, with the signature stripped.
        let none = serde_json::json!({"alg": "none", "kid": "k1"});
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.", URL_SAFE_NO_PAD.encode(none.to_string()), parts[1]);
        assert!(validate_id_token(&forged, std::slice::from_ref(&key), &expected()).is_err());
        // A tampered payload.
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(with("sub", "admin".into()).to_string()),
            parts[2]
        );
        assert_eq!(
            validate_id_token(&tampered, &[key], &expected()),
            Err(IdTokenError::BadSignature)
        );
    }

    fn key_pair_other() -> (Ed25519KeyPair, VerifyingKey) {
        key()
    }
}
