//! RFC 8693 token exchange between clients, under the rules of `keyway client allow`, and the
//! audit log it writes.

use keyway_auth::{ClientPolicy, RulePurpose, TOKEN_EXCHANGE};

use crate::browser::obtain_code;
use crate::harness::{
    TestHub, client_credentials_token, code_exchange, on_every_backend, post_form,
};
use crate::logout::claims_of;

const CB: &str = "http://127.0.0.1:9/a-callback";
const B_API: &str = "http://127.0.0.1:9/b-api";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Client A (users sign in to it), client B (an API at B_API), alice's token at A.
struct Setup {
    a: (String, String),
    b: (String, String),
    alice_at_a: String,
}

async fn setup(hub: &TestHub) -> Setup {
    let a = hub
        .client(
            &["authorization_code", "client_credentials"],
            "openid contact.read contact.write",
            &[CB],
        )
        .await;
    let b = hub
        .client_with_policy(
            &["client_credentials"],
            "contact.read",
            &[],
            ClientPolicy {
                api_url: Some(B_API.into()),
                ..ClientPolicy::default()
            },
        )
        .await;
    let (code, verifier) = obtain_code(hub, &a.0, CB, "openid contact.read contact.write").await;
    let (status, body) = code_exchange(hub, (&a.0, &a.1), &code, CB, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let alice_at_a = body["access_token"].as_str().unwrap().to_string();
    Setup { a, b, alice_at_a }
}

async fn exchange(
    hub: &TestHub,
    (id, secret): (&str, &str),
    extra: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token_type", ACCESS),
    ];
    form.extend_from_slice(extra);
    let (status, _, body) = post_form(&hub.url("/oauth2/token"), Some((id, secret)), &form).await;
    (status, body)
}

/// Form fields of a token request.
type Form<'a> = Vec<(&'a str, &'a str)>;

fn error_of(body: &serde_json::Value) -> &str {
    body["error"].as_str().unwrap_or("(no error)")
}

#[tokio::test]
async fn a_rule_lets_a_client_exchange_a_users_token_for_another_client() {
    on_every_backend(async |hub: &TestHub| {
        let s = setup(hub).await;
        let a = (s.a.0.as_str(), s.a.1.as_str());
        let subject = s.alice_at_a.as_str();
        let to_b = [("subject_token", subject), ("audience", s.b.0.as_str())];

        // No rule: nothing crosses.
        let (status, body) = exchange(hub, a, &to_b).await;
        assert_eq!((status, error_of(&body)), (400, "invalid_target"), "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("no rule")
        );

        hub.auth
            .allow_client(&s.a.0, &s.b.0, RulePurpose::Exchange, Some("contact.read"))
            .await
            .unwrap();
        let (status, body) = exchange(hub, a, &to_b).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["issued_token_type"], ACCESS);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "contact.read");
        assert!(body.get("refresh_token").is_none());
        let exchanged = body["access_token"].as_str().unwrap().to_string();
        let claims = claims_of(&exchanged);
        let alice = claims_of(subject);
        assert_eq!(claims["sub"], alice["sub"]);
        assert_eq!(claims["act"]["sub"], s.a.0.as_str());
        assert_eq!(claims["client_id"], s.a.0.as_str());
        assert_eq!(claims["aud"], serde_json::json!([s.b.0, B_API]));
        assert!(claims["exp"].as_i64() <= alice["exp"].as_i64());

        // B introspects it and sees who acts.
        let (_, _, seen) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&s.b.0, &s.b.1)),
            &[("token", &exchanged)],
        )
        .await;
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["act"]["sub"], s.a.0.as_str());

        // The API URL names B too (a trailing slash or not).
        let by_resource = format!("{B_API}/");
        let (status, body) = exchange(
            hub,
            a,
            &[("subject_token", subject), ("resource", &by_resource)],
        )
        .await;
        assert_eq!(status, 200, "{body}");

        // Beyond the rule, or beyond what the token holds: invalid_scope.
        let (status, body) = exchange(
            hub,
            a,
            &[
                ("subject_token", subject),
                ("audience", &s.b.0),
                ("scope", "contact.write"),
            ],
        )
        .await;
        assert_eq!((status, error_of(&body)), (400, "invalid_scope"), "{body}");

        hub.auth.flush_audit().await;
        let log = hub.auth.audit_events(0, 0, 100).await.unwrap();
        // Identical decisions are one entry with their count: counted each.
        let exchanges: Vec<_> = log
            .iter()
            .filter(|e| e.entry.action == "exchange")
            .flat_map(|e| std::iter::repeat_n(e, e.entry.occurrences as usize))
            .collect();
        assert_eq!(exchanges.len(), 4, "{log:#?}");
        assert_eq!(exchanges[0].entry.outcome, "refused");
        assert_eq!(exchanges[1].entry.outcome, "allowed");
        assert_eq!(exchanges[1].entry.actor, s.a.0);
        assert_eq!(exchanges[1].entry.target.as_deref(), Some(s.b.0.as_str()));
        assert_eq!(exchanges[1].entry.user_id.as_deref(), alice["sub"].as_str());
        assert!(
            exchanges[1]
                .entry
                .rule
                .as_deref()
                .unwrap()
                .contains("for exchange")
        );
        assert!(log.iter().any(|e| e.entry.action == "rule.allow"));

        // Logging alice out ends what her session gave, the exchanged token too.
        let ended = hub.auth.logout_user("alice", false).await.unwrap();
        assert_eq!(ended, 1);
        let (_, _, seen) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&s.b.0, &s.b.1)),
            &[("token", &exchanged)],
        )
        .await;
        assert_eq!(seen["active"], false, "{seen}");
    })
    .await;
}

