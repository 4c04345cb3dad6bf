//! OpenID Connect logout: the end-session endpoint's checks (RP-Initiated Logout 1.0) and
//! logout tokens for the clients an ended session signed in to (Back-Channel Logout 1.0).
//!
//! Every way a login session ends goes through [`AuthService::notify_logout`]: the browser's
//! sign-out, `keyway user logout`, disabling or deleting a user. What the session gave a
//! client without `offline_access` is revoked with it (keyway-store `end_login_session`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use keyway_store::LoginSessionRecord;
use serde::Deserialize;

use crate::jose::split_compact;
use crate::{AuthService, OAuthError, SessionUser, random_token, sha256_hex};

/// The event a logout token carries (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The `typ` of logout tokens (Back-Channel Logout 1.0 §2.4, recommended explicit typing).
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";
/// A logout token is delivered at once; two minutes covers retries and clock skew.
const LOGOUT_TOKEN_TTL: i64 = 120;
/// Longest `id_token_hint` read (ID tokens are a few hundred bytes; RSA ones under 2 KiB).
pub(crate) const MAX_HINT_LEN: usize = 8192;
/// Longest `post_logout_redirect_uri` and `state` read.
const MAX_URI_LEN: usize = 2000;
const MAX_STATE_LEN: usize = 1024;

/// A back-channel logout token for one client, to POST to its `backchannel_logout_uri`.
#[derive(Debug, Clone)]
pub struct LogoutNotice {
    pub client_id: String,
    pub uri: String,
    pub logout_token: String,
}

