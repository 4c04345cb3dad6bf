//! The relying-party side of an upstream sign-in: authorization code with PKCE (S256), `state`
//! and `nonce` to the provider, then the callback: state checked against the browser's sealed
//! pending login and spent once, code exchanged with `client_secret_basic`, ID token fully
//! validated, identity mapped to a local user, and the hub's authorization request continued
//! as after a password sign-in.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::discovery::{ProviderMetadata, parse_metadata, parse_upstream_jwks, truncate};
use super::id_token::{Expected, validate_id_token};
use super::pending::{MAX_COOKIE_VALUE, PendingUpstreamLogin};
use super::{UpstreamHttp, UpstreamProvider};
use crate::authorize::AuthorizeOutcome;
use crate::jose::VerifyingKey;
use crate::{AuthService, ErrorCode, OAuthError, random_token, sha256_hex};

/// The hub's callback path; the provider's client must list `ISSUER + this` as redirect URI.
pub const CALLBACK_PATH: &str = "/login/upstream/callback";
/// How long a started upstream sign-in may take.
const PENDING_TTL: i64 = 600;
/// The replay table's "client" for spent upstream states.
const SPENT_STATES: &str = "keyway:upstream-state";
/// Longest `code`, `state`, `error` and `iss` accepted from the callback URL.
const MAX_PARAM: usize = 2048;
/// Longest `error_description` shown (escaped by the page template).
const MAX_DESCRIPTION: usize = 200;

/// Where to send the browser, and the sealed pending login to keep in its cookie.
#[derive(Debug, Clone)]
pub struct UpstreamStart {
    pub location: String,
    pub cookie: String,
}

/// The query of the callback.
#[derive(Debug, Clone, Default)]
pub struct UpstreamCallback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207.
    pub iss: Option<String>,
}

fn refused(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::AccessDenied, description)
}

fn unavailable(provider: &UpstreamProvider, why: &str) -> OAuthError {
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        format!(
            "{} cannot be reached for sign-in right now: {}",
            provider.display_name,
            truncate(why, MAX_DESCRIPTION)
        ),
    )
}

impl AuthService {
    /// Lets people sign in through these providers; `http` reaches them.
    pub fn with_upstreams(
        mut self,
        providers: Vec<UpstreamProvider>,
        http: Arc<dyn UpstreamHttp>,
    ) -> AuthService {
        self.upstreams = Arc::new(providers);
        self.upstream_http = Some(http);
        self
    }

