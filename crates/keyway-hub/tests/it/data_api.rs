//! The data API over HTTP on every backend, with the shipped CRM example schemas.

use serde_json::{Value, json};

use crate::harness::{TestHub, backends, http, post_form};

pub(crate) fn crm() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/crm/schemas.yaml")
}

pub(crate) async fn token(hub: &TestHub, scope: &str) -> String {
    let (id, secret) = hub.client(&["client_credentials"], scope, &[]).await;
    let (status, _, body) = post_form(
        &hub.url("/oauth2/token"),
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

pub(crate) async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = http().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(crate) async fn each_backend(test: impl AsyncFn(&TestHub)) {
    for backend in backends() {
        let hub = TestHub::start_with_schemas(&backend, crm()).await;
        test(&hub).await;
        hub.finish().await;
    }
}

#[tokio::test]
async fn crud_filter_paging_and_etags() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "contact.readwrite").await;
        let base = hub.url("/api/Contact");
        let mut ids = Vec::new();
        for (i, (first, status)) in [("Ann", "lead"), ("Bob", "customer"), ("Cid", "lead"), ("Dee", "prospect"), ("Eve", "lead")].iter().enumerate() {
            let body = json!({"firstName": first, "lastName": "Smith", "status": status, "score": i * 10, "lastContactAt": "2024-05-01T10:00:00+02:00"});
            let (code, headers, created) = call(reqwest::Method::POST, &base, &rw, Some(body), None).await;
            assert_eq!(code, 201, "{}: {created}", hub.backend);
            assert!(headers["location"].to_str().unwrap().contains("/api/Contact("));
            assert_eq!(headers["etag"], "\"1\"");
            assert_eq!(created["lastContactAt"], "2024-05-01T08:00:00.000Z");
            ids.push(created["id"].as_str().unwrap().to_string());
        }
        // Case-insensitive entity and property names, canonical answers.
        let (code, _, page) = call(reqwest::Method::GET, &hub.url("/api/contact?$filter=STATUS%20eq%20'lead'%20and%20score%20ge%2010&$orderby=score%20desc&$count=true"), &rw, None, None).await;
        assert_eq!(code, 200, "{page}");
        assert_eq!(page["@odata.count"], 2);
        let names: Vec<&str> = page["value"].as_array().unwrap().iter().map(|c| c["firstName"].as_str().unwrap()).collect();
        assert_eq!(names, ["Eve", "Cid"]);
        // in (…): one of the listed values.
        let (code, _, count) = call(reqwest::Method::GET, &format!("{base}/$count?$filter=status%20in%20('lead','prospect')"), &rw, None, None).await;
        assert_eq!(code, 200, "{count}");
        assert_eq!(count, json!(4), "{}", hub.backend);
        // Functions of a property, on every backend.
        for (filter, expected) in [
            ("tolower(firstName)%20eq%20'ann'", 1),
            ("toupper(lastName)%20eq%20'SMITH'", 5),
            ("length(firstName)%20eq%203", 5),
            ("year(lastContactAt)%20eq%202024%20and%20month(lastContactAt)%20eq%205%20and%20day(lastContactAt)%20eq%201", 5),
            ("contains(tolower(firstName),'e')", 2),
        ] {
            let (code, _, count) = call(reqwest::Method::GET, &format!("{base}/$count?$filter={filter}"), &rw, None, None).await;
            assert_eq!(code, 200, "{filter}: {count}");
            assert_eq!(count, json!(expected), "{filter} on {}", hub.backend);
        }
        // The client's $top is all it gets: no next link beyond it (a client following next
        // links used to read the whole table), $select.
        let (_, _, page) = call(reqwest::Method::GET, &format!("{base}?$top=2&$select=firstName&$orderby=firstName"), &rw, None, None).await;
        assert_eq!(page["value"].as_array().unwrap().len(), 2);
        assert_eq!(page["value"][0], json!({"id": page["value"][0]["id"], "firstName": "Ann"}));
        assert!(page.get("@odata.nextLink").is_none(), "{page}");
        // Server-driven paging: pages of the preferred size, next links while rows remain.
        let prefer = |url: &str| {
            let url = url.to_string();
            let rw = rw.clone();
            async move {
                let response = http().get(&url).bearer_auth(&rw).header("prefer", "odata.maxpagesize=2").send().await.unwrap();
                assert_eq!(response.headers()["preference-applied"], "odata.maxpagesize=2");
                response.json::<Value>().await.unwrap()
            }
        };
        let mut names = Vec::new();
        let mut url = format!("{base}?$orderby=firstName&$select=firstName");
        for _ in 0..5 {
            let page = prefer(&url).await;
            assert!(page["value"].as_array().unwrap().len() <= 2, "{page}");
            names.extend(page["value"].as_array().unwrap().iter().map(|c| c["firstName"].as_str().unwrap().to_string()));
            match page["@odata.nextLink"].as_str() {
                Some(next) => url = next.to_string(),
                None => break,
            }
        }
        assert_eq!(names, ["Ann", "Bob", "Cid", "Dee", "Eve"], "{}", hub.backend);
        // With $top over several pages: the next link carries what is left of it.
        let first = prefer(&format!("{base}?$orderby=firstName&$top=3")).await;
        let next = first["@odata.nextLink"].as_str().unwrap().to_string();
        assert!(next.contains("%24top=1") || next.contains("$top=1"), "{next}");
        let last = prefer(&next).await;
        assert_eq!(last["value"].as_array().unwrap().len(), 1);
        assert_eq!(last["value"][0]["firstName"], "Cid");
        assert!(last.get("@odata.nextLink").is_none(), "{last}");
        // $top=0: no rows, and no next link pointing back at the same page.
        let (_, _, empty) = call(reqwest::Method::GET, &format!("{base}?$top=0"), &rw, None, None).await;
        assert_eq!(empty["value"], json!([]));
        assert!(empty.get("@odata.nextLink").is_none(), "{empty}");
        let (_, _, count) = call(reqwest::Method::GET, &format!("{base}/$count?$filter=contains(firstName,'e')"), &rw, None, None).await;
        assert_eq!(count, json!(2), "Dee and Eve (case-sensitive)");

        // ETags: a stale If-Match is refused and changes nothing.
        let item = format!("{base}({})", ids[0]);
        let (code, headers, _) = call(reqwest::Method::GET, &item, &rw, None, None).await;
        assert_eq!(code, 200);
        let tag = headers["etag"].to_str().unwrap().to_string();
        // Conditional reads: a current If-None-Match gets 304 without a body; another tag 200.
        let unchanged = http().get(&item).bearer_auth(&rw).header("if-none-match", &tag).send().await.unwrap();
        assert_eq!(unchanged.status(), 304);
        assert_eq!(unchanged.headers()["etag"], tag.as_str());
        assert!(unchanged.text().await.unwrap().is_empty());
        let other = http().get(&item).bearer_auth(&rw).header("if-none-match", "\"999\", W/\"998\"").send().await.unwrap();
        assert_eq!(other.status(), 200);
        let (code, headers, patched) = call(reqwest::Method::PATCH, &item, &rw, Some(json!({"score": 99})), Some(&tag)).await;
        assert_eq!(code, 200, "{patched}");
        assert_eq!(patched["score"], 99);
        assert_eq!(headers["etag"], "\"2\"");
        let (code, _, problem) = call(reqwest::Method::PATCH, &item, &rw, Some(json!({"score": 1})), Some(&tag)).await;
        assert_eq!(code, 412, "{problem}");
        let (code, _, _) = call(reqwest::Method::DELETE, &item, &rw, None, Some(&tag)).await;
        assert_eq!(code, 412);
        let (code, _, _) = call(reqwest::Method::DELETE, &item, &rw, None, Some("\"2\"")).await;
        assert_eq!(code, 204);
        let (code, _, _) = call(reqwest::Method::PATCH, &item, &rw, Some(json!({"score": 1})), None).await;
        assert_eq!(code, 404, "PATCH on a deleted row");
    })
    .await;
}

