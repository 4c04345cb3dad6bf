//! `$filter`'s arithmetic, `indexof`, `has`, paths and `any`/`all` on every backend: the same
//! rows match on SQLite, PostgreSQL and MariaDB.

use reqwest::Method;
use serde_json::json;

use crate::data_api::{call, each_backend, token};
use crate::data_relations::scratch_service;
use crate::harness::{TestHub, backends};

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn arithmetic_indexof_and_has_match_alike_everywhere() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "contact.readwrite").await;
        for (first, score, status) in [
            ("Ann", 10, "lead"),
            ("Joanna", 25, "customer"),
            ("Bob", 7, "lead"),
        ] {
            let body =
                json!({"firstName": first, "lastName": "L", "score": score, "status": status});
            let (code, _, created) = call(
                Method::POST,
                &hub.url("/api/Contact"),
                &rw,
                Some(body),
                None,
            )
            .await;
            assert_eq!(code, 201, "{created}");
        }
        let names = async |filter: &str| {
            select(hub, &rw, "Contact", "firstName", filter)
                .await
                .unwrap_or_else(|e| panic!("{}: {filter}: {e}", hub.backend))
        };
        assert_eq!(
            names("score add 5 gt 14").await,
            ["Ann", "Joanna"],
            "{}",
            hub.backend
        );
        assert_eq!(names("score mul 2 sub 4 eq 16").await, ["Ann"]);
        assert_eq!(
            names("score div 2 eq 3").await,
            ["Bob"],
            "{}: integer division",
            hub.backend
        );
        assert_eq!(names("score mod 5 eq 0").await, ["Ann", "Joanna"]);
        assert_eq!(
            names("score div 4.0 gt 6").await,
            ["Joanna"],
            "{}",
            hub.backend
        );
        assert_eq!(
            names("indexof(firstName,'nn') eq 1").await,
            ["Ann"],
            "{}",
            hub.backend
        );
        assert_eq!(names("indexof(firstName,'nn') eq 3").await, ["Joanna"]);
        assert_eq!(
            names("indexof(firstName,'z') eq -1").await,
            ["Ann", "Bob", "Joanna"]
        );
        assert_eq!(
            names("status has keyway.Contact_status'lead'").await,
            ["Ann", "Bob"]
        );
        assert_eq!(
            names("not (status has keyway.Contact_status'lead') and score sub 20 ge 5").await,
            ["Joanna"]
        );
        let (code, _, problem) = call(
            Method::GET,
            &hub.url(&format!("/api/Contact?$filter={}", enc("score div 0 eq 1"))),
            &rw,
            None,
            None,
        )
        .await;
        assert!(
            code == 200 || code == 400,
            "{}: division by zero is no server error: {code} {problem}",
            hub.backend
        );
    })
    .await;
}

/// The names of the items `filter` selects from `entity` (ordered by `order`), as `token`'s
/// holder sees them; anything but a 200 is the problem's detail.
async fn select(
    hub: &TestHub,
    token: &str,
    entity: &str,
    order: &str,
    filter: &str,
) -> Result<Vec<String>, String> {
    let url = hub.url(&format!(
        "/api/{entity}?$orderby={order}&$filter={}",
        enc(filter)
    ));
    let (code, _, page) = call(Method::GET, &url, token, None, None).await;
    if code != 200 {
        return Err(format!("{code} {}", page["detail"]));
    }
    Ok(page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[order].as_str().unwrap().to_string())
        .collect())
}

