//! Passkeys (WebAuthn) through the hub's pages, answered by a software authenticator: a
//! person registers one after signing in, then signs in with it alone or after the password;
//! answers from another origin or RP ID, replayed answers, a counter that goes back and
//! foreign credentials are refused with a reason and change nothing.

use serde_json::{Value, json};

use crate::browser::{Browser, Page, allow_and_redeem, authorize_url, pkce};
use crate::harness::{TestHub, on_every_backend_with};
use crate::logout::claims_of;
use crate::soft_authenticator::SoftAuthenticator;

const REDIRECT: &str = "http://127.0.0.1:9/cb";
const PASSWORD: &str = "correct horse battery";

/// Browsers refuse IP addresses as RP IDs: these hubs are issuers under `localhost`.
fn localhost_issuer(config: &mut keyway_auth::AuthConfig) {
    config.issuer = config.issuer.replace("127.0.0.1", "localhost");
}

fn origin(hub: &TestHub) -> String {
    hub.auth.config().issuer.clone()
}

/// Signs in at the hub's own page with a password.
async fn password_sign_in(hub: &TestHub, browser: &mut Browser, username: &str) -> Page {
    let form = browser.get(&hub.url("/login?next=/account/passkeys")).await;
    browser
        .post(
            &hub.url("/login"),
            &[
                ("next", "/account/passkeys"),
                ("csrf", &form.field("csrf")),
                ("username", username),
                ("password", PASSWORD),
            ],
        )
        .await
}

/// Asks for a ceremony's options as `/passkeys.js` does: (status, JSON).
async fn ceremony_options(
    hub: &TestHub,
    browser: &mut Browser,
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let page = browser.post(&hub.url("/passkeys/options"), fields).await;
    let body = serde_json::from_str(&page.body)
        .unwrap_or_else(|e| panic!("options are not JSON ({e}): {}", page.body));
    (page.status, body)
}

