//! TOTP second factors (RFC 6238): after the password, an enrolled user gives a code from
//! their authenticator app (or a recovery code) before any session exists.

use keyway_auth::totp;

use crate::browser::{Browser, Page, allow_and_redeem, authorize_url, pkce};
use crate::harness::{TestHub, on_every_backend};

const REDIRECT: &str = "http://127.0.0.1:9/cb";
const PASSWORD: &str = "correct horse battery";

/// RFC 4648 base32 (no padding) back to bytes: the secret as `keyway user totp enroll` prints it.
fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u64, 0);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        buffer = (buffer << 5) | u64::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// An enrolled alice: her secret and recovery codes.
async fn enrolled_alice(hub: &TestHub) -> (Vec<u8>, Vec<String>) {
    hub.user("alice", PASSWORD).await;
    let enrolment = hub.auth.enroll_totp("alice", false).await.unwrap();
    assert!(
        enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/keyway%20")
    );
    (
        base32_decode(&enrolment.secret),
        enrolment.recovery_codes.clone(),
    )
}

/// A SQLite hub with a code-flow client (its id) and an enrolled alice (secret, recovery codes).
async fn enrolled_hub() -> (TestHub, String, Vec<u8>, Vec<String>) {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (id, _) = hub
        .client(&["authorization_code"], "openid", &[REDIRECT])
        .await;
    let (secret, recovery) = enrolled_alice(&hub).await;
    (hub, id, secret, recovery)
}

/// Opens an authorization and posts the password: the page that answers.
async fn password_step(hub: &TestHub, browser: &mut Browser, client_id: &str) -> (Page, String) {
    let (verifier, challenge) = pkce();
    let login = browser
        .get(&authorize_url(
            hub, client_id, REDIRECT, "openid", &challenge,
        ))
        .await;
    let page = browser
        .post(
            &hub.url("/oauth2/login"),
            &[
                ("request_id", &login.field("request_id")),
                ("csrf", &login.field("csrf")),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    (page, verifier)
}

/// Posts a code on the second-step page.
async fn code_step(hub: &TestHub, browser: &mut Browser, page: &Page, code: &str) -> Page {
    browser
        .post(
            &hub.url("/oauth2/login"),
            &[
                ("request_id", &page.field("request_id")),
                ("csrf", &page.field("csrf")),
                ("ticket", &page.field("ticket")),
                ("code", code),
            ],
        )
        .await
}

fn now_code(hub: &TestHub, secret: &[u8]) -> String {
    use keyway_auth::Clock;
    totp::totp(secret, hub.clock.now_secs(), totp::DIGITS)
}

/// The password alone opens no session; the right code does, once; the ID token says both
/// factors were used (`amr`); a wrong code is refused on the same page.
#[tokio::test]
async fn an_enrolled_user_gives_a_code_after_the_password() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(&["authorization_code"], "openid", &[REDIRECT])
            .await;
        let (totp_secret, _) = enrolled_alice(hub).await;
        let mut browser = Browser::new();
        let (step, verifier) = password_step(hub, &mut browser, &id).await;
        assert_eq!(step.status, 200, "{}", step.body);
        assert!(step.body.contains("Enter your code"), "{}", step.body);
        assert!(
            step.cookie_attributes("keyway_session").is_none(),
            "no session yet"
        );
        assert_eq!(hub.count_rows("login_sessions").await, 0);

        let wrong = code_step(hub, &mut browser, &step, "000000").await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
        assert!(wrong.body.contains("not right"), "{}", wrong.body);
        let code = now_code(hub, &totp_secret);
        let consent = code_step(hub, &mut browser, &wrong, &code).await;
        let tokens = allow_and_redeem(
            hub,
            &mut browser,
            (&id, &secret),
            &consent,
            REDIRECT,
            &verifier,
        )
        .await;
        let claims = crate::client_credentials::verify_jwt_with_jwks(
            hub,
            tokens["id_token"].as_str().unwrap(),
            &id,
        )
        .await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
        let sessions = hub.auth.user_sessions("alice").await.unwrap();
        assert_eq!(sessions[0].login_method, "password+otp");
    })
    .await;
}