#[tokio::test]
async fn scopes_decide_who_reads_and_writes() {
    each_backend(async |hub: &TestHub| {
        let group_read = token(hub, "crm.read").await;
        let contact_rw = token(hub, "contact.readwrite").await;
        let unrelated = token(hub, "organization.read").await;
        let admin = token(hub, "crm.read admin.read").await;
        let base = hub.url("/api/Contact");
        let body = json!({"firstName": "Ann", "lastName": "Lee", "salary": 1000.5});
        let (code, headers, _) = call(
            reqwest::Method::POST,
            &base,
            &group_read,
            Some(body.clone()),
            None,
        )
        .await;
        assert_eq!(code, 403);
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"insufficient_scope\"")
                && challenge.contains("contact.readwrite"),
            "{challenge}"
        );
        // Writing salary needs reading it (the schema gives it no writeScope).
        let (code, _, problem) = call(
            reqwest::Method::POST,
            &base,
            &contact_rw,
            Some(body.clone()),
            None,
        )
        .await;
        assert_eq!(
            (code, problem["detail"].as_str()),
            (400, Some("Contact has no property \"salary\""))
        );
        let writer = token(hub, "contact.readwrite admin.read").await;
        let (code, _, created) =
            call(reqwest::Method::POST, &base, &writer, Some(body), None).await;
        assert_eq!(code, 201);
        assert_eq!(created["salary"], 1000.5);
        let (code, _, page) = call(reqwest::Method::GET, &base, &group_read, None, None).await;
        assert_eq!(code, 200);
        assert!(page["value"][0].get("salary").is_none());
        let (_, _, page) = call(reqwest::Method::GET, &base, &admin, None, None).await;
        assert_eq!(page["value"][0]["salary"], 1000.5);
        let (code, _, _) = call(reqwest::Method::GET, &base, &unrelated, None, None).await;
        assert_eq!(code, 403);
        let (code, _, _) = call(
            reqwest::Method::GET,
            &hub.url("/api/Organization"),
            &unrelated,
            None,
            None,
        )
        .await;
        assert_eq!(code, 200);
        // No or bad token: 401 with a Bearer challenge.
        let response = http().get(&base).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        let (code, _, _) = call(reqwest::Method::GET, &base, "not.a.token", None, None).await;
        assert_eq!(code, 401);
    })
    .await;
}

