//! `$batch` (OData 4.01 JSON batch) on every backend: independent requests, `dependsOn`,
//! atomicity groups that commit whole or not at all, and the limits.

use reqwest::Method;
use serde_json::{Value, json};

use crate::data_api::{call, each_backend, token};
use crate::harness::{TestHub, http};

async fn batch(hub: &TestHub, token: &str, body: Value) -> (u16, Value) {
    let response = http()
        .post(hub.url("/api/$batch"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn statuses(answer: &Value) -> Vec<u64> {
    answer["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn batches_answer_each_request_and_groups_commit_whole() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "crm.readwrite").await;
        let (code, answer) = batch(hub, &rw, json!({"requests": [
            {"id": "org", "method": "POST", "url": "Organization", "headers": {"content-type": "application/json"}, "body": {"name": "Acme"}},
            {"id": "list", "method": "GET", "url": "Organization?$select=name", "dependsOn": ["org"]},
            {"id": "count", "method": "get", "url": "/api/Organization/$count"},
            {"id": "nope", "method": "GET", "url": "Nope"},
            {"id": "after", "method": "GET", "url": "Nope?$top=1", "dependsOn": ["nope"]},
            {"id": "abs", "method": "GET", "url": hub.url("/api/Contact")},
            {"id": "other", "method": "GET", "url": "https://elsewhere.example/api/Contact"},
            {"id": "nested", "method": "POST", "url": "$batch", "body": {"requests": []}},
            {"id": "ref", "method": "GET", "url": "$1/contacts"}
        ]})).await;
        assert_eq!(code, 200, "{}: {answer}", hub.backend);
        assert_eq!(statuses(&answer), [201, 200, 200, 404, 424, 200, 400, 400, 400], "{answer}");
        let responses = &answer["responses"];
        assert_eq!(responses[0]["body"]["name"], "Acme");
        assert!(responses[0]["headers"]["location"].as_str().unwrap().contains("/api/Organization("));
        assert_eq!(responses[1]["body"]["value"][0]["name"], "Acme");
        assert_eq!(responses[2]["body"], json!(1));
        assert!(responses[3]["body"]["error"]["message"].is_string(), "OData error format: {}", responses[3]);
        assert!(responses[6]["body"]["error"]["message"].as_str().unwrap().contains("another host"));
        let org = responses[0]["body"]["id"].as_str().unwrap().to_string();

        // An atomicity group: the second write names an organization that does not exist, so
        // the first is rolled back too.
        let missing = "7b0c5d3e-0000-4000-8000-000000000009";
        let (code, answer) = batch(hub, &rw, json!({"requests": [
            {"id": "a", "atomicityGroup": "g", "method": "POST", "url": "Contact", "body": {"firstName": "Ann", "lastName": "L", "organizationId": org}},
            {"id": "b", "atomicityGroup": "g", "method": "POST", "url": "Contact", "body": {"firstName": "Bob", "lastName": "L", "organizationId": missing}},
            {"id": "c", "method": "GET", "url": "Contact/$count", "dependsOn": ["g"]},
            {"id": "d", "method": "GET", "url": "Contact/$count"}
        ]})).await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(statuses(&answer), [424, 400, 424, 200], "{}: {answer}", hub.backend);
        assert!(answer["responses"][1]["body"]["error"]["message"].as_str().unwrap().contains("there is no Organization"));
        assert_eq!(answer["responses"][0]["atomicityGroup"], "g");
        assert_eq!(answer["responses"][3]["body"], json!(0), "{}: nothing of the group was kept", hub.backend);

        // The same group, right: both written, with a patch and a delete of the same unit.
        let (code, answer) = batch(hub, &rw, json!({"requests": [
            {"id": "a", "atomicityGroup": "g", "method": "POST", "url": "Contact", "body": {"firstName": "Ann", "lastName": "L", "organizationId": org}},
            {"id": "b", "atomicityGroup": "g", "method": "POST", "url": "Contact", "body": {"firstName": "Bob", "lastName": "L", "organization@odata.bind": format!("Organization({org})")}},
            {"id": "p", "atomicityGroup": "g", "method": "PATCH", "url": format!("Organization({org})"), "headers": {"if-match": "\"1\""}, "body": {"employees": 2}}
        ]})).await;
        assert_eq!(code, 200);
        assert_eq!(statuses(&answer), [201, 201, 200], "{}: {answer}", hub.backend);
        assert_eq!(answer["responses"][2]["body"]["employees"], 2);
        assert_eq!(answer["responses"][2]["headers"]["etag"], "\"2\"");
        // A stale If-Match inside a group: 412, and nothing of it happens.
        let (_, answer) = batch(hub, &rw, json!({"requests": [
            {"id": "x", "atomicityGroup": "g", "method": "POST", "url": "Contact", "body": {"firstName": "Cid", "lastName": "L"}},
            {"id": "y", "atomicityGroup": "g", "method": "PATCH", "url": format!("Organization({org})"), "headers": {"If-Match": "\"1\""}, "body": {"employees": 3}}
        ]})).await;
        assert_eq!(statuses(&answer), [424, 412], "{}: {answer}", hub.backend);
        let (_, _, count) = call(Method::GET, &hub.url("/api/Contact/$count"), &rw, None, None).await;
        assert_eq!(count, json!(2));
        // Scopes hold per request: a reader's write in a batch is refused alone.
        let reader = token(hub, "crm.read").await;
        let (_, answer) = batch(hub, &reader, json!({"requests": [
            {"id": "r", "method": "GET", "url": "Contact/$count"},
            {"id": "w", "method": "DELETE", "url": format!("Organization({org})")}
        ]})).await;
        assert_eq!(statuses(&answer), [200, 403], "{answer}");
    })
    .await;
}

#[tokio::test]
async fn malformed_and_oversized_batches_are_refused_whole() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "crm.readwrite").await;
        let many: Vec<Value> = (0..101).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "Contact/$count"})).collect();
        for (body, expected) in [
            (json!({"requests": many}), "at most 100"),
            (json!({"requests": []}), "no requests"),
            (json!({"requests": [{"id": "a", "method": "GET", "url": "Contact"}, {"id": "a", "method": "GET", "url": "Contact"}]}), "used twice"),
            (json!({"requests": [{"id": "a", "method": "GET", "url": "Contact", "dependsOn": ["b"]}]}), "no earlier request"),
            (json!({"requests": [
                {"id": "a", "atomicityGroup": "g", "method": "POST", "url": "Contact", "body": {}},
                {"id": "b", "method": "GET", "url": "Contact"},
                {"id": "c", "atomicityGroup": "g", "method": "POST", "url": "Contact", "body": {}}
            ]}), "next to each other"),
            (json!({"nope": []}), "not a JSON batch"),
            (json!({"requests": [{"id": "g", "atomicityGroup": "g", "method": "POST", "url": "Contact", "body": {}}]}), "names both a request and an atomicity group"),
        ] {
            let (code, problem) = batch(hub, &rw, body).await;
            assert_eq!(code, 400, "{expected}: {problem}");
            assert!(problem["detail"].as_str().unwrap().contains(expected), "{expected}: {problem}");
        }
        let huge = json!({"requests": [{"id": "a", "method": "POST", "url": "Contact", "body": {"firstName": "x".repeat(1_100_000)}}]});
        let (code, _) = batch(hub, &rw, huge).await;
        assert_eq!(code, 413);
        let response = http().post(hub.url("/api/$batch")).bearer_auth(&rw).header("content-type", "multipart/mixed; boundary=b").body("--b--").send().await.unwrap();
        assert_eq!(response.status(), 415);
        let (_, _, count) = call(Method::GET, &hub.url("/api/Contact/$count"), &rw, None, None).await;
        assert_eq!(count, json!(0), "{}", hub.backend);
    })
    .await;
}

