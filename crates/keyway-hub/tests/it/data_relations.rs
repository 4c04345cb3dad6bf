//! Relations over HTTP on every backend (the CRM example's Contact.organization and
//! Organization.contacts): foreign keys, `$expand`, and what a caller's scopes allow.

use reqwest::Method;
use serde_json::{Value, json};

use crate::data_api::{call, each_backend, token};
use keyway_data::{DataService, Dialect, SchemaSet, sync_tables};

use crate::harness::{Backend, TestHub, backends, http, scratch_database};

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn create(hub: &TestHub, token: &str, entity: &str, body: Value) -> String {
    let (code, _, created) = call(
        Method::POST,
        &hub.url(&format!("/api/{entity}")),
        token,
        Some(body),
        None,
    )
    .await;
    assert_eq!(code, 201, "{}: {created}", hub.backend);
    created["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn relations_expand_and_referential_checks() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "crm.readwrite").await;
        let acme = create(hub, &rw, "Organization", json!({"name": "Acme"})).await;
        let globex = create(hub, &rw, "Organization", json!({"name": "Globex"})).await;
        for (first, org) in [("Ann", &acme), ("Bob", &acme), ("Cid", &globex), ("Dee", &acme)] {
            create(hub, &rw, "Contact", json!({"firstName": first, "lastName": "S", "organizationId": org})).await;
        }
        let loner = create(hub, &rw, "Contact", json!({"firstName": "Eve", "lastName": "S"})).await;

        // A reference to nothing: 400 naming the key, the entity and the id; nothing written.
        let missing = "7b0c5d3e-0000-4000-8000-000000000001";
        let (code, _, problem) = call(Method::POST, &hub.url("/api/Contact"), &rw,
            Some(json!({"firstName": "X", "lastName": "Y", "organizationId": missing})), None).await;
        assert_eq!(code, 400, "{}: {problem}", hub.backend);
        assert_eq!(problem["detail"], format!("organizationId: there is no Organization with id {missing} (relation Contact.organization)"));
        let (code, _, problem) = call(Method::PATCH, &hub.url(&format!("/api/Contact({loner})")), &rw,
            Some(json!({"organizationId": missing})), None).await;
        assert_eq!(code, 400, "{}: {problem}", hub.backend);
        let (_, _, count) = call(Method::GET, &hub.url("/api/Contact/$count"), &rw, None, None).await;
        assert_eq!(count, json!(5));

        // Many-to-one.
        let url = hub.url(&format!("/api/Contact?$orderby=firstName&$select=firstName&$expand={}", enc("organization($select=name)")));
        let (code, _, page) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!(code, 200, "{}: {page}", hub.backend);
        assert_eq!(page["value"][0], json!({"id": page["value"][0]["id"], "firstName": "Ann", "organization": {"id": acme, "name": "Acme"}}));
        assert_eq!(page["value"][4]["organization"], Value::Null, "Eve has none");
        // One-to-many with nested options, a count and a next link that works.
        let url = hub.url(&format!("/api/Organization?$orderby=name&$expand={}", enc("contacts($select=firstName;$filter=firstName ne 'Bob';$orderby=firstName desc;$count=true)")));
        let response = http().get(&url).bearer_auth(&rw).header("prefer", "odata.maxpagesize=1").send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", hub.backend);
        let page: Value = response.json().await.unwrap();
        let first = &page["value"][0];
        assert_eq!(first["name"], "Acme");
        assert_eq!(first["contacts@odata.count"], 2);
        assert_eq!(first["contacts"], json!([{"id": first["contacts"][0]["id"], "firstName": "Dee"}]));
        let next = first["contacts@odata.nextLink"].as_str().unwrap();
        let (code, _, rest) = call(Method::GET, next, &rw, None, None).await;
        assert_eq!(code, 200, "{}: {next}: {rest}", hub.backend);
        let rest: Vec<&str> = rest["value"].as_array().unwrap().iter().map(|c| c["firstName"].as_str().unwrap()).collect();
        assert_eq!(rest, ["Ann"], "{next}");
        // The preference pages the organizations too.
        assert_eq!(page["value"].as_array().unwrap().len(), 1);
        assert!(page["@odata.nextLink"].is_string(), "{page}");
        // The client's $top is all it wants: no next link beyond it.
        let url = hub.url(&format!("/api/Organization?$orderby=name&$expand={}", enc("contacts($top=1)")));
        let (_, _, page) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!(page["value"][0]["contacts"].as_array().unwrap().len(), 1);
        assert!(page["value"][0].get("contacts@odata.nextLink").is_none(), "{page}");
        // An item, expanded three levels deep.
        let url = hub.url(&format!("/api/Organization({globex})?$expand={}", enc("contacts($expand=organization($expand=contacts($select=firstName)))")));
        let (code, headers, item) = call(Method::GET, &url, &rw, None, None).await;
        assert_eq!(code, 200, "{}: {item}", hub.backend);
        assert!(headers.contains_key("etag"));
        assert_eq!(item["contacts"][0]["organization"]["contacts"][0]["firstName"], "Cid");
        let (code, _, problem) = call(Method::GET, &hub.url(&format!("/api/Organization({globex})?$top=1")), &rw, None, None).await;
        assert_eq!(code, 400, "{problem}");

        // Naming an organization needs the right to read organizations: else a 201 or a 400
        // would tell which ids exist there.
        let contacts_writer = token(hub, "contact.readwrite").await;
        let (code, _, problem) = call(Method::POST, &hub.url("/api/Contact"), &contacts_writer,
            Some(json!({"firstName": "X", "lastName": "Y", "organizationId": missing})), None).await;
        assert_eq!(code, 403, "{}: {problem}", hub.backend);
        // A caller who may read contacts but not organizations cannot expand them.
        let contacts_only = token(hub, "contact.read").await;
        let (code, _, problem) = call(Method::GET, &hub.url("/api/Contact?$expand=organization"), &contacts_only, None, None).await;
        assert_eq!(code, 403, "{}: {problem}", hub.backend);
        let (code, _, page) = call(Method::GET, &hub.url("/api/Contact?$expand=*"), &contacts_only, None, None).await;
        assert_eq!(code, 200, "{page}");
        assert!(page["value"][0].get("organization").is_none());

        // Restrict: an organization with contacts stays, and says who holds it.
        let (code, _, problem) = call(Method::DELETE, &hub.url(&format!("/api/Organization({globex})")), &rw, None, None).await;
        assert_eq!(code, 409, "{}: {problem}", hub.backend);
        assert!(problem["detail"].as_str().unwrap().contains("still referenced by Contact.organization"), "{problem}");
        let (_, _, cid) = call(Method::GET, &hub.url(&format!("/api/Contact?$filter={}", enc(&format!("organizationId eq {globex}")))), &rw, None, None).await;
        let cid = cid["value"][0]["id"].as_str().unwrap().to_string();
        let (code, _, _) = call(Method::DELETE, &hub.url(&format!("/api/Contact({cid})")), &rw, None, None).await;
        assert_eq!(code, 204);
        let (code, _, _) = call(Method::DELETE, &hub.url(&format!("/api/Organization({globex})")), &rw, None, None).await;
        assert_eq!(code, 204, "{}", hub.backend);
    })
    .await;
}