/// Delivers logout tokens: the hub POSTs them in the background; an admin command waits for
/// the answers and says what each client answered.
pub trait LogoutDelivery: Send + Sync + 'static {
    fn deliver(&self, notices: Vec<LogoutNotice>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The end-session endpoint's parameters (RP-Initiated Logout 1.0 §2).
#[derive(Debug, Default, Clone)]
pub struct EndSessionRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// An end-session request that passed its checks.
#[derive(Debug, Clone)]
pub struct EndSession {
    /// Where the browser goes afterwards: a registered post-logout URI with `state`.
    pub redirect: Option<String>,
    /// The name of the client that asked, for the confirmation page.
    pub client_name: Option<String>,
    hint: Option<HintClaims>,
}

#[derive(Debug, Clone, Deserialize)]
struct HintClaims {
    iss: String,
    sub: String,
    aud: crate::Audience,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    sid: Option<String>,
}

/// What an `id_token_hint` turned out to be.
enum ReadHint {
    Verified(HintClaims),
    /// Signed with a `kid` this hub no longer publishes: not verified.
    RetiredKey(HintClaims),
}

#[derive(Deserialize)]
struct HintHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

impl EndSession {
    /// Whether the person must confirm before their session ends: always, unless the request
    /// carries an ID token of this very session (RP-Initiated Logout 1.0 §2: "MUST ask … if
    /// an id_token_hint was not provided or … does not belong to the current OP session").
    /// Without it any site could sign people out with a link.
    pub fn needs_confirmation(&self, session: &SessionUser) -> bool {
        let Some(hint) = &self.hint else {
            return true;
        };
        let same_user = hint.sub == session.user_id;
        let same_session = match (&hint.sid, &session.sid) {
            (Some(hinted), Some(current)) => hinted == current,
            // A session (or token) from before sids were kept: the user has to match.
            (None, _) | (_, None) => true,
        };
        !(same_user && same_session)
    }
}

fn bounded(value: &Option<String>, name: &str, max: usize) -> Result<(), OAuthError> {
    match value {
        Some(v) if v.len() > max => Err(OAuthError::invalid_request(format!(
            "{name} is longer than {max} bytes"
        ))),
        _ => Ok(()),
    }
}

impl AuthService {
    /// Hands ended sessions' logout tokens to `delivery` (the hub's HTTP client).
    pub fn with_logout_delivery(mut self, delivery: Arc<dyn LogoutDelivery>) -> AuthService {
        self.logout_delivery = Some(delivery);
        self
    }

    /// Checks an end-session request: a hint must be an ID token this hub signed (expired ones
    /// are accepted, as §2 asks), a post-logout URI must be registered for the client the
    /// request names or the hint was issued to. Errors are shown to the person, never sent to
    /// an unchecked URI.
    pub async fn check_end_session(
        &self,
        request: &EndSessionRequest,
    ) -> Result<EndSession, OAuthError> {
        bounded(&request.id_token_hint, "id_token_hint", MAX_HINT_LEN)?;
        bounded(
            &request.post_logout_redirect_uri,
            "post_logout_redirect_uri",
            MAX_URI_LEN,
        )?;
        bounded(&request.state, "state", MAX_STATE_LEN)?;
        bounded(&request.client_id, "client_id", 256)?;
        // A hint signed with a key retired since (sessions outlive ID tokens) cannot be
        // verified: it still names the client (as `client_id` could), but ends nothing unasked.
        let (hint, unverified) = match request.id_token_hint.as_deref() {
            Some(token) => match self.read_id_token_hint(token)? {
                ReadHint::Verified(claims) => (Some(claims), None),
                ReadHint::RetiredKey(claims) => (None, Some(claims)),
            },
            None => (None, None),
        };
        // The client an ID token was issued to: `azp`, or its only audience.
        let hinted_client =
            hint.as_ref()
                .or(unverified.as_ref())
                .and_then(|h| match (&h.azp, &h.aud) {
                    (Some(azp), _) => Some(azp.clone()),
                    (None, crate::Audience::One(aud)) => Some(aud.clone()),
                    (None, crate::Audience::Many(list)) => list.first().cloned(),
                });
        let client_id = match (&request.client_id, hint.as_ref().or(unverified.as_ref())) {
            (Some(asked), Some(hint)) if !hint.aud.contains(asked) => {
                return Err(OAuthError::invalid_request(format!(
                    "id_token_hint was issued to another client than {asked:?}"
                )));
            }
            (Some(asked), _) => Some(asked.clone()),
            (None, _) => hinted_client,
        };
        let client = match &client_id {
            Some(id) => Some(self.client(id).await?.ok_or_else(|| {
                OAuthError::invalid_request(format!("client {id:?} is not registered"))
            })?),
            None => None,
        };
        let redirect = match (&request.post_logout_redirect_uri, &client) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri needs client_id or id_token_hint to name the client \
                     it is registered for",
                ));
            }
            (Some(uri), Some(client)) => {
                if !client.policy.post_logout_redirect_uris.contains(uri) {
                    return Err(OAuthError::invalid_request(format!(
                        "post_logout_redirect_uri is not registered for client {}",
                        client.client_id
                    )));
                }
                let mut url = url::Url::parse(uri).map_err(|_| {
                    OAuthError::invalid_request("post_logout_redirect_uri is not a URL")
                })?;
                if let Some(state) = &request.state {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Some(url.to_string())
            }
        };
        Ok(EndSession {
            redirect,
            // Only a verified hint says which application asks: anyone can write a client_id.
            client_name: hint.as_ref().and(client.as_ref()).map(|c| c.name.clone()),
            hint,
        })
    }

    /// The subject of an `id_token_hint` at `/authorize` (read as at logout; one signed with
    /// a retired key still names whom the client expects, and only narrows which session
    /// counts).
    pub(crate) fn id_token_hint_subject(&self, token: &str) -> Result<String, OAuthError> {
        match self.read_id_token_hint(token)? {
            ReadHint::Verified(claims) | ReadHint::RetiredKey(claims) => Ok(claims.sub),
        }
    }

    /// Reads an `id_token_hint`: signed by a key of this hub (`typ` JWT, as ID tokens are; an
    /// access, logout or JARM token is refused), issued by this hub, with a subject. A token
    /// whose `kid` this hub no longer publishes is read unverified, for its client only.
    fn read_id_token_hint(&self, token: &str) -> Result<ReadHint, OAuthError> {
        let not_ours =
            || OAuthError::invalid_request("id_token_hint is not an ID token issued by this hub");
        let jws = split_compact(token).map_err(|_| not_ours())?;
        let header: HintHeader = serde_json::from_slice(&jws.header).map_err(|_| not_ours())?;
        let Some(key) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.verifier(kid))
        else {
            let claims: HintClaims =
                serde_json::from_slice(&jws.payload).map_err(|_| not_ours())?;
            if claims.iss != self.config.issuer || header.kid.is_none() {
                return Err(not_ours());
            }
            return Ok(ReadHint::RetiredKey(claims));
        };
        if header.alg != key.alg || header.typ.as_deref().is_some_and(|t| t != "JWT") {
            return Err(not_ours());
        }
        key.verify(&header.alg, jws.signing_input.as_bytes(), &jws.signature)
            .map_err(|_| not_ours())?;
        let claims: HintClaims = serde_json::from_slice(&jws.payload).map_err(|_| not_ours())?;
        if claims.iss != self.config.issuer {
            return Err(not_ours());
        }
        Ok(ReadHint::Verified(claims))
    }

    /// Ends the login session behind a cookie: its session-bound tokens are revoked and the
    /// clients it signed in to are told (back-channel). Ending an unknown session is no error.
    pub async fn end_session(&self, session_token: &str) -> Result<(), OAuthError> {
        let now = self.clock.now_secs();
        let ended = self
            .store
            .end_login_session(&sha256_hex(session_token), now)
            .await?;
        if let Some(session) = ended {
            self.refresh_revocations()
                .await
                .map_err(|e| OAuthError::server_error(e.to_string()))?;
            self.notify_logout(std::slice::from_ref(&session)).await;
        }
        Ok(())
    }

    /// After a sign-in in a browser that already had a session (`previous`, its cookie): the
    /// same person keeps the old session's id, so the clients it reached see one session and
    /// are told when it ends; another person's session ends now, as a sign-out would.
    pub async fn replace_session(&self, previous: &str, current: &str) -> Result<(), OAuthError> {
        if previous == current {
            return Ok(());
        }
        let current_user = self
            .store
            .login_session(&sha256_hex(current))
            .await?
            .map(|s| s.user_id);
        if let Some(user_id) = current_user
            && self
                .store
                .carry_session_id(&sha256_hex(previous), &sha256_hex(current), &user_id)
                .await?
        {
            return Ok(());
        }
        self.end_session(previous).await
    }

    /// Sends a logout token to every client with a back-channel logout URI that `sessions`
    /// signed in to. Failures are logged: the sessions have ended whatever the clients answer.
    pub(crate) async fn notify_logout(&self, sessions: &[LoginSessionRecord]) {
        let Some(delivery) = &self.logout_delivery else {
            return;
        };
        let mut notices = Vec::new();
        for sid in sessions.iter().filter_map(|s| s.sid.as_deref()) {
            let clients = match self.store.session_clients(sid).await {
                Ok(clients) => clients,
                Err(err) => {
                    tracing::warn!(error = %err, "back-channel logout: reading the session's clients failed");
                    continue;
                }
            };
            for signed_in in clients {
                let client = match self.client(&signed_in.client_id).await {
                    Ok(Some(client)) => client,
                    Ok(None) => continue,
                    Err(err) => {
                        tracing::warn!(error = %err, client_id = %signed_in.client_id, "back-channel logout: reading the client failed");
                        continue;
                    }
                };
                let Some(uri) = client.policy.backchannel_logout_uri.clone() else {
                    continue;
                };
                match self.logout_token(&signed_in.client_id, &signed_in.user_id, sid) {
                    Ok(logout_token) => notices.push(LogoutNotice {
                        client_id: signed_in.client_id,
                        uri,
                        logout_token,
                    }),
                    Err(err) => {
                        tracing::warn!(error = %err.description, "back-channel logout: signing failed");
                    }
                }
            }
        }
        if !notices.is_empty() {
            delivery.deliver(notices).await;
        }
    }

    /// A logout token (Back-Channel Logout 1.0 §2.4): `sub` and `sid` of the ended session,
    /// the logout event, no `nonce`, typed `logout+jwt`.
    fn logout_token(&self, client_id: &str, sub: &str, sid: &str) -> Result<String, OAuthError> {
        let now = self.clock.now_secs();
        let claims = serde_json::json!({
            "iss": self.config.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": random_token(self.entropy.as_ref(), 16),
            "sub": sub,
            "sid": sid,
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        self.sign_jwt(LOGOUT_TOKEN_TYPE, &claims)
    }
}
