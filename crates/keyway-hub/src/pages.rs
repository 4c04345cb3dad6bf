//! Server-rendered pages (askama). They work without JavaScript, every form carries an
//! anti-CSRF token, and every field has a label.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyway_auth::{LoginMethod, OAuthError, PendingAuthorization};

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage<'a> {
    pub action: &'a str,
    pub request_id: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub redirect_origin: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    /// Whether the password form is offered.
    pub password: bool,
    /// Where the upstream providers' buttons post.
    pub upstream_action: &'a str,
    /// The upstream providers offered (one button each).
    pub upstreams: Vec<&'a LoginMethod>,
    pub passkey: Option<PasskeyButton<'a>>,
}

/// A "sign in with a passkey" button (`passkey_button.html`, driven by `/passkeys.js`): a
/// form posted to `action` with `fields` once the authenticator answered the ceremony that
/// `options` started for `purpose`.
pub(crate) struct PasskeyButton<'a> {
    pub action: &'a str,
    pub options: &'a str,
    pub purpose: &'a str,
    pub fields: Vec<(String, String)>,
    pub label: &'a str,
    pub primary: bool,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub(crate) struct ConsentPage<'a> {
    pub action: &'a str,
    pub request_id: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub redirect_origin: &'a str,
    pub username: &'a str,
    pub scopes: &'a [String],
    /// Asked-for scopes the user does not hold.
    pub withheld: &'a [String],
    /// The application that handed the person over, if one did.
    pub handed_over_by: Option<&'a str>,
}

/// The hub's own sign-in page (`/login`), for hub sessions.
#[derive(Template)]
#[template(path = "sign_in.html")]
pub(crate) struct SignInPage<'a> {
    pub action: &'a str,
    pub issuer: &'a str,
    pub next: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub signed_in_as: Option<&'a str>,
    pub error: Option<&'a str>,
    pub passkey: Option<PasskeyButton<'a>>,
}

/// The landing page (`/`).
#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage<'a> {
    pub issuer: &'a str,
    pub username: Option<&'a str>,
    pub login: &'a str,
    pub logout: &'a str,
    pub logout_csrf: &'a str,
    pub data_api: bool,
    /// Just after *Sign out everywhere*.
    pub signed_out_everywhere: bool,
}

/// The `form_post` response modes: a form the user posts to the client's redirect URI (no
/// script, so the hub's CSP stays `script-src 'none'`; a button sends it).
#[derive(Template)]
#[template(path = "form_post.html")]
pub(crate) struct FormPostPage<'a> {
    pub action: &'a str,
    pub origin: &'a str,
    pub fields: &'a [(String, String)],
}

/// The second step of a sign-in (a TOTP or recovery code): the hidden fields carry the first
/// step's ticket and the form's own fields.
#[derive(Template)]
#[template(path = "second_factor.html")]
pub(crate) struct SecondFactorPage<'a> {
    pub action: &'a str,
    pub fields: &'a [(String, String)],
    pub error: Option<&'a str>,
    /// Whether the code field is offered (a TOTP enrolment).
    pub code: bool,
    pub passkey: Option<PasskeyButton<'a>>,
}

/// The hub's page where a signed-in person lists, adds and removes passkeys.
#[derive(Template)]
#[template(path = "account_passkeys.html")]
pub(crate) struct AccountPasskeysPage<'a> {
    pub username: &'a str,
    pub action: &'a str,
    pub options: &'a str,
    pub purpose: &'a str,
    pub csrf: &'a str,
    pub passkeys: &'a [keyway_auth::PasskeyInfo],
    /// Why passkeys cannot be added on this hub, if they cannot.
    pub unavailable: Option<&'a str>,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The change ended every session: only the notice and a way to sign in again.
    pub signed_out: bool,
    pub sign_in: &'a str,
}

impl AccountPasskeysPage<'_> {
    /// `2026-01-31 12:00` (UTC).
    fn time(&self, at: &i64) -> String {
        let utc = keyway_kernel::rfc3339::format_unix_secs(*at);
        utc.replacen('T', " ", 1)
            .chars()
            .take(16)
            .collect::<String>()
            + " UTC"
    }
}

