//! The authorization endpoint (RFC 6749 §4.1.1) and the login and consent steps behind it.
//!
//! Until the client and its redirect URI are verified, errors are shown to the user (never
//! redirected: that would make the hub an open redirector). After that, errors go back to the
//! client as `error`, `error_description`, `state` and `iss` (RFC 9207) query parameters.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyway_store::{AuthorizationCodeRecord, AuthorizationRequestRecord};

use crate::grants::{TokenRequest, join, parse_resources};
use crate::jarm::ResponseMode;
use crate::jarm::append_query;
use crate::pending_seal::RequestSeal;
use crate::{
    AuthService, ErrorCode, GrantType, LoginMethod, OAuthError, PASSWORD, ScopeSet, random_token,
    sha256_hex,
};

/// The query of an `/authorize` request.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationRequest(TokenRequest);

impl AuthorizationRequest {
    pub fn new(pairs: Vec<(String, String)>) -> AuthorizationRequest {
        AuthorizationRequest(TokenRequest::new(pairs))
    }
}

/// Where the browser goes with the answer: the client's redirect URI with a code or an error
/// in the query, or (the `form_post` response modes) the redirect URI as the target of a form
/// the browser posts with `post`'s fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub location: String,
    /// `Some`: post these fields to `location` instead of redirecting.
    pub post: Option<Vec<(String, String)>>,
}

impl Redirect {
    pub fn to(location: String) -> Redirect {
        Redirect {
            location,
            post: None,
        }
    }
}

/// What the user is asked about on the login or consent page.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub request_id: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    /// Where the browser will go afterwards (shown so the user sees who gets the answer).
    pub redirect_origin: String,
    /// The ways the user may sign in for this request (password first), for the login page.
    pub methods: Vec<LoginMethod>,
    /// Asked-for scopes the user does not hold (user-granted ones), which the consent page
    /// says will not be given.
    pub withheld: Vec<String>,
    /// The application that handed the person over (a transmit), by name.
    pub handed_over_by: Option<String>,
}

impl PendingAuthorization {
    /// Whether the login page may take a password.
    pub fn allows_password(&self) -> bool {
        self.methods.iter().any(LoginMethod::is_password)
    }
}

/// The next step of an authorization.
#[derive(Debug, Clone)]
pub enum AuthorizeOutcome {
    Redirect(Redirect),
    Login(PendingAuthorization),
    Consent(PendingAuthorization),
    /// The request asked for an upstream login type (`type=<name>`): sign in there directly.
    Upstream {
        pending: PendingAuthorization,
        upstream: String,
    },
}

/// An authorization request that met the rules.
#[derive(Debug, Clone)]
pub(crate) struct CheckedRequest {
    pub(crate) challenge: String,
    pub(crate) scope: ScopeSet,
    pub(crate) resources: Vec<String>,
    pub(crate) prompt: String,
    pub(crate) nonce: Option<String>,
    /// RFC 9449 §10: the DPoP key the code is bound to.
    pub(crate) dpop_jkt: Option<String>,
    /// OIDC Core §3.1.2.1 `max_age`: a session signed in longer ago does not count.
    pub(crate) max_age: Option<i64>,
    /// OIDC Core §3.1.2.1 `acr_values` this hub knows (`1`, `2`): a session of another level
    /// does not count.
    pub(crate) acr_values: Vec<String>,
    /// OIDC Core §3.1.2.1 `id_token_hint`: its subject; a session of anyone else does not
    /// count (with `prompt=none`: `login_required`).
    pub(crate) hint_sub: Option<String>,
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: String,
    pub auth_time: i64,
    /// How the user signed in (`password` or an upstream's name; `None`: before this was kept).
    pub login_method: Option<String>,
    /// The login session's public id (`sid` in ID tokens; `None` before migration 11).
    pub sid: Option<String>,
}

