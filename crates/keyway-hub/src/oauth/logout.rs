//! The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0): `GET` or `POST`
//! `/oauth2/logout` with `id_token_hint`, `client_id`, `post_logout_redirect_uri` and `state`.
//! keyway-auth checks the parameters; this module asks the person when it must, ends the
//! session (the clients it signed in to are told, back-channel) and sends the browser on.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyway_auth::{EndSessionRequest, OAuthError, Redirect, TokenRequest};

use crate::AppState;
use crate::cookies;
use crate::form::parse_form;
use crate::pages::{LogoutPage, error_page, html};
use crate::session::{
    browser_id, check_csrf, cleared_session_cookie, csrf_refused, username_of, with_cookies,
};

/// What the confirmation form's anti-CSRF token is bound to.
const CONFIRM_FORM: &str = "hub:end-session";
/// The parameters the confirmation form carries back (checked again when it comes).
const CARRIED: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

/// GET /oauth2/logout.
pub(super) async fn end_session_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    end_session(&state, &headers, crate::form::query_params(query), false).await
}

/// POST /oauth2/logout: a client's form post of the same parameters, or the person's answer
/// to the confirmation page (it carries `csrf`).
pub(super) async fn end_session_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(form) => form,
        Err(err) => return error_page(StatusCode::BAD_REQUEST, &err),
    };
    let confirmed = form.single("csrf").ok().flatten().is_some();
    if confirmed && check_csrf(&state, &headers, &form, CONFIRM_FORM).is_none() {
        return csrf_refused();
    }
    // A client's page posting here from its own site: SameSite=Lax keeps the session cookie
    // off cross-site POSTs, so without this the hub would see no session and answer "signed
    // out" while the session lives on. A top-level GET carries the cookie.
    let https = state.auth.config().uses_https();
    if !confirmed && cookies::read(&headers, cookies::SESSION, https).is_none() {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for name in CARRIED {
            if let Ok(Some(value)) = form.single(name) {
                url.append_pair(name, value);
            }
        }
        return crate::pages::see_other(&format!("{}?{}", super::END_SESSION, url.finish()));
    }
    end_session(&state, &headers, form, confirmed).await
}

async fn end_session(
    state: &AppState,
    headers: &HeaderMap,
    params: TokenRequest,
    confirmed: bool,
) -> Response {
    let request = match read_request(&params) {
        Ok(request) => request,
        Err(err) => return error_page(StatusCode::BAD_REQUEST, &err),
    };
    let checked = match state.auth.check_end_session(&request).await {
        Ok(checked) => checked,
        Err(err) => return error_page(StatusCode::BAD_REQUEST, &err),
    };
    let https = state.auth.config().uses_https();
    let token = cookies::read(headers, cookies::SESSION, https);
    let session = match &token {
        Some(token) => state.auth.session_user(token).await.ok().flatten(),
        None => None,
    };
    if let (Some(session), Some(token)) = (&session, &token) {
        if !confirmed && checked.needs_confirmation(session) {
            let (browser, set_browser) = browser_id(state, headers);
            let csrf = state.auth.csrf_token(CONFIRM_FORM, &browser);
            let username = username_of(state, &session.user_id).await;
            let fields: Vec<(String, String)> = CARRIED
                .iter()
                .filter_map(|name| {
                    let value = params.single(name).ok().flatten()?;
                    Some((name.to_string(), value.to_string()))
                })
                .collect();
            let page = html(
                StatusCode::OK,
                &LogoutPage {
                    confirm: true,
                    client_name: checked.client_name.as_deref(),
                    username: &username,
                    action: super::END_SESSION,
                    fields: &fields,
                    csrf: &csrf,
                },
            );
            return with_cookies(page, &[set_browser]);
        }
        if let Err(err) = state.auth.end_session(token).await {
            return error_page(crate::errors::status_of(err.code), &err);
        }
        tracing::info!(user_id = %session.user_id, "session ended at the end-session endpoint");
    }
    let response = match &checked.redirect {
        Some(location) => super::browser::redirect(
            &Redirect {
                location: location.clone(),
                post: None,
            },
            StatusCode::SEE_OTHER,
        ),
        None => html(
            StatusCode::OK,
            &LogoutPage {
                confirm: false,
                client_name: checked.client_name.as_deref(),
                username: "",
                action: super::END_SESSION,
                fields: &[],
                csrf: "",
            },
        ),
    };
    // The cookie goes whatever it held: a stale or foreign one is no use either.
    let cleared = token.is_some().then(|| cleared_session_cookie(state));
    with_cookies(response, &[cleared])
}

/// The request's parameters, each at most once (RFC 6749 §3.1, as everywhere at the hub).
fn read_request(params: &TokenRequest) -> Result<EndSessionRequest, OAuthError> {
    let read = |name: &str| -> Result<Option<String>, OAuthError> {
        Ok(params.single(name)?.map(str::to_string))
    };
    Ok(EndSessionRequest {
        id_token_hint: read("id_token_hint")?,
        client_id: read("client_id")?,
        post_logout_redirect_uri: read("post_logout_redirect_uri")?,
        state: read("state")?,
    })
}