#[tokio::test]
async fn bad_exchanges_are_refused_with_the_rfc_8693_error_and_issue_nothing() {
    on_every_backend(async |hub: &TestHub| {
        let s = setup(hub).await;
        let a = (s.a.0.as_str(), s.a.1.as_str());
        hub.auth
            .allow_client(&s.a.0, &s.b.0, RulePurpose::Exchange, None)
            .await
            .unwrap();
        let subject = s.alice_at_a.as_str();
        let b_id = s.b.0.as_str();
        let (_, good) = exchange(hub, a, &[("subject_token", subject), ("audience", b_id)]).await;
        let delegated = good["access_token"].as_str().unwrap().to_string();
        // The user's own scopes cross when the rule names none.
        assert_eq!(good["scope"], "contact.read contact.write openid", "{good}");
        let a_own = client_credentials_token(hub, &s.a.0, &s.a.1).await;
        let b_own = client_credentials_token(hub, &s.b.0, &s.b.1).await;
        // C has an API URL and no rule from A: naming it beside B tells A nothing of it.
        let c_api = "https://c.example/api";
        let (c_id, _) = hub
            .client_with_policy(
                &["client_credentials"],
                "x",
                &[],
                ClientPolicy {
                    api_url: Some(c_api.into()),
                    ..ClientPolicy::default()
                },
            )
            .await;

        let cases: Vec<(Form<'_>, &str, &str)> = vec![
            (
                vec![
                    ("subject_token", subject),
                    ("audience", b_id),
                    ("resource", c_api),
                ],
                "invalid_target",
                "resource \"https://c.example/api\" names no client this client may exchange",
            ),
            (
                vec![
                    ("subject_token", subject),
                    ("audience", &c_id),
                    ("resource", B_API),
                ],
                "invalid_target",
                "names no client this client may exchange tokens for: no such client",
            ),
            (vec![("audience", b_id)], "invalid_request", "subject_token"),
            (
                vec![("subject_token", "not-a-token"), ("audience", b_id)],
                "invalid_request",
                "not an active access token",
            ),
            (
                vec![("subject_token", &a_own), ("audience", b_id)],
                "invalid_request",
                "not a user's",
            ),
            (
                vec![("subject_token", &b_own), ("audience", b_id)],
                "invalid_request",
                "another client",
            ),
            (
                vec![("subject_token", &delegated), ("audience", b_id)],
                "invalid_request",
                "delegated",
            ),
            (
                vec![("subject_token", subject)],
                "invalid_request",
                "audience",
            ),
            (
                // No such client: the same answer as no rule (nothing to map clients by).
                vec![("subject_token", subject), ("audience", "nobody")],
                "invalid_target",
                "no such client (by client_id, registered name or API URL), or no rule",
            ),
            (
                vec![("subject_token", subject), ("audience", &s.a.0)],
                "invalid_target",
                "itself",
            ),
            (
                vec![
                    ("subject_token", subject),
                    ("audience", b_id),
                    ("resource", "https://elsewhere.example/api"),
                ],
                "invalid_target",
                "no such client",
            ),
            (
                vec![
                    ("subject_token", subject),
                    ("audience", b_id),
                    ("actor_token", subject),
                ],
                "invalid_request",
                "actor_token",
            ),
            (
                vec![
                    ("subject_token", subject),
                    ("audience", b_id),
                    (
                        "requested_token_type",
                        "urn:ietf:params:oauth:token-type:id_token",
                    ),
                ],
                "invalid_request",
                "requested_token_type",
            ),
        ];
        // The harness names every client "test client": the name names the one of them A
        // has an exchange rule to, B.
        let (status, body) = exchange(
            hub,
            a,
            &[("subject_token", subject), ("audience", "test client")],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let aud = claims_of(body["access_token"].as_str().unwrap())["aud"].clone();
        assert!(aud.to_string().contains(b_id), "{aud}");
        for (form, code, cause) in cases {
            let (status, body) = exchange(hub, a, &form).await;
            assert_eq!((status, error_of(&body)), (400, code), "{form:?}: {body}");
            let why = body["error_description"].as_str().unwrap();
            assert!(why.contains(cause), "{form:?}: {why}");
            assert!(body.get("access_token").is_none());
        }
        // Another subject token type.
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some(a),
            &[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", subject),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ("audience", b_id),
            ],
        )
        .await;
        assert_eq!(
            (status, error_of(&body)),
            (400, "invalid_request"),
            "{body}"
        );

        // A revoked subject token: what was exchanged for it ends with it.
        let b = (s.b.0.as_str(), s.b.1.as_str());
        let active = |token: String| async move {
            let (_, _, seen) = post_form(
                &hub.url("/oauth2/introspect"),
                Some(b),
                &[("token", &token)],
            )
            .await;
            seen["active"].as_bool()
        };
        assert_eq!(active(delegated.clone()).await, Some(true));
        let (status, _, _) =
            post_form(&hub.url("/oauth2/revoke"), Some(a), &[("token", subject)]).await;
        assert_eq!(status, 200);
        assert_eq!(active(delegated.clone()).await, Some(false));
        let (status, body) =
            exchange(hub, a, &[("subject_token", subject), ("audience", b_id)]).await;
        assert_eq!(
            (status, error_of(&body)),
            (400, "invalid_request"),
            "{body}"
        );

        // A public client cannot act for anyone.
        let public = hub.public_client("contact.read", CB).await;
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            None,
            &[
                ("grant_type", TOKEN_EXCHANGE),
                ("client_id", &public),
                ("subject_token", subject),
                ("subject_token_type", ACCESS),
                ("audience", b_id),
            ],
        )
        .await;
        assert_eq!(
            (status, error_of(&body)),
            (400, "unauthorized_client"),
            "{body}"
        );

        // Taking the rule away stops the next exchange.
        hub.auth
            .disallow_client(&s.a.0, &s.b.0, RulePurpose::Exchange)
            .await
            .unwrap();
        let (_, fresh) = {
            let (code, verifier) =
                crate::browser::obtain_code_as_alice(hub, &s.a.0, CB, "contact.read").await;
            code_exchange(hub, a, &code, CB, &verifier).await
        };
        let fresh = fresh["access_token"].as_str().unwrap();
        let (status, body) =
            exchange(hub, a, &[("subject_token", fresh), ("audience", b_id)]).await;
        assert_eq!((status, error_of(&body)), (400, "invalid_target"), "{body}");
    })
    .await;
}