impl AuthService {
    /// Starts (or, with a live login session and remembered consent, finishes) an authorization.
    /// `Err` means the request cannot be answered by redirect and is shown as an error page.
    pub async fn authorize(
        &self,
        request: &AuthorizationRequest,
        session: Option<SessionUser>,
    ) -> Result<AuthorizeOutcome, OAuthError> {
        // RFC 9126 §4: a pushed request's parameters replace the query (but `client_id`,
        // which must name the client that pushed it).
        let pushed: TokenRequest;
        let opened: TokenRequest;
        let mut signed = false;
        // A request object's jti, spent only once the request has passed every check.
        let mut unspent = None;
        let (params, was_pushed) = match request.0.single("request_uri")? {
            Some(request_uri) => {
                if request.0.single("request")?.is_some() {
                    return Err(OAuthError::invalid_request(
                        "give request or request_uri, not both (RFC 9101 §5)",
                    ));
                }
                let client_id = request.0.required("client_id")?;
                (pushed, signed) = self.take_pushed_request(client_id, request_uri).await?;
                (&pushed, true)
            }
            None if self.config.require_pushed_requests => {
                return Err(OAuthError::invalid_request(
                    "this hub accepts only pushed authorization requests (RFC 9126): POST the \
                     request to the pushed_authorization_request_endpoint first",
                ));
            }
            None => (&request.0, false),
        };
        // g2d1 clients name themselves `appid`; the signature covers the names as sent.
        let aliased: TokenRequest;
        let params = match (params.single("client_id")?, params.single("appid")?) {
            (None, Some(appid)) => {
                let mut pairs = params.pairs().to_vec();
                pairs.push(("client_id".into(), appid.to_string()));
                aliased = TokenRequest::new(pairs);
                &aliased
            }
            (Some(id), Some(appid)) if id != appid => {
                return Err(OAuthError::invalid_request(
                    "client_id and appid name different clients",
                ));
            }
            _ => params,
        };
        let client_id = params.required("client_id")?;
        let client = self
            .client(client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("unknown client_id"))?;
        // RFC 9101: a signed request object's parameters replace the query's.
        let params = match params.single("request")? {
            Some(_) if was_pushed => {
                return Err(OAuthError::server_error(
                    "a pushed request kept an unopened request object",
                ));
            }
            Some(jwt) => {
                let object = self.open_request_object(&client, jwt).await?;
                unspent = Some(object.jti);
                opened = TokenRequest::new(object.pairs);
                signed = true;
                &opened
            }
            None => params,
        };
        if client.policy.require_signed_requests && !signed {
            return Err(OAuthError::invalid_request(
                "this client's authorization requests must be signed request objects (RFC 9101)",
            ));
        }
        if client.policy.require_pushed_requests && !was_pushed {
            return Err(OAuthError::invalid_request(
                "this client's authorization requests must be pushed first (RFC 9126): POST \
                 the request to the pushed_authorization_request_endpoint",
            ));
        }
        let redirect_uri = params.required("redirect_uri")?;
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(OAuthError::invalid_request(
                "redirect_uri is not registered for this client (exact match required)",
            ));
        }
        // g2d1 clients sign plain requests (docs/oauth.md); pushed or JAR ones are signed already.
        let mut extras = crate::g2d1::SignedExtras::default();
        let mut unspent_nonce = None;
        let g2d1 = client.policy.profile == Some(crate::ClientProfile::G2d1);
        if g2d1 && (signed || was_pushed) {
            // Pushed (client-authenticated) or a request object (signed): its custom
            // parameters are the client's own and travel through the flow as signed ones do.
            extras = crate::g2d1::carried(params.pairs())?;
        } else if g2d1 {
            let Some(secret) = &client.signing_secret else {
                return Err(OAuthError::server_error(
                    "this g2d1 client has no signing secret: set one with keyway client update \
                     --signing-secret-file",
                ));
            };
            let now = self.clock.now_secs();
            let (checked, nonce) =
                crate::g2d1::check_request(secret.expose().as_bytes(), request.0.pairs(), now)?;
            extras = checked;
            unspent_nonce = Some(crate::request_object::UnspentJti::new(
                &client.client_id,
                &format!("g2d1 nonce\0{nonce}"),
                now + 2 * crate::g2d1::TIMESTAMP_WINDOW,
            ));
        }
        // The response mode decides how even errors go back; a bad one is answered in the query.
        let (mode, mode_error) = match params.single("response_mode").and_then(ResponseMode::parse)
        {
            Ok(mode) => (mode, None),
            Err(err) => (ResponseMode::Query, Some(err)),
        };
        // RFC 6749 §3.1: no parameter twice. A repeated state cannot be echoed (which one?).
        let raw_state = match params.single("state") {
            Ok(state) => state,
            Err(err) => {
                return Ok(AuthorizeOutcome::Redirect(self.error_redirect(
                    &client,
                    redirect_uri,
                    mode,
                    None,
                    &extras,
                    &err,
                )?));
            }
        };
        // An over-long state is refused below, and not echoed back in the error redirect.
        let state = raw_state.filter(|s| s.len() <= MAX_STATE_LEN);
        let fail = |code: ErrorCode, description: &str| {
            Ok(AuthorizeOutcome::Redirect(self.error_redirect(
                &client,
                redirect_uri,
                mode,
                state,
                &extras,
                &OAuthError::new(code, description),
            )?))
        };
        if let Some(err) = mode_error {
            return fail(err.code, &err.description);
        }
        let checked = self.check_code_request(&client, params, raw_state);
        let CheckedRequest {
            challenge,
            scope,
            resources,
            prompt,
            nonce,
            dpop_jkt,
            max_age,
            acr_values,
            hint_sub,
        } = match checked {
            Ok(values) => values,
            Err(err) => return fail(err.code, &err.description),
        };
        if let Err(err) = self
            .refuse_claimed_resources(&client.client_id, &resources)
            .await
        {
            return fail(err.code, &err.description);
        }
        // The login type asked for (`type`, from the query, the pushed request or the request
        // object alike), checked by check_code_request.
        let login_type = params.single("type").ok().flatten();
        if let Some(jti) = unspent {
            self.spend_request_jti(jti).await?;
        }
        if let Some(nonce) = unspent_nonce {
            self.spend_request_jti(nonce).await.map_err(|_| {
                OAuthError::invalid_request("g2d1 signature: this nonce was already used")
            })?;
        }
        let prompts: Vec<&str> = prompt.split(' ').collect();
        let now = self.clock.now_secs();
        // A session counts only if it was made in a way this request accepts, recently enough.
        let session = session.filter(|s| {
            !prompts.contains(&"login")
                && hint_sub.as_ref().is_none_or(|sub| *sub == s.user_id)
                && max_age.is_none_or(|max| now - s.auth_time <= max)
                && (acr_values.is_empty()
                    // A session at or above the lowest level asked for.
                    || acr_values.iter().any(|acr| {
                        acr.as_str()
                            <= crate::second_factor::acr_of(
                                s.login_method.as_deref().unwrap_or(PASSWORD),
                            )
                    }))
                && self.session_fits(&client, s.login_method.as_deref(), login_type)
        });
        // With max_age an upstream provider could answer from an older sign-in of its own: it
        // is asked for a fresh one (`prompt=login` is what goes upstream).
        let prompt = match max_age {
            Some(_) if !prompts.contains(&"login") && prompt.is_empty() => "login".to_string(),
            Some(_) if !prompts.contains(&"login") => format!("{prompt} login"),
            _ => prompt.clone(),
        };
        let record = AuthorizationRequestRecord {
            request_id: random_token(self.entropy.as_ref(), 24),
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_string(),
            scope: scope.to_string(),
            state: state.map(str::to_string),
            nonce,
            prompt: (!prompt.is_empty()).then(|| prompt.clone()),
            code_challenge: challenge,
            resources: join(&resources),
            user_id: session.as_ref().map(|s| s.user_id.clone()),
            auth_time: session.as_ref().map(|s| s.auth_time),
            created_at: now,
            expires_at: now + self.config.authorization_request_ttl,
            response_mode: mode.stored(),
            extra: (extras != crate::g2d1::SignedExtras::default())
                .then(|| serde_json::to_string(&extras))
                .transpose()
                .map_err(|e| OAuthError::server_error(e.to_string()))?,
            dpop_jkt,
            login_method: match &session {
                Some(s) => Some(s.login_method.clone().unwrap_or_else(|| PASSWORD.into())),
                None => login_type.map(str::to_string),
            },
            sid: session.as_ref().and_then(|s| s.sid.clone()),
        };
        let Some(session) = session else {
            if prompts.contains(&"none") {
                return fail(ErrorCode::LoginRequired, "the user is not logged in");
            }
            // Nobody has signed in: the request travels sealed in the login form, and
            // nothing is written (pending_seal.rs).
            let mut record = record;
            record.request_id = self
                .request_seal
                .seal(&record, self.entropy.as_ref())
                .ok_or_else(|| OAuthError::server_error("sealing the sign-in request failed"))?;
            let pending = self.pending_view(&record, &client);
            return Ok(match login_type {
                Some(upstream) if upstream != PASSWORD => AuthorizeOutcome::Upstream {
                    pending,
                    upstream: upstream.to_string(),
                },
                _ => AuthorizeOutcome::Login(pending),
            });
        };
        // Only what the user may have (user-granted scopes they hold) is asked for and given.
        let (scope, withheld) = self.scopes_for_user(&session.user_id, &scope).await?;
        let mut record = record;
        record.scope = scope.to_string();
        let consented = self
            .has_consent(&session.user_id, &client.client_id, &scope)
            .await?;
        if consented && !prompts.contains(&"consent") {
            let redirect = self
                .issue_code(&record, &session.user_id, session.auth_time)
                .await?;
            return Ok(AuthorizeOutcome::Redirect(redirect));
        }
        if prompts.contains(&"none") {
            return fail(ErrorCode::ConsentRequired, "the user has not consented");
        }
        self.store.insert_authorization_request(&record).await?;
        let mut pending = self.pending_view(&record, &client);
        pending.withheld = withheld;
        Ok(AuthorizeOutcome::Consent(pending))
    }

    /// The rules an authorization request must meet once its client and redirect URI are
    /// known (the same at `/authorize` and for a pushed request, RFC 9126 §2.1).
    pub(crate) fn check_code_request(
        &self,
        client: &crate::Client,
        params: &TokenRequest,
        raw_state: Option<&str>,
    ) -> Result<CheckedRequest, OAuthError> {
        match params.required("response_type")? {
            "code" => {}
            _ => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(OAuthError::unauthorized_client(
                "this client may not use the authorization code flow",
            ));
        }
        let challenge = params.required("code_challenge")?;
        if params.single("code_challenge_method")? != Some("S256") {
            return Err(OAuthError::invalid_request(
                "PKCE is required with code_challenge_method=S256",
            ));
        }
        if challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(OAuthError::invalid_request(
                "code_challenge must be a base64url SHA-256 digest (43 characters)",
            ));
        }
        let scope = match params.single("scope")? {
            Some(text) => ScopeSet::parse(text)?,
            None => client.scopes.clone(),
        };
        scope.require_within(&client.scopes)?;
        let resources = parse_resources(&params.all("resource"))?;
        ResponseMode::parse(params.single("response_mode")?)?;
        let prompt = params.single("prompt")?.unwrap_or_default().to_string();
        let nonce = params.single("nonce")?.map(str::to_string);
        let max_age = params.single("max_age")?.map(parse_max_age).transpose()?;
        let acr_values = match params.single("acr_values")? {
            Some(text) if text.len() > 64 => {
                return Err(OAuthError::invalid_request(
                    "acr_values is longer than 64 bytes",
                ));
            }
            // Values this hub does not define are voluntary (§3.1.2.1) and ignored.
            Some(text) => text
                .split(' ')
                .filter(|v| ["1", "2"].contains(v))
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        };
        check_lengths(raw_state, nonce.as_deref(), &prompt, &resources)?;
        // How the person signs in: configured here and allowed for the client (a pushed
        // request with a bad `type` is refused at the push).
        if let Some(login_type) = params.single("type")? {
            self.check_login_type(client, login_type)?;
        }
        let hint_sub = match params.single("id_token_hint")? {
            Some(hint) if hint.len() > crate::logout::MAX_HINT_LEN => {
                return Err(OAuthError::invalid_request(format!(
                    "id_token_hint is longer than {} bytes",
                    crate::logout::MAX_HINT_LEN
                )));
            }
            Some(hint) => Some(self.id_token_hint_subject(hint)?),
            None => None,
        };
        let dpop_jkt = params.single("dpop_jkt")?;
        if let Some(jkt) = dpop_jkt
            && (jkt.len() != 43
                || !jkt
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(OAuthError::invalid_request(
                "dpop_jkt must be a JWK SHA-256 thumbprint, base64url (43 characters)",
            ));
        }
        Ok(CheckedRequest {
            challenge: challenge.to_string(),
            scope,
            resources,
            prompt,
            nonce,
            dpop_jkt: dpop_jkt.map(str::to_string),
            max_age,
            acr_values,
            hint_sub,
        })
    }

    /// The anti-CSRF token for a form of `request_id` shown to the browser holding
    /// `browser_id` (a random cookie). An attacker's page can read neither.
    pub fn csrf_token(&self, request_id: &str, browser_id: &str) -> String {
        let tag = hmac::sign(
            &self.csrf_key,
            format!("{request_id}\n{browser_id}").as_bytes(),
        );
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Checks a form's anti-CSRF token in constant time.
    pub fn csrf_ok(&self, request_id: &str, browser_id: &str, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        hmac::verify(
            &self.csrf_key,
            format!("{request_id}\n{browser_id}").as_bytes(),
            &tag,
        )
        .is_ok()
    }

    pub(crate) async fn live_request(
        &self,
        request_id: &str,
    ) -> Result<AuthorizationRequestRecord, OAuthError> {
        let now = self.clock.now_secs();
        let found = if RequestSeal::is_sealed(request_id) {
            self.request_seal.open(request_id, now)
        } else {
            self.store.authorization_request(request_id).await?
        };
        found.filter(|r| r.expires_at > now).ok_or_else(|| {
                OAuthError::invalid_request(
                    "this sign-in request expired or was already answered; start again from the application",
                )
            })
    }

    pub(crate) async fn view_of(
        &self,
        record: &AuthorizationRequestRecord,
    ) -> Result<PendingAuthorization, OAuthError> {
        let client = self
            .client(&record.client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the client no longer exists"))?;
        Ok(self.pending_view(record, &client))
    }

    pub(crate) async fn has_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &ScopeSet,
    ) -> Result<bool, OAuthError> {
        Ok(match self.store.consent(user_id, client_id).await? {
            Some(text) => scope.is_subset(&ScopeSet::parse(&text)?),
            None => false,
        })
    }

    pub(crate) fn pending_view(
        &self,
        record: &AuthorizationRequestRecord,
        client: &crate::Client,
    ) -> PendingAuthorization {
        // Before sign-in, `login_method` is the login type the request asked for.
        let asked = record
            .login_method
            .as_deref()
            .filter(|_| record.user_id.is_none());
        let origin = url::Url::parse(&record.redirect_uri)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        PendingAuthorization {
            request_id: record.request_id.clone(),
            client_id: record.client_id.clone(),
            client_name: client.name.clone(),
            methods: self.login_methods(client, asked),
            withheld: Vec::new(),
            handed_over_by: None,
            scopes: record
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            redirect_origin: if origin == "null" {
                record.redirect_uri.clone()
            } else {
                origin
            },
        }
    }

    pub(crate) async fn issue_code(
        &self,
        record: &AuthorizationRequestRecord,
        user_id: &str,
        auth_time: i64,
    ) -> Result<Redirect, OAuthError> {
        let now = self.clock.now_secs();
        let code = random_token(self.entropy.as_ref(), 32);
        // Grants may have changed since the request was shown: what the user holds now.
        let (mut scope, _) = self
            .scopes_for_user(user_id, &ScopeSet::parse(&record.scope)?)
            .await?;
        let extras = extras_of(record)?;
        if let Some(from) = &extras.transmitted_from {
            // The rule and the client may have changed while the person consented.
            scope = self.transmitted_scope(record, from, user_id, scope).await?;
        }
        self.store
            .insert_authorization_code(&AuthorizationCodeRecord {
                code_hash: sha256_hex(&code),
                client_id: record.client_id.clone(),
                user_id: user_id.to_string(),
                redirect_uri: record.redirect_uri.clone(),
                scope: scope.to_string(),
                nonce: record.nonce.clone(),
                code_challenge: record.code_challenge.clone(),
                resources: record.resources.clone(),
                auth_time,
                family_id: random_token(self.entropy.as_ref(), 16),
                created_at: now,
                expires_at: now + self.config.code_ttl,
                used_at: None,
                login_method: record.login_method.clone(),
                dpop_jkt: record.dpop_jkt.clone(),
                sid: record.sid.clone(),
                transmitted_from: extras.transmitted_from.clone(),
            })
            .await?;
        let mut pairs = vec![("code", code.as_str())];
        if let Some(state) = record.state.as_deref() {
            pairs.push(("state", state));
        }
        let client = self.request_client(record).await?;
        let url = self.redirect_with(
            &client,
            &record.redirect_uri,
            mode_of(record),
            &pairs,
            &extras,
        )?;
        Ok(url)
    }

    /// The client of a pending request (it may have been deleted since).
    pub(crate) async fn request_client(
        &self,
        record: &AuthorizationRequestRecord,
    ) -> Result<std::sync::Arc<crate::Client>, OAuthError> {
        self.client(&record.client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the client is no longer registered"))
    }

    /// The URL that carries `pairs` back to `client`: in `mode`, with what a g2d1-signed
    /// request carried, and for a g2d1 client signed (docs/oauth.md).
    fn redirect_with(
        &self,
        client: &crate::Client,
        redirect_uri: &str,
        mode: ResponseMode,
        pairs: &[(&str, &str)],
        extras: &crate::g2d1::SignedExtras,
    ) -> Result<Redirect, OAuthError> {
        let g2d1_secret = client
            .signing_secret
            .as_ref()
            .filter(|_| client.policy.profile == Some(crate::ClientProfile::G2d1));
        match (g2d1_secret, mode) {
            (Some(secret), ResponseMode::Query | ResponseMode::FormPost) => {
                let mut all: Vec<(String, String)> = pairs
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                all.push(("iss".into(), self.config.issuer.clone()));
                crate::g2d1::sign_response(
                    secret.expose().as_bytes(),
                    &mut all,
                    extras,
                    self.clock.now_secs(),
                    random_token(self.entropy.as_ref(), 16),
                );
                if mode == ResponseMode::FormPost {
                    return Ok(Redirect {
                        location: redirect_uri.to_string(),
                        post: Some(all),
                    });
                }
                let borrowed: Vec<(&str, &str)> =
                    all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                Ok(Redirect::to(append_query(redirect_uri, &borrowed)))
            }
            _ => {
                // In a JARM response the hub's signature covers what the request carried.
                let mut all = pairs.to_vec();
                all.extend(extras.custom.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                if let Some(login_type) = &extras.login_type {
                    all.push(("type", login_type));
                }
                self.response_url(redirect_uri, &client.client_id, mode, &all)
            }
        }
    }

    pub(crate) fn error_redirect(
        &self,
        client: &crate::Client,
        redirect_uri: &str,
        mode: ResponseMode,
        state: Option<&str>,
        extras: &crate::g2d1::SignedExtras,
        err: &OAuthError,
    ) -> Result<Redirect, OAuthError> {
        let mut pairs = vec![
            ("error", err.code.as_str()),
            ("error_description", err.description.as_str()),
        ];
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        self.redirect_with(client, redirect_uri, mode, &pairs, extras)
    }
}

/// What a pending request's g2d1 signature carried.
pub(crate) fn extras_of(
    record: &AuthorizationRequestRecord,
) -> Result<crate::g2d1::SignedExtras, OAuthError> {
    match &record.extra {
        Some(text) => serde_json::from_str(text).map_err(|_| {
            OAuthError::server_error("a stored request's extra parameters are unreadable")
        }),
        None => Ok(crate::g2d1::SignedExtras::default()),
    }
}

/// The response mode a pending request asked for.
pub(crate) fn mode_of(record: &AuthorizationRequestRecord) -> ResponseMode {
    ResponseMode::parse(record.response_mode.as_deref()).unwrap_or(ResponseMode::Query)
}

/// Longest `state` and `nonce` accepted: values are echoed back and carried in the sign-in
/// form, so they are bounded like every other input (Keycloak and Hydra bound them too).
pub(crate) const MAX_STATE_LEN: usize = 512;
/// At most this many `resource` indicators, each at most [`MAX_STATE_LEN`] bytes.
pub(crate) const MAX_RESOURCES: usize = 8;

/// Longest `max_age` accepted: a year, in seconds (no session lives that long).
const MAX_MAX_AGE: i64 = 366 * 24 * 3600;

/// `max_age`: seconds, a non-negative integer (OIDC Core §3.1.2.1); `0` asks for a sign-in now.
fn parse_max_age(text: &str) -> Result<i64, OAuthError> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OAuthError::invalid_request(
            "max_age must be a number of seconds (0 or more)",
        ));
    }
    let seconds: i64 = text
        .parse()
        .map_err(|_| OAuthError::invalid_request("max_age must be a number of seconds"))?;
    Ok(seconds.min(MAX_MAX_AGE))
}

fn check_lengths(
    state: Option<&str>,
    nonce: Option<&str>,
    prompt: &str,
    resources: &[String],
) -> Result<(), OAuthError> {
    for (name, value) in [("state", state), ("nonce", nonce)] {
        if value.is_some_and(|v| v.len() > MAX_STATE_LEN) {
            return Err(OAuthError::invalid_request(format!(
                "{name} is longer than {MAX_STATE_LEN} bytes"
            )));
        }
    }
    if prompt.len() > 64 {
        return Err(OAuthError::invalid_request(
            "prompt is longer than 64 bytes",
        ));
    }
    if resources.len() > MAX_RESOURCES || resources.iter().any(|r| r.len() > MAX_STATE_LEN) {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            format!("at most {MAX_RESOURCES} resource values of at most {MAX_STATE_LEN} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_to_existing_query() {
        let out = append_query(
            "https://app.example/cb?x=1",
            &[("code", "a b"), ("state", "s")],
        );
        assert_eq!(out, "https://app.example/cb?x=1&code=a+b&state=s");
    }
}
