//! DPoP (RFC 9449): tokens bound to a client's key at the token endpoint, honoured by the hub's
//! own APIs only with a fresh proof by that key.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::{TestHub, http, on_every_backend};

struct Holder {
    pair: Ed25519KeyPair,
}

impl Holder {
    fn new() -> Holder {
        Holder {
            pair: Ed25519KeyPair::generate().unwrap(),
        }
    }

    fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    /// RFC 7638 thumbprint of the public key.
    fn jkt(&self) -> String {
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.x());
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }

    fn proof(&self, htm: &str, htu: &str, iat: i64, jti: &str, token: Option<&str>) -> String {
        self.proof_with(htm, htu, iat, jti, token, None)
    }

    fn proof_with(
        &self,
        htm: &str,
        htu: &str,
        iat: i64,
        jti: &str,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "EdDSA",
                            "jwk": {"kty": "OKP", "crv": "Ed25519", "x": self.x()}});
        let mut claims = json!({"htm": htm, "htu": htu, "iat": iat, "jti": jti});
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(token) = token {
            claims["ath"] =
                json!(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes())));
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.pair.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// POST /oauth2/token (client_credentials) with these DPoP headers.
async fn token(hub: &TestHub, id: &str, secret: &str, proofs: &[&str]) -> (u16, Value) {
    let mut request = http()
        .post(hub.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")]);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// GET /link/v1/stats with `Authorization: <scheme> <token>` and an optional proof; the status
/// and the WWW-Authenticate challenge.
async fn stats(hub: &TestHub, scheme: &str, token: &str, proof: Option<&str>) -> (u16, String) {
    let mut request = http()
        .get(hub.url("/link/v1/stats"))
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn a_bound_token_works_only_with_a_proof_by_its_key() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "link:read", &[]).await;
        let holder = Holder::new();
        let now = hub.auth.clock().now_secs();
        let token_url = hub.url("/oauth2/token");
        let proof = holder.proof("POST", &token_url, now, "t-1", None);
        let (status, answer) = token(hub, &id, &secret, &[&proof]).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["token_type"], "DPoP");
        let access = answer["access_token"].as_str().unwrap().to_string();
        let payload: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(access.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(payload["cnf"]["jkt"], holder.jkt());
        // Introspection says so too.
        let (_, _, seen) = crate::harness::post_form(
            &hub.url("/oauth2/introspect"),
            Some((&id, &secret)),
            &[("token", &access)],
        )
        .await;
        assert_eq!(seen["token_type"], "DPoP");
        assert_eq!(seen["cnf"]["jkt"], holder.jkt());

        let api = hub.url("/link/v1/stats");
        let good = holder.proof("GET", &api, now, "r-1", Some(&access));
        assert_eq!(stats(hub, "DPoP", &access, Some(&good)).await.0, 200);
        // The same proof again is a replay.
        let (status, challenge) = stats(hub, "DPoP", &access, Some(&good)).await;
        assert_eq!(status, 401);
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains("invalid_dpop_proof"),
            "{challenge}"
        );
        // As a Bearer token, or without a proof, it is refused.
        let (status, challenge) = stats(hub, "Bearer", &access, None).await;
        assert_eq!(status, 401);
        assert!(challenge.contains("invalid_token"), "{challenge}");
        assert_eq!(stats(hub, "DPoP", &access, None).await.0, 401);
        let other = Holder::new();
        for (proof, why) in [
            (
                holder.proof("POST", &api, now, "r-2", Some(&access)),
                "wrong htm",
            ),
            (
                holder.proof("GET", &token_url, now, "r-3", Some(&access)),
                "wrong htu",
            ),
            (holder.proof("GET", &api, now, "r-4", None), "no ath"),
            (
                holder.proof("GET", &api, now - 600, "r-5", Some(&access)),
                "stale",
            ),
            (
                other.proof("GET", &api, now, "r-6", Some(&access)),
                "another key",
            ),
        ] {
            assert_eq!(
                stats(hub, "DPoP", &access, Some(&proof)).await.0,
                401,
                "{why}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn bad_proofs_at_the_token_endpoint_are_refused() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "link:read", &[]).await;
        let holder = Holder::new();
        let now = hub.auth.clock().now_secs();
        let token_url = hub.url("/oauth2/token");
        let wrong_url = holder.proof("POST", &hub.url("/oauth2/par"), now, "b-1", None);
        let (status, answer) = token(hub, &id, &secret, &[&wrong_url]).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_dpop_proof"))
        );
        let one = holder.proof("POST", &token_url, now, "b-2", None);
        let two = holder.proof("POST", &token_url, now, "b-3", None);
        let (status, answer) = token(hub, &id, &secret, &[&one, &two]).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_dpop_proof"))
        );
        // Without a proof the token is a plain Bearer token, refused when sent as DPoP.
        let (status, answer) = token(hub, &id, &secret, &[]).await;
        assert_eq!(
            (status, answer["token_type"].as_str()),
            (200, Some("Bearer"))
        );
        let bearer = answer["access_token"].as_str().unwrap();
        let proof = holder.proof("GET", &hub.url("/link/v1/stats"), now, "b-4", Some(bearer));
        assert_eq!(stats(hub, "DPoP", bearer, Some(&proof)).await.0, 401);
        assert_eq!(stats(hub, "Bearer", bearer, None).await.0, 200);
    })
    .await;
}

