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
