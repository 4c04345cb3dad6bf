//! RFC 7662 introspection and RFC 7009 revocation of access tokens.

use crate::harness::{TestHub, client_credentials_token, on_every_backend, post_form};

#[tokio::test]
async fn introspection_answers_for_live_revoked_and_unknown_tokens() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let (rs, rs_secret) = hub.client(&["client_credentials"], "", &[]).await;
        let token = client_credentials_token(hub, &id, &secret).await;
        let (status, headers, body) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&rs, &rs_secret)),
            &[("token", &token)],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(body["active"], true);
        assert_eq!(body["client_id"], id.as_str());
        assert_eq!(body["scope"], "read");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["iss"], hub.base.as_str());

        // Unauthenticated callers get invalid_client.
        let (status, _, body) =
            post_form(&hub.url("/oauth2/introspect"), None, &[("token", &token)]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        // Missing token parameter.
        let (status, _, body) =
            post_form(&hub.url("/oauth2/introspect"), Some((&rs, &rs_secret)), &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );

        // The resource server cannot revoke someone else's token: 200, and nothing changes.
        let (status, _, _) = post_form(
            &hub.url("/oauth2/revoke"),
            Some((&rs, &rs_secret)),
            &[("token", &token)],
        )
        .await;
        assert_eq!(status, 200);
        let (_, _, body) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&rs, &rs_secret)),
            &[("token", &token)],
        )
        .await;
        assert_eq!(body["active"], true);
        // The owner can; afterwards it is inactive.
        let (status, _, _) = post_form(
            &hub.url("/oauth2/revoke"),
            Some((&id, &secret)),
            &[("token", &token), ("token_type_hint", "access_token")],
        )
        .await;
        assert_eq!(status, 200);
        let (_, _, body) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&rs, &rs_secret)),
            &[("token", &token)],
        )
        .await;
        assert_eq!(body, serde_json::json!({"active": false}));
        let (_, _, body) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&rs, &rs_secret)),
            &[("token", "kwr_unknown")],
        )
        .await;
        assert_eq!(body, serde_json::json!({"active": false}));
    })
    .await;
}

#[tokio::test]
async fn deleting_a_client_or_rotating_its_secret_takes_effect() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let (rs, rs_secret) = hub.client(&["client_credentials"], "", &[]).await;
        let token = client_credentials_token(hub, &id, &secret).await;
        let new_secret = hub.auth.rotate_client_secret(&id).await.unwrap();
        let (status, _, _) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(
            status, 401,
            "the old secret is dead at once in this process"
        );
        client_credentials_token(hub, &id, new_secret.expose()).await;
        hub.auth.delete_client(&id).await.unwrap();
        let (_, _, body) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&rs, &rs_secret)),
            &[("token", &token)],
        )
        .await;
        assert_eq!(
            body["active"], false,
            "tokens of a deleted client are inactive"
        );
    })
    .await;
}