/// A code is good once (in another browser, the same code is refused until the next step);
/// one step of clock drift is accepted; a recovery code works once, typed in any case.
#[tokio::test]
async fn codes_and_recovery_codes_are_spent_once() {
    let (hub, id, totp_secret, recovery) = enrolled_hub().await;
    let code = now_code(&hub, &totp_secret);
    let mut first = Browser::new();
    let (step, _) = password_step(&hub, &mut first, &id).await;
    assert_eq!(code_step(&hub, &mut first, &step, &code).await.status, 200);

    let mut other = Browser::new();
    let (step, _) = password_step(&hub, &mut other, &id).await;
    let replay = code_step(&hub, &mut other, &step, &code).await;
    assert_eq!(replay.status, 401, "a spent code: {}", replay.body);
    // The next step's code, 20 s early: within the one step of drift allowed.
    hub.clock.advance_secs(10);
    use keyway_auth::Clock;
    let next = totp::totp(&totp_secret, hub.clock.now_secs() + 30, totp::DIGITS);
    assert_eq!(
        code_step(&hub, &mut other, &replay, &next).await.status,
        200
    );

    let mut third = Browser::new();
    let (step, _) = password_step(&hub, &mut third, &id).await;
    let typed = recovery[0].to_lowercase().replace('-', "");
    assert_eq!(code_step(&hub, &mut third, &step, &typed).await.status, 200);
    let mut fourth = Browser::new();
    let (step, _) = password_step(&hub, &mut fourth, &id).await;
    assert_eq!(
        code_step(&hub, &mut fourth, &step, &recovery[0])
            .await
            .status,
        401,
        "a used recovery code"
    );
    hub.finish().await;
}

