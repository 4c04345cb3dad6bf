//! Minting and checking the hub's JWTs: RFC 9068 access tokens and OpenID Connect ID tokens.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::jose::{sign_compact, split_compact};
use crate::{AuthService, OAuthError, random_token};

/// `aud` is one string or an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn from_list(mut list: Vec<String>) -> Audience {
        if list.len() == 1 {
            Audience::One(list.remove(0))
        } else {
            Audience::Many(list)
        }
    }

    pub fn contains(&self, value: &str) -> bool {
        match self {
            Audience::One(one) => one == value,
            Audience::Many(many) => many.iter().any(|a| a == value),
        }
    }
}

/// The claims of a keyway access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The username, for user-delegated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The DPoP key the token is bound to (RFC 9449 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::Confirmation>,
    /// The client acting for the user (RFC 8693 §4.1): set on tokens a client obtained by
    /// token exchange or through the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The client that handed the user over (`POST /oauth2/transmit`), on tokens of a
    /// transmitted sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transmitted_from: Option<String>,
}

/// The actor of a delegated token (RFC 8693 §4.1): a client, by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
}

/// OIDC Core §3.1.3.6: the left half of the hash the signing algorithm uses. Ed25519 signs
/// with SHA-512 inside, so EdDSA tokens use SHA-512 (the OpenID working group's reading,
/// followed by openidconnect-rs and others).
pub(crate) fn at_hash(alg: &str, access_token: &str) -> String {
    match alg {
        "EdDSA" => URL_SAFE_NO_PAD.encode(&Sha512::digest(access_token.as_bytes())[..32]),
        _ => URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16]),
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

#[derive(Deserialize)]
struct ReadHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// The subject of a token to mint.
pub(crate) struct Subject<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub auth_time: Option<i64>,
    /// The DPoP key to bind the access token to.
    pub cnf: Option<&'a crate::DpopKey>,
    /// How the user signed in: `password` or an upstream provider's name.
    pub login_method: Option<&'a str>,
    /// The login session (OIDC Front/Back-Channel Logout `sid`), for ID tokens.
    pub sid: Option<&'a str>,
    /// The client acting for the user (RFC 8693 `act`).
    pub act: Option<&'a str>,
    /// The client that handed the user over.
    pub transmitted_from: Option<&'a str>,
    /// The token may not outlive this (seconds): a token derived from another ends with it.
    pub not_after: Option<i64>,
}

/// The ID token's `amr` (RFC 8176) and `idp` for a login method. RFC 8176 has no value for
/// "signed in at another provider"; `fed` is the one Microsoft Entra ID uses for it, beside
/// the provider in `idp`.
fn amr_and_idp(method: Option<&str>) -> (Option<Vec<&'static str>>, Option<&str>) {
    match method {
        Some(crate::PASSWORD) => (Some(vec!["pwd"]), None),
        // RFC 8176: a password, a one-time password, and so more than one factor.
        Some(crate::PASSWORD_OTP) => (Some(vec!["pwd", "otp", "mfa"]), None),
        // A passkey is a key the person holds, unlocked by a PIN or biometric (user
        // verification, which keyway requires): RFC 8176 `hwk`, and two factors.
        Some(crate::PASSWORD_PASSKEY) => (Some(vec!["pwd", "hwk", "mfa"]), None),
        Some(crate::PASSKEY) => (Some(vec!["hwk", "mfa"]), None),
        Some(upstream) => (Some(vec!["fed"]), Some(upstream)),
        None => (None, None),
    }
}

impl AuthService {
    /// Signs an access token. Returns (token, claims). No database access.
    /// `family`: the token family it is minted in (refresh-token grants and code exchanges),
    /// or the jti of the token it is minted from (token exchange, the gateway); its `jti` is
    /// then `FAMILY.random`, so that revoking the family, or that token, revokes it
    /// (`revocation.rs`) without a record of its own.
    pub(crate) fn mint_access_token(
        &self,
        subject: &Subject<'_>,
        scope: &str,
        audience: Vec<String>,
        family: Option<&str>,
    ) -> Result<(String, AccessTokenClaims), OAuthError> {
        let now = self.clock.now_secs();
        let claims = AccessTokenClaims {
            iss: self.config.issuer.clone(),
            sub: subject.sub.to_string(),
            aud: Audience::from_list(audience),
            client_id: subject.client_id.to_string(),
            scope: scope.to_string(),
            iat: now,
            exp: subject
                .not_after
                .map_or(now + self.config.access_token_ttl, |end| {
                    end.min(now + self.config.access_token_ttl)
                }),
            jti: match family {
                Some(family) => format!("{family}.{}", random_token(self.entropy.as_ref(), 16)),
                None => random_token(self.entropy.as_ref(), 16),
            },
            auth_time: subject.auth_time,
            username: subject.username.map(str::to_string),
            cnf: subject.cnf.map(|key| crate::Confirmation {
                jkt: key.jkt.clone(),
            }),
            act: subject.act.map(|sub| Actor {
                sub: sub.to_string(),
            }),
            transmitted_from: subject.transmitted_from.map(str::to_string),
        };
        let token = self.sign_jwt("at+jwt", &claims)?;
        Ok((token, claims))
    }

