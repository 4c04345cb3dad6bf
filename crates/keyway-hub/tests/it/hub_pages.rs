//! The hub's own pages: the landing page (`/`), its sign-in page for hub sessions
//! (`/login?next=…`), sign-out (`/logout`), and `/activity` sending strangers to sign in.

use crate::browser::{Browser, Page, authorize_url, pkce};
use crate::harness::{Backend, TestHub, http, on_every_backend};

const PASSWORD: &str = "correct horse battery";

/// Opens `/login?next=…` and posts the form with `password`; returns the answer to the post.
async fn sign_in(browser: &mut Browser, hub: &TestHub, next: &str, password: &str) -> Page {
    let form = browser.get(&hub.url(&format!("/login?next={next}"))).await;
    assert_eq!(form.status, 200, "{}", form.body);
    browser
        .post(
            &hub.url("/login"),
            &[
                ("next", &form.field("next")),
                ("csrf", &form.field("csrf")),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await
}

#[tokio::test]
async fn landing_page_says_what_the_hub_is_and_who_is_signed_in() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    hub.user("alice", PASSWORD).await;
    let response = http().get(hub.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(html.contains(&format!("<code id=\"issuer\">{}</code>", hub.base)));
    for link in [
        "href=\"/.well-known/openid-configuration\"",
        "href=\"/oauth2/jwks\"",
        "href=\"/activity\"",
        "href=\"/readyz\"",
        "href=\"/metrics\"",
        "href=\"/login\"",
    ] {
        assert!(html.contains(link), "{link} missing:\n{html}");
    }
    for doc in ["docs/oauth.md", "docs/toki.md", "docs/data.md"] {
        assert!(html.contains(doc), "{doc}");
    }
    assert!(html.contains("Not signed in"));
    assert!(
        !html.contains("/api/openapi.json"),
        "no data API on this hub"
    );

    // Signed in: the name and a sign-out button (a form with its anti-CSRF token).
    let mut browser = Browser::new();
    let done = sign_in(&mut browser, &hub, "/", PASSWORD).await;
    assert_eq!(done.status, 303);
    let home = browser.get(&hub.url("/")).await;
    assert!(
        home.body
            .contains("Signed in at the hub as <strong>alice</strong>"),
        "{}",
        home.body
    );
    assert!(home.body.contains("action=\"/logout\""));
    assert!(!home.field("csrf").is_empty());
    hub.finish().await;

    // A hub with the data API links its OpenAPI document.
    let schemas =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/crm/schemas.yaml");
    let hub = TestHub::start_with_schemas(&Backend::Sqlite, schemas).await;
    let html = http()
        .get(hub.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("href=\"/api/openapi.json\""), "{html}");
    hub.finish().await;
}

#[tokio::test]
async fn hub_sign_in_opens_the_session_the_oauth_login_opens() {
    on_every_backend(async |hub: &TestHub| {
        hub.user("alice", PASSWORD).await;
        hub.auth
            .add_group_member(keyway_auth::ADMINS, "alice")
            .await
            .unwrap();
        // Strangers are sent to the sign-in page and back; the JSON API keeps its 401.
        let mut browser = Browser::new();
        let page = browser.get(&hub.url("/activity")).await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location.as_deref(), Some("/login?next=/activity"));
        let api = http()
            .get(hub.url("/activity/v1/edges"))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), 401);

        let form = browser.get(&hub.url("/login?next=/activity")).await;
        assert_eq!(form.status, 200);
        assert_eq!(form.field("next"), "/activity");
        assert!(form.body.contains("name=\"username\"") && form.body.contains("type=\"password\""));
        assert!(!form.body.contains("<script"));

        // A wrong password: the form again, 401, and no session.
        let refused = sign_in(&mut browser, hub, "/activity", "wrong password").await;
        assert_eq!(refused.status, 401);
        assert!(
            refused.body.contains("Incorrect username or password."),
            "{}",
            refused.body
        );
        assert_eq!(refused.field("next"), "/activity");
        assert!(refused.cookie_attributes("keyway_session").is_none());
        assert_eq!(hub.count_rows("login_sessions").await, 0);

        let done = sign_in(&mut browser, hub, "/activity", PASSWORD).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some("/activity"));
        let hub_cookie = done.cookie_attributes("keyway_session").unwrap();
        let page = browser.get(&hub.url("/activity")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let edges = browser.get(&hub.url("/activity/v1/edges")).await;
        assert_eq!(edges.status, 200);

        // The same cookie as signing in through an application.
        let cb = "https://app.example/cb";
        let client = hub.public_client("openid", cb).await;
        let (_, challenge) = pkce();
        let mut app_browser = Browser::new();
        let login = app_browser
            .get(&authorize_url(hub, &client, cb, "openid", &challenge))
            .await;
        let consent = app_browser
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
        assert_eq!(
            consent.cookie_attributes("keyway_session").unwrap(),
            hub_cookie
        );
        assert_eq!(hub_cookie, "Path=/; HttpOnly; SameSite=Lax; Max-Age=43200");
        // And that session is a hub session: the OAuth sign-in opens /activity too.
        let page = app_browser.get(&hub.url("/activity")).await;
        assert_eq!(page.status, 200);
    })
    .await;
}