#[tokio::test]
async fn hidden_properties_cannot_be_probed_through_queries() {
    each_backend(async |hub: &TestHub| {
        let admin = token(hub, "contact.readwrite admin.read").await;
        let plain = token(hub, "contact.readwrite").await;
        let base = hub.url("/api/Contact");
        for (first, salary) in [("Ann", 87500), ("Bob", 40000)] {
            let body = json!({"firstName": first, "lastName": "Lee", "salary": salary});
            let (code, _, created) =
                call(reqwest::Method::POST, &base, &admin, Some(body), None).await;
            assert_eq!(code, 201, "{}: {created}", hub.backend);
        }
        // The outside probe: without admin.read, each of these used to reveal salaries.
        for probe in [
            "?$filter=salary%20ge%2087500%20and%20salary%20le%2087500",
            "?$orderby=salary",
            "?$select=firstName,salary",
            "/$count?$filter=salary%20gt%2060000",
        ] {
            let (code, _, problem) = call(
                reqwest::Method::GET,
                &format!("{base}{probe}"),
                &plain,
                None,
                None,
            )
            .await;
            assert_eq!(code, 400, "{}: {probe}: {problem}", hub.backend);
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.contains("Contact has no property \"salary\""),
                "{probe}: {detail}"
            );
            // Word for word the answer for a property that was never declared.
            let undeclared = probe.replace("salary", "wage");
            let (_, _, other) = call(
                reqwest::Method::GET,
                &format!("{base}{undeclared}"),
                &plain,
                None,
                None,
            )
            .await;
            assert_eq!(
                detail.replace("salary", "wage"),
                other["detail"].as_str().unwrap(),
                "{probe}"
            );
        }
        let (code, _, count) = call(
            reqwest::Method::GET,
            &format!("{base}/$count?$filter=salary%20gt%2060000"),
            &admin,
            None,
            None,
        )
        .await;
        assert_eq!(
            (code, count),
            (200, json!(1)),
            "with admin.read the filter works"
        );
        // Writes naming it are refused the same way, and change nothing.
        let (_, _, page) = call(
            reqwest::Method::GET,
            &format!("{base}?$orderby=firstName"),
            &admin,
            None,
            None,
        )
        .await;
        let ann = format!("{base}({})", page["value"][0]["id"].as_str().unwrap());
        for method in [reqwest::Method::PATCH, reqwest::Method::PUT] {
            let body = json!({"firstName": "Ann", "lastName": "Lee", "salary": 1});
            let (code, _, problem) = call(method.clone(), &ann, &plain, Some(body), None).await;
            assert_eq!(code, 400, "{method}: {problem}");
        }
        let (_, _, seen) = call(reqwest::Method::GET, &ann, &admin, None, None).await;
        assert_eq!(seen["salary"].as_f64(), Some(87500.0));
    })
    .await;
}