/// Registers `authenticator` for the signed-in person of `browser`: the page that answers.
async fn add_passkey(
    hub: &TestHub,
    browser: &mut Browser,
    authenticator: &mut SoftAuthenticator,
    name: &str,
) -> Page {
    let page = browser.get(&hub.url("/account/passkeys")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.field("csrf");
    let (status, options) = ceremony_options(
        hub,
        browser,
        &[("purpose", "hub:passkeys"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 200, "{options}");
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost", "{options}");
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"], "preferred",
        "{options}"
    );
    let answer = authenticator.create(&options);
    browser
        .post(
            &hub.url("/account/passkeys"),
            &[
                ("csrf", &csrf),
                ("action", "add"),
                ("passkey_ceremony", options["ceremony"].as_str().unwrap()),
                ("passkey_response", &answer),
                ("name", name),
            ],
        )
        .await
}

/// A user `name` with a registered passkey (the page that answered the registration).
async fn user_with_passkey(hub: &TestHub, name: &str) -> (SoftAuthenticator, Page) {
    hub.user(name, PASSWORD).await;
    let mut browser = Browser::new();
    let signed_in = password_sign_in(hub, &mut browser, name).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let mut authenticator = SoftAuthenticator::new(&origin(hub));
    let added = add_passkey(hub, &mut browser, &mut authenticator, "laptop").await;
    (authenticator, added)
}

/// An authorization's login page, and the PKCE verifier.
async fn login_page(hub: &TestHub, browser: &mut Browser, client_id: &str) -> (Page, String) {
    let (verifier, challenge) = pkce();
    let page = browser
        .get(&authorize_url(
            hub, client_id, REDIRECT, "openid", &challenge,
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    (page, verifier)
}

/// A code-flow client, alice with a registered passkey, and a fresh browser on the client's
/// login page.
struct Alice {
    client: (String, String),
    authenticator: SoftAuthenticator,
    browser: Browser,
    page: Page,
    verifier: String,
}

async fn alice_on_a_login_page(hub: &TestHub) -> Alice {
    let client = hub
        .client(&["authorization_code"], "openid", &[REDIRECT])
        .await;
    let (authenticator, _) = user_with_passkey(hub, "alice").await;
    let mut browser = Browser::new();
    let (page, verifier) = login_page(hub, &mut browser, &client.0).await;
    Alice {
        client,
        authenticator,
        browser,
        page,
        verifier,
    }
}

/// A passwordless sign-in on an authorization's login page: (options, the answer posted).
async fn passkey_on_login_page(
    hub: &TestHub,
    browser: &mut Browser,
    page: &Page,
    authenticator: &mut SoftAuthenticator,
) -> (Value, String, Page) {
    let (request_id, csrf) = (page.field("request_id"), page.field("csrf"));
    let (status, options) =
        ceremony_options(hub, browser, &[("purpose", &request_id), ("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{options}");
    assert_eq!(
        options["publicKey"]["allowCredentials"],
        json!([]),
        "a passwordless sign-in names no credential: {options}"
    );
    let answer = authenticator.get(&options);
    let posted = post_answer(hub, browser, &request_id, &csrf, &options, &answer).await;
    (options, answer, posted)
}

async fn post_answer(
    hub: &TestHub,
    browser: &mut Browser,
    request_id: &str,
    csrf: &str,
    options: &Value,
    answer: &str,
) -> Page {
    browser
        .post(
            &hub.url("/oauth2/login"),
            &[
                ("request_id", request_id),
                ("csrf", csrf),
                ("passkey_ceremony", options["ceremony"].as_str().unwrap()),
                ("passkey_response", answer),
            ],
        )
        .await
}

/// Alice's password on an authorization's login page: the second step's page (which asks
/// for her passkey) and the options of its passkey ceremony.
async fn alice_password_step(hub: &TestHub, browser: &mut Browser, page: &Page) -> (Page, Value) {
    let step = browser
        .post(
            &hub.url("/oauth2/login"),
            &[
                ("request_id", &page.field("request_id")),
                ("csrf", &page.field("csrf")),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("Use your passkey"), "{}", step.body);
    let (status, options) = ceremony_options(
        hub,
        browser,
        &[
            ("purpose", &step.field("request_id")),
            ("csrf", &step.field("csrf")),
            ("ticket", &step.field("ticket")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{options}");
    (step, options)
}

/// Posts a passkey's answer on the second step's page.
async fn answer_second_step(
    hub: &TestHub,
    browser: &mut Browser,
    step: &Page,
    options: &Value,
    answer: &str,
) -> Page {
    browser
        .post(
            &hub.url("/oauth2/login"),
            &[
                ("request_id", &step.field("request_id")),
                ("csrf", &step.field("csrf")),
                ("ticket", &step.field("ticket")),
                ("passkey_ceremony", options["ceremony"].as_str().unwrap()),
                ("passkey_response", answer),
            ],
        )
        .await
}

/// Allows the consent page and redeems the code: the ID token's claims.
async fn consent_and_id_token(
    hub: &TestHub,
    browser: &mut Browser,
    client: (&str, &str),
    consent: &Page,
    verifier: &str,
) -> Value {
    let tokens = allow_and_redeem(hub, browser, client, consent, REDIRECT, verifier).await;
    claims_of(tokens["id_token"].as_str().unwrap())
}

/// Register after a password sign-in (which ends the sessions: the first second factor),
/// then sign in with the passkey alone: `amr` `hwk mfa`, acr 2, the counter stored.
#[tokio::test]
async fn a_person_registers_a_passkey_and_signs_in_with_it_alone() {
    on_every_backend_with(localhost_issuer, async |hub: &TestHub| {
        let (id, secret) = hub
            .client(&["authorization_code"], "openid", &[REDIRECT])
            .await;
        let (mut authenticator, added) = user_with_passkey(hub, "alice").await;
        assert_eq!(added.status, 200, "{}", added.body);
        assert!(
            added.body.contains("signed out everywhere"),
            "{}",
            added.body
        );
        assert_eq!(hub.count_rows("login_sessions").await, 0);
        let listed = hub.auth.passkeys("alice").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "laptop");
        assert_eq!(listed[0].last_used_at, None);

        let mut browser = Browser::new();
        let (page, verifier) = login_page(hub, &mut browser, &id).await;
        assert!(
            page.body.contains("Sign in with a passkey"),
            "{}",
            page.body
        );
        let (_, _, consent) =
            passkey_on_login_page(hub, &mut browser, &page, &mut authenticator).await;
        let claims =
            consent_and_id_token(hub, &mut browser, (&id, &secret), &consent, &verifier).await;
        assert_eq!(claims["amr"], json!(["hwk", "mfa"]), "{claims}");
        assert_eq!(claims["acr"], "2", "{claims}");
        let sessions = hub.auth.user_sessions("alice").await.unwrap();
        assert_eq!(sessions[0].login_method, "passkey");
        let listed = hub.auth.passkeys("alice").await.unwrap();
        assert!(listed[0].last_used_at.is_some(), "{listed:?}");
    })
    .await;
}

/// With a passkey, a password alone is not enough: the second page asks for the passkey
/// (no code field without a TOTP enrolment), and the ID token names both factors.
#[tokio::test]
async fn a_passkey_is_the_second_step_after_a_password() {
    on_every_backend_with(localhost_issuer, async |hub: &TestHub| {
        let Alice {
            client: (id, secret),
            mut authenticator,
            mut browser,
            page,
            verifier,
        } = alice_on_a_login_page(hub).await;
        let (step, options) = alice_password_step(hub, &mut browser, &page).await;
        assert!(!step.body.contains("name=\"code\""), "{}", step.body);
        assert_eq!(hub.count_rows("login_sessions").await, 0, "no session yet");
        let allowed = options["publicKey"]["allowCredentials"][0]["id"].clone();
        assert_eq!(
            allowed,
            json!(hub.auth.passkeys("alice").await.unwrap()[0].id),
            "the account's own credential is named: {options}"
        );
        let answer = authenticator.get(&options);
        let consent = answer_second_step(hub, &mut browser, &step, &options, &answer).await;
        let claims =
            consent_and_id_token(hub, &mut browser, (&id, &secret), &consent, &verifier).await;
        assert_eq!(claims["amr"], json!(["pwd", "hwk", "mfa"]), "{claims}");
    })
    .await;
}

/// Wrong origin, wrong RP ID, a replayed answer, a counter that goes back (a cloned
/// authenticator), a credential the hub does not know, another browser's ceremony: each is
/// refused on the login page with its reason, and no session is opened.
#[tokio::test]
async fn bad_passkey_answers_are_refused_with_a_reason() {
    on_every_backend_with(localhost_issuer, async |hub: &TestHub| {
        let Alice {
            client: (id, _),
            mut authenticator,
            mut browser,
            page,
            verifier: _,
        } = alice_on_a_login_page(hub).await;
        let (request_id, csrf) = (page.field("request_id"), page.field("csrf"));
        let refused = async |browser: &mut Browser, answer: &str, options: &Value, why: &str| {
            let page = post_answer(hub, browser, &request_id, &csrf, options, answer).await;
            assert_eq!(page.status, 401, "{}", page.body);
            assert!(
                page.body.contains(why),
                "expected {why:?} in:\n{}",
                page.body
            );
            assert_eq!(hub.count_rows("login_sessions").await, 0);
        };
        let fresh = async |browser: &mut Browser| {
            ceremony_options(hub, browser, &[("purpose", &request_id), ("csrf", &csrf)])
                .await
                .1
        };

        // A phishing site's origin.
        let options = fresh(&mut browser).await;
        authenticator.origin = "http://localhost.evil.example:8080".into();
        let answer = authenticator.get(&options);
        refused(&mut browser, &answer, &options, "answered for another site").await;
        authenticator.origin = origin(hub);

        // A credential scoped to another RP ID.
        let options = fresh(&mut browser).await;
        authenticator.rp_id = "evil.example".into();
        let answer = authenticator.get(&options);
        refused(&mut browser, &answer, &options, "made for another site").await;
        authenticator.rp_id = "localhost".into();

        // No user verification.
        let options = fresh(&mut browser).await;
        authenticator.verifies_user = false;
        let answer = authenticator.get(&options);
        refused(&mut browser, &answer, &options, "did not verify you").await;
        authenticator.verifies_user = true;

        // An answer to the options of another browser.
        let mut other = Browser::new();
        let (other_page, _) = login_page(hub, &mut other, &id).await;
        let (_, foreign) = ceremony_options(
            hub,
            &mut other,
            &[
                ("purpose", &other_page.field("request_id")),
                ("csrf", &other_page.field("csrf")),
            ],
        )
        .await;
        let answer = authenticator.get(&foreign);
        refused(&mut browser, &answer, &foreign, "sign in again").await;

        // A good answer works once; the same answer again is a replay.
        let options = fresh(&mut browser).await;
        let answer = authenticator.get(&options);
        let mut replayer = Browser::new();
        // Another tab of the same browser (same browser cookie, no session).
        replayer.set_cookie("keyway_browser", browser.cookie("keyway_browser").unwrap());
        let accepted = post_answer(hub, &mut browser, &request_id, &csrf, &options, &answer).await;
        assert_eq!(accepted.status, 200, "{}", accepted.body);
        let page = post_answer(hub, &mut replayer, &request_id, &csrf, &options, &answer).await;
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(page.body.contains("used already"), "{}", page.body);

        // A counter at or below the stored one: a copy of the authenticator.
        let mut browser = Browser::new();
        let (page, _) = login_page(hub, &mut browser, &id).await;
        let (request_id, csrf) = (page.field("request_id"), page.field("csrf"));
        let (_, options) = ceremony_options(
            hub,
            &mut browser,
            &[("purpose", &request_id), ("csrf", &csrf)],
        )
        .await;
        authenticator.counter -= 2;
        let answer = authenticator.get(&options);
        let page = post_answer(hub, &mut browser, &request_id, &csrf, &options, &answer).await;
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(page.body.contains("may have been copied"), "{}", page.body);
        // …and it stays refused, whatever counter comes next (the copy could jump ahead), and
        // the sessions it may have opened are gone.
        let listed = hub.auth.passkeys("alice").await.unwrap();
        assert!(listed[0].compromised_at.is_some(), "{listed:?}");
        assert!(hub.auth.user_sessions("alice").await.unwrap().is_empty());
        authenticator.counter += 1000;
        let (_, options) = ceremony_options(
            hub,
            &mut browser,
            &[("purpose", &request_id), ("csrf", &csrf)],
        )
        .await;
        let answer = authenticator.get(&options);
        let page = post_answer(hub, &mut browser, &request_id, &csrf, &options, &answer).await;
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(
            page.body.contains("has been refused since"),
            "{}",
            page.body
        );

        // A credential registered nowhere here.
        let (_, options) = ceremony_options(
            hub,
            &mut browser,
            &[("purpose", &request_id), ("csrf", &csrf)],
        )
        .await;
        let mut stranger = SoftAuthenticator::new(&origin(hub));
        stranger.user_handle = authenticator.user_handle.clone();
        let answer = stranger.get(&options);
        let page = post_answer(hub, &mut browser, &request_id, &csrf, &options, &answer).await;
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(
            page.body.contains("not registered at this hub"),
            "{}",
            page.body
        );

        // Garbage.
        let page = post_answer(hub, &mut browser, &request_id, &csrf, &options, "{").await;
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(page.body.contains("does not parse"), "{}", page.body);
    })
    .await;
}

/// Bob's passkey cannot be Alice's second factor; a passkey registered once cannot be
/// registered again (to anyone); removing one ends the sessions; an IP-address issuer says
/// why it cannot offer passkeys.
#[tokio::test]
async fn passkeys_belong_to_one_account() {
    on_every_backend_with(localhost_issuer, async |hub: &TestHub| {
        let (id, _) = hub
            .client(&["authorization_code"], "openid", &[REDIRECT])
            .await;
        let (_, _) = user_with_passkey(hub, "alice").await;
        let (mut bobs, _) = user_with_passkey(hub, "bob").await;

        let mut browser = Browser::new();
        let (page, _) = login_page(hub, &mut browser, &id).await;
        let (step, options) = alice_password_step(hub, &mut browser, &page).await;
        let answer = bobs.get(&options);
        let refused = answer_second_step(hub, &mut browser, &step, &options, &answer).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert!(
            refused.body.contains("belongs to another account"),
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains("Use your passkey"),
            "still the second step"
        );

        // Bob's authenticator registered a second time: refused, nothing written.
        let mut browser = Browser::new();
        password_sign_in_with_passkey(hub, &mut browser, &mut bobs, "bob").await;
        let again = add_passkey(hub, &mut browser, &mut bobs, "twice").await;
        assert_eq!(again.status, 400, "{}", again.body);
        assert_eq!(hub.count_rows("passkeys").await, 2);

        // Removing it (the account page) ends Bob's sessions.
        let removed = browser
            .post(
                &hub.url("/account/passkeys"),
                &[
                    ("csrf", &again.field("csrf")),
                    ("action", "remove"),
                    ("id", &hub.auth.passkeys("bob").await.unwrap()[0].id),
                ],
            )
            .await;
        assert_eq!(removed.status, 200, "{}", removed.body);
        assert!(
            removed.body.contains("signed out everywhere"),
            "{}",
            removed.body
        );
        assert!(hub.auth.passkeys("bob").await.unwrap().is_empty());
        assert!(hub.auth.user_sessions("bob").await.unwrap().is_empty());
        // The administrator removes Alice's by name.
        let gone = hub.auth.remove_passkey("alice", "laptop").await.unwrap();
        assert_eq!(gone.name, "laptop");
        assert!(hub.auth.remove_passkey("alice", "laptop").await.is_err());
    })
    .await;
}

/// Bob signs in at the hub's page with his password and passkey (a recent sign-in, for the
/// account page).
async fn password_sign_in_with_passkey(
    hub: &TestHub,
    browser: &mut Browser,
    authenticator: &mut SoftAuthenticator,
    username: &str,
) {
    let step = password_sign_in(hub, browser, username).await;
    assert_eq!(step.status, 200, "{}", step.body);
    let (csrf, ticket) = (step.field("csrf"), step.field("ticket"));
    let (_, options) = ceremony_options(
        hub,
        browser,
        &[
            ("purpose", "hub:login"),
            ("csrf", &csrf),
            ("ticket", &ticket),
        ],
    )
    .await;
    let answer = authenticator.get(&options);
    let done = browser
        .post(
            &hub.url("/login"),
            &[
                ("next", "/account/passkeys"),
                ("csrf", &csrf),
                ("ticket", &ticket),
                ("passkey_ceremony", options["ceremony"].as_str().unwrap()),
                ("passkey_response", &answer),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
}

/// A hub whose issuer is an IP address offers no passkey button and says why on the account
/// page; asking for options anyway is refused with that reason.
#[tokio::test]
async fn an_ip_address_issuer_explains_why_there_are_no_passkeys() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    hub.user("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let form = browser.get(&hub.url("/login")).await;
    assert!(!form.body.contains("passkey"), "{}", form.body);
    let signed_in = password_sign_in(&hub, &mut browser, "alice").await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let page = browser.get(&hub.url("/account/passkeys")).await;
    assert!(page.body.contains("IP address"), "{}", page.body);
    let (status, body) = ceremony_options(
        &hub,
        &mut browser,
        &[("purpose", "hub:login"), ("csrf", &form.field("csrf"))],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("--issuer http://localhost:"),
        "{body}"
    );
    hub.finish().await;
}

/// Registration refuses credential ids over WebAuthn's 1023 bytes (they would swell every
/// later ceremony) and answers whose `id` is not their `rawId`; sign-in refuses the latter too.
#[tokio::test]
async fn oversized_or_inconsistent_credential_ids_are_refused() {
    on_every_backend_with(localhost_issuer, async |hub: &TestHub| {
        hub.user("alice", PASSWORD).await;
        let mut browser = Browser::new();
        assert_eq!(
            password_sign_in(hub, &mut browser, "alice").await.status,
            303
        );
        let mut long = SoftAuthenticator::new(&origin(hub));
        long.credential_id = vec![7u8; 1024];
        let page = add_passkey(hub, &mut browser, &mut long, "long").await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.body.contains("at most 1023"), "{}", page.body);

        let mut liar = SoftAuthenticator::new(&origin(hub));
        let page = browser.get(&hub.url("/account/passkeys")).await;
        let csrf = page.field("csrf");
        let (_, options) = ceremony_options(
            hub,
            &mut browser,
            &[("purpose", "hub:passkeys"), ("csrf", &csrf)],
        )
        .await;
        let mut answer: Value = serde_json::from_str(&liar.create(&options)).unwrap();
        answer["id"] = json!("c29tZW9uZSBlbHNl");
        let page = browser
            .post(
                &hub.url("/account/passkeys"),
                &[
                    ("csrf", &csrf),
                    ("action", "add"),
                    ("passkey_ceremony", options["ceremony"].as_str().unwrap()),
                    ("passkey_response", &answer.to_string()),
                ],
            )
            .await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.body.contains("id and rawId differ"), "{}", page.body);
        assert_eq!(hub.count_rows("passkeys").await, 0);
    })
    .await;
}

/// Answers that fail to verify count per credential and address only: they neither lock the
/// account's password sign-in nor its codes (a signature cannot be guessed, and whoever
/// learnt a credential id must not be able to lock its owner out).
#[tokio::test]
async fn forged_answers_do_not_lock_the_account() {
    on_every_backend_with(localhost_issuer, async |hub: &TestHub| {
        let Alice {
            client: (id, _),
            authenticator: real,
            mut browser,
            page,
            verifier: _,
        } = alice_on_a_login_page(hub).await;
        let (request_id, csrf) = (page.field("request_id"), page.field("csrf"));
        // Alice's credential id and user handle, someone else's key.
        let mut forger = SoftAuthenticator::new(&origin(hub));
        forger.credential_id = real.credential_id.clone();
        forger.user_handle = real.user_handle.clone();
        let mut throttled = 0;
        for _ in 0..12 {
            let (_, options) = ceremony_options(
                hub,
                &mut browser,
                &[("purpose", &request_id), ("csrf", &csrf)],
            )
            .await;
            let answer = forger.get(&options);
            let page = post_answer(hub, &mut browser, &request_id, &csrf, &options, &answer).await;
            match page.status {
                401 => assert!(page.body.contains("did not verify"), "{}", page.body),
                429 => throttled += 1,
                other => panic!("{other}: {}", page.body),
            }
        }
        assert!(throttled > 0, "forged answers are slowed down");
        assert!(
            hub.auth.passkeys("alice").await.unwrap()[0]
                .compromised_at
                .is_none()
        );
        // Alice's password still leads to her second step, from another browser.
        let mut other = Browser::new();
        let (page, _) = login_page(hub, &mut other, &id).await;
        let (step, _) = alice_password_step(hub, &mut other, &page).await;
        assert_eq!(step.status, 200);
    })
    .await;
}