#[tokio::test]
async fn next_is_a_local_path_or_home() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    hub.user("alice", PASSWORD).await;
    // As they arrive in the query string: raw, percent-encoded, double-encoded.
    for next in [
        "//evil.example",
        "%2F%2Fevil.example",
        "%252F%252Fevil.example",
        "https://evil",
        "https%3A%2F%2Fevil",
        "/\\evil",
        "%2F%5Cevil",
        "/%5Cevil",
        "/%09/evil.example",
        "%0D%0ASet-Cookie:x=1",
        "javascript:alert(1)",
        "evil.example",
        "/activity/%2F%2Fevil.example",
        "",
    ] {
        let mut browser = Browser::new();
        let form = browser.get(&hub.url(&format!("/login?next={next}"))).await;
        assert_eq!(form.field("next"), "/", "{next}");
        let done = sign_in(&mut browser, &hub, next, PASSWORD).await;
        assert_eq!(done.status, 303, "{next}");
        assert_eq!(done.location.as_deref(), Some("/"), "{next}");
    }
    // A forged form posting a foreign next directly is answered the same way.
    for next in [
        "//evil.example",
        "https://evil",
        "/\\evil",
        "/\t/evil",
        &format!("/{}", "a".repeat(512)),
    ] {
        let mut browser = Browser::new();
        let form = browser.get(&hub.url("/login")).await;
        let done = browser
            .post(
                &hub.url("/login"),
                &[
                    ("next", next),
                    ("csrf", &form.field("csrf")),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(done.status, 303);
        assert_eq!(done.location.as_deref(), Some("/"), "{next:?}");
    }
    // A local path with a query survives the round trip.
    let mut browser = Browser::new();
    let done = sign_in(&mut browser, &hub, "/activity%3Fview%3Dall", PASSWORD).await;
    assert_eq!(done.location.as_deref(), Some("/activity?view=all"));
    hub.finish().await;
}

#[tokio::test]
async fn forms_without_their_anti_csrf_token_are_refused() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    hub.user("alice", PASSWORD).await;
    hub.auth
        .add_group_member(keyway_auth::ADMINS, "alice")
        .await
        .unwrap();
    let mut browser = Browser::new();
    let form = browser.get(&hub.url("/login")).await;
    let csrf = form.field("csrf");
    let attempt = async |browser: &mut Browser, csrf: Option<&str>| {
        let mut fields = vec![("username", "alice"), ("password", PASSWORD)];
        if let Some(csrf) = csrf {
            fields.push(("csrf", csrf));
        }
        browser.post(&hub.url("/login"), &fields).await
    };
    for forged in [None, Some(""), Some("forged")] {
        let page = attempt(&mut browser, forged).await;
        assert_eq!(page.status, 403, "{forged:?}");
        assert!(page.set_cookies.is_empty());
    }
    // Another browser's token (a cross-site post carries the victim's cookies, not the token).
    let page = attempt(&mut Browser::new(), Some(&csrf)).await;
    assert_eq!(page.status, 403);
    let done = attempt(&mut browser, Some(&csrf)).await;
    assert_eq!(done.status, 303);
    // The sign-out form's token (same browser) does not sign in.
    let home = browser.get(&hub.url("/")).await;
    let logout_csrf = home.field("csrf");
    let page = attempt(&mut browser, Some(&logout_csrf)).await;
    assert_eq!(page.status, 403);
    assert_eq!(hub.count_rows("login_sessions").await, 1);

    // Sign-out: refused without its token (the session lives on), then done.
    let session = browser.cookie("keyway_session").unwrap().to_string();
    for forged in [
        vec![],
        vec![("csrf", "forged")],
        vec![("csrf", csrf.as_str())],
    ] {
        let page = browser.post(&hub.url("/logout"), &forged).await;
        assert_eq!(page.status, 403, "{forged:?}");
    }
    assert_eq!(browser.get(&hub.url("/activity")).await.status, 200);
    let out = browser
        .post(&hub.url("/logout"), &[("csrf", &logout_csrf)])
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/"));
    assert_eq!(
        out.cookie_attributes("keyway_session").unwrap(),
        "Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
    );
    assert!(browser.cookie("keyway_session").is_none());
    assert_eq!(hub.count_rows("login_sessions").await, 0);
    // Deleted in the store: the old cookie value no longer opens anything.
    browser.set_cookie("keyway_session", &session);
    assert_eq!(browser.get(&hub.url("/activity")).await.status, 303);
    assert!(
        browser
            .get(&hub.url("/"))
            .await
            .body
            .contains("Not signed in")
    );
    hub.finish().await;
}