    fn callback_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.config.issuer)
    }

    fn http(&self, provider: &UpstreamProvider) -> Result<&Arc<dyn UpstreamHttp>, OAuthError> {
        self.upstream_http
            .as_ref()
            .ok_or_else(|| unavailable(provider, "this hub has no HTTP client for upstreams"))
    }

    async fn provider_metadata(
        &self,
        provider: &UpstreamProvider,
    ) -> Result<ProviderMetadata, OAuthError> {
        let now = self.clock.now_ms();
        if let Some(metadata) = self.upstream_cache.metadata(&provider.name, now) {
            return Ok(metadata);
        }
        if let Some(why) = self.upstream_cache.recent_failure(&provider.name, now) {
            return Err(unavailable(provider, &why));
        }
        let fetched = match self
            .http(provider)?
            .get_json(&provider.discovery_url())
            .await
        {
            Ok(text) => parse_metadata(&text, &provider.issuer),
            Err(e) => Err(e),
        };
        let metadata = fetched.map_err(|e| {
            let why = format!("discovery failed: {e}");
            tracing::warn!(upstream = %provider.name, error = %why, "upstream discovery failed");
            self.upstream_cache.put_failure(&provider.name, now, &why);
            unavailable(provider, &why)
        })?;
        self.upstream_cache
            .put_metadata(&provider.name, now, metadata.clone());
        Ok(metadata)
    }

    async fn provider_keys(
        &self,
        provider: &UpstreamProvider,
        metadata: &ProviderMetadata,
        kid: Option<&str>,
    ) -> Result<Arc<Vec<VerifyingKey>>, OAuthError> {
        let now = self.clock.now_ms();
        if let Some(keys) = self.upstream_cache.keys(&provider.name, kid, now) {
            return Ok(keys);
        }
        let text = self
            .http(provider)?
            .get_json(&metadata.jwks_uri)
            .await
            .map_err(|e| unavailable(provider, &format!("its JWKS could not be fetched: {e}")))?;
        let keys = parse_upstream_jwks(&text).map_err(|e| unavailable(provider, &e))?;
        Ok(self.upstream_cache.put_keys(&provider.name, now, keys))
    }

    /// Starts signing in through `upstream` for the pending authorization `request_id`, in
    /// the browser identified by `browser_id`.
    pub async fn start_upstream_login(
        &self,
        request_id: &str,
        upstream: &str,
        browser_id: &str,
    ) -> Result<UpstreamStart, OAuthError> {
        let record = self.live_request(request_id).await?;
        let client = self
            .client(&record.client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the client no longer exists"))?;
        self.check_login_type(&client, upstream)?;
        if record
            .login_method
            .as_deref()
            .is_some_and(|m| m != upstream)
        {
            return Err(OAuthError::invalid_request(format!(
                "this request asked for login type {:?}",
                record.login_method.unwrap_or_default()
            )));
        }
        let provider = self
            .upstream(upstream)
            .ok_or_else(|| OAuthError::invalid_request("unknown upstream"))?;
        let metadata = self.provider_metadata(provider).await?;
        let pending = PendingUpstreamLogin {
            upstream: provider.name.clone(),
            state: random_token(self.entropy.as_ref(), 32),
            nonce: random_token(self.entropy.as_ref(), 32),
            verifier: random_token(self.entropy.as_ref(), 32),
            request_id: request_id.to_string(),
            browser: sha256_hex(browser_id),
            expires_at: self.clock.now_secs() + PENDING_TTL,
        };
        let cookie = self
            .login_seal
            .seal(&pending, self.entropy.as_ref())
            .filter(|c| c.len() <= MAX_COOKIE_VALUE)
            .ok_or_else(|| {
                OAuthError::invalid_request(
                    "this authorization request is too large to sign in through an upstream \
                     provider (shorten state, nonce or resource)",
                )
            })?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.verifier.as_bytes()));
        let mut location = url::Url::parse(&metadata.authorization_endpoint)
            .map_err(|e| unavailable(provider, &e.to_string()))?;
        location
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", &self.callback_url())
            .append_pair("scope", &provider.scopes)
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        // A request that asked for a fresh sign-in gets one at the provider too: otherwise its
        // session there would answer silently and the new auth_time would be a fiction.
        if record
            .prompt
            .as_deref()
            .is_some_and(|p| p.split(' ').any(|v| v == "login"))
        {
            location.query_pairs_mut().append_pair("prompt", "login");
        }
        Ok(UpstreamStart {
            location: location.to_string(),
            cookie,
        })
    }

    /// The provider sent the browser back. `sealed` is the browser's pending-login cookie,
    /// `browser_id` its CSRF binding cookie. On success: a login session token and the next
    /// step of the authorization, as after a password sign-in.
    pub async fn finish_upstream_login(
        &self,
        sealed: Option<&str>,
        browser_id: Option<&str>,
        callback: &UpstreamCallback,
    ) -> Result<(String, AuthorizeOutcome), OAuthError> {
        for value in [
            &callback.state,
            &callback.code,
            &callback.error,
            &callback.iss,
        ] {
            if value.as_ref().is_some_and(|v| v.len() > MAX_PARAM) {
                return Err(OAuthError::invalid_request(
                    "a parameter of the provider's answer is too long",
                ));
            }
        }
        let now = self.clock.now_secs();
        let no_pending = || {
            refused(
                "no sign-in through an upstream provider is pending in this browser (it \
                 expired, was finished already, or was started in another browser); start \
                 again from the application",
            )
        };
        let pending = sealed
            .and_then(|s| self.login_seal.open(s, now))
            .ok_or_else(no_pending)?;
        let same_browser = browser_id.is_some_and(|b| {
            bool::from(sha256_hex(b).as_bytes().ct_eq(pending.browser.as_bytes()))
        });
        if !same_browser {
            return Err(no_pending());
        }
        let state = callback.state.as_deref().unwrap_or_default();
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(refused(
                "the provider's answer does not match this browser's sign-in (state mismatch); \
                 start again from the application",
            ));
        }
        // Each answer is used once, whatever it says (a replayed callback URL fails here).
        if !self
            .store
            .remember_client_assertion(SPENT_STATES, &sha256_hex(state), pending.expires_at)
            .await?
        {
            return Err(refused(
                "this sign-in answer was already used (replayed state); start again",
            ));
        }
        let provider = self
            .upstream(&pending.upstream)
            .ok_or_else(|| refused("this upstream provider is no longer configured"))?;
        if let Some(iss) = &callback.iss
            && iss != &provider.issuer
        {
            return Err(refused(
                "the answer's iss is not this provider's issuer (RFC 9207)",
            ));
        }
        if let Some(error) = &callback.error {
            let description = callback
                .error_description
                .as_deref()
                .map(|d| format!(": {}", truncate(d, MAX_DESCRIPTION)))
                .unwrap_or_default();
            return Err(refused(format!(
                "{} did not sign you in ({}{description})",
                provider.display_name,
                truncate(error, 64)
            )));
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("the provider's answer has no code"))?;
        // The hub's request must still be open before anyone is linked or provisioned.
        let record = self.live_request(&pending.request_id).await?;
        let client = self
            .client(&record.client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the client no longer exists"))?;
        self.check_login_type(&client, &provider.name)?;
        let metadata = self.provider_metadata(provider).await?;
        let id_token = self
            .redeem_upstream_code(provider, &metadata, code, &pending.verifier)
            .await?;
        let kid = id_token_kid(&id_token);
        let keys = self
            .provider_keys(provider, &metadata, kid.as_deref())
            .await?;
        let claims = validate_id_token(
            &id_token,
            &keys,
            &Expected {
                issuer: &provider.issuer,
                client_id: &provider.client_id,
                nonce: &pending.nonce,
                now,
                skew: self.config.clock_skew,
                username_claim: &provider.username_claim,
            },
        )
        .map_err(|e| {
            refused(format!(
                "the ID token from {} was refused: {e}",
                provider.display_name
            ))
        })?;
        let user = self.upstream_user(provider, &claims).await?;
        // The sign-in happened at the provider: its auth_time, when it gives a plausible one
        // (not in the future, not older than a login session lives), is the session's.
        let auth_time = claims
            .auth_time
            .filter(|t| {
                *t <= now + self.config.clock_skew && *t > now - self.config.login_session_ttl
            })
            .map_or(now, |t| t.min(now));
        self.login_with(&pending.request_id, &user, &provider.name, auth_time)
            .await
    }

    /// The token request (RFC 6749 §4.1.3) with `client_secret_basic`; returns the ID token.
    async fn redeem_upstream_code(
        &self,
        provider: &UpstreamProvider,
        metadata: &ProviderMetadata,
        code: &str,
        verifier: &str,
    ) -> Result<String, OAuthError> {
        // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
        let encode =
            |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let (id, secret) = (
            encode(&provider.client_id),
            encode(provider.client_secret.expose()),
        );
        let redirect_uri = self.callback_url();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        let (status, body) = self
            .http(provider)?
            .post_form(&metadata.token_endpoint, (&id, &secret), &form)
            .await
            .map_err(|e| unavailable(provider, &format!("its token endpoint failed: {e}")))?;
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status != 200 {
            let error = json.get("error").and_then(Value::as_str).unwrap_or("?");
            return Err(refused(format!(
                "{} refused the sign-in code (HTTP {status}, {})",
                provider.display_name,
                truncate(error, 64)
            )));
        }
        json.get("id_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                refused(format!(
                    "{} answered without an ID token (is openid among the scopes?)",
                    provider.display_name
                ))
            })
    }
}

/// The `kid` of a JWT's header, to pick (or refetch) the provider's keys.
fn id_token_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: Value = serde_json::from_slice(&bytes).ok()?;
    header.get("kid")?.as_str().map(str::to_string)
}
