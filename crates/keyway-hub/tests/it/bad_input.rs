//! Every bad request gets the exact RFC error, never a 500, and changes nothing.

use crate::harness::{TestHub, client_credentials_token, http, on_every_backend, post_form};

#[tokio::test]
async fn wrong_or_missing_client_credentials_are_invalid_client_with_a_challenge() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let token = hub.url("/oauth2/token");
        let grant = [("grant_type", "client_credentials")];
        for basic in [
            Some((id.as_str(), "wrong")),
            Some(("nobody", secret.as_str())),
            None,
        ] {
            let (status, headers, body) = post_form(&token, basic, &grant).await;
            assert_eq!(status, 401, "{basic:?}");
            assert_eq!(body["error"], "invalid_client");
            assert!(
                headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Basic")
            );
            assert_eq!(headers["cache-control"], "no-store");
        }
        // Two methods at once.
        let (status, _, body) = post_form(
            &token,
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &secret),
                ("client_id", &id),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
        // Malformed Basic header.
        let response = http()
            .post(&token)
            .header("authorization", "Basic !!!not-base64")
            .form(&grant)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
    })
    .await;
}

#[tokio::test]
async fn unknown_and_forbidden_grant_types() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        for grant in ["password", "implicit", "urn:example:unknown"] {
            let (status, _, body) = post_form(
                &hub.url("/oauth2/token"),
                Some((&id, &secret)),
                &[("grant_type", grant), ("username", "u"), ("password", "p")],
            )
            .await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("unsupported_grant_type")),
                "{grant}"
            );
        }
        let (status, _, body) =
            post_form(&hub.url("/oauth2/token"), Some((&id, &secret)), &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
    })
    .await;
}

#[tokio::test]
async fn malformed_bodies() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let token = hub.url("/oauth2/token");
        // JSON instead of a form.
        let response = http()
            .post(&token)
            .basic_auth(&id, Some(&secret))
            .json(&serde_json::json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        // Repeated parameter.
        let (status, _, body) = post_form(
            &token,
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read"),
                ("scope", "read"),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
        // Oversized body.
        let big = "x".repeat(200 * 1024);
        let response = http()
            .post(&token)
            .basic_auth(&id, Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=client_credentials&pad={big}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 413);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "413s are problem documents like the hub's other errors"
        );
        // Invalid UTF-8.
        let response = http()
            .post(&token)
            .basic_auth(&id, Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'g', b'=', 0xff, 0xfe])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        // Wrong method.
        let response = http().get(&token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 405);
        // The client still works: nothing was changed by the bad requests.
        client_credentials_token(hub, &id, &secret).await;
    })
    .await;
}

#[tokio::test]
async fn tampered_and_forged_tokens_are_inactive() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let good = client_credentials_token(hub, &id, &secret).await;
        let parts: Vec<&str> = good.split('.').collect();
        let b64 = |v: &serde_json::Value| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let kid = {
            use base64::Engine;
            let header: serde_json::Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(parts[0])
                    .unwrap(),
            )
            .unwrap();
            header["kid"].as_str().unwrap().to_string()
        };
        // alg none, no signature.
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
            parts[1]
        );
        // HS256 "signed" with our public key as the HMAC secret.
        let jwks: serde_json::Value = http()
            .get(hub.url("/oauth2/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_string();
        let hs_header = b64(&serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}));
        let input = format!("{hs_header}.{}", parts[1]);
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public_x.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        let hs256 = {
            use base64::Engine;
            format!(
                "{input}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
            )
        };
        // Payload altered (scope widened), signature kept.
        let mut claims: serde_json::Value = {
            use base64::Engine;
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(parts[1])
                    .unwrap(),
            )
            .unwrap()
        };
        claims["scope"] = serde_json::json!("read admin");
        let altered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        for forged in [
            none,
            hs256,
            altered,
            "garbage".to_string(),
            "a.b.c".to_string(),
        ] {
            let (status, _, body) = post_form(
                &hub.url("/oauth2/introspect"),
                Some((&id, &secret)),
                &[("token", &forged)],
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(body, serde_json::json!({"active": false}), "{forged}");
            let response = http()
                .get(hub.url("/oauth2/userinfo"))
                .bearer_auth(&forged)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 401);
        }
        // An expired token is inactive too.
        hub.clock.advance_secs(901);
        let (_, _, body) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&id, &secret)),
            &[("token", &good)],
        )
        .await;
        assert_eq!(body, serde_json::json!({"active": false}));
    })
    .await;
}
