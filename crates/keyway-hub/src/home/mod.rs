//! The hub's own pages, for people rather than applications:
//! - `GET /`: what this hub is (its issuer), where its discovery document, keys, activity map,
//!   health and metrics are, which documents describe it, and whether you are signed in.
//! - `GET /login?next=/activity`, `POST /login`: the hub's sign-in page, which opens the same
//!   login session as signing in through an application (`session.rs`), then goes on to a
//!   local path.
//! - `POST /logout`: ends that session.
//! - `GET|POST /account/second-factor`: turn on a TOTP second factor.
//! - `GET|POST /account/passkeys`, `POST /passkeys/options`, `GET /passkeys.js`: passkeys
//!   (`passkeys.rs`).

mod local_path;
mod passkeys;
mod second_factor;
mod sign_in;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};

use crate::AppState;
use crate::pages::{HomePage, html};
use crate::session::{browser_id, session_user, username_of, with_cookies};

pub(crate) const HOME: &str = "/";
pub(crate) const LOGIN: &str = "/login";
pub(crate) const LOGOUT: &str = "/logout";
pub(crate) const ACCOUNT_SECOND_FACTOR: &str = "/account/second-factor";
pub(crate) const ACCOUNT_PASSKEYS: &str = "/account/passkeys";

/// What the anti-CSRF tokens of the hub's own forms are bound to (besides the browser
/// cookie). Authorization request ids are base64url, so they can never take these values.
pub(crate) const LOGIN_FORM: &str = "hub:login";
pub(crate) const LOGOUT_FORM: &str = "hub:logout";
pub(crate) const SECOND_FACTOR_FORM: &str = "hub:second-factor";
/// The account page's passkey forms (also the purpose of registration ceremonies).
pub(crate) const PASSKEYS_FORM: &str = "hub:passkeys";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(HOME, get(home))
        .route(LOGIN, get(sign_in::form).post(sign_in::sign_in))
        .route(LOGOUT, post(sign_in::sign_out))
        .route(
            ACCOUNT_SECOND_FACTOR,
            get(second_factor::show).post(second_factor::confirm),
        )
        .route(ACCOUNT_PASSKEYS, get(passkeys::show).post(passkeys::change))
        .route(
            crate::sign_in_steps::PASSKEY_OPTIONS,
            post(passkeys::options),
        )
        .route("/passkeys.js", get(passkeys::script))
}

/// A post to one of the account pages (`page`, whose forms' CSRF binding is `binding`): the
/// form, the browser and a session signed in within the last 5 minutes; else the answer
/// (an error page, a CSRF refusal, or the sign-in page and back).
pub(crate) async fn account_post(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    binding: &str,
    page: &str,
) -> Result<(keyway_auth::TokenRequest, String, keyway_auth::SessionUser), Response> {
    let form = crate::form::parse_form(headers, body)
        .map_err(|err| crate::pages::error_page(StatusCode::BAD_REQUEST, &err))?;
    let browser = crate::session::check_csrf(state, headers, &form, binding)
        .ok_or_else(crate::session::csrf_refused)?;
    let session = crate::session::recent_session(state, headers)
        .await
        .ok_or_else(|| crate::pages::see_other(&login_url(page)))?;
    Ok((form, browser, session))
}

/// `/login?next=…` for a local path (`/` stays readable; other reserved characters are
/// percent-encoded).
pub(crate) fn login_url(next: &str) -> String {
    let mut url = format!("{LOGIN}?next=");
    for byte in next.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

/// GET /: the landing page (`?signed-out=everywhere` after *Sign out everywhere*).
async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (browser, set_browser) = browser_id(&state, &headers);
    let username = match session_user(&state, &headers).await {
        Some(session) => Some(username_of(&state, &session.user_id).await),
        None => None,
    };
    let logout_csrf = state.auth.csrf_token(LOGOUT_FORM, &browser);
    let page = HomePage {
        issuer: &state.auth.config().issuer,
        username: username.as_deref(),
        login: LOGIN,
        logout: LOGOUT,
        logout_csrf: &logout_csrf,
        data_api: state.data.is_some(),
        signed_out_everywhere: query.as_deref() == Some("signed-out=everywhere"),
    };
    with_cookies(html(StatusCode::OK, &page), &[set_browser])
}

#[cfg(test)]
mod tests {
    #[test]
    fn login_url_keeps_the_path_readable() {
        assert_eq!(super::login_url("/activity"), "/login?next=/activity");
        assert_eq!(
            super::login_url("/api/x?a=1&b"),
            "/login?next=/api/x%3Fa%3D1%26b"
        );
    }
}