/// Guessing codes is throttled like guessing passwords; a ticket from another browser, or an
/// old one, leads back to the password form; an unenrolled user is not asked.
#[tokio::test]
async fn the_second_step_cannot_be_guessed_or_moved() {
    let (hub, id, totp_secret, _) = enrolled_hub().await;
    let mut browser = Browser::new();
    let (mut page, _) = password_step(&hub, &mut browser, &id).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        page = code_step(&hub, &mut browser, &page, "123456").await;
        statuses.push(page.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(page.retry_after.is_some());

    // Another browser with this browser's ticket: its cookie does not match.
    hub.clock.advance_secs(3600);
    let mut own = Browser::new();
    let (step, _) = password_step(&hub, &mut own, &id).await;
    let mut thief = Browser::new();
    let _ = thief.get(&hub.url("/login")).await; // a browser cookie of its own
    let stolen = code_step(&hub, &mut thief, &step, &now_code(&hub, &totp_secret)).await;
    assert_ne!(stolen.status, 200, "{}", stolen.body);
    assert!(
        stolen
            .set_cookies
            .iter()
            .all(|c| !c.starts_with("keyway_session="))
    );

    hub.clock.advance_secs(301);
    let late = code_step(&hub, &mut own, &step, &now_code(&hub, &totp_secret)).await;
    assert_eq!(late.status, 401, "{}", late.body);
    assert!(late.body.contains("sign in again"), "{}", late.body);

    hub.auth.remove_totp("alice").await.unwrap();
    let (plain, _) = password_step(&hub, &mut Browser::new(), &id).await;
    assert!(
        plain.body.contains("decision"),
        "no code asked: {}",
        plain.body
    );
    hub.finish().await;
}

/// The hub's own sign-in page asks for the code too: a password alone never opens a session
/// that an authorization could then use.
#[tokio::test]
async fn the_hub_sign_in_page_asks_for_the_code_too() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (totp_secret, _) = enrolled_alice(&hub).await;
    let mut browser = Browser::new();
    let form = browser.get(&hub.url("/login?next=/activity")).await;
    let step = browser
        .post(
            &hub.url("/login"),
            &[
                ("csrf", &form.field("csrf")),
                ("next", "/activity"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("Enter your code"), "{}", step.body);
    assert_eq!(hub.count_rows("login_sessions").await, 0);
    let done = browser
        .post(
            &hub.url("/login"),
            &[
                ("csrf", &step.field("csrf")),
                ("next", &step.field("next")),
                ("ticket", &step.field("ticket")),
                ("code", &now_code(&hub, &totp_secret)),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/activity"));
    assert_eq!(hub.count_rows("login_sessions").await, 1);
    hub.finish().await;
}

/// A client registered with `require_mfa`: a user without a second factor is told why they
/// cannot sign in to it; an enrolled one gives the code; a password-only session of another
/// client does not count for it; ID tokens say the level (`acr` 1 or 2), and `acr_values=2`
/// makes a one-factor session sign in again.
#[tokio::test]
async fn a_client_that_requires_a_second_factor_gets_one() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (plain_id, plain_secret) = hub
        .client(&["authorization_code"], "openid", &[REDIRECT])
        .await;
    let (strict_id, _) = hub
        .client_with_policy(
            &["authorization_code"],
            "openid",
            &[REDIRECT],
            keyway_auth::ClientPolicy {
                require_mfa: true,
                ..keyway_auth::ClientPolicy::default()
            },
        )
        .await;
    hub.user("bob", PASSWORD).await;
    let mut browser = Browser::new();
    let (_, challenge) = pkce();
    let login = browser
        .get(&authorize_url(
            &hub, &strict_id, REDIRECT, "openid", &challenge,
        ))
        .await;
    let refused = browser
        .post(
            &hub.url("/oauth2/login"),
            &[
                ("request_id", &login.field("request_id")),
                ("csrf", &login.field("csrf")),
                ("username", "bob"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("requires a second factor"),
        "{}",
        refused.body
    );
    assert_eq!(hub.count_rows("login_sessions").await, 0);

    // Alice signs in to the plain client with her password alone (she is not enrolled yet)…
    hub.user("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let (page, verifier) = password_step(&hub, &mut browser, &plain_id).await;
    let tokens = allow_and_redeem(
        &hub,
        &mut browser,
        (&plain_id, &plain_secret),
        &page,
        REDIRECT,
        &verifier,
    )
    .await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = crate::client_credentials::verify_jwt_with_jwks(&hub, id_token, &plain_id).await;
    assert_eq!(claims["acr"], "1");
    // …and that session does not count for the strict client, nor for acr_values=2.
    let (_, challenge) = pkce();
    let strict = browser
        .get(&authorize_url(
            &hub, &strict_id, REDIRECT, "openid", &challenge,
        ))
        .await;
    assert_eq!(
        strict.status, 200,
        "the login page, not a code: {:?}",
        strict.location
    );
    assert!(strict.body.contains("action=\"/oauth2/login\""));
    let (_, challenge) = pkce();
    let level_two = format!(
        "{}&acr_values=2",
        authorize_url(&hub, &plain_id, REDIRECT, "openid", &challenge)
    );
    assert_eq!(browser.get(&level_two).await.status, 200);
    let (_, challenge) = pkce();
    let level_one = format!(
        "{}&acr_values=1",
        authorize_url(&hub, &plain_id, REDIRECT, "openid", &challenge)
    );
    assert_eq!(
        browser.get(&level_one).await.status,
        302,
        "a level-1 session does"
    );

    let (totp_secret, _) = {
        let enrolment = hub.auth.enroll_totp("alice", false).await.unwrap();
        (base32_decode(&enrolment.secret), ())
    };
    let (step, _) = password_step(&hub, &mut browser, &strict_id).await;
    assert!(step.body.contains("Enter your code"), "{}", step.body);
    let consent = code_step(&hub, &mut browser, &step, &now_code(&hub, &totp_secret)).await;
    assert!(consent.body.contains("decision"), "{}", consent.body);
    hub.finish().await;
}

/// Self-enrolment: a signed-in person opens /account/second-factor, scans the QR code (the
/// secret is on the page too), confirms with a code and gets recovery codes once; the next
/// sign-in asks for a code; a wrong confirmation code stores nothing.
#[tokio::test]
async fn a_signed_in_person_turns_on_a_second_factor() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    hub.user("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let away = browser.get(&hub.url("/account/second-factor")).await;
    assert_eq!(away.status, 303);
    assert_eq!(
        away.location.as_deref(),
        Some("/login?next=/account/second-factor")
    );
    let form = browser
        .get(&hub.url("/login?next=/account/second-factor"))
        .await;
    let signed_in = browser
        .post(
            &hub.url("/login"),
            &[
                ("csrf", &form.field("csrf")),
                ("next", "/account/second-factor"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    let page = browser.get(&hub.url("/account/second-factor")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code: {}", page.body);
    let marker = "<code id=\"secret\">";
    let start = page.body.find(marker).unwrap() + marker.len();
    let secret = &page.body[start..start + page.body[start..].find('<').unwrap()];
    let secret = base32_decode(secret);

    let wrong = browser
        .post(
            &hub.url("/account/second-factor"),
            &[
                ("csrf", &page.field("csrf")),
                ("ticket", &page.field("ticket")),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(hub.count_rows("user_totp").await, 0);
    let done = browser
        .post(
            &hub.url("/account/second-factor"),
            &[
                ("csrf", &page.field("csrf")),
                ("ticket", &page.field("ticket")),
                ("code", &now_code(&hub, &secret)),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body.matches("<li><code>").count(), 10, "{}", done.body);
    assert_eq!(hub.count_rows("user_totp").await, 1);
    // Every session ended with the enrolment, this one too: sign in again, with a code.
    assert_eq!(hub.count_rows("login_sessions").await, 0);
    let again = browser.get(&hub.url("/account/second-factor")).await;
    assert_eq!(again.status, 303);

    // The code used to confirm is spent: the next sign-in needs the next one.
    let (id, _) = hub
        .client(&["authorization_code"], "openid", &[REDIRECT])
        .await;
    let mut fresh = Browser::new();
    let (step, _) = password_step(&hub, &mut fresh, &id).await;
    assert!(step.body.contains("Enter your code"));
    let replay = code_step(&hub, &mut fresh, &step, &now_code(&hub, &secret)).await;
    assert_eq!(replay.status, 401);
    hub.finish().await;
}

/// Removing a factor ends the sessions signed in with it: they would otherwise go on passing
/// for two-factor sessions.
#[tokio::test]
async fn removing_the_factor_ends_its_sessions() {
    let (hub, id, totp_secret, _) = enrolled_hub().await;
    let mut browser = Browser::new();
    let (step, _) = password_step(&hub, &mut browser, &id).await;
    let consent = code_step(&hub, &mut browser, &step, &now_code(&hub, &totp_secret)).await;
    assert!(consent.body.contains("decision"));
    assert_eq!(hub.count_rows("login_sessions").await, 1);
    assert_eq!(hub.auth.totp_status("alice").await.unwrap(), Some(10));
    hub.auth.remove_totp("alice").await.unwrap();
    assert_eq!(hub.count_rows("login_sessions").await, 0);
    assert_eq!(hub.auth.totp_status("alice").await.unwrap(), None);
    hub.finish().await;
}

/// Turning a factor on needs a recent sign-in: a session older than 5 minutes (a stolen one,
/// say) is sent to sign in again first.
#[tokio::test]
async fn enrolment_needs_a_recent_sign_in() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    hub.user("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let form = browser.get(&hub.url("/login")).await;
    let signed_in = browser
        .post(
            &hub.url("/login"),
            &[
                ("csrf", &form.field("csrf")),
                ("next", "/"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(
        browser.get(&hub.url("/account/second-factor")).await.status,
        200
    );
    hub.clock.advance_secs(301);
    let stale = browser.get(&hub.url("/account/second-factor")).await;
    assert_eq!(stale.status, 303);
    assert_eq!(
        stale.location.as_deref(),
        Some("/login?next=/account/second-factor")
    );
    hub.finish().await;
}

/// Alice enrolled in TOTP, past her password: her secret, her record and the ticket of her
/// second step.
async fn alice_at_her_second_step(hub: &TestHub) -> (Vec<u8>, keyway_store::UserRecord, String) {
    let (totp_secret, _) = enrolled_alice(hub).await;
    let user = hub
        .auth
        .store()
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    let ticket = hub
        .auth
        .second_factor_ticket(&user, "purpose", "browser")
        .await
        .unwrap();
    (totp_secret, user, ticket)
}

/// `count` wrong codes for `ticket` from as many addresses, at each of `hubs` in turn: each is
/// refused.
async fn wrong_codes(hubs: &[&TestHub], ticket: &str, count: usize) {
    for i in 0..count {
        let hub = hubs[i % hubs.len()];
        let address = format!("10.0.{i}.1");
        let outcome = hub
            .auth
            .check_second_factor(ticket, "purpose", "browser", "000000", &address)
            .await
            .unwrap();
        assert!(
            matches!(outcome, keyway_auth::SecondFactor::Refused),
            "{}: {outcome:?}",
            hub.backend
        );
    }
}

/// Someone holding the password cannot spread code guesses over many addresses: after 10
/// wrong codes in 15 minutes the account takes no code at all, from anywhere, until the
/// window ends; a new password voids tickets issued before it.
#[tokio::test]
async fn code_guesses_are_limited_per_account() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (totp_secret, user, ticket) = alice_at_her_second_step(&hub).await;
    wrong_codes(&[&hub], &ticket, 10).await;
    let right = now_code(&hub, &totp_secret);
    let locked = hub
        .auth
        .check_second_factor(&ticket, "purpose", "browser", &right, "10.9.9.9")
        .await
        .unwrap();
    assert!(
        matches!(locked, keyway_auth::SecondFactor::Throttled { .. }),
        "{locked:?}"
    );
    hub.clock.advance_secs(901);
    let ticket = hub
        .auth
        .second_factor_ticket(&user, "purpose", "browser")
        .await
        .unwrap();
    hub.auth
        .set_password(
            "alice",
            &keyway_auth::SecretString::new("another long password".into()),
            false,
        )
        .await
        .unwrap();
    let voided = hub
        .auth
        .check_second_factor(
            &ticket,
            "purpose",
            "browser",
            &now_code(&hub, &totp_secret),
            "10.9.9.9",
        )
        .await
        .unwrap();
    assert!(
        matches!(voided, keyway_auth::SecondFactor::Expired),
        "{voided:?}"
    );
    hub.finish().await;
}

/// The per-account budget of wrong codes holds across the nodes of a cluster: guesses spread
/// over two nodes lock the account at both.
#[tokio::test]
async fn code_guesses_are_limited_across_the_nodes() {
    crate::harness::on_two_nodes(async |one: &TestHub, two: &TestHub| {
        let label = one.backend.clone();
        let (totp_secret, _, ticket) = alice_at_her_second_step(one).await;
        wrong_codes(&[one, two], &ticket, 10).await;
        let right = now_code(one, &totp_secret);
        for node in [&one, &two] {
            let locked = node
                .auth
                .check_second_factor(&ticket, "purpose", "browser", &right, "10.9.9.9")
                .await
                .unwrap();
            assert!(
                matches!(locked, keyway_auth::SecondFactor::Throttled { .. }),
                "{label}: {locked:?}"
            );
        }
    })
    .await;
}
