//! SCIM 2.0 provisioning over HTTP (`/scim/v2`, docs/scim.md), on every configured backend:
//! CRUD, filters (escaping of LIKE wildcards included), paging, projections, ETags, bad input
//! with its `scimType`, what `active: false` and a SCIM password do to sign-in, and the
//! protections of the built-in `keyway-admins` group.

use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::{Browser, authorize_url, log_in, log_in_and_allow, pkce};
use crate::harness::{
    TestHub, client_credentials_token, code_exchange, http, on_every_backend, post_form,
};

pub(crate) const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub(crate) const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/cb";

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn etag(&self) -> String {
        self.headers["etag"].to_str().unwrap().to_string()
    }

    /// Asserts a SCIM error with `status` and `scim_type`.
    pub(crate) fn error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["schemas"], json!([ERROR]), "{}", self.body);
        assert_eq!(self.body["status"], status.to_string(), "{}", self.body);
        match scim_type {
            Some(t) => assert_eq!(self.body["scimType"], t, "{}", self.body),
            None => assert!(self.body.get("scimType").is_none(), "{}", self.body),
        }
        assert_eq!(
            self.headers["content-type"], "application/scim+json",
            "{}",
            self.body
        );
    }
}

pub(crate) struct Scim<'a> {
    hub: &'a TestHub,
    token: String,
}