#[tokio::test]
async fn metadata_describes_navigation_properties() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "crm.read").await;
        let (code, _, document) = call(Method::GET, &hub.url("/api/$metadata?$format=json"), &rw, None, None).await;
        assert_eq!(code, 200, "{document}");
        assert_eq!(
            document["keyway"]["Contact"]["organization"],
            json!({"$Kind": "NavigationProperty", "$Nullable": true, "$Type": "keyway.Organization", "$Partner": "contacts", "$ReferentialConstraint": {"organizationId": "id"}})
        );
        assert_eq!(
            document["keyway"]["Organization"]["contacts"],
            json!({"$Kind": "NavigationProperty", "$Collection": true, "$Type": "keyway.Contact", "$Partner": "organization", "$OnDelete": "None"})
        );
        assert_eq!(document["keyway"]["Container"]["Contact"]["$NavigationPropertyBinding"], json!({"organization": "Organization"}));
        // Without Organization's scopes, Contact has no navigation property to it.
        let contacts_only = token(hub, "contact.read").await;
        let (_, _, document) = call(Method::GET, &hub.url("/api/$metadata?$format=json"), &contacts_only, None, None).await;
        assert!(document["keyway"]["Contact"].get("organization").is_none(), "{document}");
    })
    .await;
}

#[tokio::test]
async fn deep_insert_is_one_transaction() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "crm.readwrite").await;
        let body = json!({"name": "Initech", "contacts": [
            {"firstName": "Pete", "lastName": "G"},
            {"firstName": "Milton", "lastName": "W", "email": "not an email"}
        ]});
        let (code, _, problem) = call(Method::POST, &hub.url("/api/Organization"), &rw, Some(body), None).await;
        assert_eq!(code, 400, "{}: {problem}", hub.backend);
        assert!(problem["detail"].as_str().unwrap().contains("email"), "{problem}");
        let (_, _, count) = call(Method::GET, &hub.url("/api/Organization/$count"), &rw, None, None).await;
        assert_eq!(count, json!(0), "{}: nothing of a refused deep insert is kept", hub.backend);
        let body = json!({"name": "Initech", "contacts": [
            {"firstName": "Pete", "lastName": "G"},
            {"firstName": "Milton", "lastName": "W"}
        ]});
        let (code, headers, created) = call(Method::POST, &hub.url("/api/Organization"), &rw, Some(body), None).await;
        assert_eq!(code, 201, "{}: {created}", hub.backend);
        assert!(headers["location"].to_str().unwrap().contains("/api/Organization("));
        assert_eq!(created["contacts"].as_array().unwrap().len(), 2, "{created}");
        let org = created["id"].as_str().unwrap();
        // A contact bound to it by reference, OData style.
        let (code, _, contact) = call(Method::POST, &hub.url("/api/Contact"), &rw,
            Some(json!({"firstName": "Bill", "lastName": "L", "organization@odata.bind": format!("Organization({org})")})), None).await;
        assert_eq!(code, 201, "{contact}");
        assert_eq!(contact["organizationId"], org);
    })
    .await;
}