#[tokio::test]
async fn malformed_dates_get_400_not_500() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "contact.readwrite").await;
        let base = hub.url("/api/Contact");
        for (property, bad) in [
            ("lastContactAt", "2020-01-01T00:00é00000"),
            ("lastContactAt", "2020-01-01T-5:-7:-9Z"),
            ("birthday", "2020-+1-+1"),
        ] {
            let body = json!({"firstName": "Ann", "lastName": "Lee", property: bad});
            let (code, _, problem) =
                call(reqwest::Method::POST, &base, &rw, Some(body), None).await;
            assert_eq!(code, 400, "{}: {bad}: {problem}", hub.backend);
        }
        let (_, _, count) = call(
            reqwest::Method::GET,
            &format!("{base}/$count"),
            &rw,
            None,
            None,
        )
        .await;
        assert_eq!(count, json!(0), "nothing was stored");
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_problems_and_changes_nothing() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "crm.readwrite").await;
        let base = hub.url("/api/Contact");
        let cases: Vec<(Value, &str)> = vec![
            (json!({"lastName": "x"}), "firstName is required"),
            (json!({"firstName": "x", "lastName": "y", "nickname": "z"}), "no property"),
            (json!({"firstName": "x", "lastName": "y", "score": "high"}), "score must be an integer"),
            (json!({"firstName": "x", "lastName": "y", "score": 101}), "between"),
            (json!({"firstName": "x", "lastName": "y", "status": "vip"}), "one of"),
            (json!({"firstName": "x", "lastName": "y", "email": "nope"}), "not a valid email"),
            (json!({"firstName": "x", "lastName": "y", "email": "ann@example.com", "organizationId": "x"}), "organizationId must be a UUID"),
            (json!({"firstName": "x", "lastName": "y", "id": "00000000-0000-0000-0000-000000000000"}), "id is assigned"),
            (json!({"firstName": "x", "lastName": "y", "birthday": "2001-02-30"}), "date"),
            (json!(["not", "an", "object"]), "JSON object"),
        ];
        for (body, expected) in cases {
            let (code, headers, problem) = call(reqwest::Method::POST, &base, &rw, Some(body), None).await;
            assert_eq!(code, 400, "{problem}");
            assert_eq!(headers["content-type"], "application/problem+json");
            assert!(problem["detail"].as_str().unwrap().contains(expected), "{expected}: {problem}");
        }
        for (query, expected) in [
            ("$filter=firstName%20eq%20'abc", "position 14"),
            ("$filter=nope%20eq%201", "no property"),
            // An unquoted value points at itself (it was "position 0").
            (
                "$filter=status%20eq%20lead",
                "$filter: Contact has no property \"lead\" at position 11 (a text value needs quotes: 'lead')",
            ),
            ("$orderby=lastName,%20nope%20desc", "$orderby: Contact has no property \"nope\" at position 11"),
            ("$filter=firstName%20eq%20'x'%3B%20DROP%20TABLE%20data_contact", "position"),
            ("$top=99999999999", "below 2^32"),
            ("$orderby=firstName%20sideways", "asc or desc"),
            ("$select=firstName,password", "no property"),
            ("$expand=Orders", "Contact has no navigation property \"Orders\" at position 1"),
            ("$expand=organization($levels=max)", "unsupported query option \"$levels\""),
            ("$top=-1", "$top"),
        ] {
            let (code, _, problem) = call(reqwest::Method::GET, &format!("{base}?{query}"), &rw, None, None).await;
            assert_eq!(code, 400, "{query}: {problem}");
            assert!(problem["detail"].as_str().unwrap().contains(expected), "{query}: {problem}");
        }
        let (code, _, _) = call(reqwest::Method::GET, &hub.url("/api/Nope"), &rw, None, None).await;
        assert_eq!(code, 404);
        let (_, _, count) = call(reqwest::Method::GET, &format!("{base}/$count"), &rw, None, None).await;
        assert_eq!(count, json!(0), "nothing was written by the bad requests");
        // The table still exists (the injection attempt was a literal, never SQL).
        let (code, _, _) = call(reqwest::Method::POST, &base, &rw, Some(json!({"firstName": "a", "lastName": "b"})), None).await;
        assert_eq!(code, 201);
    })
    .await;
}