impl Scim<'_> {
    pub(crate) async fn new(hub: &TestHub) -> Scim<'_> {
        let (id, secret) = hub.client(&["client_credentials"], "scim", &[]).await;
        let token = client_credentials_token(hub, &id, &secret).await;
        Scim { hub, token }
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = http()
            .request(method, self.hub.url(&format!("/scim/v2{path}")))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub(crate) async fn patch(&self, path: &str, ops: Value) -> Answer {
        self.send(
            Method::PATCH,
            path,
            Some(json!({"schemas": [PATCH], "Operations": ops})),
            &[],
        )
        .await
    }

    pub(crate) async fn user(&self, name: &str) -> Value {
        let created = self
            .post("/Users", json!({"schemas": [USER], "userName": name}))
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        created.body
    }

    /// The userNames a filter selects, in order.
    pub(crate) async fn names(&self, filter: &str) -> Vec<String> {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("filter", filter)
            .append_pair("sortBy", "userName")
            .finish();
        let page = self.get(&format!("/Users?{query}")).await;
        assert_eq!(page.status, 200, "{filter}: {}", page.body);
        page.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn users_crud_filters_paging_and_projections() {
    on_every_backend(async |hub: &TestHub| {
        let scim = Scim::new(hub).await;
        let created = scim
            .post(
                "/Users",
                json!({"schemas": [USER], "userName": "ada", "externalId": "hr-1",
                       "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
                       "emails": [{"value": "ada@work.example", "type": "work", "primary": true},
                                  {"value": "ada@home.example", "type": "home"}],
                       "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_string();
        let location = created.headers["location"].to_str().unwrap();
        assert_eq!(location, hub.url(&format!("/scim/v2/Users/{id}")));
        assert_eq!(created.body["meta"]["location"], location);
        assert_eq!(created.body["meta"]["resourceType"], "User");
        assert_eq!(created.body["meta"]["version"], created.etag());
        assert!(created.etag().starts_with("W/\""));
        assert!(created.body.get("password").is_none(), "password is never returned");
        assert_eq!(created.body["active"], true);
        assert_eq!(created.body["emails"][1]["type"], "home");
        // The primary address is the OIDC email claim, unverified.
        let info = hub.auth.show_user("ada").await.unwrap();
        assert_eq!(info.email.as_deref(), Some("ada@work.example"));
        assert!(!info.email_verified);
        assert_eq!(info.given_name.as_deref(), Some("Ada"));

        for name in ["Ada", "a%b", "a_b", "a!b", "a\\b", "zoë", "adam"] {
            scim.user(name).await;
        }
        // Case-exact eq (the store's semantics), LIKE wildcards as data.
        assert_eq!(scim.names(r#"userName eq "ada""#).await, ["ada"]);
        assert_eq!(scim.names(r#"USERNAME EQ "Ada""#).await, ["Ada"]);
        assert_eq!(scim.names(r#"userName co "%""#).await, ["a%b"]);
        assert_eq!(scim.names(r#"userName sw "a_""#).await, ["a_b"]);
        assert_eq!(scim.names(r#"userName co "!""#).await, ["a!b"]);
        assert_eq!(scim.names(r#"userName ew "\\b""#).await, ["a\\b"]);
        assert_eq!(scim.names(r#"userName sw "ad""#).await, ["ada", "adam"]);
        assert_eq!(scim.names(r#"userName sw "AD""#).await, Vec::<String>::new());
        assert_eq!(scim.names(r#"userName co "ë""#).await, ["zoë"]);
        assert_eq!(
            scim.names(r#"userName eq "x' OR '1'='1""#).await,
            Vec::<String>::new()
        );
        assert_eq!(
            scim.names(r#"(name.givenName eq "Ada" and emails[value co "@work."]) or userName eq "adam""#)
                .await,
            ["ada", "adam"]
        );
        assert_eq!(
            scim.names(r#"not (userName sw "a") and externalId pr"#).await,
            Vec::<String>::new()
        );
        assert_eq!(scim.names(r#"externalId eq "hr-1""#).await, ["ada"]);
        assert_eq!(scim.names(r#"userName gt "zo" and active eq true"#).await, ["zoë"]);
        assert_eq!(
            scim.names(r#"meta.created gt "2000-01-01T00:00:00Z" and userName eq "ada""#).await,
            ["ada"]
        );
        let bad = scim.get("/Users?filter=emails%5Btype%20eq%20%22work%22%5D").await;
        bad.error(400, Some("invalidFilter"));

        // Paging: 8 users, pages of 3, a huge count capped at 200.
        let page = scim.get("/Users?startIndex=4&count=3&sortBy=userName&sortOrder=descending").await;
        assert_eq!(page.body["totalResults"], 8, "{}", page.body);
        assert_eq!(page.body["itemsPerPage"], 3);
        assert_eq!(page.body["startIndex"], 4);
        let names: Vec<&str> = page.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap())
            .collect();
        // Code-point order on every backend: "Ada" < "a!b" < "a%b" < "a\\b" < "a_b" < "ada".
        assert_eq!(names, ["a_b", "a\\b", "a%b"]);
        let page = scim.get("/Users?count=100000000&startIndex=0").await;
        assert_eq!(page.body["itemsPerPage"], 8);
        assert_eq!(page.body["startIndex"], 1);
        let page = scim.get("/Users?count=0").await;
        assert_eq!(page.body["totalResults"], 8);
        assert_eq!(page.body["Resources"], json!([]));
        scim.get("/Users?count=lots").await.error(400, Some("invalidValue"));

        // Projections.
        let one = scim
            .get(&format!("/Users/{id}?attributes=userName,name.givenName"))
            .await;
        assert_eq!(
            one.body,
            json!({"schemas": [USER], "id": id, "userName": "ada", "name": {"givenName": "Ada"}})
        );
        let one = scim
            .get(&format!("/Users/{id}?excludedAttributes=emails,meta,name"))
            .await;
        assert_eq!(one.body["userName"], "ada");
        assert!(one.body.get("emails").is_none() && one.body.get("meta").is_none());

        // ETags: 304, 412 on a stale If-Match, writes with the current one.
        let first = scim.get(&format!("/Users/{id}")).await;
        let etag = first.etag();
        let unchanged = scim
            .send(Method::GET, &format!("/Users/{id}"), None, &[("if-none-match", &etag)])
            .await;
        assert_eq!(unchanged.status, 304);
        let patched = scim
            .send(
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "lovelace@work.example"},
                    {"op": "replace", "path": "name.givenName", "value": "Augusta"}]})),
                &[("if-match", &etag)],
            )
            .await;
        assert_eq!(patched.status, 200, "{}", patched.body);
        assert_eq!(patched.body["emails"][0]["value"], "lovelace@work.example");
        assert_eq!(patched.body["name"]["givenName"], "Augusta");
        assert_ne!(patched.etag(), etag);
        let info = hub.auth.show_user("ada").await.unwrap();
        assert_eq!(info.email.as_deref(), Some("lovelace@work.example"));
        let stale = scim
            .send(
                Method::PUT,
                &format!("/Users/{id}"),
                Some(json!({"schemas": [USER], "userName": "ada2"})),
                &[("if-match", &etag)],
            )
            .await;
        stale.error(412, None);
        let stale = scim
            .send(Method::DELETE, &format!("/Users/{id}"), None, &[("if-match", &etag)])
            .await;
        stale.error(412, None);
        let changed = scim
            .send(Method::GET, &format!("/Users/{id}"), None, &[("if-none-match", &etag)])
            .await;
        assert_eq!(changed.status, 200);
        // PUT replaces: what it leaves out is gone (active stays as it was).
        let put = scim
            .send(
                Method::PUT,
                &format!("/Users/{id}"),
                Some(json!({"schemas": [USER], "userName": "ada.l", "id": "ignored"})),
                &[("if-match", &patched.etag())],
            )
            .await;
        assert_eq!(put.status, 200, "{}", put.body);
        assert_eq!(put.body["id"], id);
        assert_eq!(put.body["userName"], "ada.l");
        assert!(put.body.get("name").is_none() && put.body.get("emails").is_none());
        assert!(put.body.get("externalId").is_none());
        let deleted = scim
            .send(Method::DELETE, &format!("/Users/{id}"), None, &[("if-match", &put.etag())])
            .await;
        assert_eq!(deleted.status, 204);
        scim.get(&format!("/Users/{id}")).await.error(404, None);
        assert!(hub.auth.show_user("ada.l").await.is_err());
        // Each change is in the audit log, by the provisioning client; reads are not.
        hub.auth.flush_audit().await;
        let log = hub.auth.audit_events(0, 0, 1000).await.unwrap();
        let scim_changes: Vec<(&str, &str)> = log
            .iter()
            .filter(|e| e.entry.action.starts_with("scim."))
            .map(|e| (e.entry.action.as_str(), e.entry.actor.as_str()))
            .collect();
        assert!(scim_changes.len() >= 4, "{scim_changes:?}");
        assert!(scim_changes.iter().all(|(_, actor)| actor.starts_with("scim:")));
        for action in ["scim.create", "scim.patch", "scim.replace", "scim.delete"] {
            assert!(scim_changes.iter().any(|(a, _)| *a == action), "{action}: {scim_changes:?}");
        }
        let deletion = log.iter().rfind(|e| e.entry.action == "scim.delete").unwrap();
        assert_eq!(deletion.entry.target.as_deref(), Some(format!("Users/{id}").as_str()));
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_refused_with_its_scim_type() {
    on_every_backend(async |hub: &TestHub| {
        let scim = Scim::new(hub).await;
        let ada = scim.user("ada").await;
        let id = ada["id"].as_str().unwrap().to_string();
        let cases: Vec<(Value, u16, Option<&str>)> = vec![
            (json!({"userName": "x"}), 400, Some("invalidSyntax")),
            (json!({"schemas": "nope", "userName": "x"}), 400, Some("invalidSyntax")),
            (json!({"schemas": [GROUP], "userName": "x"}), 400, Some("invalidValue")),
            (json!({"schemas": [USER, "urn:x:ext"], "userName": "x"}), 400, Some("invalidValue")),
            (json!({"schemas": [USER], "userName": "x", "nickName": "y"}), 400, Some("invalidSyntax")),
            (json!({"schemas": [USER], "userName": "x", "name": {"middleName": "y"}}), 400, Some("invalidSyntax")),
            (json!({"schemas": [USER]}), 400, Some("invalidValue")),
            (json!({"schemas": [USER], "userName": "a\u{202e}b"}), 400, Some("invalidValue")),
            (json!({"schemas": [USER], "userName": "a\u{200b}b"}), 400, Some("invalidValue")),
            (json!({"schemas": [USER], "userName": "two words"}), 400, Some("invalidValue")),
            (json!({"schemas": [USER], "userName": "x", "password": "short"}), 400, Some("invalidValue")),
            (json!({"schemas": [USER], "userName": "x", "active": 1}), 400, Some("invalidValue")),
            (json!({"schemas": [USER], "userName": "x", "emails": [{"value": "not-an-address"}]}), 400, Some("invalidValue")),
            (json!({"schemas": [USER], "userName": "x", "emails": [{"value": "a@b.example", "primary": true}, {"value": "c@d.example", "primary": true}]}), 400, Some("invalidValue")),
            (json!({"schemas": [USER], "userName": "ada"}), 409, Some("uniqueness")),
            (json!([1, 2]), 400, Some("invalidSyntax")),
        ];
        for (body, status, kind) in cases {
            let answer = scim.post("/Users", body.clone()).await;
            answer.error(status, kind);
            let _ = body;
        }
        // readOnly attributes are ignored, not stored.
        let made = scim
            .post("/Users", json!({"schemas": [USER], "userName": "bob", "id": "mine",
                                   "meta": {"version": "W/\"x\""}, "groups": [{"value": "g"}]}))
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
        assert_ne!(made.body["id"], "mine");
        assert!(made.body.get("groups").is_none());
        // Not JSON, wrong media type, too large.
        let raw = |ct: &'static str, body: Vec<u8>| {
            let url = hub.url("/scim/v2/Users");
            let token = scim.token.clone();
            async move {
                let r = http().post(url).bearer_auth(token).header("content-type", ct).body(body).send().await.unwrap();
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                Answer { status, headers, body: r.json().await.unwrap_or(Value::Null) }
            }
        };
        raw("application/scim+json", b"{not json".to_vec()).await.error(400, Some("invalidSyntax"));
        raw("text/plain", b"{}".to_vec()).await.error(415, None);
        let huge = format!("{{\"schemas\":[\"{USER}\"],\"userName\":\"{}\"}}", "x".repeat(70_000));
        raw("application/scim+json", huge.into_bytes()).await.error(413, None);
        // Filters as data: quotes, 10k-long, deep nesting.
        for filter in [
            format!("userName eq \"{}\"", "x".repeat(10_000)),
            format!("{}userName eq \"a\"{}", "(".repeat(100), ")".repeat(100)),
            "userName eq 'ada'".to_string(),
            "userName eq \"ada\" or 1=1".to_string(),
            "userName eq \"ada\"; DROP TABLE users".to_string(),
            "password eq \"x\"".to_string(),
        ] {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("filter", &filter)
                .finish();
            scim.get(&format!("/Users?{q}")).await.error(400, Some("invalidFilter"));
        }
        assert_eq!(scim.names(r#"userName eq "ada\" or \"1\"=\"1""#).await, Vec::<String>::new());
        // PATCH refusals.
        let item = format!("/Users/{id}");
        for (ops, kind) in [
            (json!([{"op": "replace", "path": "id", "value": "x"}]), "mutability"),
            (json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]), "mutability"),
            (json!([{"op": "add", "path": "nickName", "value": "x"}]), "invalidPath"),
            (json!([{"op": "add", "path": "emails[type eq", "value": "x"}]), "invalidPath"),
            (json!([{"op": "remove"}]), "noTarget"),
            (json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@b.example"}]), "noTarget"),
            (json!([{"op": "replace", "path": "userName", "value": "bob"}]), "uniqueness"),
            (json!([{"op": "replace", "path": "userName", "value": ""}]), "invalidValue"),
            (json!([{"op": "jump", "path": "userName"}]), "invalidSyntax"),
        ] {
            let answer = scim.patch(&item, ops.clone()).await;
            let status = if kind == "uniqueness" { 409 } else { 400 };
            answer.error(status, Some(kind));
        }
        let wrong_schema = scim
            .send(Method::PATCH, &item, Some(json!({"schemas": [USER], "Operations": []})), &[])
            .await;
        wrong_schema.error(400, Some("invalidValue"));
        // Nothing of the refused requests was stored.
        let page = scim.get("/Users").await;
        assert_eq!(page.body["totalResults"], 2, "{}", page.body);
        assert_eq!(scim.get(&item).await.body["userName"], "ada");
    })
    .await;
}

#[tokio::test]
async fn only_scim_tokens_get_in_and_refusals_are_scim_errors() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let bare = http().get(hub.url("/scim/v2/Users")).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(
        bare.headers()["www-authenticate"],
        "Bearer realm=\"keyway\""
    );
    assert_eq!(bare.headers()["content-type"], "application/scim+json");
    let body: Value = bare.json().await.unwrap();
    assert_eq!(body["schemas"], json!([ERROR]));
    assert_eq!(body["status"], "401");

    let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
    let token = client_credentials_token(&hub, &id, &secret).await;
    for path in ["/scim/v2/Users", "/scim/v2/Schemas", "/scim/v2/nowhere"] {
        let refused = http()
            .get(hub.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{path}");
        let challenge = refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(challenge.contains("scope=\"scim\""), "{challenge}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["status"], "403");
    }
    let scim = Scim::new(&hub).await;
    scim.get("/nowhere").await.error(404, None);
    scim.send(Method::DELETE, "/Users", None, &[])
        .await
        .error(405, None);
    let spc = scim.get("/ServiceProviderConfig").await;
    assert_eq!(
        spc.body["filter"],
        json!({"supported": true, "maxResults": 200})
    );
    assert_eq!(spc.body["bulk"]["supported"], false);
    assert_eq!(spc.body["sort"]["supported"], true);
    let types = scim.get("/ResourceTypes").await;
    assert_eq!(types.body["totalResults"], 2);
    assert_eq!(
        scim.get("/ResourceTypes/Group").await.body["endpoint"],
        "/Groups"
    );
    let schema = scim.get(&format!("/Schemas/{USER}")).await;
    assert_eq!(schema.body["attributes"][0]["name"], "userName");
    scim.get("/Schemas/urn:nope").await.error(404, None);
    // POST …/.search (RFC 7644 §3.4.3) per resource type; not across all of them.
    scim.user("ada").await;
    scim.user("bob").await;
    let found = scim
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "userName eq \"bob\"", "attributes": ["userName"]}),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalResults"], 1);
    assert!(found.body["Resources"][0].get("active").is_none());
    scim.post("/Users/.search", json!({"filter": "x"}))
        .await
        .error(400, Some("invalidSyntax"));
    scim.post("/.search", json!({})).await.error(501, None);
    scim.post("/Users/someone", json!({}))
        .await
        .error(405, None);
    hub.finish().await;
}

/// Posts the hub's login form as a browser does: 200 (consent page) or 303 when the password
/// was accepted, 401 when not.
pub(crate) async fn sign_in(hub: &TestHub, client: &str, user: &str, password: &str) -> u16 {
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    let authorize = authorize_url(hub, client, REDIRECT, "openid", &challenge);
    log_in(&mut browser, hub, &authorize, user, password)
        .await
        .status
}

#[tokio::test]
async fn scim_passwords_sign_in_and_inactive_users_are_disabled() {
    on_every_backend(async |hub: &TestHub| {
        let scim = Scim::new(hub).await;
        let (client, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "openid offline_access",
                &[REDIRECT],
            )
            .await;
        let made = scim
            .post(
                "/Users",
                json!({"schemas": [USER], "userName": "carol",
                                   "password": "provisioned pass 1"}),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
        let id = made.body["id"].as_str().unwrap().to_string();
        let status = sign_in(hub, &client, "carol", "provisioned pass 1").await;
        assert_eq!(
            status, 200,
            "a SCIM password signs in at the hub's login page"
        );

        // A live session and a refresh token.
        let (verifier, challenge) = pkce();
        let mut browser = Browser::new();
        let authorize = authorize_url(hub, &client, REDIRECT, "openid offline_access", &challenge);
        let done =
            log_in_and_allow(&mut browser, hub, &authorize, "carol", "provisioned pass 1").await;
        let code = done.redirect_param("code").unwrap();
        let (status, tokens) =
            code_exchange(hub, (&client, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        assert!(hub.count_rows("login_sessions").await > 0);

        // active=false does what `keyway user disable` does.
        let off = scim
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "replace", "value": {"active": false}}]),
            )
            .await;
        assert_eq!(off.status, 200, "{}", off.body);
        assert_eq!(off.body["active"], false);
        assert_eq!(hub.count_rows("login_sessions").await, 0, "sessions end");
        assert_eq!(
            browser.get(&authorize).await.status,
            200,
            "back to the login form"
        );
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&client, &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        assert_eq!(status, 400, "refresh tokens are revoked: {body}");
        let status = sign_in(hub, &client, "carol", "provisioned pass 1").await;
        assert_eq!(status, 401, "a disabled user cannot sign in");
        assert!(hub.auth.show_user("carol").await.unwrap().disabled);
        let page = scim.get("/Users?filter=active%20eq%20false").await;
        assert_eq!(page.body["totalResults"], 1);

        // Enabled again with a new password; the old one no longer works.
        let on = scim
            .patch(
                &format!("/Users/{id}"),
                json!([
                {"op": "replace", "path": "active", "value": true},
                {"op": "replace", "path": "password", "value": "second password 2"}]),
            )
            .await;
        assert_eq!(on.status, 200, "{}", on.body);
        assert_eq!(
            sign_in(hub, &client, "carol", "provisioned pass 1").await,
            401
        );
        assert_eq!(
            sign_in(hub, &client, "carol", "second password 2").await,
            303,
            "consented before"
        );
        // Removing the password leaves no password to sign in with.
        let removed = scim
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "remove", "path": "password"}]),
            )
            .await;
        assert_eq!(removed.status, 200, "{}", removed.body);
        assert_eq!(
            sign_in(hub, &client, "carol", "second password 2").await,
            401
        );
    })
    .await;
}

/// Provisioning is a client's own power: a user's token that carries `scim` (a sign-in client
/// registered with it, the user consenting) is refused, or any user of that client could make
/// themselves an administrator. Every SCIM answer is `no-store`.
#[tokio::test]
async fn a_users_delegated_scim_token_is_refused() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let (id, secret) = hub
        .client(&["authorization_code"], "openid scim", &[REDIRECT])
        .await;
    hub.user("mallory", "correct horse battery").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new();
    let done = log_in_and_allow(
        &mut browser,
        &hub,
        &authorize_url(&hub, &id, REDIRECT, "openid scim", &challenge),
        "mallory",
        "correct horse battery",
    )
    .await;
    let code = done.redirect_param("code").expect("a code");
    let (status, tokens) = code_exchange(&hub, (&id, &secret), &code, REDIRECT, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["scope"].as_str().unwrap().contains("scim"));
    let refused = http()
        .get(hub.url("/scim/v2/Users"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["schemas"], json!([ERROR]));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("client's own token"),
        "{body}"
    );

    let (own, own_secret) = hub.client(&["client_credentials"], "scim", &[]).await;
    let token = client_credentials_token(&hub, &own, &own_secret).await;
    let listed = http()
        .get(hub.url("/scim/v2/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["cache-control"], "no-store");
    assert_eq!(listed.headers()["x-content-type-options"], "nosniff");
    hub.finish().await;
}