/// A uuid property that becomes a relation's key gets its foreign key on a server database
/// (after a check for rows naming nothing); SQLite, which cannot add one, says what to do.
#[tokio::test]
async fn an_existing_key_column_gets_its_foreign_key() {
    const BEFORE: &str = "entities:\n  Org:\n    properties:\n      name: { type: string }\n  Person:\n    properties:\n      orgId: { type: uuid }\n";
    let after_text = format!("{BEFORE}    relations:\n      org: {{ entity: Org, key: orgId }}\n");
    let after = after_text.clone();
    for backend in backends() {
        let (url, cleanup) = scratch_database(&backend).await;
        let store = keyway_store::Store::open(&url).await.unwrap();
        let dialect = dialect_of(&backend);
        let before = SchemaSet::parse(BEFORE, true, "before").unwrap();
        sync_tables(&store, &before, dialect, false).await.unwrap();
        let data = DataService::new(
            store.clone(),
            std::sync::Arc::new(before),
            std::sync::Arc::new(|| 0),
            std::sync::Arc::new(uuid_v4),
        );
        let scopes = ["org.readwrite", "person.readwrite"];
        let org = data
            .create("Org", &json!({"name": "A"}), &scopes)
            .await
            .unwrap()
            .id;
        data.create("Person", &json!({"orgId": org}), &scopes)
            .await
            .unwrap();
        let orphan = data
            .create("Person", &json!({"orgId": uuid_v4()}), &scopes)
            .await
            .unwrap()
            .id;
        let after = SchemaSet::parse(&after, true, "after").unwrap();
        let err = sync_tables(&store, &after, dialect, false)
            .await
            .unwrap_err()
            .to_string();
        if matches!(backend, Backend::Sqlite) {
            assert!(
                err.contains("SQLite cannot add a foreign key to an existing column"),
                "{err}"
            );
            // SQLite cannot change a foreign key's ON DELETE: a schema that does is refused.
            let (url, cleanup) = scratch_database(&backend).await;
            let fresh = keyway_store::Store::open(&url).await.unwrap();
            let restrict = SchemaSet::parse(&after_text, true, "after").unwrap();
            sync_tables(&fresh, &restrict, dialect, false)
                .await
                .unwrap();
            let cascading = SchemaSet::parse(&format!("{BEFORE}    relations:\n      org: {{ entity: Org, key: orgId, onDelete: cascade }}\n"), true, "cascade").unwrap();
            let err = sync_tables(&fresh, &cascading, dialect, false)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("ON DELETE RESTRICT, but the schema now says onDelete: cascade"),
                "{err}"
            );
            fresh.close().await;
            cleanup.await;
        } else {
            assert!(
                err.contains("1 of its rows name a Org that does not exist"),
                "{:?}: {err}",
                backend
            );
            data.delete("Person", &orphan, None, &scopes).await.unwrap();
            sync_tables(&store, &after, dialect, false).await.unwrap();
            sync_tables(&store, &after, dialect, false).await.unwrap();
            let data = DataService::new(
                store.clone(),
                std::sync::Arc::new(after),
                std::sync::Arc::new(|| 0),
                std::sync::Arc::new(uuid_v4),
            );
            let err = data
                .create("Person", &json!({"orgId": uuid_v4()}), &scopes)
                .await
                .err()
                .unwrap();
            assert!(
                err.to_string().contains("there is no Org with id"),
                "{:?}: {err}",
                backend
            );
            let err = data.delete("Org", &org, None, &scopes).await.err().unwrap();
            assert!(
                err.to_string().contains("still referenced by Person.org"),
                "{:?}: {err}",
                backend
            );
            // The schema now cascades: the constraint follows it.
            let cascading = SchemaSet::parse(&format!("{BEFORE}    relations:\n      org: {{ entity: Org, key: orgId, onDelete: cascade }}\n"), true, "cascade").unwrap();
            sync_tables(&store, &cascading, dialect, false)
                .await
                .unwrap();
            let data = DataService::new(
                store.clone(),
                std::sync::Arc::new(cascading),
                std::sync::Arc::new(|| 0),
                std::sync::Arc::new(uuid_v4),
            );
            data.delete("Org", &org, None, &scopes).await.unwrap();
            assert_eq!(
                data.count("Person", &[], &scopes).await.unwrap(),
                0,
                "{:?}: cascaded",
                backend
            );
        }
        store.close().await;
        cleanup.await;
    }
}

