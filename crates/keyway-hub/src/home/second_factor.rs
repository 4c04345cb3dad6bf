//! `/account/second-factor`: a signed-in person turns on a TOTP second factor themselves. GET
//! shows a new secret as a QR code (sealed into the form, keyway-auth `begin_totp_enrolment`);
//! POST with a code from the app stores it and shows the recovery codes once. Without a
//! session signed in within the last 5 minutes the browser goes to
//! `/login?next=/account/second-factor` first: a stolen session cannot add an attacker's app.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyway_auth::PendingEnrolment;

use super::{ACCOUNT_SECOND_FACTOR, SECOND_FACTOR_FORM, login_url};
use crate::AppState;
use crate::errors::status_of;
use crate::pages::{AccountFactorPage, AccountFactorState, error_page, html, see_other};
use crate::session::{browser_id, recent_session, username_of, with_cookies};

/// The QR code of an otpauth URI as inline SVG (no image request: the page's CSP allows none).
fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
    )
}

fn scan_page(
    status: StatusCode,
    username: &str,
    pending: &PendingEnrolment,
    csrf: &str,
    error: Option<&str>,
) -> Response {
    let Some(svg) = qr_svg(&pending.otpauth_uri) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &keyway_auth::OAuthError::server_error("the QR code could not be made"),
        );
    };
    html(
        status,
        &AccountFactorPage {
            username,
            action: ACCOUNT_SECOND_FACTOR,
            state: AccountFactorState::Scan {
                svg,
                secret: &pending.secret,
                ticket: &pending.ticket,
                csrf,
                error,
            },
        },
    )
}

/// GET /account/second-factor.
pub(super) async fn show(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(session) = recent_session(&state, &headers).await else {
        return see_other(&login_url(ACCOUNT_SECOND_FACTOR));
    };
    let (browser, set_browser) = browser_id(&state, &headers);
    let username = username_of(&state, &session.user_id).await;
    let page = match state
        .auth
        .begin_totp_enrolment(&session.user_id, &browser)
        .await
    {
        Ok(Some(pending)) => {
            let csrf = state.auth.csrf_token(SECOND_FACTOR_FORM, &browser);
            scan_page(StatusCode::OK, &username, &pending, &csrf, None)
        }
        Ok(None) => html(
            StatusCode::OK,
            &AccountFactorPage {
                username: &username,
                action: ACCOUNT_SECOND_FACTOR,
                state: AccountFactorState::Enrolled,
            },
        ),
        Err(err) => error_page(status_of(err.code), &err),
    };
    with_cookies(page, &[set_browser])
}

/// POST /account/second-factor: `ticket`, `code`, `csrf`.
pub(super) async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, browser, session) = match super::account_post(
        &state,
        &headers,
        &body,
        SECOND_FACTOR_FORM,
        ACCOUNT_SECOND_FACTOR,
    )
    .await
    {
        Ok(post) => post,
        Err(answer) => return answer,
    };
    let field = |name: &str| form.single(name).ok().flatten().unwrap_or_default();
    let username = username_of(&state, &session.user_id).await;
    match state
        .auth
        .finish_totp_enrolment(&session.user_id, field("ticket"), &browser, field("code"))
        .await
    {
        Ok(Some(codes)) => {
            tracing::info!(%username, "second factor turned on from the hub's page");
            // Every session of the person ended with the enrolment, this one too.
            let page = html(
                StatusCode::OK,
                &AccountFactorPage {
                    username: &username,
                    action: ACCOUNT_SECOND_FACTOR,
                    state: AccountFactorState::Done(codes),
                },
            );
            with_cookies(
                page,
                &[Some(crate::session::cleared_session_cookie(&state))],
            )
        }
        // A wrong code (or a stale page): a new secret to scan, and say why.
        Ok(None) => match state
            .auth
            .begin_totp_enrolment(&session.user_id, &browser)
            .await
        {
            Ok(Some(pending)) => {
                let csrf = state.auth.csrf_token(SECOND_FACTOR_FORM, &browser);
                scan_page(
                    StatusCode::UNAUTHORIZED,
                    &username,
                    &pending,
                    &csrf,
                    Some(
                        "That code did not match (or the page was too old): scan this new code and try again.",
                    ),
                )
            }
            Ok(None) => see_other(ACCOUNT_SECOND_FACTOR),
            Err(err) => error_page(status_of(err.code), &err),
        },
        Err(err) => error_page(status_of(err.code), &err),
    }
}
