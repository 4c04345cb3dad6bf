//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523) and `none`.

use std::sync::Arc;

use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::jose::split_compact;
use crate::{AuthMethod, AuthService, Client, OAuthError, sha256_hex};

pub(crate) const JWT_BEARER_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credentials a request carried, as the hub parsed them.
#[derive(Debug, Default, Clone)]
pub struct ClientCredentials {
    /// From `Authorization: Basic` (already form-decoded, RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

impl ClientCredentials {
    /// Whether the caller tried HTTP Basic (the 401 then carries `WWW-Authenticate: Basic`).
    pub fn used_basic(&self) -> bool {
        self.basic.is_some()
    }
}

#[derive(Deserialize)]
struct AssertionHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// RFC 7515 §4.1.11: extensions the signer says must be understood; keyway understands
    /// none, so any is a refusal.
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    jti: Option<String>,
}

impl AuthService {
    /// Authenticates the client behind a request. `endpoint` is the URL that was called; a
    /// client assertion may name it, the token endpoint, or the issuer as its audience.
    pub async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
        endpoint: &str,
    ) -> Result<Arc<Client>, OAuthError> {
        let methods = usize::from(creds.basic.is_some())
            + usize::from(creds.client_secret.is_some())
            + usize::from(
                creds.client_assertion.is_some() || creds.client_assertion_type.is_some(),
            );
        if methods > 1 {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method was used",
            ));
        }
        if let Some((id, secret)) = &creds.basic {
            if creds.client_id.as_deref().is_some_and(|body| body != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Authorization header",
                ));
            }
            return self.check_secret(id, secret).await;
        }
        if let Some(secret) = &creds.client_secret {
            let id = creds
                .client_id
                .as_deref()
                .ok_or_else(|| OAuthError::invalid_request("client_secret without client_id"))?;
            return self.check_secret(id, secret).await;
        }
        if creds.client_assertion.is_some() || creds.client_assertion_type.is_some() {
            return self.check_assertion(creds, endpoint).await;
        }
        let Some(id) = creds.client_id.as_deref() else {
            return Err(OAuthError::invalid_client(
                "client authentication is required",
            ));
        };
        let client = self.known_client(id).await?;
        if client.auth_method != AuthMethod::None {
            return Err(OAuthError::invalid_client(
                "this client must authenticate (it is not a public client)",
            ));
        }
        Ok(client)
    }

    async fn known_client(&self, id: &str) -> Result<Arc<Client>, OAuthError> {
        self.client(id)
            .await?
            .ok_or_else(|| OAuthError::invalid_client("unknown client or bad credentials"))
    }

    async fn check_secret(&self, id: &str, secret: &str) -> Result<Arc<Client>, OAuthError> {
        let Some(client) = self.client(id).await? else {
            // Same cost as a real comparison, same answer: no client enumeration.
            let _ = sha256_hex(secret);
            return Err(OAuthError::invalid_client(
                "unknown client or bad credentials",
            ));
        };
        let presented = sha256_hex(secret);
        let matches = client
            .secret_hash
            .as_deref()
            .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(presented.as_bytes())));
        if client.auth_method != AuthMethod::ClientSecretBasic || !matches {
            return Err(OAuthError::invalid_client(
                "unknown client or bad credentials",
            ));
        }
        Ok(client)
    }

    /// Checks a JWS that `client` signed with one of its registered keys (the key decides the
    /// algorithm; the header only has to agree with it). `Ok(Err(why))` says, for the client's
    /// developer, why no key verified it.
    pub(crate) async fn verify_client_signature(
        &self,
        client: &Client,
        alg: &str,
        kid: Option<&str>,
        jws: &crate::jose::CompactJws<'_>,
    ) -> Result<Result<(), String>, OAuthError> {
        let keys = self.client_keys(client, kid).await?;
        let candidates: Vec<_> = keys
            .iter()
            .filter(|k| kid.is_none_or(|kid| k.kid == kid))
            .collect();
        let usable: Vec<_> = candidates.iter().filter(|k| k.accepts(alg)).collect();
        let verified = usable.iter().any(|k| {
            k.verify(alg, jws.signing_input.as_bytes(), &jws.signature)
                .is_ok()
        });
        if verified {
            return Ok(Ok(()));
        }
        // Say why no key was used: a client developer cannot see our side.
        let why = match (kid, candidates.is_empty(), usable.is_empty()) {
            (Some(kid), true, _) => format!("no registered key has kid {kid:?}"),
            (None, true, _) => "the client has no registered keys".to_string(),
            (_, false, true) => format!(
                "alg {alg:?} does not match the registered key's algorithm ({})",
                candidates
                    .iter()
                    .map(|k| k.alg)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => "the signature does not verify with the client's registered keys".to_string(),
        };
        Ok(Err(why))
    }

    async fn check_assertion(
        &self,
        creds: &ClientCredentials,
        endpoint: &str,
    ) -> Result<Arc<Client>, OAuthError> {
        let bad = |why: &str| {
            Err(OAuthError::invalid_client(format!(
                "client assertion: {why}"
            )))
        };
        if creds.client_assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION) {
            return bad("client_assertion_type must be jwt-bearer (RFC 7523)");
        }
        let Some(assertion) = creds.client_assertion.as_deref() else {
            return bad("client_assertion is missing");
        };
        let Ok(jws) = split_compact(assertion) else {
            return bad("not a compact JWS");
        };
        let (Ok(header), Ok(claims)) = (
            serde_json::from_slice::<AssertionHeader>(&jws.header),
            serde_json::from_slice::<AssertionClaims>(&jws.payload),
        ) else {
            return bad("header or claims are not JSON objects");
        };
        if header.crit.is_some() {
            return bad(
                "the header names critical extensions (crit), which this server does not understand",
            );
        }
        let (Some(iss), Some(sub)) = (claims.iss.as_deref(), claims.sub.as_deref()) else {
            return bad("iss and sub are required");
        };
        if iss != sub {
            return bad("iss and sub must both be the client_id");
        }
        if creds.client_id.as_deref().is_some_and(|id| id != sub) {
            return bad("client_id differs from the assertion's subject");
        }
        let client = self.known_client(sub).await?;
        if client.auth_method != AuthMethod::PrivateKeyJwt {
            return bad("this client is not registered for private_key_jwt");
        }
        if let Err(why) = self
            .verify_client_signature(&client, &header.alg, header.kid.as_deref(), &jws)
            .await?
        {
            return bad(&why);
        }
        let token_endpoint = format!("{}/oauth2/token", self.config.issuer);
        let audience_ok =
            |aud: &str| aud == token_endpoint || aud == self.config.issuer || aud == endpoint;
        let aud_ok = match &claims.aud {
            Some(serde_json::Value::String(aud)) => audience_ok(aud),
            Some(serde_json::Value::Array(list)) => {
                list.iter().filter_map(|v| v.as_str()).any(audience_ok)
            }
            _ => false,
        };
        if !aud_ok {
            return bad("aud must name this authorization server's token endpoint");
        }
        let now = self.clock.now_secs();
        let skew = self.config.clock_skew;
        let Some(exp) = claims.exp else {
            return bad("exp is required");
        };
        if exp.saturating_add(skew) <= now {
            return bad("expired");
        }
        if exp.saturating_sub(now) > self.config.max_assertion_lifetime + skew {
            return bad("lives too long");
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + skew)
            || claims.iat.is_some_and(|iat| iat > now + skew)
        {
            return bad("issued in the future");
        }
        let Some(jti) = claims.jti.as_deref().filter(|j| !j.is_empty()) else {
            return bad("jti is required");
        };
        let fresh = self
            .store
            .remember_client_assertion(
                &client.client_id,
                &sha256_hex(jti),
                exp.saturating_add(skew),
            )
            .await?;
        if !fresh {
            return bad("jti was already used (replay)");
        }
        Ok(client)
    }
}
