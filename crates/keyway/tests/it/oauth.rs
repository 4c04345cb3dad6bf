//! Plain HTTP calls to the hub's OAuth endpoints, as a stock client makes them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::harness::Hub;

/// An HTTP answer: status and body parsed as JSON (Null when it is not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

fn answer(response: reqwest::blocking::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, body, text }
}

/// POST `path` with a form, authenticating with HTTP Basic (client_secret_basic).
pub(crate) fn post_basic(
    hub: &Hub,
    path: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> Answer {
    let response = hub
        .http
        .post(hub.endpoint(path))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    answer(response)
}

/// A client_credentials token request.
pub(crate) fn client_credentials(hub: &Hub, id: &str, secret: &str, scope: &str) -> Answer {
    post_basic(
        hub,
        "/oauth2/token",
        id,
        secret,
        &[("grant_type", "client_credentials"), ("scope", scope)],
    )
}

/// A client_credentials access token; panics with the answer when there is none.
pub(crate) fn access_token(hub: &Hub, id: &str, secret: &str, scope: &str) -> String {
    let answer = client_credentials(hub, id, secret, scope);
    assert_eq!(answer.status, 200, "token request failed: {}", answer.text);
    answer.body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {}", answer.text))
        .to_string()
}

/// RFC 7662 introspection of `token`, authenticated as the given client.
pub(crate) fn introspect(hub: &Hub, id: &str, secret: &str, token: &str) -> Value {
    let answer = post_basic(hub, "/oauth2/introspect", id, secret, &[("token", token)]);
    assert_eq!(answer.status, 200, "introspection failed: {}", answer.text);
    answer.body
}

/// GET a JSON document.
pub(crate) fn get_json(hub: &Hub, path: &str) -> Value {
    let response = hub
        .http
        .get(hub.endpoint(path))
        .send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let answer = answer(response);
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.text);
    answer.body
}

/// The `kid`s the hub publishes at /oauth2/jwks.
pub(crate) fn jwks_kids(hub: &Hub) -> Vec<String> {
    let jwks = get_json(hub, "/oauth2/jwks");
    jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("JWKS without keys: {jwks}"))
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The decoded (unverified) JOSE header and claims of a compact JWS.
pub(crate) fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = |what: &str| -> Value {
        let part = parts
            .next()
            .unwrap_or_else(|| panic!("token has no {what}: {token}"));
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|e| panic!("{what} is not base64url ({e}): {token}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{what} is not JSON ({e})"))
    };
    let header = decode("header");
    let claims = decode("claims");
    (header, claims)
}