    /// Signs an OpenID Connect ID token for `client_id`, with `at_hash` of the access token.
    pub(crate) fn mint_id_token(
        &self,
        subject: &Subject<'_>,
        nonce: Option<&str>,
        access_token: &str,
        standard: serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, OAuthError> {
        let now = self.clock.now_secs();
        let key = self
            .keys
            .signer()
            .ok_or_else(|| OAuthError::server_error("no signing key loaded"))?;
        let (amr, idp) = amr_and_idp(subject.login_method);
        let claims = serde_json::json!({
            "acr": subject.login_method.map(crate::second_factor::acr_of),
            "amr": amr,
            "idp": idp,
            "iss": self.config.issuer,
            "sub": subject.sub,
            "aud": subject.client_id,
            "azp": subject.client_id,
            "iat": now,
            "exp": now + self.config.id_token_ttl,
            "auth_time": subject.auth_time,
            "nonce": nonce,
            "at_hash": at_hash(key.alg(), access_token),
            "preferred_username": subject.username,
            "sid": subject.sid,
            "transmitted_from": subject.transmitted_from,
        });
        let claims = match claims {
            serde_json::Value::Object(map) => {
                let mut map: serde_json::Map<String, serde_json::Value> =
                    map.into_iter().filter(|(_, v)| !v.is_null()).collect();
                for (name, value) in standard {
                    map.entry(name).or_insert(value);
                }
                serde_json::Value::Object(map)
            }
            other => other,
        };
        self.sign_jwt("JWT", &claims)
    }

    pub(crate) fn sign_jwt<T: Serialize>(
        &self,
        typ: &str,
        claims: &T,
    ) -> Result<String, OAuthError> {
        let key = self
            .keys
            .signer()
            .ok_or_else(|| OAuthError::server_error("no signing key loaded"))?;
        let header = serde_json::to_vec(&Header {
            alg: key.alg(),
            typ,
            kid: key.kid(),
        })
        .map_err(OAuthError::server_error)?;
        let payload = serde_json::to_vec(claims).map_err(OAuthError::server_error)?;
        sign_compact(&key, &header, &payload).map_err(OAuthError::server_error)
    }

    /// Verifies one of our access tokens: known `kid`, the key's own algorithm, `typ: at+jwt`,
    /// signature, issuer, expiry, and not revoked. `None` for anything else.
    pub fn verify_access_token(&self, token: &str) -> Option<Arc<AccessTokenClaims>> {
        let claims = match self.verified.get(token) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.check_signature(token)?);
                self.verified.insert(token, claims.clone());
                claims
            }
        };
        let now = self.clock.now_secs();
        if claims.exp <= now || claims.iat > now + self.config.clock_skew {
            return None;
        }
        if self.revoked.contains(&claims.jti) {
            return None;
        }
        Some(claims)
    }

    /// The part of verification that never changes for a given token string.
    fn check_signature(&self, token: &str) -> Option<AccessTokenClaims> {
        let jws = split_compact(token).ok()?;
        let header: ReadHeader = serde_json::from_slice(&jws.header).ok()?;
        let key = self.keys.verifier(header.kid.as_deref()?)?;
        if header.alg != key.alg || header.typ.as_deref() != Some("at+jwt") {
            return None;
        }
        key.verify(&header.alg, jws.signing_input.as_bytes(), &jws.signature)
            .ok()?;
        let claims: AccessTokenClaims = serde_json::from_slice(&jws.payload).ok()?;
        (claims.iss == self.config.issuer).then_some(claims)
    }
}

/// OpenID Connect standard claims of a user by scope (Core §5.4): `email` and
/// `email_verified` with `email`; `name`, `given_name`, `family_name` with `profile`. Only the
/// values the user has.
pub(crate) fn standard_claims(
    profile: &keyway_store::UserProfile,
    scope: &crate::ScopeSet,
) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = serde_json::Map::new();
    if scope.contains("email")
        && let Some(email) = &profile.email
    {
        claims.insert("email".into(), email.clone().into());
        claims.insert("email_verified".into(), profile.email_verified.into());
    }
    if scope.contains("profile") {
        for (name, value) in [
            ("name", &profile.name),
            ("given_name", &profile.given_name),
            ("family_name", &profile.family_name),
        ] {
            if let Some(value) = value {
                claims.insert(name.into(), value.clone().into());
            }
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OIDC Core A.3 example: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" has
    /// the RS256/ES256 at_hash "77QmUPtjPfzWtF2AnpK9RQ".
    #[test]
    fn at_hash_vectors() {
        assert_eq!(
            at_hash("ES256", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        // SHA-512, left 32 bytes (computed with Python's hashlib).
        assert_eq!(
            at_hash("EdDSA", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM"
        );
    }
}
