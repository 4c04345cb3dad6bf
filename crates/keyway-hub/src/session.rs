//! The hub's browser session, shared by the OAuth login and consent pages and the hub's own
//! pages (`/`, `/login`, `/logout`, `/activity`): the login-session cookie, the per-browser
//! value anti-CSRF tokens are bound to, and the one sign-in step (throttled password check)
//! both sign-in forms go through.

use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use keyway_auth::{
    ErrorCode, OAuthError, SecretString, SessionUser, SignIn, TokenRequest, random_token,
};
use keyway_store::UserRecord;

use crate::AppState;
use crate::cookies;
use crate::pages::error_page;

/// The browser's CSRF binding cookie, made when missing. Returns (value, Set-Cookie to send).
pub(crate) fn browser_id(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match cookies::read(headers, cookies::BROWSER, state.auth.config().uses_https()) {
        Some(id) => (id, None),
        None => {
            let id = random_token(state.auth.entropy(), 24);
            let cookie = cookies::set(
                cookies::BROWSER,
                &id,
                24 * 3600,
                state.auth.config().uses_https(),
            );
            (id, Some(cookie))
        }
    }
}

/// Adds `Set-Cookie` headers to a response.
pub(crate) fn with_cookies(mut response: Response, set_cookies: &[Option<String>]) -> Response {
    for cookie in set_cookies.iter().flatten() {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The `Set-Cookie` value that carries a new login session's token.
pub(crate) fn session_cookie(state: &AppState, session_token: &str) -> String {
    cookies::set(
        cookies::SESSION,
        session_token,
        state.auth.config().login_session_ttl,
        state.auth.config().uses_https(),
    )
}

/// The `Set-Cookie` value that removes the login-session cookie.
pub(crate) fn cleared_session_cookie(state: &AppState) -> String {
    cookies::clear(cookies::SESSION, state.auth.config().uses_https())
}

/// One browser, one session: after a sign-in, the session the browser had before is taken
/// over (the same person: one session id for the clients) or ended (another person: its
/// clients are told), rather than left live and unreachable.
pub(crate) async fn replace_previous_session(
    state: &AppState,
    headers: &HeaderMap,
    new_token: &str,
) -> Result<(), OAuthError> {
    match cookies::read(headers, cookies::SESSION, state.auth.config().uses_https()) {
        Some(previous) => state.auth.replace_session(&previous, new_token).await,
        None => Ok(()),
    }
}

/// The user of the request's live login session, if any.
pub(crate) async fn session_user(state: &AppState, headers: &HeaderMap) -> Option<SessionUser> {
    let token = cookies::read(headers, cookies::SESSION, state.auth.config().uses_https())?;
    state.auth.session_user(&token).await.ok().flatten()
}

/// How recent a sign-in must be to change how the account signs in (a second factor, a
/// passkey): a stolen session cannot add an attacker's device.
const RECENT_SIGN_IN: i64 = 300;

/// The session of the request if it signed in within the last 5 minutes.
pub(crate) async fn recent_session(state: &AppState, headers: &HeaderMap) -> Option<SessionUser> {
    let session = session_user(state, headers).await?;
    (state.auth.clock().now_secs() - session.auth_time <= RECENT_SIGN_IN).then_some(session)
}

/// A user's name (empty when the user is gone).
pub(crate) async fn username_of(state: &AppState, user_id: &str) -> String {
    match state.auth.store().user_by_id(user_id).await {
        Ok(Some(user)) => user.username,
        _ => String::new(),
    }
}

/// The page shown when a form's anti-CSRF token is missing or wrong.
pub(crate) fn csrf_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        &OAuthError::new(
            ErrorCode::AccessDenied,
            "the form could not be verified (expired page or cross-site request); start again",
        ),
    )
}

/// Checks the anti-CSRF token (field `csrf`) of a posted form bound to `binding` (an
/// authorization request id, or one of the hub forms' names) and to the browser cookie;
/// returns the browser id when good.
pub(crate) fn check_csrf(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenRequest,
    binding: &str,
) -> Option<String> {
    let browser = cookies::read(headers, cookies::BROWSER, state.auth.config().uses_https())?;
    let csrf = form.single("csrf").ok().flatten().unwrap_or_default();
    state
        .auth
        .csrf_ok(binding, &browser, csrf)
        .then_some(browser)
}

/// Why a sign-in form is shown again: the status, the message and, when throttled, the
/// seconds to wait (`Retry-After`).
pub(crate) struct SignInRefusal {
    pub status: StatusCode,
    pub message: String,
    pub retry_after_s: Option<i64>,
}

impl SignInRefusal {
    /// Sets `Retry-After` (RFC 6585 §4) on the page that shows the refusal.
    pub(crate) fn mark(&self, mut page: Response) -> Response {
        if let Some(seconds) = self.retry_after_s
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            page.headers_mut().insert(header::RETRY_AFTER, value);
        }
        page
    }
}

/// The sign-in step of every sign-in form: fields `username` and `password`, checked by
/// [`keyway_auth::AuthService::sign_in`] (the throttle, per user and client address).
pub(crate) async fn sign_in(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: &TokenRequest,
) -> Result<Result<UserRecord, SignInRefusal>, OAuthError> {
    let field = |name: &str| {
        form.single(name)
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_string()
    };
    let (username, password) = (field("username"), field("password"));
    if username.is_empty() || password.is_empty() {
        return Ok(Err(SignInRefusal {
            status: StatusCode::BAD_REQUEST,
            message: "Enter your username and password.".into(),
            retry_after_s: None,
        }));
    }
    let address = state
        .trusted_proxies
        .client_address(peer, headers)
        .to_string();
    let outcome = state
        .auth
        .sign_in(&username, SecretString::new(password), &address)
        .await?;
    Ok(match outcome {
        SignIn::Accepted(user) => Ok(user),
        SignIn::Refused => {
            ::metrics::counter!("keyway_login_failures_total").increment(1);
            tracing::info!(%username, %address, "sign-in refused: wrong username or password");
            Err(SignInRefusal {
                status: StatusCode::UNAUTHORIZED,
                message: "Incorrect username or password.".into(),
                retry_after_s: None,
            })
        }
        SignIn::Throttled { wait_ms } => {
            let seconds = (wait_ms + 999) / 1000;
            ::metrics::counter!("keyway_login_throttled_total").increment(1);
            tracing::warn!(%username, %address, wait_s = seconds, "sign-in throttled");
            let unit = if seconds == 1 { "second" } else { "seconds" };
            Err(SignInRefusal {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: format!(
                    "Too many failed sign-in attempts. Try again in {seconds} {unit}."
                ),
                retry_after_s: Some(seconds),
            })
        }
    })
}
