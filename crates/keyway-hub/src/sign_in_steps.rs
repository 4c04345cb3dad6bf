//! The steps both sign-in forms (`/oauth2/login` and the hub's `/login`) go through, whatever
//! the form around them:
//! - a password (`username`, `password`), then, for an account with a second factor, a second
//!   page carrying a sealed `ticket`;
//! - on that page a TOTP or recovery `code`, or a passkey (`passkey_ceremony`,
//!   `passkey_response`);
//! - or a passkey alone on the first page (no username typed).
//!
//! Refusals are counted and logged as wrong passwords are.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyway_auth::{LocalSignIn, OAuthError, SecondFactor, TokenRequest};
use keyway_store::UserRecord;

use crate::AppState;
use crate::pages::{PasskeyButton, SecondFactorPage, html, html_scripted};
use crate::session::SignInRefusal;

/// Where the passkey buttons ask for a ceremony's options.
pub(crate) const PASSKEY_OPTIONS: &str = "/passkeys/options";

/// A sign-in form: where it posts, what its anti-CSRF token is bound to (an authorization
/// request id or `hub:login`), and its own hidden fields (the second step adds `ticket`).
pub(crate) struct SignInForm<'a> {
    pub action: &'a str,
    pub purpose: &'a str,
    pub fields: Vec<(String, String)>,
}

/// Where a sign-in form stands after a post.
pub(crate) enum SignInStep {
    /// Signed in, with these factors.
    Done(UserRecord, LocalSignIn),
    /// The second step's page: after the right password, or again after a refused code or
    /// passkey (saying why).
    SecondStep(Response),
    /// The first page again, saying why.
    FirstStepRefused(SignInRefusal),
}

fn field<'a>(form: &'a TokenRequest, name: &str) -> &'a str {
    form.single(name).ok().flatten().unwrap_or_default()
}

/// Takes a post of the sign-in form `page` in `browser` one step on.
pub(crate) async fn sign_in_step(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: &TokenRequest,
    page: &SignInForm<'_>,
    browser: &str,
) -> Result<SignInStep, OAuthError> {
    let purpose = page.purpose;
    let second_step = async |ticket: &str, refusal: Option<&SignInRefusal>| {
        let mut fields = page.fields.clone();
        fields.push(("ticket".to_string(), ticket.to_string()));
        SignInStep::SecondStep(
            second_factor_page(state, page.action, purpose, browser, &fields, refusal).await,
        )
    };
    let address = state
        .trusted_proxies
        .client_address(peer, headers)
        .to_string();
    let passkey = !field(form, "passkey_response").is_empty();
    let ticket = form.single("ticket").ok().flatten();
    let outcome = match ticket {
        Some(ticket) if passkey => {
            state
                .auth
                .check_passkey_second_factor(
                    ticket,
                    field(form, "passkey_ceremony"),
                    purpose,
                    browser,
                    field(form, "passkey_response"),
                    &address,
                )
                .await?
        }
        Some(ticket) => {
            state
                .auth
                .check_second_factor(ticket, purpose, browser, field(form, "code"), &address)
                .await?
        }
        None if passkey => {
            state
                .auth
                .check_passkey_sign_in(
                    field(form, "passkey_ceremony"),
                    purpose,
                    browser,
                    field(form, "passkey_response"),
                    &address,
                )
                .await?
        }
        None => {
            let user = match crate::session::sign_in(state, peer, headers, form).await? {
                Ok(user) => user,
                Err(refusal) => return Ok(SignInStep::FirstStepRefused(refusal)),
            };
            if !state.auth.needs_second_factor(&user.user_id).await? {
                return Ok(SignInStep::Done(user, LocalSignIn::Password));
            }
            let ticket = state
                .auth
                .second_factor_ticket(&user, purpose, browser)
                .await?;
            return Ok(second_step(&ticket, None).await);
        }
    };
    Ok(match outcome {
        SecondFactor::Accepted(user, how) => SignInStep::Done(user, how),
        SecondFactor::Expired => SignInStep::FirstStepRefused(SignInRefusal {
            status: StatusCode::UNAUTHORIZED,
            message: "That took too long, or the page is stale: sign in again.".into(),
            retry_after_s: None,
        }),
        refused => {
            let refusal = refusal_of(&refused, &address);
            match ticket {
                Some(ticket) => second_step(ticket, Some(&refusal)).await,
                None => SignInStep::FirstStepRefused(refusal),
            }
        }
    })
}