/// The SQL dialect of `backend`.
pub(crate) fn dialect_of(backend: &Backend) -> Dialect {
    match backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Server {
            kind: "postgres", ..
        } => Dialect::Postgres,
        _ => Dialect::Mysql,
    }
}

/// A data service over a scratch database of `backend` with the schemas `text`, its store,
/// and what drops the database.
pub(crate) async fn scratch_service(
    backend: &Backend,
    text: &str,
) -> (
    DataService,
    keyway_store::Store,
    std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    let (url, cleanup) = scratch_database(backend).await;
    let store = keyway_store::Store::open(&url).await.unwrap();
    let schemas = SchemaSet::parse(text, true, "test").unwrap();
    sync_tables(&store, &schemas, dialect_of(backend), false)
        .await
        .unwrap();
    let data = DataService::new(
        store.clone(),
        std::sync::Arc::new(schemas),
        std::sync::Arc::new(|| 0),
        std::sync::Arc::new(uuid_v4),
    );
    (data, store, cleanup)
}

pub(crate) fn uuid_v4() -> String {
    let hex = keyway_auth::random_token(&keyway_auth::SystemEntropy::default(), 24);
    let digits: String = hex
        .bytes()
        .map(|b| format!("{:x}", b % 16))
        .take(32)
        .collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &digits[..8],
        &digits[8..12],
        &digits[13..16],
        &digits[17..20],
        &digits[20..32]
    )
}

