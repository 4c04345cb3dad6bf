//! Entities with integer ids (`id: integer`): `Item(1)` URLs, ids the hub counts up or the
//! client chooses, relations to them, and their types in `$metadata`, on every backend.

use reqwest::Method;
use serde_json::{Value, json};

use crate::data_api::{call, token};
use crate::harness::{TestHub, backends};

const SCHEMAS: &str = "entities:
  Item:
    id: integer
    properties:
      name: { type: string, required: true }
    relations:
      lines: { entity: Line, via: item }
  Line:
    properties:
      text: { type: string }
      itemId: { type: integer }
    relations:
      item: { entity: Item, key: itemId }
";

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn integer_ids_count_up_are_chosen_and_related_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas.yaml");
    std::fs::write(&schemas, SCHEMAS).unwrap();
    for backend in backends() {
        let hub = TestHub::start_with_schemas(&backend, schemas.clone()).await;
        let b = &hub.backend;
        let rw = token(&hub, "item.readwrite line.readwrite").await;
        let post = async |entity: &str, body: Value| {
            call(
                Method::POST,
                &hub.url(&format!("/api/{entity}")),
                &rw,
                Some(body),
                None,
            )
            .await
        };
        // Counted up by the hub, or chosen by the client (the count does not jump past a
        // chosen id: it steps over chosen ones when it reaches them).
        let (code, headers, first) = post("Item", json!({"name": "first"})).await;
        assert_eq!((code, &first["id"]), (201, &json!(1)), "{b}: {first}");
        assert!(
            headers["location"]
                .to_str()
                .unwrap()
                .ends_with("/api/Item(1)"),
            "{b}"
        );
        let (code, _, chosen) = post("Item", json!({"id": 10, "name": "ten"})).await;
        assert_eq!((code, &chosen["id"]), (201, &json!(10)), "{b}: {chosen}");
        let (_, _, next) = post("Item", json!({"name": "two"})).await;
        assert_eq!(next["id"], 2, "{b}: {next}");
        let (code, _, problem) = post("Item", json!({"id": 10, "name": "again"})).await;
        assert_eq!(code, 409, "{b}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("Item 10 exists already"),
            "{b}: {problem}"
        );
        for bad in [
            json!(0),
            json!(-3),
            json!("12"),
            json!(1.5),
            json!(9_007_199_254_740_992_i64),
        ] {
            let (code, _, problem) = post("Item", json!({"id": bad, "name": "x"})).await;
            assert_eq!(code, 400, "{b}: {bad}: {problem}");
        }
        // Read, change and address by the integer.
        let (code, _, item) = call(Method::GET, &hub.url("/api/Item(10)"), &rw, None, None).await;
        assert_eq!((code, &item["name"]), (200, &json!("ten")), "{b}: {item}");
        let (code, _, problem) =
            call(Method::GET, &hub.url("/api/Item(abc)"), &rw, None, None).await;
        assert_eq!(code, 400, "{b}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("Item's ids are integers"),
            "{b}: {problem}"
        );
        let (code, _, _) = call(Method::GET, &hub.url("/api/Item(99)"), &rw, None, None).await;
        assert_eq!(code, 404, "{b}");
        let (code, _, problem) = call(
            Method::PATCH,
            &hub.url("/api/Item(10)"),
            &rw,
            Some(json!({"id": 12})),
            None,
        )
        .await;
        assert_eq!(code, 400, "{b}: {problem}");
        let (code, _, problem) = call(
            Method::PUT,
            &hub.url("/api/Item(10)"),
            &rw,
            Some(json!({"id": 11, "name": "p"})),
            None,
        )
        .await;
        assert_eq!(code, 400, "{b}: {problem}");
        // The item's own id, as OData clients send it back, is ignored.
        let url = hub.url("/api/Item(10)");
        let body = json!({"id": 10, "name": "ten"});
        let (code, _, item) = call(Method::PUT, &url, &rw, Some(body), None).await;
        assert_eq!((code, &item["id"]), (200, &json!(10)), "{b}: {item}");
        let url = hub.url(&format!(
            "/api/Item?$filter={}&$orderby=id desc",
            enc("id gt 1 and id in (2, 10)")
        ));
        let (_, _, page) = call(Method::GET, &url, &rw, None, None).await;
        let ids: Vec<&Value> = page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["id"])
            .collect();
        assert_eq!(ids, [&json!(10), &json!(2)], "{b}: {page}");

        // Relations: integer keys, deep insert (ids counted for the nested items too),
        // $expand both ways, binds, and restrict on delete.
        let (code, _, deep) = post(
            "Item",
            json!({"name": "deep", "lines": [{"text": "a"}, {"text": "b"}]}),
        )
        .await;
        assert_eq!(code, 201, "{b}: {deep}");
        assert_eq!(deep["id"], 3, "{b}: {deep}");
        assert_eq!(deep["lines"][0]["itemId"], 3, "{b}: {deep}");
        let (code, _, line) = post("Line", json!({"text": "c", "itemId": 10})).await;
        assert_eq!(code, 201, "{b}: {line}");
        let (code, _, problem) = post("Line", json!({"text": "d", "itemId": 77})).await;
        assert_eq!(code, 400, "{b}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("there is no Item with id 77"),
            "{b}: {problem}"
        );
        let (code, _, bound) =
            post("Line", json!({"text": "e", "item@odata.bind": "Item(3)"})).await;
        assert_eq!((code, &bound["itemId"]), (201, &json!(3)), "{b}: {bound}");
        let (code, _, problem) =
            post("Line", json!({"text": "f", "item@odata.bind": "Item(x)"})).await;
        assert_eq!(code, 400, "{b}: {problem}");
        let url = hub.url(&format!(
            "/api/Line?$orderby=text&$expand=item&$filter={}",
            enc("item/name eq 'deep'")
        ));
        let (code, _, page) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!(code, 200, "{b}: {page}");
        assert_eq!(page["value"][1]["item"]["id"], 3, "{b}: {page}");
        let url = hub.url(&format!(
            "/api/Item?$orderby=id&$expand=lines&$filter={}",
            enc("lines/any()")
        ));
        let (_, _, page) = call(Method::GET, &url, &rw, None, None).await;
        let counts: Vec<(i64, usize)> = page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].as_i64().unwrap(),
                    i["lines"].as_array().unwrap().len(),
                )
            })
            .collect();
        assert_eq!(counts, [(3, 3), (10, 1)], "{b}: {page}");
        let (code, _, _) = call(Method::DELETE, &hub.url("/api/Item(10)"), &rw, None, None).await;
        assert_eq!(code, 409, "{b}");
        // A deleted id is not handed out again.
        let (_, _, four) = post("Item", json!({"name": "four"})).await;
        assert_eq!(four["id"], 4, "{b}: {four}");
        let (code, _, _) = call(Method::DELETE, &hub.url("/api/Item(4)"), &rw, None, None).await;
        assert_eq!(code, 204, "{b}");
        let (_, _, five) = post("Item", json!({"name": "five"})).await;
        assert_eq!(five["id"], 5, "{b}: {five}");
        // A chosen id far ahead does not use the counter up; chosen ones just ahead of it are
        // stepped over.
        let (code, _, _) = post(
            "Item",
            json!({"id": 9_007_199_254_740_991_i64, "name": "far"}),
        )
        .await;
        assert_eq!(code, 201, "{b}");
        for chosen in [json!(6.0), json!(7)] {
            let (code, _, _) = post("Item", json!({"id": chosen, "name": "chosen"})).await;
            assert_eq!(code, 201, "{b}");
        }
        let (_, _, stepped) = post("Item", json!({"name": "stepped"})).await;
        assert_eq!(stepped["id"], 8, "{b}: {stepped}");
        // `Item(1)` and `Item(01)` are one item: changed twice in a group is refused by name.
        let twice = json!({"requests": [
            {"id": "p", "atomicityGroup": "t", "method": "PATCH", "url": "Item(1)", "body": {"name": "x"}},
            {"id": "q", "atomicityGroup": "t", "method": "PATCH", "url": "Item(01)", "body": {"name": "y"}},
        ]});
        let response = crate::harness::http()
            .post(hub.url("/api/$batch"))
            .bearer_auth(&rw)
            .json(&twice)
            .send()
            .await
            .unwrap();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["responses"][1]["status"], 400, "{b}: {answer}");
        // A nested item's key comes from the item it is nested in: a bind there says so.
        let nested = json!({"name": "n", "lines": [{"text": "l", "item@odata.bind": "Item(1)"}]});
        let (code, _, problem) = post("Item", nested).await;
        assert_eq!(code, 400, "{b}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("takes its itemId from the item it is nested in"),
            "{b}: {problem}"
        );
        // In one transaction, a counted id steps over the ids the other writes choose.
        let group = json!({"requests": [
            {"id": "a", "atomicityGroup": "g", "method": "POST", "url": "Item", "body": {"id": 9, "name": "chosen"}},
            {"id": "b", "atomicityGroup": "g", "method": "POST", "url": "Item", "body": {"name": "counted"}},
        ]});
        let response = crate::harness::http()
            .post(hub.url("/api/$batch"))
            .bearer_auth(&rw)
            .json(&group)
            .send()
            .await
            .unwrap();
        let answer: Value = response.json().await.unwrap();
        let (a, c) = (&answer["responses"][0], &answer["responses"][1]);
        assert_eq!(
            (&a["status"], &c["status"]),
            (&json!(201), &json!(201)),
            "{b}: {answer}"
        );
        assert_eq!(a["body"]["id"], 9, "{b}: {answer}");
        assert!(
            c["body"]["id"]
                .as_i64()
                .is_some_and(|id| id > 9 && id != 10),
            "{b}: {answer}"
        );
        assert!(
            c["body"]["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("$metadata#Item/$entity"),
            "{b}"
        );
        let url = hub.url(&format!(
            "/api/Item?$apply={}",
            enc("aggregate(id with max as top)")
        ));
        let (code, _, page) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!(
            (code, &page["value"][0]["top"]),
            (200, &json!(9_007_199_254_740_991_i64)),
            "{b}: {page}"
        );
        // Setting a key is reading its target: a caller who may not read Items cannot probe ids.
        let lines_only = token(&hub, "line.readwrite").await;
        let (code, _, problem) = call(
            Method::POST,
            &hub.url("/api/Line"),
            &lines_only,
            Some(json!({"itemId": 3})),
            None,
        )
        .await;
        assert_eq!(code, 403, "{b}: {problem}");
        let url = hub.url(&format!(
            "/api/Item?$expand={}",
            enc("lines($filter=$it/name eq 'x')")
        ));
        let (code, _, problem) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!(code, 400, "{b}: {problem}");

        // Types in the documents and the V2 service.
        let (_, _, csdl) = call(
            Method::GET,
            &hub.url("/api/$metadata?$format=json"),
            &rw,
            None,
            None,
        )
        .await;
        assert_eq!(csdl["keyway"]["Item"]["id"]["$Type"], "Edm.Int64", "{b}");
        assert_eq!(
            csdl["keyway"]["Line"]["itemId"]["$Type"], "Edm.Int64",
            "{b}"
        );
        let response = crate::harness::http()
            .get(hub.url("/api/v2/Item(3L)"))
            .bearer_auth(&rw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{b}");
        let v2: Value = response.json().await.unwrap();
        assert_eq!(v2["d"]["id"], "3", "{b}: {v2}");
        assert!(
            v2["d"]["__metadata"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("/Item(3L)"),
            "{b}: {v2}"
        );
        let response = crate::harness::http()
            .post(hub.url("/api/v2/Item"))
            .bearer_auth(&rw)
            .json(&json!({"id": "20", "name": "from V2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{b}");
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(location.ends_with("/api/v2/Item(20L)"), "{b}: {location}");
        hub.finish().await;
    }
}
