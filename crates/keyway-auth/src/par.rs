//! Pushed authorization requests (RFC 9126). A client authenticates and posts the parameters
//! of its authorization request; the hub checks them by the rules of `/authorize`, keeps them,
//! and answers a `request_uri` that the browser then carries instead of the parameters. The
//! request thus never travels through the browser, where it could be read or altered.

use serde::Serialize;

use crate::grants::TokenRequest;
use crate::{AuthService, Client, ErrorCode, OAuthError, random_token, sha256_hex};

/// The prefix RFC 9126 §2.2 gives every `request_uri`.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Parameters that authenticate the client at the endpoint, not part of the request itself.
const CLIENT_AUTH_PARAMS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

/// Most bytes of parameters (names and values) one pushed request may hold.
const MAX_PUSHED_BYTES: usize = 8 * 1024;

/// A pushed request as stored: its parameters, and whether a signed request object held them.
#[derive(Serialize, serde::Deserialize)]
struct Stored {
    pairs: Vec<(String, String)>,
    signed: bool,
}

/// The answer to a pushed request (RFC 9126 §2.2), sent with `201 Created`.
#[derive(Debug, Clone, Serialize)]
pub struct PushedRequest {
    pub request_uri: String,
    pub expires_in: i64,
}

impl AuthService {
    /// Checks and keeps the authorization request `client` (already authenticated, as at the
    /// token endpoint) pushed. Errors are the ones `/authorize` would give, as JSON.
    pub async fn push_authorization_request(
        &self,
        client: &Client,
        request: &TokenRequest,
    ) -> Result<PushedRequest, OAuthError> {
        self.push_authorization_request_bound(client, request, None)
            .await
    }

    /// As [`AuthService::push_authorization_request`]; with `dpop` (the key of a DPoP proof
    /// sent with the push, RFC 9449 §10.1), the code will be bound to that key, as with
    /// `dpop_jkt` (which, if given too, must name the same key).
    pub async fn push_authorization_request_bound(
        &self,
        client: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
    ) -> Result<PushedRequest, OAuthError> {
        if request.single("request_uri")?.is_some() {
            return Err(OAuthError::invalid_request(
                "request_uri cannot be pushed (RFC 9126 §2.1)",
            ));
        }
        if let Some(client_id) = request.single("client_id")?
            && client_id != client.client_id
        {
            return Err(OAuthError::invalid_request(
                "client_id is not the client that authenticated",
            ));
        }
        // A signed request object (RFC 9101) is opened here, once: its jti is then spent.
        let (pairs, jti) = match request.single("request")? {
            Some(jwt) => {
                let opened = self.open_request_object(client, jwt).await?;
                (opened.pairs, Some(opened.jti))
            }
            None => {
                let mut pairs: Vec<(String, String)> = request
                    .pairs()
                    .iter()
                    .filter(|(name, _)| {
                        name != "client_id" && !CLIENT_AUTH_PARAMS.contains(&name.as_str())
                    })
                    .cloned()
                    .collect();
                pairs.push(("client_id".into(), client.client_id.clone()));
                (pairs, None)
            }
        };
        let mut pairs = pairs;
        if let Some(key) = dpop {
            match pairs.iter().find(|(n, _)| n == "dpop_jkt") {
                Some((_, jkt)) if *jkt != key.jkt => {
                    return Err(OAuthError::new(
                        crate::ErrorCode::InvalidDpopProof,
                        "dpop_jkt names another key than the DPoP proof's",
                    ));
                }
                Some(_) => {}
                None => pairs.push(("dpop_jkt".into(), key.jkt.clone())),
            }
        }
        // Stored until used or expired, and pushable without a secret for a public client:
        // bounded like a sealed sign-in request is.
        let size: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
        if size > MAX_PUSHED_BYTES {
            return Err(OAuthError::invalid_request(format!(
                "the pushed parameters hold {size} bytes; at most {MAX_PUSHED_BYTES} are kept"
            )));
        }
        let signed = jti.is_some();
        if client.policy.require_signed_requests && !signed {
            return Err(OAuthError::invalid_request(
                "this client's authorization requests must be signed request objects (RFC 9101)",
            ));
        }
        let params = TokenRequest::new(pairs);
        let redirect_uri = params.required("redirect_uri")?;
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(OAuthError::invalid_request(
                "redirect_uri is not registered for this client (exact match required)",
            ));
        }
        let state = params.single("state")?;
        let checked = self.check_code_request(client, &params, state)?;
        self.refuse_claimed_resources(&client.client_id, &checked.resources)
            .await?;
        // Only a request that passed every check spends its request object's jti.
        if let Some(jti) = jti {
            self.spend_request_jti(jti).await?;
        }
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", random_token(self.entropy(), 32));
        let stored = serde_json::to_string(&Stored {
            pairs: params.pairs().to_vec(),
            signed,
        })
        .map_err(|e| OAuthError::server_error(e.to_string()))?;
        let now = self.clock().now_secs();
        let ttl = self.config().pushed_request_ttl;
        self.store()
            .insert_pushed_request(
                &sha256_hex(&request_uri),
                &client.client_id,
                &stored,
                now,
                now + ttl,
            )
            .await?;
        Ok(PushedRequest {
            request_uri,
            expires_in: ttl,
        })
    }

    /// The parameters of `request_uri`, pushed by `client_id`: once, while unexpired; and
    /// whether they came in a signed request object.
    pub(crate) async fn take_pushed_request(
        &self,
        client_id: &str,
        request_uri: &str,
    ) -> Result<(TokenRequest, bool), OAuthError> {
        let refused = || {
            OAuthError::new(
                ErrorCode::InvalidRequestUri,
                "request_uri is unknown, expired or already used, or another client pushed it",
            )
        };
        if !request_uri.starts_with(REQUEST_URI_PREFIX) || request_uri.len() > 200 {
            // Only pushed requests: a remote request_uri is never fetched (no SSRF).
            return Err(refused());
        }
        let now = self.clock().now_secs();
        let Some(stored) = self
            .store()
            .take_pushed_request(&sha256_hex(request_uri), client_id, now)
            .await?
        else {
            return Err(refused());
        };
        let stored: Stored = serde_json::from_str(&stored)
            .map_err(|_| OAuthError::server_error("a stored pushed request is corrupt"))?;
        Ok((TokenRequest::new(stored.pairs), stored.signed))
    }
}