#[tokio::test]
async fn search_uses_each_backends_full_text_index() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "crm.readwrite").await;
        for (first, last, email) in [
            ("Ann", "Lee", "ann.lee@example.com"),
            ("Anneliese", "Müller", "am@example.org"),
            ("Bob", "Smith", "bob@example.com"),
            ("Robert", "Lee Smith", "rls@example.net"),
        ] {
            create(
                hub,
                &rw,
                "Contact",
                json!({"firstName": first, "lastName": last, "email": email}),
            )
            .await;
        }
        let search = async |query: &str, extra: &str| {
            let url = hub.url(&format!(
                "/api/Contact?$search={}&$orderby=firstName&$select=firstName{extra}",
                enc(query)
            ));
            let (code, _, page) = call(Method::GET, &url, &rw, None, None).await;
            assert_eq!(code, 200, "{}: {query}: {page}", hub.backend);
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["firstName"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            search("lee", "").await,
            ["Ann", "Robert"],
            "{}",
            hub.backend
        );
        assert_eq!(search("Lee Smith", "").await, ["Robert"]);
        assert_eq!(search("lee OR bob", "").await, ["Ann", "Bob", "Robert"]);
        assert_eq!(search("smith NOT robert", "").await, ["Bob"]);
        assert_eq!(search("\"lee smith\"", "").await, ["Robert"]);
        // A phrase may span two properties, on every backend alike.
        assert_eq!(
            search("\"robert lee\"", "").await,
            ["Robert"],
            "{}",
            hub.backend
        );
        assert_eq!(search("anne*", "").await, ["Anneliese"], "{}", hub.backend);
        assert_eq!(search("müller", "").await, ["Anneliese"]);
        assert_eq!(
            search("lee", "&$filter=firstName%20eq%20'Ann'").await,
            ["Ann"]
        );
        // Kept current on update and delete.
        let (_, _, bob) = call(
            Method::GET,
            &hub.url("/api/Contact?$filter=firstName%20eq%20'Bob'"),
            &rw,
            None,
            None,
        )
        .await;
        let bob = bob["value"][0]["id"].as_str().unwrap().to_string();
        call(
            Method::PATCH,
            &hub.url(&format!("/api/Contact({bob})")),
            &rw,
            Some(json!({"lastName": "Jones"})),
            None,
        )
        .await;
        assert_eq!(search("smith", "").await, ["Robert"], "{}", hub.backend);
        assert_eq!(search("jones", "").await, ["Bob"]);
        call(
            Method::DELETE,
            &hub.url(&format!("/api/Contact({bob})")),
            &rw,
            None,
            None,
        )
        .await;
        assert!(search("jones", "").await.is_empty());
        let (code, _, count) = call(
            Method::GET,
            &hub.url(&format!("/api/Contact/$count?$search={}", enc("lee"))),
            &rw,
            None,
            None,
        )
        .await;
        assert_eq!((code, count), (200, json!(2)));
        // Refusals.
        for (query, expected) in [
            (
                "a AND",
                "expected a word or a phrase, found the end at position 6",
            ),
            ("\"open", "not closed"),
            ("*", "* may only end a word"),
            // A crafted nesting once overflowed the stack and aborted the hub.
            (
                &*Box::leak(format!("{}x", "(".repeat(100)).into_boxed_str()),
                "nested too deeply",
            ),
            (
                &*Box::leak(format!("{}x", "(".repeat(3000)).into_boxed_str()),
                "longer than 1024",
            ),
        ] {
            let (code, _, problem) = call(
                Method::GET,
                &hub.url(&format!("/api/Contact?$search={}", enc(query))),
                &rw,
                None,
                None,
            )
            .await;
            assert_eq!(code, 400, "{query}: {problem}");
            assert!(
                problem["detail"].as_str().unwrap().contains(expected),
                "{query}: {problem}"
            );
        }
        let (code, _, problem) = call(
            Method::GET,
            &hub.url("/api/Organization?$search=acme"),
            &rw,
            None,
            None,
        )
        .await;
        assert_eq!(code, 400);
        assert_eq!(
            problem["detail"],
            "$search: Organization has no searchable properties"
        );
    })
    .await;
}