/// A client registered with `--require-dpop` gets no token without a proof.
#[tokio::test]
async fn a_client_can_be_held_to_dpop() {
    on_every_backend(async |hub: &TestHub| {
        let policy = keyway_auth::ClientPolicy {
            require_dpop: true,
            ..keyway_auth::ClientPolicy::default()
        };
        let (id, secret) = hub
            .client_with_policy(&["client_credentials"], "link:read", &[], policy)
            .await;
        let (status, answer) = token(hub, &id, &secret, &[]).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_dpop_proof"))
        );
        let holder = Holder::new();
        let now = hub.auth.clock().now_secs();
        let proof = holder.proof("POST", &hub.url("/oauth2/token"), now, "rd-1", None);
        let (status, answer) = token(hub, &id, &secret, &[&proof]).await;
        assert_eq!(
            (status, answer["token_type"].as_str()),
            (200, Some("DPoP")),
            "{answer}"
        );
    })
    .await;
}

/// A bound token is never taken as a bearer token, UserInfo included.
#[tokio::test]
async fn userinfo_refuses_a_bound_token_used_as_bearer() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (id, secret) = hub.client(&["client_credentials"], "openid", &[]).await;
    let holder = Holder::new();
    let now = hub.auth.clock().now_secs();
    let proof = holder.proof("POST", &hub.url("/oauth2/token"), now, "u-1", None);
    let (status, answer) = token(&hub, &id, &secret, &[&proof]).await;
    assert_eq!(status, 200, "{answer}");
    let access = answer["access_token"].as_str().unwrap();
    let response = http()
        .get(hub.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("invalid_token") && challenge.contains("DPoP"),
        "{challenge}"
    );
    hub.finish().await;
}

/// A POST to the token endpoint with one DPoP proof: status, `DPoP-Nonce`, body.
async fn token_form(
    hub: &TestHub,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = http().post(hub.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_string());
    (
        response.status().as_u16(),
        nonce,
        response.json().await.unwrap_or_default(),
    )
}