#[tokio::test]
async fn filters_reach_through_navigation_properties_everywhere() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "crm.readwrite admin.read").await;
        let mut orgs = Vec::new();
        for name in ["Acme", "Globex", "Initech"] {
            let (code, _, org) = call(Method::POST, &hub.url("/api/Organization"), &rw,
                Some(json!({"name": name})), None).await;
            assert_eq!(code, 201, "{org}");
            orgs.push(org["id"].as_str().unwrap().to_string());
        }
        // Acme: Ann (lead, 10), Bob (customer, 70); Globex: Cid (customer, 90); Initech: none;
        // Eve has no organization.
        for (first, org, status, score) in [("Ann", Some(0), "lead", 10), ("Bob", Some(0), "customer", 70),
            ("Cid", Some(1), "customer", 90), ("Eve", None, "lead", 50)] {
            let mut body = json!({"firstName": first, "lastName": "L", "status": status, "score": score, "salary": score * 1000});
            if let Some(i) = org {
                body["organizationId"] = json!(orgs[i]);
            }
            let (code, _, c) = call(Method::POST, &hub.url("/api/Contact"), &rw, Some(body), None).await;
            assert_eq!(code, 201, "{c}");
        }
        let orgs_where = async |filter: &str| select(hub, &rw, "Organization", "name", filter).await;
        let contacts_where = async |filter: &str| select(hub, &rw, "Contact", "firstName", filter).await;
        let b = &hub.backend;
        assert_eq!(orgs_where("contacts/any()").await.unwrap(), ["Acme", "Globex"], "{b}");
        assert_eq!(orgs_where("not contacts/any()").await.unwrap(), ["Initech"], "{b}");
        assert_eq!(orgs_where("contacts/any(c: c/status eq 'lead')").await.unwrap(), ["Acme"], "{b}");
        // all() holds for an organization without contacts.
        assert_eq!(orgs_where("contacts/all(c: c/score gt 50)").await.unwrap(), ["Globex", "Initech"], "{b}");
        assert_eq!(orgs_where("contacts/all(c: c/score ge 10) and contacts/any(c: c/score lt 20)").await.unwrap(), ["Acme"], "{b}");
        // $it (and a plain name) inside a lambda is the organization; a variable is a contact.
        assert_eq!(orgs_where("contacts/any(c: startswith(c/firstName, 'C') and name eq 'Globex')").await.unwrap(), ["Globex"], "{b}");
        assert_eq!(orgs_where("contacts/any(c: c/organization/name eq $it/name and c/score gt 80)").await.unwrap(), ["Globex"], "{b}");
        assert_eq!(orgs_where("contacts/any(c: c/salary ge 70000)").await.unwrap(), ["Acme", "Globex"], "{b}");
        // To-one paths.
        assert_eq!(contacts_where("organization/name eq 'Acme'").await.unwrap(), ["Ann", "Bob"], "{b}");
        assert_eq!(contacts_where("organization/name ne 'Acme'").await.unwrap(), ["Cid", "Eve"], "{b}");
        assert_eq!(contacts_where("organization/name eq null").await.unwrap(), ["Eve"], "{b}");
        assert_eq!(contacts_where("tolower(organization/name) in ('globex', 'initech')").await.unwrap(), ["Cid"], "{b}");
        // A lambda reached through a to-one step would read the siblings once per pair.
        let err = contacts_where("organization/contacts/any(o: o/score ge 90)").await.unwrap_err();
        assert!(err.starts_with("400") && err.contains("not through a to-one step"), "{b}: {err}");
        // Inside $expand, $count, and $apply.
        let url = hub.url(&format!("/api/Organization?$orderby=name&$filter={}&$expand={}",
            enc("contacts/any()"), enc("contacts($filter=organization/name eq 'Acme' and score gt 20;$select=firstName)")));
        let (code, _, page) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!(code, 200, "{b}: {page}");
        let expanded: Vec<usize> = page["value"].as_array().unwrap().iter().map(|o| o["contacts"].as_array().unwrap().len()).collect();
        assert_eq!(expanded, [1, 0], "{b}: {page}");
        let url = hub.url(&format!("/api/Contact/$count?$filter={}", enc("organization/name eq 'Acme'")));
        let (code, _, count) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!((code, count), (200, json!(2)), "{b}");
        let url = hub.url(&format!("/api/Contact?$apply={}", enc("filter(organization/name eq 'Acme')/aggregate(score with sum as total)")));
        let (code, _, page) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!(code, 200, "{b}: {page}");
        assert_eq!(page["value"][0]["total"].as_f64(), Some(80.0), "{b}: {page}");

        // What the caller may not read is as absent through a path as it is directly.
        let reader = token(hub, "crm.read").await;
        let err = select(hub, &reader, "Organization", "name", "contacts/any(c: c/salary ge 70000)").await.unwrap_err();
        assert_eq!(err, "400 \"$filter: Contact has no property \\\"salary\\\" at position 17\"", "{b}");
        let contacts_only = token(hub, "contact.read").await;
        let err = select(hub, &contacts_only, "Contact", "firstName", "organization/name eq 'Acme'").await.unwrap_err();
        assert!(err.contains("Contact has no navigation property \\\"organization\\\""), "{b}: {err}");
        let err = select(hub, &rw, "Organization", "name", "contacts/any(c: c/status eq 'boss')").await.unwrap_err();
        assert!(err.starts_with("400") && err.contains("not one of c/status's values"), "{b}: {err}");
    })
    .await;
}

