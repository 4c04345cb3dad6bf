//! The g2d1 profile (docs/oauth.md): signed authorization requests and redirects, custom
//! parameters carried through the flow, `appid`, `coder`/`refresh_coder_token`, and HS256
//! request objects under the client's signing secret.

use keyway_auth::{
    ClientPolicy, ClientProfile, NewClient, SecretString, canonical_string, g2d1_signature,
};

use crate::browser::{Browser, log_in_and_allow, pkce};
use crate::harness::{TestHub, on_every_backend, post_form};

const CB: &str = "http://127.0.0.1:9/g2d1-callback";
const SECRET: &str = "g2d1-integration-signing-secret-0123456789";

async fn g2d1_client(hub: &TestHub) -> (String, String) {
    let registered = hub
        .auth
        .create_client(NewClient {
            name: "shop".into(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scope: "openid read".into(),
            redirect_uris: vec![CB.into()],
            policy: ClientPolicy {
                profile: Some(ClientProfile::G2d1),
                ..ClientPolicy::default()
            },
            signing_secret: Some(SecretString::new(SECRET.into())),
            ..NewClient::default()
        })
        .await
        .unwrap();
    let secret = registered.client_secret.unwrap().expose().to_string();
    (registered.client.client_id, secret)
}

/// A signed request URL: `params` plus timestamp, nonce, signature_names and signature.
fn signed_url(hub: &TestHub, params: &[(&str, &str)], names: &str, nonce: &str, at: i64) -> String {
    let at = at.to_string();
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.extend([
        ("timestamp", at.as_str()),
        ("nonce", nonce),
        ("signature_names", names),
    ]);
    let signature = g2d1_signature(SECRET.as_bytes(), &all);
    let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
    url.query_pairs_mut()
        .extend_pairs(all.iter().copied())
        .append_pair("signature", &signature);
    url.to_string()
}

fn base<'a>(appid: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("appid", appid),
        ("response_type", "code"),
        ("redirect_uri", CB),
        ("scope", "openid read"),
        ("state", "s 1/2"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("type", "password"),
        ("order_id", "A-17"),
        ("note", "héllo wörld"),
    ]
}

#[tokio::test]
async fn a_signed_request_gets_a_signed_redirect_and_coder_tokens() {
    on_every_backend(async |hub: &TestHub| {
        hub.user("alice", "correct horse battery").await;
        let (id, secret) = g2d1_client(hub).await;
        let (verifier, challenge) = pkce();
        let now = hub.auth.clock().now_secs();
        let url = signed_url(hub, &base(&id, &challenge), "order_id,note", "n-1", now);
        let mut browser = Browser::new();
        let done =
            log_in_and_allow(&mut browser, hub, &url, "alice", "correct horse battery").await;
        assert_eq!(done.status, 303, "{}", done.body);
        let location = url::Url::parse(done.location.as_deref().unwrap()).unwrap();
        let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(get("order_id"), "A-17");
        assert_eq!(get("note"), "héllo wörld");
        assert_eq!(get("type"), "password");
        assert_eq!(get("state"), "s 1/2");
        assert_eq!(get("signature_names"), "order_id,note");
        assert_eq!(get("iss"), hub.url("").trim_end_matches('/'));
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            get("signature"),
            g2d1_signature(SECRET.as_bytes(), &borrowed),
            "{}",
            canonical_string(&borrowed)
        );
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &get("code")),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["coder"], body["access_token"]);
        assert_eq!(body["refresh_coder_token"], body["refresh_token"]);
        let refresh = body["refresh_coder_token"].as_str().unwrap();
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_coder_token", refresh),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["coder"].is_string());
    })
    .await;
}

/// Each bad request is shown as an error page (`invalid_request`) and never reaches the
/// client; a refused request does not spend its nonce.
#[tokio::test]
async fn bad_signatures_stale_timestamps_reused_nonces_and_unsigned_parameters_are_refused() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (id, _) = g2d1_client(&hub).await;
    let (_, challenge) = pkce();
    let now = hub.auth.clock().now_secs();
    let params = base(&id, &challenge);
    let get = async |url: String| Browser::new().get(&url).await;

    // Unsigned: a plain request from a g2d1 client.
    let mut plain = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
    plain.query_pairs_mut().extend_pairs(params.iter().copied());
    let page = get(plain.to_string()).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("timestamp is required"), "{}", page.body);

    // Signed over another parameter set: a parameter changed after signing.
    let tampered = signed_url(&hub, &params, "order_id,note", "n-2", now).replace("A-17", "A-18");
    let page = get(tampered).await;
    assert!(
        page.status == 400 && page.body.contains("does not match"),
        "{}",
        page.body
    );

    // A custom parameter outside signature_names.
    let page = get(signed_url(&hub, &params, "order_id", "n-3", now)).await;
    assert!(
        page.status == 400 && page.body.contains("note is not in signature_names"),
        "{}",
        page.body
    );

    // Stale.
    let page = get(signed_url(&hub, &params, "order_id,note", "n-4", now - 301)).await;
    assert!(
        page.status == 400 && page.body.contains("more than 300 s"),
        "{}",
        page.body
    );

    // Duplicated parameter.
    let twice = format!(
        "{}&order_id=A-17",
        signed_url(&hub, &params, "order_id,note", "n-5", now)
    );
    let page = get(twice).await;
    assert!(
        page.status == 400 && page.body.contains("twice"),
        "{}",
        page.body
    );

    // A good request works once; its nonce again is a replay.
    let good = signed_url(&hub, &params, "order_id,note", "n-6", now);
    assert_eq!(get(good.clone()).await.status, 200);
    let page = get(good).await;
    assert!(
        page.status == 400 && page.body.contains("nonce was already used"),
        "{}",
        page.body
    );
    // The refused requests above did not spend theirs.
    assert_eq!(
        get(signed_url(&hub, &params, "order_id,note", "n-2", now))
            .await
            .status,
        200
    );
    hub.finish().await;
}