#[tokio::test]
async fn apply_groups_and_aggregates_on_every_backend() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "crm.readwrite admin.read").await;
        for (first, status, score, salary) in [
            ("Ann", "lead", 10, 1000.5),
            ("Bob", "lead", 20, 2000.0),
            ("Cid", "customer", 30, 3000.0),
            ("Dee", "customer", 40, 4000.0),
            ("Eve", "customer", 50, 5000.0),
            ("Fay", "prospect", 60, 6000.0),
        ] {
            create(hub, &rw, "Contact", json!({"firstName": first, "lastName": "S", "status": status, "score": score, "salary": salary})).await;
        }
        let get = async |token: &str, query: &str| {
            let url = hub.url(&format!("/api/Contact?{query}"));
            call(Method::GET, &url, token, None, None).await
        };
        let apply = format!(
            "$apply={}&$orderby=total%20desc&$count=true",
            enc("filter(score gt 10)/groupby((status),aggregate(score with sum as total,score with average as mean,score with min as low,salary with max as top,firstName with countdistinct as names,$count as n))")
        );
        let (code, _, page) = get(&rw, &apply).await;
        assert_eq!(code, 200, "{}: {page}", hub.backend);
        assert_eq!(page["@odata.count"], 3);
        assert_eq!(
            page["value"],
            json!([
                {"@odata.id": null, "status": "customer", "total": 120, "mean": 40.0, "low": 30, "top": 5000.0, "names": 3, "n": 3},
                {"@odata.id": null, "status": "prospect", "total": 60, "mean": 60.0, "low": 60, "top": 6000.0, "names": 1, "n": 1},
                {"@odata.id": null, "status": "lead", "total": 20, "mean": 20.0, "low": 20, "top": 2000.0, "names": 1, "n": 1},
            ]),
            "{}",
            hub.backend
        );
        assert!(page["@odata.context"].as_str().unwrap().ends_with("$metadata#Contact(status,total,mean,low,top,names,n)"));
        // Aggregate alone: one row; paging of groups.
        let (_, _, page) = get(&rw, &format!("$apply={}", enc("aggregate(score with sum as total,$count as n)"))).await;
        assert_eq!(page["value"], json!([{"@odata.id": null, "total": 210, "n": 6}]), "{}", hub.backend);
        let (_, _, page) = get(&rw, &format!("$apply={}&$top=2", enc("groupby((status))"))).await;
        assert_eq!(page["value"].as_array().unwrap().len(), 2);
        let response = http().get(hub.url(&format!("/api/Contact?$apply={}", enc("groupby((status))")))).bearer_auth(&rw).header("prefer", "odata.maxpagesize=2").send().await.unwrap();
        let page: Value = response.json().await.unwrap();
        let next = page["@odata.nextLink"].as_str().unwrap().to_string();
        let (_, _, rest) = call(Method::GET, &next, &rw, None, None).await;
        assert_eq!(rest["value"], json!([{"@odata.id": null, "status": "prospect"}]), "{next}");
        // A filter-only $apply is a filter.
        let (_, _, page) = get(&rw, &format!("$apply={}&$select=firstName", enc("filter(status eq 'lead')/filter(score ge 20)"))).await;
        assert_eq!(page["value"].as_array().unwrap().len(), 1);
        // Hidden properties are undeclared inside $apply too.
        let reader = token(hub, "crm.read").await;
        let (code, _, problem) = get(&reader, &format!("$apply={}", enc("aggregate(salary with sum as s)"))).await;
        assert_eq!(code, 400, "{problem}");
        assert_eq!(problem["detail"], "$apply: Contact has no property \"salary\"");
        for (query, expected) in [
            (format!("$apply={}&$filter=score%20gt%201", enc("groupby((status))")), "$filter does not apply to groups"),
            (format!("$apply={}&$orderby=score", enc("groupby((status))")), "neither grouped nor an aggregate's alias"),
            (format!("$apply={}", enc("groupby((status))/filter(score gt 1)")), "nothing after it"),
            (format!("$apply={}", enc("aggregate(firstName with average as a)")), "cannot be aggregated"),
        ] {
            let (code, _, problem) = get(&rw, &query).await;
            assert_eq!(code, 400, "{query}: {problem}");
            assert!(problem["detail"].as_str().unwrap().contains(expected), "{query}: {problem}");
        }
    })
    .await;
}