/// RFC 9449 §8 and §9: with `require_dpop_nonce`, proofs without the hub's current nonce are
/// answered `use_dpop_nonce` with the nonce to use, at the token endpoint and at the APIs.
#[tokio::test]
async fn proofs_must_carry_the_hubs_nonce_when_it_asks_for_one() {
    let hub = TestHub::start_with(&crate::harness::Backend::Sqlite, |config| {
        config.require_dpop_nonce = true;
    })
    .await;
    let (id, secret) = hub.client(&["client_credentials"], "link:read", &[]).await;
    let holder = Holder::new();
    let now = hub.auth.clock().now_secs();
    let token_url = hub.url("/oauth2/token");
    let grant = [("grant_type", "client_credentials")];
    let basic = Some((id.as_str(), secret.as_str()));

    let bare = holder.proof("POST", &token_url, now, "n-1", None);
    let (status, nonce, answer) = token_form(&hub, basic, &grant, Some(&bare)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "{answer}"
    );
    let nonce = nonce.expect("a DPoP-Nonce header with the refusal");
    for forged in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not-a-nonce"] {
        let proof = holder.proof_with("POST", &token_url, now, forged, None, Some(forged));
        let (status, _, answer) = token_form(&hub, basic, &grant, Some(&proof)).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("use_dpop_nonce"))
        );
    }
    let proof = holder.proof_with("POST", &token_url, now, "n-2", None, Some(&nonce));
    let (status, next, answer) = token_form(&hub, basic, &grant, Some(&proof)).await;
    assert_eq!(
        (status, answer["token_type"].as_str()),
        (200, Some("DPoP")),
        "{answer}"
    );
    assert!(
        next.is_some(),
        "a successful token response offers the next nonce"
    );
    let access = answer["access_token"].as_str().unwrap();

    let api = hub.url("/link/v1/stats");
    let bare = holder.proof("GET", &api, now, "n-3", Some(access));
    let response = http()
        .get(&api)
        .header("Authorization", format!("DPoP {access}"))
        .header("DPoP", bare)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    let nonce = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_string();
    let good = holder.proof_with("GET", &api, now, "n-4", Some(access), Some(&nonce));
    assert_eq!(stats(&hub, "DPoP", access, Some(&good)).await.0, 200);
    hub.finish().await;
}

/// Without `require_dpop_nonce` no nonce is offered, and a proof carrying one still counts.
#[tokio::test]
async fn no_nonce_is_offered_unless_the_hub_requires_them() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (id, secret) = hub.client(&["client_credentials"], "link:read", &[]).await;
    let holder = Holder::new();
    let now = hub.auth.clock().now_secs();
    let proof = holder.proof_with(
        "POST",
        &hub.url("/oauth2/token"),
        now,
        "o-1",
        None,
        Some("x"),
    );
    let basic = Some((id.as_str(), secret.as_str()));
    let (status, nonce, _) = token_form(
        &hub,
        basic,
        &[("grant_type", "client_credentials")],
        Some(&proof),
    )
    .await;
    assert_eq!((status, nonce), (200, None));
    hub.finish().await;
}

/// RFC 9449 §5: a public client's refresh tokens are bound to the key of the proof that came
/// with the code; a refresh without a proof, or with another key, is refused.
#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_key() {
    on_every_backend(async |hub: &TestHub| {
        const CB: &str = "http://127.0.0.1:9/callback";
        let id = hub.public_client("openid", CB).await;
        let (code, verifier) = crate::browser::obtain_code(hub, &id, CB, "openid").await;
        let holder = Holder::new();
        let now = hub.auth.clock().now_secs();
        let token_url = hub.url("/oauth2/token");
        let proof = holder.proof("POST", &token_url, now, "p-1", None);
        let (status, _, answer) = token_form(
            hub,
            None,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &id),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(&proof),
        )
        .await;
        assert_eq!(
            (status, answer["token_type"].as_str()),
            (200, Some("DPoP")),
            "{answer}"
        );
        let refresh = answer["refresh_token"].as_str().unwrap().to_string();
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", id.as_str()),
            ("refresh_token", refresh.as_str()),
        ];
        let (status, _, answer) = token_form(hub, None, &form, None).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_grant")),
            "{answer}"
        );
        let thief = Holder::new().proof("POST", &token_url, now, "p-2", None);
        let (status, _, answer) = token_form(hub, None, &form, Some(&thief)).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_grant")),
            "{answer}"
        );
        // Neither refusal spent the token: its holder still refreshes, bound again.
        let own = holder.proof("POST", &token_url, now, "p-3", None);
        let (status, _, answer) = token_form(hub, None, &form, Some(&own)).await;
        assert_eq!(
            (status, answer["token_type"].as_str()),
            (200, Some("DPoP")),
            "{answer}"
        );
        let next = answer["refresh_token"].as_str().unwrap();
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", id.as_str()),
            ("refresh_token", next),
        ];
        let (status, _, _) = token_form(hub, None, &form, None).await;
        assert_eq!(status, 400, "the rotated token is bound too");
    })
    .await;
}