/// An HS256 request object signed with the client's signing secret is a signed request; one
/// signed with another secret, or HS256 for a client without a secret, is refused.
#[tokio::test]
async fn hs256_request_objects_use_the_signing_secret() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (id, _) = g2d1_client(&hub).await;
    let (_, challenge) = pkce();
    let now = hub.auth.clock().now_secs();
    let object = |secret: &str, jti: &str| {
        let claims = serde_json::json!({
            "iss": id, "aud": hub.url("").trim_end_matches('/'), "exp": now + 60, "jti": jti,
            "client_id": id, "response_type": "code", "redirect_uri": CB, "scope": "openid",
            "code_challenge": challenge, "code_challenge_method": "S256",
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let url = |jwt: &str| {
        let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", &id)
            .append_pair("request", jwt);
        url.to_string()
    };
    let page = Browser::new().get(&url(&object(SECRET, "j-1"))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = Browser::new()
        .get(&url(&object(
            "another-secret-of-enough-length-000000",
            "j-2",
        )))
        .await;
    assert!(
        page.status == 400 && page.body.contains("HS256 signature does not verify"),
        "{}",
        page.body
    );
    hub.finish().await;
}

/// The secret is stored sealed: the database never holds it in clear.
#[tokio::test]
async fn the_signing_secret_is_not_stored_in_clear() {
    on_every_backend(async |hub: &TestHub| {
        let (id, _) = g2d1_client(hub).await;
        let record = hub.auth.store().client(&id).await.unwrap().unwrap();
        let sealed = record.signing_secret.unwrap();
        assert!(
            sealed.starts_with("v1.") && !sealed.contains(SECRET),
            "{sealed}"
        );
        assert!(hub.auth.show_client(&id).await.unwrap().has_signing_secret);

        // Another client's sealed secret copied into this row does not open here (it is bound
        // to its client), and setting a new secret repairs the row.
        let (other, _) = g2d1_client(hub).await;
        let foreign = hub.auth.store().client(&other).await.unwrap().unwrap();
        let mut swapped = hub.auth.store().client(&id).await.unwrap().unwrap();
        swapped.signing_secret = foreign.signing_secret;
        assert!(hub.auth.store().update_client(&swapped).await.unwrap());
        let err = hub.auth.show_client(&id).await.unwrap_err().to_string();
        assert!(err.contains("does not open"), "{err}");
        hub.auth
            .update_client(
                &id,
                keyway_auth::ClientUpdate {
                    signing_secret: Some(SecretString::new(format!("{SECRET}-new"))),
                    ..keyway_auth::ClientUpdate::default()
                },
            )
            .await
            .unwrap();
        assert!(hub.auth.show_client(&id).await.unwrap().has_signing_secret);
    })
    .await;
}

/// A pushed request (the client authenticated at PAR) needs no g2d1 signature of its own: its
/// custom parameters are the client's and come back in the signed redirect.
#[tokio::test]
async fn a_pushed_request_carries_its_custom_parameters_without_an_outer_signature() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    hub.user("alice", "correct horse battery").await;
    let (id, secret) = g2d1_client(&hub).await;
    let (_, challenge) = pkce();
    let mut form = base(&id, &challenge);
    form.retain(|(n, _)| *n != "appid");
    form.push(("client_id", &id));
    let (status, _, pushed) = post_form(&hub.url("/oauth2/par"), Some((&id, &secret)), &form).await;
    assert_eq!(status, 201, "{pushed}");
    let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &id)
        .append_pair("request_uri", pushed["request_uri"].as_str().unwrap())
        .append_pair("outer", "ignored");
    let mut browser = Browser::new();
    let done = log_in_and_allow(
        &mut browser,
        &hub,
        url.as_ref(),
        "alice",
        "correct horse battery",
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = url::Url::parse(done.location.as_deref().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("order_id"), Some("A-17"));
    assert_eq!(
        get("outer"),
        None,
        "query parameters beside request_uri are ignored"
    );
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        get("signature"),
        Some(g2d1_signature(SECRET.as_bytes(), &borrowed).as_str())
    );

    // A custom parameter named like a claim of the hub's tokens is refused.
    let now = hub.auth.clock().now_secs();
    let mut signed = base(&id, &challenge);
    signed.push(("aud", "https://another.example"));
    let page = Browser::new()
        .get(&signed_url(
            &hub,
            &signed,
            "order_id,note,aud",
            "n-claim",
            now,
        ))
        .await;
    assert!(
        page.status == 400 && page.body.contains("claim of its tokens"),
        "{}",
        page.body
    );
    hub.finish().await;
}
