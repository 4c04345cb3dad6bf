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
        // Counted up by the hub, or chosen by the client (the count then goes past it).
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
        let (_, _, next) = post("Item", json!({"name": "eleven"})).await;
        assert_eq!(next["id"], 11, "{b}: {next}");
        let (code, _, problem) = post("Item", json!({"id": 10, "name": "again"})).await;
        assert_eq!(code, 409, "{b}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("already a Item with id 10"),
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
        let url = hub.url(&format!(
            "/api/Item?$filter={}&$orderby=id desc",
            enc("id gt 5 and id in (10, 11)")
        ));
        let (_, _, page) = call(Method::GET, &url, &rw, None, None).await;
        let ids: Vec<&Value> = page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["id"])
            .collect();
        assert_eq!(ids, [&json!(11), &json!(10)], "{b}: {page}");

        // Relations: integer keys, deep insert (ids counted for the nested items too),
        // $expand both ways, and restrict on delete.
        let (code, _, deep) = post(
            "Item",
            json!({"name": "deep", "lines": [{"text": "a"}, {"text": "b"}]}),
        )
        .await;
        assert_eq!(code, 201, "{b}: {deep}");
        assert_eq!(deep["id"], 12, "{b}: {deep}");
        assert_eq!(deep["lines"][0]["itemId"], 12, "{b}: {deep}");
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
        let url = hub.url(&format!(
            "/api/Line?$orderby=text&$expand=item&$filter={}",
            enc("item/name eq 'deep'")
        ));
        let (code, _, page) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!(code, 200, "{b}: {page}");
        assert_eq!(page["value"][1]["item"]["id"], 12, "{b}: {page}");
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
        assert_eq!(counts, [(10, 1), (12, 2)], "{b}: {page}");
        let (code, _, _) = call(Method::DELETE, &hub.url("/api/Item(10)"), &rw, None, None).await;
        assert_eq!(code, 409, "{b}");
        let (code, _, _) = call(Method::DELETE, &hub.url("/api/Item(11)"), &rw, None, None).await;
        assert_eq!(code, 204, "{b}");
        // A deleted id is not handed out again.
        let (_, _, after) = post("Item", json!({"name": "after"})).await;
        assert_eq!(after["id"], 13, "{b}: {after}");

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
            .get(hub.url("/api/v2/Item(12L)"))
            .bearer_auth(&rw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{b}");
        let v2: Value = response.json().await.unwrap();
        assert_eq!(v2["d"]["id"], "12", "{b}: {v2}");
        assert!(
            v2["d"]["__metadata"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("/Item(12L)"),
            "{b}: {v2}"
        );
        hub.finish().await;
    }
}