/// A proof is recorded only when its token request succeeds: requests anyone can send (a
/// public client needs no secret) cannot fill the replay cache. A proof that got a token is a
/// replay from then on.
#[tokio::test]
async fn failed_token_requests_do_not_spend_their_proof() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let public = hub.public_client("openid", "http://127.0.0.1:9/cb").await;
    let (id, secret) = hub.client(&["client_credentials"], "link:read", &[]).await;
    let holder = Holder::new();
    let now = hub.auth.clock().now_secs();
    let proof = holder.proof("POST", &hub.url("/oauth2/token"), now, "f-1", None);
    let (status, _, answer) = token_form(
        &hub,
        None,
        &[("grant_type", "client_credentials"), ("client_id", &public)],
        Some(&proof),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let basic = Some((id.as_str(), secret.as_str()));
    let grant = [("grant_type", "client_credentials")];
    let (status, _, answer) = token_form(&hub, basic, &grant, Some(&proof)).await;
    assert_eq!(
        status, 200,
        "the failed request did not spend the proof: {answer}"
    );
    let (status, _, answer) = token_form(&hub, basic, &grant, Some(&proof)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{answer}"
    );
    hub.finish().await;
}

/// RFC 9449 §10: `dpop_jkt` on the authorization request, or a DPoP proof sent with a pushed
/// request, binds the code to a key; only a proof by that key redeems it, and a refusal does
/// not spend the code.
#[tokio::test]
async fn a_code_bound_with_dpop_jkt_needs_a_proof_by_that_key() {
    use crate::browser::{Browser, authorize_url, log_in_and_allow, pkce};
    const CB: &str = "http://127.0.0.1:9/callback";
    on_every_backend(async |hub: &TestHub| {
        hub.user("alice", "correct horse battery").await;
        let (id, secret) = hub.client(&["authorization_code"], "openid", &[CB]).await;
        let holder = Holder::new();
        let thief = Holder::new();
        let token_url = hub.url("/oauth2/token");
        let now = hub.auth.clock().now_secs();
        let basic = Some((id.as_str(), secret.as_str()));

        // By dpop_jkt in the query.
        let (verifier, challenge) = pkce();
        let url = format!(
            "{}&dpop_jkt={}",
            authorize_url(hub, &id, CB, "openid", &challenge),
            holder.jkt()
        );
        let done = log_in_and_allow(
            &mut Browser::new(),
            hub,
            &url,
            "alice",
            "correct horse battery",
        )
        .await;
        let code = done.redirect_param("code").unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", verifier.as_str()),
        ];
        let (status, _, answer) = token_form(hub, basic, &form, None).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "{answer}"
        );
        let wrong = thief.proof("POST", &token_url, now, "j-1", None);
        let (status, _, _) = token_form(hub, basic, &form, Some(&wrong)).await;
        assert_eq!(status, 400);
        let right = holder.proof("POST", &token_url, now, "j-2", None);
        let (status, _, answer) = token_form(hub, basic, &form, Some(&right)).await;
        assert_eq!(
            (status, answer["token_type"].as_str()),
            (200, Some("DPoP")),
            "{answer}"
        );

        // By a proof sent with a pushed request.
        let (verifier, challenge) = pkce();
        let par_proof = holder.proof("POST", &hub.url("/oauth2/par"), now, "j-3", None);
        let response = http()
            .post(hub.url("/oauth2/par"))
            .basic_auth(&id, Some(&secret))
            .header("DPoP", par_proof)
            .form(&[
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let pushed: Value = response.json().await.unwrap();
        let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", &id)
            .append_pair("request_uri", pushed["request_uri"].as_str().unwrap());
        let done = log_in_and_allow(
            &mut Browser::new(),
            hub,
            url.as_ref(),
            "alice",
            "correct horse battery",
        )
        .await;
        let code = done.redirect_param("code").unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", verifier.as_str()),
        ];
        let wrong = thief.proof("POST", &token_url, now, "j-4", None);
        let (status, _, _) = token_form(hub, basic, &form, Some(&wrong)).await;
        assert_eq!(status, 400);
        let right = holder.proof("POST", &token_url, now, "j-5", None);
        let (status, _, answer) = token_form(hub, basic, &form, Some(&right)).await;
        assert_eq!(status, 200, "{answer}");

        // A malformed dpop_jkt is an error the client reads in its redirect.
        let (_, challenge) = pkce();
        let url = format!(
            "{}&dpop_jkt=not-a-thumbprint",
            authorize_url(hub, &id, CB, "openid", &challenge)
        );
        let page = Browser::new().get(&url).await;
        assert!(
            page.location
                .unwrap_or_default()
                .contains("error=invalid_request")
        );
    })
    .await;
}