/// A delete that cascades: the items that named an item taken with it (`onDelete: setNull`
/// further down) lose the key with a new version, so their ETags move, on every backend.
#[tokio::test]
async fn set_null_below_a_cascade_moves_etags() {
    const CHAIN: &str = "entities:\n  Team:\n    properties:\n      name: { type: string }\n      captainId: { type: uuid }\n    relations:\n      captain: { entity: Member, key: captainId, onDelete: setNull }\n  Member:\n    properties:\n      teamId: { type: uuid }\n      parentId: { type: uuid }\n    relations:\n      team: { entity: Team, key: teamId, onDelete: cascade }\n      parent: { entity: Member, key: parentId, onDelete: cascade }\n  Task:\n    properties:\n      title: { type: string }\n      memberId: { type: uuid }\n    relations:\n      member: { entity: Member, key: memberId, onDelete: setNull }\n";
    for backend in backends() {
        let (data, store, cleanup) = scratch_service(&backend, CHAIN).await;
        let scopes = ["team.readwrite", "member.readwrite", "task.readwrite"];
        let create =
            async |entity: &str, body: Value| data.create(entity, &body, &scopes).await.unwrap();
        let team = create("Team", json!({"name": "t"})).await.id;
        // team ← lead ← helper (both cascade), and a task on each.
        let lead = create("Member", json!({"teamId": team})).await.id;
        let helper = create("Member", json!({"parentId": lead})).await.id;
        let lead_task = create("Task", json!({"title": "a", "memberId": lead})).await;
        let helper_task = create("Task", json!({"title": "b", "memberId": helper})).await;
        // The chain comes back to the team itself (its captain goes with it): the delete
        // must not bump the team's own version before it checks it.
        data.update(
            "Team",
            &team,
            &json!({"captainId": lead}),
            None,
            &scopes,
            keyway_data::UpdateMode::Merge,
        )
        .await
        .unwrap();
        data.delete("Team", &team, None, &scopes).await.unwrap();
        assert_eq!(
            data.count("Member", &[], &scopes).await.unwrap(),
            0,
            "{backend:?}: cascaded"
        );
        for before in [lead_task, helper_task] {
            let after = data
                .get("Task", &before.id, &[], &scopes, "")
                .await
                .unwrap();
            assert_eq!(after.body["memberId"], Value::Null, "{backend:?}");
            assert_ne!(after.etag, before.etag, "{backend:?}: the ETag moved");
        }
        store.close().await;
        cleanup.await;
    }
}