#[tokio::test]
async fn hub_sign_in_is_throttled_with_the_oauth_login() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    hub.user("alice", PASSWORD).await;
    // Failures through an application's login page and the hub's count together.
    let cb = "https://app.example/cb";
    let client = hub.public_client("openid", cb).await;
    let (_, challenge) = pkce();
    let mut app = Browser::new();
    let login = app
        .get(&authorize_url(&hub, &client, cb, "openid", &challenge))
        .await;
    for _ in 0..3 {
        let page = app
            .post(
                &hub.url("/oauth2/login"),
                &[
                    ("request_id", &login.field("request_id")),
                    ("csrf", &login.field("csrf")),
                    ("username", "alice"),
                    ("password", "wrong password"),
                ],
            )
            .await;
        assert_eq!(page.status, 401);
    }
    let mut browser = Browser::new();
    for _ in 0..2 {
        let page = sign_in(&mut browser, &hub, "/activity", "wrong password").await;
        assert_eq!(page.status, 401);
    }
    let page = sign_in(&mut browser, &hub, "/activity", PASSWORD).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert_eq!(page.retry_after.as_deref(), Some("1"));
    assert!(
        page.body.contains("Try again in 1 second."),
        "{}",
        page.body
    );
    assert!(page.cookie_attributes("keyway_session").is_none());
    assert_eq!(hub.count_rows("login_sessions").await, 0);
    // After the back-off, the right password works.
    hub.clock.advance_secs(2);
    let page = sign_in(&mut browser, &hub, "/activity", PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    // And the session is one the OAuth flow honours: no login form for this browser.
    let consent = browser
        .get(&authorize_url(&hub, &client, cb, "openid", &challenge))
        .await;
    assert_eq!(consent.status, 200);
    assert!(consent.body.contains("decision"), "{}", consent.body);
    hub.finish().await;
}

/// Only the hub's administrators (members of keyway-admins) see the activity map through a
/// login session; another signed-in user is refused, saying how to become one.
#[tokio::test]
async fn the_activity_map_is_for_administrators() {
    on_every_backend(async |hub: &TestHub| {
        hub.user("alice", PASSWORD).await;
        let mut browser = Browser::new();
        let done = sign_in(&mut browser, hub, "/activity", PASSWORD).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let page = browser.get(&hub.url("/activity")).await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(
            page.body.contains("keyway group add keyway-admins"),
            "{}",
            page.body
        );
        let edges = browser.get(&hub.url("/activity/v1/edges")).await;
        assert_eq!(edges.status, 403, "{}", edges.body);
        assert!(
            hub.auth
                .add_group_member(keyway_auth::ADMINS, "alice")
                .await
                .unwrap()
        );
        assert_eq!(browser.get(&hub.url("/activity")).await.status, 200);
        assert_eq!(
            browser.get(&hub.url("/activity/v1/edges")).await.status,
            200
        );
        assert!(
            hub.auth
                .remove_group_member(keyway_auth::ADMINS, "alice")
                .await
                .unwrap()
        );
        assert_eq!(browser.get(&hub.url("/activity")).await.status, 403);
    })
    .await;
}

/// *Sign out everywhere* on the home page ends the person's sessions on every browser (not
/// only this one), and the home page says so.
#[tokio::test]
async fn sign_out_everywhere_ends_every_session_of_the_person() {
    on_every_backend(async |hub: &TestHub| {
        hub.user("alice", PASSWORD).await;
        hub.user("bob", PASSWORD).await;
        let (mut laptop, mut phone, mut bobs) = (Browser::new(), Browser::new(), Browser::new());
        for (browser, name) in [
            (&mut laptop, "alice"),
            (&mut phone, "alice"),
            (&mut bobs, "bob"),
        ] {
            let form = browser.get(&hub.url("/login")).await;
            let done = browser
                .post(
                    &hub.url("/login"),
                    &[
                        ("csrf", &form.field("csrf")),
                        ("username", name),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            assert_eq!(done.status, 303, "{}", done.body);
        }
        assert_eq!(hub.count_rows("login_sessions").await, 3);
        let home = laptop.get(&hub.url("/")).await;
        assert!(home.body.contains("Sign out everywhere"), "{}", home.body);
        let out = laptop
            .post(
                &hub.url("/logout"),
                &[("csrf", &home.field("csrf")), ("everywhere", "1")],
            )
            .await;
        assert_eq!(out.status, 303);
        assert_eq!(out.location.as_deref(), Some("/?signed-out=everywhere"));
        assert!(hub.auth.user_sessions("alice").await.unwrap().is_empty());
        assert_eq!(hub.auth.user_sessions("bob").await.unwrap().len(), 1);
        let after = phone.get(&hub.url("/?signed-out=everywhere")).await;
        assert!(after.body.contains("Not signed in"), "{}", after.body);
        assert!(
            after.body.contains("signed out everywhere"),
            "{}",
            after.body
        );
    })
    .await;
}