/// Rules are checked when made: known clients, two of them, a target that can take part.
#[tokio::test]
async fn rules_name_two_clients_that_can_take_part() {
    on_every_backend(async |hub: &TestHub| {
        let (a, _) = hub.client(&["client_credentials"], "x", &[]).await;
        let (b, _) = hub.client(&["client_credentials"], "x", &[]).await;
        let refused = [
            (
                hub.auth
                    .allow_client(&a, "nobody", RulePurpose::Exchange, None)
                    .await,
                "nobody",
            ),
            (
                hub.auth
                    .allow_client(&a, &a, RulePurpose::Exchange, None)
                    .await,
                "same client",
            ),
            (
                hub.auth
                    .allow_client(&a, &b, RulePurpose::Transmit, None)
                    .await,
                "--transmit-url",
            ),
            (
                hub.auth.allow_client(&a, &b, RulePurpose::Call, None).await,
                "--api-url",
            ),
            (
                hub.auth
                    .allow_client(&a, &b, RulePurpose::Exchange, Some(" "))
                    .await,
                "--scope",
            ),
            (
                hub.auth
                    .allow_client(&a, &b, RulePurpose::Exchange, Some("bad\"scope"))
                    .await,
                "scope",
            ),
        ];
        for (result, cause) in refused {
            let why = result.unwrap_err().to_string();
            assert!(why.contains(cause), "{cause}: {why}");
        }
        assert!(hub.auth.client_rules().await.unwrap().is_empty());
        let rule = hub
            .auth
            .allow_client(&a, &b, RulePurpose::Exchange, Some("x,y"))
            .await
            .unwrap();
        assert_eq!(rule.scope.as_deref(), Some("x y"));
        // Allowing again replaces; disallowing what is not there says so.
        hub.auth
            .allow_client(&a, &b, RulePurpose::Exchange, None)
            .await
            .unwrap();
        let rules = hub.auth.client_rules().await.unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].scope, None);
        let why = hub
            .auth
            .disallow_client(&a, &b, RulePurpose::Call)
            .await
            .unwrap_err()
            .to_string();
        assert!(why.contains("no rule"), "{why}");
        // One API URL, one client (a trailing slash makes no other).
        let api = |url: &str| ClientPolicy {
            api_url: Some(url.into()),
            ..ClientPolicy::default()
        };
        hub.client_with_policy(
            &["client_credentials"],
            "x",
            &[],
            api("http://127.0.0.1:9/b"),
        )
        .await;
        // Nor one a lenient resource server reads as the same (case, `;parameters`).
        for copy in [
            "http://127.0.0.1:9/b/",
            "http://127.0.0.1:9/B",
            "http://127.0.0.1:9/b;x",
        ] {
            let taken = hub
                .auth
                .create_client(keyway_auth::NewClient {
                    name: "copycat".into(),
                    grant_types: vec!["client_credentials".into()],
                    scope: "x".into(),
                    policy: api(copy),
                    ..keyway_auth::NewClient::default()
                })
                .await
                .unwrap_err()
                .to_string();
            assert!(taken.contains("already"), "{copy}: {taken}");
        }
        // Nor one under it or above it, nor one whose dot segments lead into it.
        for (near, why) in [
            ("http://127.0.0.1:9/b/v1", "one under the other"),
            ("http://127.0.0.1:9", "one under the other"),
            ("http://127.0.0.1:9/c/..", "`..` segment"),
            ("http://127.0.0.1:9/c/%2e%2e/b", "`..` segment"),
        ] {
            let refused = hub
                .auth
                .create_client(keyway_auth::NewClient {
                    name: "neighbour".into(),
                    grant_types: vec!["client_credentials".into()],
                    scope: "x".into(),
                    policy: api(near),
                    ..keyway_auth::NewClient::default()
                })
                .await
                .unwrap_err()
                .to_string();
            assert!(refused.contains(why), "{near}: {refused}");
        }
        // The hub's own address, also by another loopback name for it.
        let port = hub.base.rsplit(':').next().unwrap();
        for own in [
            format!("{}/api", hub.base),
            format!("http://localhost:{port}/api"),
            format!("http://LOCALHOST:{port}"),
            format!("http://[::1]:{port}/api"),
            format!("https://127.0.0.1:{port}/api"),
        ] {
            let refused = hub
                .auth
                .create_client(keyway_auth::NewClient {
                    name: "hub itself".into(),
                    grant_types: vec!["client_credentials".into()],
                    scope: "x".into(),
                    policy: api(&own),
                    ..keyway_auth::NewClient::default()
                })
                .await
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("this hub's own address"),
                "{own}: {refused}"
            );
        }
        // Deleting a client deletes the rules that name it.
        hub.auth.delete_client(&b).await.unwrap();
        assert!(hub.auth.client_rules().await.unwrap().is_empty());
    })
    .await;
}