/// The hub's page where a signed-in person turns on a TOTP second factor.
#[derive(Template)]
#[template(path = "account_second_factor.html")]
pub(crate) struct AccountFactorPage<'a> {
    pub username: &'a str,
    pub action: &'a str,
    pub state: AccountFactorState<'a>,
}

pub(crate) enum AccountFactorState<'a> {
    /// Already enrolled.
    Enrolled,
    /// A new secret to scan (the QR code as SVG, made here from the otpauth URI).
    Scan {
        svg: String,
        secret: &'a str,
        ticket: &'a str,
        csrf: &'a str,
        error: Option<&'a str>,
    },
    /// Turned on: the recovery codes, once.
    Done(Vec<String>),
}

/// The end-session endpoint's pages: the question (`confirm`, a form that posts the checked
/// parameters back with an anti-CSRF token) or the answer.
#[derive(Template)]
#[template(path = "logout.html")]
pub(crate) struct LogoutPage<'a> {
    pub confirm: bool,
    pub client_name: Option<&'a str>,
    pub username: &'a str,
    pub action: &'a str,
    pub fields: &'a [(String, String)],
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub code: &'a str,
    pub description: &'a str,
}

/// One of the hub's own scripts (`/passkeys.js`, the activity map's `app.js`): JavaScript,
/// never sniffed as anything else, revalidated so that a new hub's script replaces the old.
pub(crate) fn script(body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The CSP of pages that run the hub's own scripts (`/passkeys.js`), and nothing else's.
const SCRIPTED_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                            style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// As [`html`], for a page that runs the hub's own scripts (`script-src 'self'`).
pub(crate) fn html_scripted(status: StatusCode, page: &impl Template) -> Response {
    let mut response = html(status, page);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SCRIPTED_CSP),
    );
    response
}

/// Renders a page with the headers every hub page carries: no caching, no framing, no
/// referrer leaking the query, and a CSP that allows no script at all.
pub(crate) fn html(status: StatusCode, page: &impl Template) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "page failed to render");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A `303 See Other` to a path of the hub (checked by the caller), never cached; `/` if the
/// path cannot be a header value.
pub(crate) fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let location = HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/"));
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(crate) fn error_page(status: StatusCode, err: &OAuthError) -> Response {
    html(
        status,
        &ErrorPage {
            code: err.code.as_str(),
            description: &err.description,
        },
    )
}

pub(crate) fn login_page(
    state: &crate::AppState,
    status: StatusCode,
    pending: &PendingAuthorization,
    csrf: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let password = pending.allows_password();
    // A passkey is a way into this hub's own accounts, as the password is.
    let passkey = password
        .then(|| {
            crate::sign_in_steps::passkey_button(
                state,
                crate::oauth::LOGIN,
                &pending.request_id,
                vec![
                    ("request_id".to_string(), pending.request_id.clone()),
                    ("csrf".to_string(), csrf.to_string()),
                ],
            )
        })
        .flatten();
    let page = LoginPage {
        action: crate::oauth::LOGIN,
        request_id: &pending.request_id,
        csrf,
        client_name: &pending.client_name,
        redirect_origin: &pending.redirect_origin,
        username,
        error,
        password,
        upstream_action: crate::oauth::UPSTREAM_START,
        upstreams: pending
            .methods
            .iter()
            .filter(|m| !m.is_password())
            .collect(),
        passkey,
    };
    if page.passkey.is_some() {
        html_scripted(status, &page)
    } else {
        html(status, &page)
    }
}

pub(crate) fn consent_page(pending: &PendingAuthorization, csrf: &str, username: &str) -> Response {
    html(
        StatusCode::OK,
        &ConsentPage {
            action: crate::oauth::CONSENT,
            request_id: &pending.request_id,
            csrf,
            client_name: &pending.client_name,
            redirect_origin: &pending.redirect_origin,
            username,
            scopes: &pending.scopes,
            withheld: &pending.withheld,
            handed_over_by: pending.handed_over_by.as_deref(),
        },
    )
}
