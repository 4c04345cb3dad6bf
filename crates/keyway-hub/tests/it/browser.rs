//! A minimal browser for the login and consent pages: a cookie jar, form fields scraped from
//! the HTML, and no automatic redirects.

use std::collections::HashMap;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::harness::{TestHub, http};

pub(crate) struct Browser {
    cookies: HashMap<String, String>,
}

pub(crate) struct Page {
    pub status: u16,
    pub location: Option<String>,
    /// The `Set-Cookie` headers of the answer, as sent.
    pub set_cookies: Vec<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Page {
    /// The attributes of the `Set-Cookie` for `name` (all but its value), if one was sent.
    pub(crate) fn cookie_attributes(&self, name: &str) -> Option<String> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| {
                c.split_once(';')
                    .map(|(_, rest)| rest.trim().to_string())
                    .unwrap_or_default()
            })
    }

    /// The `value` of a hidden input named `name`.
    pub(crate) fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in page:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }

    /// A query parameter of the redirect target.
    pub(crate) fn redirect_param(&self, name: &str) -> Option<String> {
        let location = self.location.as_ref()?;
        let url = url::Url::parse(location).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

impl Browser {
    pub(crate) fn new() -> Browser {
        Browser {
            cookies: HashMap::new(),
        }
    }

    /// A cookie the hub set, for handing the session to another client (Chromium).
    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sets or replaces a cookie by hand (a cookie kept from an earlier visit, or forged).
    pub(crate) fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_string(), value.to_string());
    }

    async fn absorb(&mut self, response: reqwest::Response) -> Page {
        let mut set_cookies = Vec::new();
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            set_cookies.push(text.to_string());
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            // As browsers do: an expired cookie is removed.
            if text.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_string())
        };
        Page {
            status: response.status().as_u16(),
            location: header(reqwest::header::LOCATION),
            retry_after: header(reqwest::header::RETRY_AFTER),
            set_cookies,
            body: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> Page {
        let response = http()
            .get(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.absorb(response).await
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let response = http()
            .post(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.absorb(response).await
    }
}

/// A PKCE pair (verifier, S256 challenge).
pub(crate) fn pkce() -> (String, String) {
    let verifier = keyway_auth::random_token(&keyway_auth::SystemEntropy::default(), 32);
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    (verifier, challenge)
}

/// The authorize URL for a code request.
pub(crate) fn authorize_url(
    hub: &TestHub,
    client_id: &str,
    redirect: &str,
    scope: &str,
    challenge: &str,
) -> String {
    let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", scope)
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// Opens `authorize` and posts its login form; the answer (a consent page, or a redirect).
pub(crate) async fn log_in(
    browser: &mut Browser,
    hub: &TestHub,
    authorize: &str,
    user: &str,
    password: &str,
) -> Page {
    let login = browser.get(authorize).await;
    assert_eq!(login.status, 200, "{}", login.body);
    browser
        .post(
            &hub.url("/oauth2/login"),
            &[
                ("request_id", &login.field("request_id")),
                ("csrf", &login.field("csrf")),
                ("username", user),
                ("password", password),
            ],
        )
        .await
}

/// Logs in and consents; returns the redirect page that carries the code.
pub(crate) async fn log_in_and_allow(
    browser: &mut Browser,
    hub: &TestHub,
    authorize: &str,
    user: &str,
    password: &str,
) -> Page {
    let consent = log_in(browser, hub, authorize, user, password).await;
    if consent.status == 303 {
        return consent;
    }
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("decision"), "{}", consent.body);
    // The consent form answers the request the sign-in stored (its id is not the login's).
    let request_id = consent.field("request_id");
    let csrf = consent.field("csrf");
    browser
        .post(
            &hub.url("/oauth2/consent"),
            &[
                ("request_id", &request_id),
                ("csrf", &csrf),
                ("decision", "allow"),
            ],
        )
        .await
}

/// Allows a consent page and redeems the code it leads to (HTTP Basic client
/// authentication): the token response.
pub(crate) async fn allow_and_redeem(
    hub: &TestHub,
    browser: &mut Browser,
    client: (&str, &str),
    consent: &Page,
    redirect: &str,
    verifier: &str,
) -> serde_json::Value {
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("decision"), "{}", consent.body);
    let done = browser
        .post(
            &hub.url("/oauth2/consent"),
            &[
                ("request_id", &consent.field("request_id")),
                ("csrf", &consent.field("csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = done.redirect_param("code").expect("a code");
    let (status, tokens) =
        crate::harness::code_exchange(hub, client, &code, redirect, verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// Runs the whole browser part for a fresh user and returns (code, verifier).
pub(crate) async fn obtain_code(
    hub: &TestHub,
    client_id: &str,
    redirect: &str,
    scope: &str,
) -> (String, String) {
    hub.user("alice", "correct horse battery").await;
    obtain_code_as_alice(hub, client_id, redirect, scope).await
}

/// As [`obtain_code`], for an `alice` created before.
pub(crate) async fn obtain_code_as_alice(
    hub: &TestHub,
    client_id: &str,
    redirect: &str,
    scope: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new();
    let done = log_in_and_allow(
        &mut browser,
        hub,
        &authorize_url(hub, client_id, redirect, scope, &challenge),
        "alice",
        "correct horse battery",
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    (done.redirect_param("code").unwrap(), verifier)
}