#[tokio::test]
async fn odata_requests_get_odata_errors() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "contact.read").await;
        let get = async |headers: &[(&str, &str)], path: &str| {
            let mut request = http().get(hub.url(path)).bearer_auth(&rw);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            (status, kind, response.json::<Value>().await.unwrap())
        };
        let response = http()
            .get(hub.url("/api/Contact"))
            .bearer_auth(&rw)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["odata-version"],
            "4.01",
            "a collection says its OData version"
        );
        let (status, kind, body) = get(&[("odata-maxversion", "4.0")], "/api/Contact?$top=x").await;
        assert_eq!((status, kind.as_str()), (400, "application/json"));
        assert_eq!(body["error"]["code"], "bad_request");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("$top"),
            "{body}"
        );
        let (status, _, body) = get(
            &[("accept", "application/json;odata.metadata=minimal")],
            "/api/Organization",
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "insufficient_scope", "{body}");
        // Other clients keep RFC 9457 problems.
        let (status, kind, body) = get(&[], "/api/Contact?$top=x").await;
        assert_eq!((status, kind.as_str()), (400, "application/problem+json"));
        assert!(body["detail"].is_string());
    })
    .await;
}

/// A batch whose answers would pass 16 MiB stops reading there: the read that would pass it
/// and every request after it answer 507 (not run), the ones before are whole.
#[tokio::test]
async fn a_batch_answer_has_a_memory_budget() {
    let hub =
        TestHub::start_with_schemas(&crate::harness::Backend::Sqlite, crate::data_api::crm()).await;
    let rw = token(&hub, "crm.readwrite").await;
    // 1,000 contacts of ~400 bytes each: one page of them is ~400 KB. (Created 100 per
    // request: request bodies are kept small.)
    let long = "x".repeat(95);
    for chunk in 0..10 {
        let contacts: Vec<Value> = (0..100)
            .map(|i| {
                json!({"firstName": format!("{long}{chunk}{i:02}"), "lastName": long,
                    "email": format!("{}{i}@example.com", &long[..60])})
            })
            .collect();
        let body = json!({"name": format!("Big {chunk}"), "contacts": contacts});
        let url = hub.url("/api/Organization");
        let (code, _, created) = call(Method::POST, &url, &rw, Some(body), None).await;
        assert_eq!(code, 201, "{created}");
    }
    let mut requests: Vec<Value> = (0..99)
        .map(|i| json!({"id": format!("r{i}"), "method": "GET", "url": "Contact?$top=1000"}))
        .collect();
    requests.push(
        json!({"id": "write", "method": "POST", "url": "Organization", "body": {"name": "Late"}}),
    );
    let (code, answer) = batch(&hub, &rw, json!({ "requests": requests })).await;
    assert_eq!(code, 200, "{answer}");
    let statuses = statuses(&answer);
    let whole = statuses.iter().take_while(|s| **s == 200).count();
    assert!(
        (10..99).contains(&whole),
        "{whole} whole answers: {statuses:?}"
    );
    assert!(statuses[whole..].iter().all(|s| *s == 507), "{statuses:?}");
    let refused = &answer["responses"][whole]["body"]["error"]["message"];
    assert!(
        refused
            .as_str()
            .unwrap()
            .contains("the $batch answer reached 16 MiB"),
        "{refused}"
    );
    // The late write was not run.
    let url = hub.url("/api/Organization/$count");
    let (_, _, count) = call(Method::GET, &url, &rw, None, None).await;
    assert_eq!(count, json!(10));
    hub.finish().await;
}