/// The gateway honours a DPoP-bound token only with a proof by its key, like every hub API;
/// the proof stays behind and the target gets the hub's own bearer token.
#[tokio::test]
async fn the_gateway_takes_a_bound_token_with_its_proof() {
    let api = crate::gateway::upstream().await;
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(&["client_credentials"], "orders.read", &[])
            .await;
        let target = crate::gateway::callable_api(hub, &id, &api).await;
        let holder = Holder::new();
        let now = hub.auth.clock().now_secs();
        let proof = holder.proof("POST", &hub.url("/oauth2/token"), now, "g-1", None);
        let (status, answer) = token(hub, &id, &secret, &[&proof]).await;
        assert_eq!(status, 200, "{answer}");
        let access = answer["access_token"].as_str().unwrap();
        let url = hub.url(&format!("/gateway/{target}/echo"));
        let call = |scheme: &str, proof: Option<String>| {
            let mut request = http()
                .get(&url)
                .header("Authorization", format!("{scheme} {access}"));
            if let Some(proof) = proof {
                request = request.header("DPoP", proof);
            }
            request.send()
        };
        let response = call("Bearer", None).await.unwrap();
        assert_eq!(response.status(), 401, "a bound token without its proof");
        let proof = holder.proof("GET", &url, now, "g-2", Some(access));
        let response = call("DPoP", Some(proof)).await.unwrap();
        assert_eq!(response.status(), 200);
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["dpop"], Value::Null, "the proof stays behind: {seen}");
        let bearer = seen["authorization"].as_str().unwrap();
        assert!(bearer.starts_with("Bearer "), "{seen}");
        let minted = crate::logout::claims_of(bearer.strip_prefix("Bearer ").unwrap());
        assert_eq!(minted["act"]["sub"], id.as_str());
    })
    .await;
}

#[tokio::test]
async fn a_proof_replayed_to_another_node_is_refused() {
    crate::harness::on_two_nodes(async |one: &TestHub, two: &TestHub| {
        let label = one.backend.clone();
        let (id, secret) = one.client(&["client_credentials"], "link:read", &[]).await;
        let holder = Holder::new();
        let now = one.auth.clock().now_secs();
        // The token request's proof, replayed to the other node's token endpoint.
        let token_url = one.url("/oauth2/token");
        let proof = holder.proof("POST", &token_url, now, "t-cluster", None);
        let (status, answer) = token(one, &id, &secret, &[&proof]).await;
        assert_eq!(status, 200, "{label}: {answer}");
        let (status, answer) = token(two, &id, &secret, &[&proof]).await;
        assert_eq!(status, 400, "{label}: {answer}");
        assert_eq!(answer["error"], "invalid_dpop_proof", "{label}");
        // A resource request's proof, replayed to the other node.
        let access = {
            let proof = holder.proof("POST", &token_url, now, "t-cluster-2", None);
            let (_, answer) = token(one, &id, &secret, &[&proof]).await;
            answer["access_token"].as_str().unwrap().to_string()
        };
        let api = one.url("/link/v1/stats");
        let good = holder.proof("GET", &api, now, "r-cluster", Some(&access));
        assert_eq!(
            stats(one, "DPoP", &access, Some(&good)).await.0,
            200,
            "{label}"
        );
        let (status, challenge) = stats(two, "DPoP", &access, Some(&good)).await;
        assert_eq!(status, 401, "{label}");
        assert!(
            challenge.contains("invalid_dpop_proof"),
            "{label}: {challenge}"
        );
    })
    .await;
}
