//! Handing a signed-in user from client A to client B (`POST /oauth2/transmit`, then the
//! browser at `/oauth2/transmit/{state}`), on every backend.

use keyway_auth::{ClientPolicy, RulePurpose};

use crate::browser::{Browser, authorize_url, log_in_and_allow, pkce};
use crate::harness::{TestHub, code_exchange, on_every_backend, post_form};
use crate::logout::claims_of;

const A_CB: &str = "http://127.0.0.1:9/a/callback";
const B_CB: &str = "http://127.0.0.1:9/b/callback";
const B_TRANSMIT: &str = "http://127.0.0.1:9/b/from-elsewhere";
const PASSWORD: &str = "correct horse battery";

struct Apps {
    a: (String, String),
    b: (String, String),
    /// alice's browser, signed in at the hub.
    alice: Browser,
    alice_at_a: String,
}

async fn apps(hub: &TestHub) -> Apps {
    let a = hub
        .client(
            &["authorization_code"],
            "openid contact.read contact.write",
            &[A_CB],
        )
        .await;
    let b = hub
        .client_with_policy(
            &["authorization_code", "refresh_token"],
            "openid contact.read",
            &[B_CB],
            ClientPolicy {
                transmit_url: Some(B_TRANSMIT.into()),
                ..ClientPolicy::default()
            },
        )
        .await;
    hub.user("alice", PASSWORD).await;
    let mut alice = Browser::new();
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        hub,
        &a.0,
        A_CB,
        "openid contact.read contact.write",
        &challenge,
    );
    let done = log_in_and_allow(&mut alice, hub, &url, "alice", PASSWORD).await;
    let code = done.redirect_param("code").unwrap();
    let (status, tokens) = code_exchange(hub, (&a.0, &a.1), &code, A_CB, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    hub.auth
        .allow_client(
            &a.0,
            &b.0,
            RulePurpose::Transmit,
            Some("openid contact.read"),
        )
        .await
        .unwrap();
    Apps {
        a,
        b,
        alice,
        alice_at_a: tokens["access_token"].as_str().unwrap().to_string(),
    }
}

async fn transmit(hub: &TestHub, apps: &Apps, extra: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("to", apps.b.0.as_str()),
        ("subject_token", &apps.alice_at_a),
    ];
    form.extend_from_slice(extra);
    let (status, _, body) = post_form(
        &hub.url("/oauth2/transmit"),
        Some((&apps.a.0, &apps.a.1)),
        &form,
    )
    .await;
    (status, body)
}

async fn link(hub: &TestHub, apps: &Apps) -> String {
    let (status, body) = transmit(hub, apps, &[]).await;
    assert_eq!(status, 200, "{body}");
    body["redirect_to"].as_str().unwrap().to_string()
}

