//! JWT-secured authorization responses (JARM): `response_mode=jwt` / `query.jwt` answers with
//! one JWT signed by the hub, for success and for errors.

use crate::browser::{Browser, authorize_url, log_in_and_allow, pkce};
use crate::harness::{TestHub, code_exchange, on_every_backend};

const REDIRECT: &str = "http://127.0.0.1:9/cb";

/// The claims of a JARM response, verified with an independent JOSE library from the JWKS.
async fn verified(hub: &TestHub, jwt: &str, client_id: &str) -> serde_json::Value {
    crate::client_credentials::verify_jwt_with_jwks(hub, jwt, client_id).await
}

#[tokio::test]
async fn codes_and_errors_come_back_signed() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(&["authorization_code"], "openid", &[REDIRECT])
            .await;
        hub.user("alice", "correct horse battery").await;
        let (verifier, challenge) = pkce();
        for mode in ["jwt", "query.jwt"] {
            let url = format!(
                "{}&response_mode={mode}",
                authorize_url(hub, &id, REDIRECT, "openid", &challenge)
            );
            let mut browser = Browser::new();
            let done =
                log_in_and_allow(&mut browser, hub, &url, "alice", "correct horse battery").await;
            assert_eq!(done.status, 303, "{}", done.body);
            // Only the signed response travels: no code or state in the clear.
            assert_eq!(done.redirect_param("code"), None);
            let jwt = done.redirect_param("response").expect("a response JWT");
            let claims = verified(hub, &jwt, &id).await;
            assert_eq!(claims["state"], "st-123");
            let now = hub.auth.clock().now_secs();
            let exp = claims["exp"].as_i64().unwrap();
            assert!(exp > now && exp <= now + 600, "{claims}");
            let code = claims["code"].as_str().unwrap();
            let (status, tokens) =
                code_exchange(hub, (&id, &secret), code, REDIRECT, &verifier).await;
            assert_eq!(status, 200, "{tokens}");
        }
        // An error (here a scope the client may not have) is signed too.
        let url = format!(
            "{}&response_mode=jwt",
            authorize_url(hub, &id, REDIRECT, "admin", &challenge)
        );
        let page = Browser::new().get(&url).await;
        assert_eq!(page.status, 302, "{}", page.body);
        let location = page.location.unwrap();
        let jwt = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "response")
            .map(|(_, v)| v.into_owned())
            .expect("a response JWT");
        let claims = verified(hub, &jwt, &id).await;
        assert_eq!(claims["error"], "invalid_scope", "{claims}");
        // An unknown response mode is an error in the query, where the client can read it.
        let url = format!(
            "{}&response_mode=fragment.jwt",
            authorize_url(hub, &id, REDIRECT, "openid", &challenge)
        );
        let page = Browser::new().get(&url).await;
        assert!(page.location.unwrap().contains("error=invalid_request"));
    })
    .await;
}

/// The hidden fields of the form a `form_post` answer page posts to `REDIRECT`.
fn posted_fields(body: &str) -> Vec<(String, String)> {
    assert!(
        body.contains(&format!("<form method=\"post\" action=\"{REDIRECT}\">")),
        "{body}"
    );
    assert!(!body.contains("<script"), "the page runs no script: {body}");
    body.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").unwrap();
            let (value, _) = rest.split_once('"').unwrap();
            (
                name.to_string(),
                value.replace("&#x2f;", "/").replace("&#43;", "+"),
            )
        })
        .collect()
}

/// `form_post.jwt` (and plain `form_post`): the answer is a page with a form, no script, and a
/// button that posts it to the redirect URI; errors come back the same way.
#[tokio::test]
async fn form_post_modes_answer_with_a_form_the_user_sends() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (id, secret) = hub
        .client(&["authorization_code"], "openid", &[REDIRECT])
        .await;
    hub.user("alice", "correct horse battery").await;
    let (verifier, challenge) = pkce();
    let url = format!(
        "{}&response_mode=form_post.jwt",
        authorize_url(&hub, &id, REDIRECT, "openid", &challenge)
    );
    let mut browser = Browser::new();
    let done = log_in_and_allow(&mut browser, &hub, &url, "alice", "correct horse battery").await;
    assert_eq!(done.status, 200, "{}", done.body);
    let fields = posted_fields(&done.body);
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(fields[0].0, "response");
    let claims = verified(&hub, &fields[0].1, &id).await;
    assert_eq!(claims["state"], "st-123");
    let code = claims["code"].as_str().unwrap();
    let (status, tokens) = code_exchange(&hub, (&id, &secret), code, REDIRECT, &verifier).await;
    assert_eq!(status, 200, "{tokens}");

    // Plain form_post: code, state and iss as fields; an error is posted the same way.
    let url = format!(
        "{}&response_mode=form_post",
        authorize_url(&hub, &id, REDIRECT, "admin", &challenge)
    );
    let page = Browser::new().get(&url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let fields = posted_fields(&page.body);
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("error"), Some("invalid_scope"), "{fields:?}");
    assert_eq!(get("state"), Some("st-123"));
    assert!(get("iss").is_some());
    hub.finish().await;
}
