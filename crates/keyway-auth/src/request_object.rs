//! Signed authorization requests (JAR, RFC 9101): the `request` parameter is a JWT that the
//! client signed with one of its registered keys, holding the request's parameters. Nothing
//! outside it counts but `client_id`, which must match. A `request_uri` is only ever one the
//! hub issued itself (`par.rs`): remote request objects are never fetched.

use serde::Deserialize;

use crate::jose::split_compact;
use crate::{AuthService, Client, ErrorCode, OAuthError, sha256_hex};

/// The longest a request object may live (RFC 9101 leaves it open; FAPI 2.0 says 60 min).
const MAX_LIFETIME: i64 = 3600;

/// JWT claims that are not parameters of the authorization request.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

fn refused(why: impl std::fmt::Display) -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequestObject,
        format!("request object: {why}"),
    )
}

/// A request object's `jti`, to be spent once the request it carried has passed every check
/// (a refused request must not use it up).
#[derive(Debug)]
pub(crate) struct UnspentJti {
    client_id: String,
    digest: String,
    keep_until: i64,
}

impl UnspentJti {
    /// A single-use value of `client_id` (kept as a digest) to be spent once checks pass.
    pub(crate) fn new(client_id: &str, value: &str, keep_until: i64) -> UnspentJti {
        UnspentJti {
            client_id: client_id.to_string(),
            digest: crate::sha256_hex(value),
            keep_until,
        }
    }
}

/// A request object's parameters and its `jti`.
pub(crate) struct OpenedRequest {
    pub(crate) pairs: Vec<(String, String)>,
    pub(crate) jti: UnspentJti,
}

impl AuthService {
    /// The parameters of `client`'s request object `jwt`, checked: its signature by a
    /// registered key, `iss` = client_id, `aud` naming this hub, `exp` (at most an hour
    /// ahead), `nbf`/`iat` not in the future, and a `jti` (spent later, with
    /// [`AuthService::spend_request_jti`]).
    pub(crate) async fn open_request_object(
        &self,
        client: &Client,
        jwt: &str,
    ) -> Result<OpenedRequest, OAuthError> {
        let jws = split_compact(jwt).map_err(|_| refused("not a compact JWS"))?;
        let header: Header =
            serde_json::from_slice(&jws.header).map_err(|_| refused("the header is not JSON"))?;
        if header.alg.eq_ignore_ascii_case("none") {
            return Err(refused("unsigned request objects (alg none) are refused"));
        }
        if header.crit.is_some() {
            return Err(refused(
                "critical header extensions (crit) are not understood",
            ));
        }
        if header.alg.starts_with("HS") {
            // HS256 only with the client's own signing secret: a public key is never an HMAC
            // key here, so "HS256 signed with the published key" has nothing to work with.
            let Some(secret) = &client.signing_secret else {
                return Err(refused(
                    "HMAC request objects need a client signing secret, which this client has \
                     not (keyway client update --signing-secret-file)",
                ));
            };
            if header.alg != "HS256" {
                return Err(refused(format!(
                    "{} is not supported; use HS256",
                    header.alg
                )));
            }
            let key =
                aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.expose().as_bytes());
            aws_lc_rs::hmac::verify(&key, jws.signing_input.as_bytes(), &jws.signature).map_err(
                |_| refused("the HS256 signature does not verify with the client's signing secret"),
            )?;
        } else if let Err(why) = self
            .verify_client_signature(client, &header.alg, header.kid.as_deref(), &jws)
            .await?
        {
            return Err(refused(why));
        }
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&jws.payload)
                .map_err(|_| refused("the claims are not a JSON object"))?;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
        if text("iss") != Some(client.client_id.as_str()) {
            return Err(refused("iss must be the client_id"));
        }
        if claims.contains_key("client_id") && text("client_id") != Some(&client.client_id) {
            return Err(refused("client_id differs from the request's client_id"));
        }
        let issuer = self.config().issuer.as_str();
        let aud_ok = match claims.get("aud") {
            Some(serde_json::Value::String(aud)) => aud == issuer,
            Some(serde_json::Value::Array(list)) => list.iter().any(|v| v.as_str() == Some(issuer)),
            _ => false,
        };
        if !aud_ok {
            return Err(refused(format!("aud must name this hub ({issuer})")));
        }
        if claims.contains_key("request") || claims.contains_key("request_uri") {
            return Err(refused(
                "a request object may not hold request or request_uri",
            ));
        }
        let now = self.clock().now_secs();
        let skew = self.config().clock_skew;
        // NumericDates are integers; any other value is refused, never skipped.
        let number = |name: &str| -> Result<Option<i64>, OAuthError> {
            match claims.get(name) {
                None => Ok(None),
                Some(value) => value.as_i64().map(Some).ok_or_else(|| {
                    refused(format!("{name} must be a NumericDate (integer seconds)"))
                }),
            }
        };
        let Some(exp) = number("exp")? else {
            return Err(refused("exp is required"));
        };
        if exp.saturating_add(skew) <= now {
            return Err(refused("expired"));
        }
        if exp.saturating_sub(now) > MAX_LIFETIME + skew {
            return Err(refused(format!("lives longer than {MAX_LIFETIME} s")));
        }
        if number("nbf")?.is_some_and(|nbf| nbf > now + skew)
            || number("iat")?.is_some_and(|iat| iat > now + skew)
        {
            return Err(refused("issued in the future"));
        }
        let Some(jti) = text("jti").filter(|j| !j.is_empty() && j.len() <= 256) else {
            return Err(refused("jti is required (at most 256 characters)"));
        };
        let jti = UnspentJti {
            client_id: client.client_id.clone(),
            digest: sha256_hex(&format!("request object\0{jti}")),
            keep_until: exp.saturating_add(skew),
        };
        let mut pairs = Vec::new();
        for (name, value) in &claims {
            if JWT_CLAIMS.contains(&name.as_str()) || name == "client_id" {
                continue;
            }
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::String(text) => pairs.push((name.clone(), text.clone())),
                serde_json::Value::Array(items) => {
                    for item in items {
                        match item.as_str() {
                            Some(text) => pairs.push((name.clone(), text.to_string())),
                            None => pairs.push((name.clone(), item.to_string())),
                        }
                    }
                }
                other => pairs.push((name.clone(), other.to_string())),
            }
        }
        pairs.push(("client_id".into(), client.client_id.clone()));
        Ok(OpenedRequest { pairs, jti })
    }

    /// Spends a request object's `jti` (in the client-assertion replay table, under a name of
    /// its own): the second use of one object is refused.
    pub(crate) async fn spend_request_jti(&self, jti: UnspentJti) -> Result<(), OAuthError> {
        let fresh = self
            .store()
            .remember_client_assertion(&jti.client_id, &jti.digest, jti.keep_until)
            .await?;
        if fresh {
            Ok(())
        } else {
            Err(refused("jti was already used (replay)"))
        }
    }
}