/// What a refused code or passkey shows (and counts).
fn refusal_of(outcome: &SecondFactor, address: &str) -> SignInRefusal {
    match outcome {
        SecondFactor::Throttled { wait_ms } => {
            ::metrics::counter!("keyway_login_throttled_total").increment(1);
            tracing::warn!(%address, "second factor or passkey throttled");
            let seconds = (wait_ms + 999) / 1000;
            let unit = if seconds == 1 { "second" } else { "seconds" };
            SignInRefusal {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: format!("Too many failed attempts. Try again in {seconds} {unit}."),
                retry_after_s: Some(seconds),
            }
        }
        SecondFactor::PasskeyRefused(why) => {
            ::metrics::counter!("keyway_login_failures_total").increment(1);
            tracing::info!(%address, reason = %why, "passkey refused");
            let mut message = format!("The passkey was not accepted: {why}");
            if !message.ends_with('.') {
                message.push('.');
            }
            SignInRefusal {
                status: StatusCode::UNAUTHORIZED,
                message,
                retry_after_s: None,
            }
        }
        _ => {
            ::metrics::counter!("keyway_login_failures_total").increment(1);
            tracing::debug!(%address, "second step refused");
            SignInRefusal {
                status: StatusCode::UNAUTHORIZED,
                message: "That code is not right, or it was used already (a code from the app \
                          works once: wait for the next one; a recovery code works once)."
                    .into(),
                retry_after_s: None,
            }
        }
    }
}

/// The passkey button of a first sign-in page, when this hub can offer passkeys.
pub(crate) fn passkey_button<'a>(
    state: &AppState,
    action: &'a str,
    purpose: &'a str,
    fields: Vec<(String, String)>,
) -> Option<PasskeyButton<'a>> {
    state
        .auth
        .passkeys_unavailable()
        .is_none()
        .then_some(PasskeyButton {
            action,
            options: PASSKEY_OPTIONS,
            purpose,
            fields,
            label: "Sign in with a passkey",
            primary: false,
        })
}

/// The page of the second step: `fields` are the form's hidden fields, the ticket among
/// them; it offers the factors the ticket's account has.
async fn second_factor_page(
    state: &AppState,
    action: &str,
    purpose: &str,
    browser: &str,
    fields: &[(String, String)],
    refusal: Option<&SignInRefusal>,
) -> Response {
    let ticket = fields
        .iter()
        .find(|(name, _)| name == "ticket")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    let factors = state
        .auth
        .ticket_factors(ticket, purpose, browser)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let passkey =
        (factors.passkey && state.auth.passkeys_unavailable().is_none()).then(|| PasskeyButton {
            action,
            options: PASSKEY_OPTIONS,
            purpose,
            fields: fields.to_vec(),
            label: "Use your passkey",
            primary: true,
        });
    let status = refusal.map_or(StatusCode::OK, |r| r.status);
    let page = SecondFactorPage {
        action,
        fields,
        error: refusal.map(|r| r.message.as_str()),
        // Without a passkey the code field is the only way on (also for an old ticket).
        code: factors.code || passkey.is_none(),
        passkey,
    };
    let response = if page.passkey.is_some() {
        html_scripted(status, &page)
    } else {
        html(status, &page)
    };
    match refusal {
        Some(refusal) => refusal.mark(response),
        None => response,
    }
}