#[tokio::test]
async fn openapi_document_is_served() {
    each_backend(async |hub: &TestHub| {
        let doc: Value = http().get(hub.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"], format!("{}/oauth2/token", hub.base));
    })
    .await;
}

#[tokio::test]
async fn put_replaces_what_the_caller_sees_and_formats_are_checked() {
    each_backend(async |hub: &TestHub| {
        let admin = token(hub, "contact.readwrite admin.read").await;
        let plain = token(hub, "contact.readwrite").await;
        let base = hub.url("/api/Contact");
        let body = json!({"firstName": "Ann", "lastName": "Lee", "email": "ann@example.com", "score": 40.0, "salary": 5000});
        let (code, _, created) = call(reqwest::Method::POST, &base, &admin, Some(body), None).await;
        assert_eq!(code, 201, "{}: {created}", hub.backend);
        assert_eq!(created["score"], 40, "40.0 is an integer in JSON Schema");
        let item = hub.url(&format!("/api/Contact({})", created["id"].as_str().unwrap()));

        // PUT without admin.read: absent visible properties become null, salary is kept.
        let (code, headers, replaced) = call(reqwest::Method::PUT, &item, &plain, Some(json!({"firstName": "Ann", "lastName": "Lee-Smith"})), Some("\"1\"")).await;
        assert_eq!(code, 200, "{replaced}");
        assert_eq!(headers["etag"], "\"2\"");
        assert_eq!(replaced["email"], Value::Null);
        assert_eq!(replaced["score"], Value::Null);
        let (_, _, seen) = call(reqwest::Method::GET, &item, &admin, None, None).await;
        assert_eq!(seen["salary"].as_f64(), Some(5000.0));
        // PUT still needs every required property, and a current ETag.
        let (code, _, problem) = call(reqwest::Method::PUT, &item, &plain, Some(json!({"firstName": "Ann"})), None).await;
        assert_eq!((code, problem["detail"].as_str().unwrap()), (400, "lastName is required"));
        let (code, _, _) = call(reqwest::Method::PUT, &item, &plain, Some(json!({"firstName": "A", "lastName": "B"})), Some("\"1\"")).await;
        assert_eq!(code, 412);

        // An empty merge patch changes nothing, not even the version.
        let (code, headers, _) = call(reqwest::Method::PATCH, &item, &plain, Some(json!({})), None).await;
        assert_eq!((code, headers["etag"].to_str().unwrap()), (200, "\"2\""));

        // Declared formats are enforced.
        for bad in ["Þ¢@v\u{87}", "no-at-sign", "a@b c"] {
            let (code, _, problem) = call(reqwest::Method::PATCH, &item, &plain, Some(json!({"email": bad})), None).await;
            assert_eq!(code, 400, "{bad}");
            assert_eq!(problem["detail"], "email is not a valid email");
        }
        let (code, _, _) = call(reqwest::Method::POST, &hub.url("/api/Organization"), &token(hub, "crm.readwrite").await, Some(json!({"name": "X", "website": "not a uri"})), None).await;
        assert_eq!(code, 400);

        // Methods a path does not serve: 405 with Allow naming the ones it does.
        let response = http().post(&item).bearer_auth(&plain).json(&json!({})).send().await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, PUT, PATCH, DELETE");
        let response = http().request(reqwest::Method::OPTIONS, &base).send().await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, POST");
    })
    .await;
}

/// The Aliconnect rule end to end (issue 20): a user granted only `contact.read` reads
/// Contacts through a client allowed `contact.readwrite`, and is refused a write (403).
#[tokio::test]
async fn a_user_holding_only_read_reads_and_may_not_write() {
    const CB: &str = "http://127.0.0.1:9/cb";
    for backend in backends() {
        let hub = TestHub::start_with_schemas_and(&backend, crm(), |config| {
            config.user_granted_scopes = vec!["contact.*".into()];
        })
        .await;
        let (id, secret) = hub
            .client(
                &["authorization_code"],
                "openid contact.read contact.readwrite",
                &[CB],
            )
            .await;
        hub.user("alice", "correct horse battery").await;
        hub.auth
            .grant_user_scopes("alice", "contact.read")
            .await
            .unwrap();
        let (code, verifier) = crate::browser::obtain_code_as_alice(
            &hub,
            &id,
            CB,
            "openid contact.read contact.readwrite",
        )
        .await;
        let (status, tokens) =
            crate::harness::code_exchange(&hub, (&id, &secret), &code, CB, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["scope"], "contact.read openid");
        let access = tokens["access_token"].as_str().unwrap();
        let base = hub.url("/api/Contact");
        let (code, _, _) = call(reqwest::Method::GET, &base, access, None, None).await;
        assert_eq!(code, 200);
        let body = json!({"firstName": "Ann", "lastName": "Smith", "status": "lead"});
        let (code, headers, problem) =
            call(reqwest::Method::POST, &base, access, Some(body), None).await;
        assert_eq!(code, 403, "{problem}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        hub.finish().await;
    }
}

/// The OData service document and `$metadata` (CSDL XML and JSON), drawn for the caller: an
/// entity or a property it cannot read is not described.
#[tokio::test]
async fn service_document_and_metadata_describe_what_the_caller_reads() {
    each_backend(async |hub| {
        let reader = token(hub, "contact.read").await;
        let (code, headers, doc) =
            call(reqwest::Method::GET, &hub.url("/api/"), &reader, None, None).await;
        assert_eq!(code, 200, "{doc}");
        assert_eq!(headers["odata-version"], "4.01");
        assert_eq!(
            doc["value"],
            json!([{"name": "Contact", "kind": "EntitySet", "url": "Contact"}])
        );
        assert_eq!(doc["@odata.context"], hub.url("/api/$metadata"));
        let (code, headers, xml) = call(
            reqwest::Method::GET,
            &hub.url("/api/$metadata"),
            &reader,
            None,
            None,
        )
        .await;
        assert_eq!(code, 200);
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/xml")
        );
        let xml = xml.as_str().unwrap().to_string();
        assert!(
            xml.contains("<EntitySet Name=\"Contact\" EntityType=\"keyway.Contact\">")
                && xml.contains("<Annotation Term=\"Capabilities.InsertRestrictions\">"),
            "{xml}"
        );
        assert!(
            !xml.contains("Organization") && !xml.contains("salary"),
            "{xml}"
        );
        let (code, _, csdl) = call(
            reqwest::Method::GET,
            &hub.url("/api/$metadata?$format=json"),
            &reader,
            None,
            None,
        )
        .await;
        assert_eq!(code, 200);
        assert_eq!(csdl["$Version"], "4.01");
        assert_eq!(csdl["keyway"]["Contact"]["$Key"], json!(["id"]));
        // The collection's context points at a document that exists.
        let (_, _, page) = call(
            reqwest::Method::GET,
            &hub.url("/api/Contact"),
            &reader,
            None,
            None,
        )
        .await;
        assert!(
            page["@odata.context"]
                .as_str()
                .unwrap()
                .starts_with(&hub.url("/api/$metadata#"))
        );
        let (code, _, problem) = call(
            reqwest::Method::GET,
            &hub.url("/api/$metadata?$format=yaml"),
            &reader,
            None,
            None,
        )
        .await;
        assert_eq!(code, 400, "{problem}");
        let anonymous = http().get(hub.url("/api/$metadata")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
    })
    .await;
}