/// A new person's browser, signed in at the hub's own sign-in page.
async fn signed_in_at_hub(hub: &TestHub, username: &str) -> Browser {
    hub.user(username, PASSWORD).await;
    let mut browser = Browser::new();
    let form = browser.get(&hub.url("/login")).await;
    let done = browser
        .post(
            &hub.url("/login"),
            &[
                ("csrf", &form.field("csrf")),
                ("next", "/"),
                ("username", username),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    browser
}

/// Form fields of a request.
type Form<'a> = Vec<(&'a str, &'a str)>;

/// The signed answer's claims (JARM `response`).
fn answer_of(location: &str) -> serde_json::Value {
    assert!(location.starts_with(B_TRANSMIT), "{location}");
    let url = url::Url::parse(location).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs.len(), 1, "only the signed response: {pairs:?}");
    assert_eq!(pairs[0].0, "response");
    claims_of(&pairs[0].1)
}

#[tokio::test]
async fn a_user_handed_from_a_arrives_at_b_signed_in_with_the_data() {
    on_every_backend(async |hub: &TestHub| {
        let mut s = apps(hub).await;
        let (status, body) = transmit(
            hub,
            &s,
            &[
                ("transmit_fun", "open:contact.v1"),
                ("transmit_data", "{\"contact\":\"42\",\"note\":\"é & ü\"}"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["expires_in"], 60);
        let to = body["redirect_to"].as_str().unwrap().to_string();
        assert!(to.starts_with(&hub.url("/oauth2/transmit/")), "{to}");

        // B was never consented to: alice is asked, then sent to B's transmit URL.
        let consent = s.alice.get(&to).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        assert!(consent.body.contains("contact.read"), "{}", consent.body);
        assert!(
            consent
                .body
                .contains("test client is sending you on to test client"),
            "the consent page says who handed the person over: {}",
            consent.body
        );
        let done = s
            .alice
            .post(
                &hub.url("/oauth2/consent"),
                &[
                    ("request_id", &consent.field("request_id")),
                    ("csrf", &consent.field("csrf")),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let answer = answer_of(done.location.as_deref().unwrap());
        assert_eq!(answer["iss"], hub.base.as_str());
        assert_eq!(answer["aud"], s.b.0.as_str());
        assert_eq!(answer["from"], s.a.0.as_str());
        assert_eq!(answer["transmit_fun"], "open:contact.v1");
        assert_eq!(
            answer["transmit_data"],
            "{\"contact\":\"42\",\"note\":\"é & ü\"}"
        );
        assert_eq!(answer["type"], "password");
        assert!(answer.get("state").is_none(), "{answer}");
        let code = answer["code"].as_str().unwrap();

        // B redeems with its credentials and transmit URL, no PKCE.
        let redeem = |code: &str, extra: Vec<(&'static str, &'static str)>| {
            let mut form = vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code.to_string()),
                ("redirect_uri", B_TRANSMIT.to_string()),
            ];
            form.extend(extra.into_iter().map(|(k, v)| (k, v.to_string())));
            (hub.url("/oauth2/token"), form)
        };
        let (url, form) = redeem(code, vec![("redirect_uri", B_CB)]);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, body) = post_form(&url, Some((&s.b.0, &s.b.1)), &form).await;
        assert_eq!(status, 400, "a repeated redirect_uri: {body}");
        let (url, form) = redeem(code, vec![]);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // A (or anyone else) cannot redeem B's code.
        let (status, _, body) = post_form(&url, Some((&s.a.0, &s.a.1)), &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
        let (status, _, tokens) = post_form(&url, Some((&s.b.0, &s.b.1)), &form).await;
        assert_eq!(status, 200, "{tokens}");
        let access = claims_of(tokens["access_token"].as_str().unwrap());
        let alice = claims_of(&s.alice_at_a);
        assert_eq!(access["sub"], alice["sub"]);
        assert_eq!(access["client_id"], s.b.0.as_str());
        assert_eq!(access["transmitted_from"], s.a.0.as_str());
        assert_eq!(tokens["scope"], "contact.read openid");
        let id_token = claims_of(tokens["id_token"].as_str().unwrap());
        assert_eq!(id_token["transmitted_from"], s.a.0.as_str());
        assert_eq!(id_token["aud"], s.b.0.as_str());
        // Its refresh keeps saying where the user came from; the code is single use (and
        // its replay revokes what it gave).
        let (status, _, refreshed) = post_form(
            &hub.url("/oauth2/token"),
            Some((&s.b.0, &s.b.1)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(status, 200, "{refreshed}");
        let again = claims_of(refreshed["access_token"].as_str().unwrap());
        assert_eq!(again["transmitted_from"], s.a.0.as_str());
        let (status, _, _) = post_form(&url, Some((&s.b.0, &s.b.1)), &form).await;
        assert_eq!(status, 400);

        // B confirms that the browser it serves is the person handed over (OIDC Core
        // §3.1.2.1: `prompt=none` with the ID token as `id_token_hint`): alice's browser
        // passes; a browser without her session, or with another person's, does not.
        let (_, challenge) = crate::browser::pkce();
        let confirm = format!(
            "{}&prompt=none&id_token_hint={}",
            crate::browser::authorize_url(hub, &s.b.0, B_CB, "openid", &challenge),
            tokens["id_token"].as_str().unwrap()
        );
        let confirmed = s.alice.get(&confirm).await;
        assert_eq!(confirmed.status, 302, "{}", confirmed.body);
        assert!(
            confirmed.redirect_param("code").is_some(),
            "{:?}",
            confirmed.location
        );
        let stranger = Browser::new().get(&confirm).await;
        assert_eq!(
            stranger.redirect_param("error").as_deref(),
            Some("login_required")
        );
        let mut mallory = signed_in_at_hub(hub, "mallory").await;
        let other = mallory.get(&confirm).await;
        assert_eq!(
            other.redirect_param("error").as_deref(),
            Some("login_required")
        );

        // The link works once.
        let replay = s.alice.get(&to).await;
        assert_eq!(replay.status, 400, "{}", replay.body);
        assert!(replay.body.contains("used already"), "{}", replay.body);

        // Consent is remembered: the next handover goes straight to B.
        let next = link(hub, &s).await;
        let straight = s.alice.get(&next).await;
        assert_eq!(straight.status, 302, "{}", straight.body);
        let answer = answer_of(straight.location.as_deref().unwrap());
        assert_eq!(answer["from"], s.a.0.as_str());
        assert!(answer.get("transmit_fun").is_none());

        hub.auth.flush_audit().await;
        let log = hub.auth.audit_events(0, 0, 100).await.unwrap();
        let allowed = log
            .iter()
            .filter(|e| e.entry.action == "transmit" && e.entry.outcome == "allowed")
            .map(|e| e.entry.occurrences)
            .sum::<i64>();
        assert_eq!(
            allowed, 6,
            "two links issued, opened and turned into codes: {log:#?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_wrong_person_a_stale_link_and_bad_requests_get_nothing() {
    on_every_backend(async |hub: &TestHub| {
        let s = apps(hub).await;

        // Nobody signed in: the sign-in page, filled in for alice, then back to the link.
        let to = link(hub, &s).await;
        let mut stranger = Browser::new();
        let page = stranger.get(&to).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let login = page.location.unwrap();
        assert!(
            login.starts_with("/login?next=/oauth2/transmit/"),
            "{login}"
        );
        assert!(login.ends_with("&login_hint=alice"), "{login}");
        let form = stranger.get(&hub.url(&login)).await;
        assert!(form.body.contains("value=\"alice\""), "{}", form.body);

        // bob signed in at the hub: an error page, nothing issued, the link not spent.
        let mut bob = signed_in_at_hub(hub, "bob").await;
        let refused = bob.get(&to).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(
            refused.body.contains("made for another account"),
            "{}",
            refused.body
        );
        assert!(refused.location.is_none());
        // The log names who opened it.
        hub.auth.flush_audit().await;
        let log = hub.auth.audit_events(0, 0, 100).await.unwrap();
        assert!(
            log.iter().any(|e| e.entry.outcome == "refused"
                && e.entry
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("opened by another account, bob ("))),
            "{log:#?}"
        );

        // Still good for alice, within its minute; past it, stale.
        let mut alice = s.alice;
        hub.clock.advance_secs(61);
        let stale = alice.get(&to).await;
        assert_eq!(stale.status, 400, "{}", stale.body);
        assert!(stale.body.contains("expired"), "{}", stale.body);
        let forged = alice.get(&hub.url("/oauth2/transmit/not-a-link")).await;
        assert_eq!(forged.status, 400, "{}", forged.body);

        let long_data = "x".repeat(4097);
        let long_fun = "f".repeat(65);
        let c = hub.client(&["client_credentials"], "x", &[]).await;
        let cases: Vec<(Form<'_>, &str, &str)> = vec![
            (
                vec![("transmit_fun", "rm -rf /")],
                "invalid_request",
                "transmit_fun",
            ),
            (
                vec![("transmit_fun", &long_fun)],
                "invalid_request",
                "transmit_fun",
            ),
            (
                vec![("transmit_data", &long_data)],
                "invalid_request",
                "4096",
            ),
            (
                vec![("transmit_data", "one\ntwo")],
                "invalid_request",
                "U+000A",
            ),
            (
                vec![("transmit_data", "one\u{2028}two")],
                "invalid_request",
                "U+2028",
            ),
            (
                vec![("transmit_data", "in\u{200b}visible")],
                "invalid_request",
                "U+200B",
            ),
            (
                vec![("transmit_data", "tag\u{e0001}ged")],
                "invalid_request",
                "U+E0001",
            ),
            (
                vec![("transmit_data", "arabic\u{061c}mark")],
                "invalid_request",
                "U+061C",
            ),
            (
                vec![("transmit_data", "variation\u{fe0f}selector")],
                "invalid_request",
                "U+FE0F",
            ),
            (
                vec![("scope", "contact.write")],
                "invalid_scope",
                "contact.write",
            ),
        ];
        for (form, code, cause) in cases {
            let (status, body) =
                transmit(hub, &s_apps_view(&s.a, &s.b, &s.alice_at_a), &form).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some(code)),
                "{form:?}: {body}"
            );
            assert!(
                body["error_description"].as_str().unwrap().contains(cause),
                "{body}"
            );
        }
        // No rule towards C (and C takes no transmits), an unknown target: one answer, which
        // tells A nothing about the hub's other clients.
        for to in [c.0.as_str(), "nobody"] {
            let (status, _, body) = post_form(
                &hub.url("/oauth2/transmit"),
                Some((&s.a.0, &s.a.1)),
                &[("to", to), ("subject_token", &s.alice_at_a)],
            )
            .await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_target")),
                "{body}"
            );
            assert_eq!(
                body["error_description"],
                format!(
                    "to {to:?} names no client this client may hand users to: no such client \
                     (by client_id or registered name), or no rule lets this client hand users \
                     to it"
                ),
            );
        }
        // B by its registered name, which all the test's clients share: the one A may hand
        // users to.
        let (status, _, body) = post_form(
            &hub.url("/oauth2/transmit"),
            Some((&s.a.0, &s.a.1)),
            &[("to", "test client"), ("subject_token", &s.alice_at_a)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // B cannot hand over A's user with A's token.
        let (status, _, body) = post_form(
            &hub.url("/oauth2/transmit"),
            Some((&s.b.0, &s.b.1)),
            &[("to", &s.a.0), ("subject_token", &s.alice_at_a)],
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            hub.count_rows("authorization_codes").await,
            1,
            "only A's own sign-in"
        );
    })
    .await;
}

/// A view of the apps without the browser (which the test moved).
fn s_apps_view(a: &(String, String), b: &(String, String), token: &str) -> Apps {
    Apps {
        a: a.clone(),
        b: b.clone(),
        alice: Browser::new(),
        alice_at_a: token.to_string(),
    }
}

/// A g2d1-profile B gets the handover as a g2d1-signed redirect (the profile's response
/// signature over every parameter), which a changed parameter breaks.
#[tokio::test]
async fn a_g2d1_client_gets_the_handover_with_the_g2d1_signature() {
    on_every_backend(async |hub: &TestHub| {
        let mut s = apps(hub).await;
        let secret = "g2d1-b-signing-secret-0123456789abcdef";
        let g2d1_b = hub
            .auth
            .create_client(keyway_auth::NewClient {
                name: "g2d1 b".into(),
                grant_types: vec!["authorization_code".into()],
                scope: "contact.read".into(),
                redirect_uris: vec![B_CB.into()],
                policy: ClientPolicy {
                    transmit_url: Some(B_TRANSMIT.into()),
                    profile: Some(keyway_auth::ClientProfile::G2d1),
                    ..ClientPolicy::default()
                },
                signing_secret: Some(keyway_auth::SecretString::new(secret.into())),
                ..keyway_auth::NewClient::default()
            })
            .await
            .unwrap()
            .client
            .client_id;
        hub.auth
            .allow_client(&s.a.0, &g2d1_b, RulePurpose::Transmit, None)
            .await
            .unwrap();
        let (status, _, body) = post_form(
            &hub.url("/oauth2/transmit"),
            Some((&s.a.0, &s.a.1)),
            &[
                ("to", &g2d1_b),
                ("subject_token", &s.alice_at_a),
                ("scope", "contact.read"),
                ("transmit_data", "{\"order\":7}"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let consent = s.alice.get(body["redirect_to"].as_str().unwrap()).await;
        let done = s
            .alice
            .post(
                &hub.url("/oauth2/consent"),
                &[
                    ("request_id", &consent.field("request_id")),
                    ("csrf", &consent.field("csrf")),
                    ("decision", "allow"),
                ],
            )
            .await;
        let location = done.location.unwrap();
        let url = url::Url::parse(&location).unwrap();
        let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
        for name in [
            "code",
            "iss",
            "from",
            "transmit_data",
            "type",
            "timestamp",
            "nonce",
        ] {
            assert!(names.contains(&name), "{name} missing from {location}");
        }
        assert!(
            !names.contains(&"response") && !names.contains(&"state"),
            "{location}"
        );
        let (_, signature) = pairs.pop().unwrap();
        let signed = |pairs: &[(String, String)]| {
            let borrowed: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            keyway_auth::g2d1_signature(secret.as_bytes(), &borrowed)
        };
        assert_eq!(signed(&pairs), signature, "the redirect is signed");
        for pair in pairs.iter_mut().filter(|(n, _)| n == "transmit_data") {
            pair.1 = "{\"order\":8}".into();
        }
        assert_ne!(signed(&pairs), signature, "a tampered parameter breaks it");
    })
    .await;
}

/// A rule taken away while the person reads the consent page: no code, and the log says why;
/// declining is logged too.
#[tokio::test]
async fn a_rule_removed_during_consent_issues_no_code() {
    on_every_backend(async |hub: &TestHub| {
        let mut s = apps(hub).await;
        let answer = |consent: &crate::browser::Page, decision: &'static str| {
            [
                ("request_id", consent.field("request_id")),
                ("csrf", consent.field("csrf")),
                ("decision", decision.to_string()),
            ]
        };
        // Declined: B hears access_denied (signed), and the log says so.
        let consent = s.alice.get(&link(hub, &s).await).await;
        let fields = answer(&consent, "deny");
        let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let declined = s.alice.post(&hub.url("/oauth2/consent"), &form).await;
        assert_eq!(
            answer_of(declined.location.as_deref().unwrap())["error"],
            "access_denied"
        );

        // The rule taken away while the consent page is open: no code.
        let consent = s.alice.get(&link(hub, &s).await).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        hub.auth
            .disallow_client(&s.a.0, &s.b.0, RulePurpose::Transmit)
            .await
            .unwrap();
        let fields = answer(&consent, "allow");
        let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = s.alice.post(&hub.url("/oauth2/consent"), &form).await;
        assert!(
            refused.location.is_none(),
            "no code: {:?}",
            refused.location
        );
        assert!(refused.body.contains("may no longer"), "{}", refused.body);
        assert_eq!(
            hub.count_rows("authorization_codes").await,
            1,
            "only A's own"
        );

        hub.auth.flush_audit().await;
        let log = hub.auth.audit_events(0, 0, 100).await.unwrap();
        let reasons: Vec<&str> = log
            .iter()
            .filter(|e| e.entry.action == "transmit" && e.entry.outcome == "refused")
            .filter_map(|e| e.entry.reason.as_deref())
            .collect();
        assert_eq!(
            reasons,
            ["the user declined", "the rule was removed"],
            "{log:#?}"
        );
    })
    .await;
}