/// A relation from an entity to itself: the subquery reads the same table under an alias,
/// and the filtered row's own columns must still mean the outer row on every backend.
#[tokio::test]
async fn self_referencing_lambdas_keep_outer_and_inner_rows_apart() {
    const TREE: &str = "entities:\n  Node:\n    properties:\n      name: { type: string }\n      rank: { type: integer }\n      parentId: { type: uuid }\n    relations:\n      parent: { entity: Node, key: parentId }\n      children: { entity: Node, via: parent }\n";
    for backend in backends() {
        let (data, store, cleanup) = scratch_service(&backend, TREE).await;
        let scopes = ["node.readwrite"];
        let node = async |name: &str, rank: i64, parent: Option<&str>| {
            let body = json!({"name": name, "rank": rank, "parentId": parent});
            data.create("Node", &body, &scopes).await.unwrap().id
        };
        // root(1) ─ a(5) ─ a1(7)
        //         └ b(0)     (and a lone "a" elsewhere: the same name as its parent's child)
        let root = node("root", 1, None).await;
        let a = node("a", 5, Some(&root)).await;
        node("a1", 7, Some(&a)).await;
        node("b", 0, Some(&root)).await;
        let other = node("other", 9, None).await;
        node("other", 2, Some(&other)).await;
        // A deep insert whose siblings differ in shape answers with all of them expanded.
        let deep = json!({"name": "v", "rank": 3, "children": [
            {"name": "va", "rank": 1, "children": [{"name": "va1", "rank": 1, "children": [{"name": "va1x", "rank": 1}]}]},
            {"name": "vb", "rank": 1},
        ]});
        let created = data
            .create_at("Node", &deep, &scopes, "http://h/api")
            .await
            .unwrap();
        // Children come in id order (random UUIDs): find them by name.
        let child = |name: &str| {
            created.body["children"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .cloned()
                .unwrap_or_default()
        };
        let va = child("va");
        assert_eq!(
            va["children"][0]["children"][0]["name"], "va1x",
            "{backend:?}: {}",
            created.body
        );
        let pairs = vec![("$filter".to_string(), "name eq 'v' or parent/name eq 'v' or parent/parent/name eq 'v' or parent/parent/parent/name eq 'v'".to_string())];
        let count = data.count("Node", &pairs, &scopes).await.unwrap();
        assert_eq!(count, 5, "{backend:?}");
        for name in ["vb", "va1x", "va1", "va", "v"] {
            let pairs = vec![("$filter".to_string(), format!("name eq '{name}'"))];
            let page = data
                .list("Node", &pairs, &scopes, "http://h/api", None)
                .await
                .unwrap();
            let id = page.body["value"][0]["id"].as_str().unwrap().to_string();
            data.delete("Node", &id, None, &scopes).await.unwrap();
        }
        let names = async |filter: &str| {
            let pairs = vec![
                ("$filter".to_string(), filter.to_string()),
                ("$orderby".to_string(), "name,rank".to_string()),
            ];
            let page = data
                .list("Node", &pairs, &scopes, "http://h/api", None)
                .await
                .unwrap_or_else(|e| panic!("{backend:?}: {filter}: {e}"));
            page.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| format!("{}{}", n["name"].as_str().unwrap(), n["rank"]))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("children/any(c: c/rank gt rank)").await,
            ["a5", "root1"],
            "{backend:?}"
        );
        assert_eq!(
            names("children/any(c: c/name eq name)").await,
            ["other9"],
            "{backend:?}"
        );
        assert_eq!(
            names("children/all(c: c/rank lt $it/rank)").await,
            ["a17", "b0", "other2", "other9"],
            "{backend:?}"
        );
        assert_eq!(
            names("parent/name eq 'root'").await,
            ["a5", "b0"],
            "{backend:?}"
        );
        assert_eq!(
            names("parent/parent/name eq 'root'").await,
            ["a17"],
            "{backend:?}"
        );
        assert_eq!(
            names(
                "children/any(c: c/children/any(g: g/rank gt $it/rank and g/parent/name eq c/name))"
            )
            .await,
            ["root1"],
            "{backend:?}"
        );
        store.close().await;
        cleanup.await;
    }
}
