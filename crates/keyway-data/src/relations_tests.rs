//! Relations over a real (SQLite) store: foreign keys, `ON DELETE`, and `$expand` without a
//! query per row.

use serde_json::{Value, json};

use crate::{DataError, DataService, SchemaSet};

const SCHEMAS: &str = "entities:
  Org:
    properties:
      name: { type: string, required: true }
    relations:
      people: { entity: Person, via: org }
      notes: { entity: Note, via: org }
  Person:
    properties:
      name: { type: string }
      orgId: { type: uuid }
      secret: { type: string, scope: hr.read }
    relations:
      org: { entity: Org, key: orgId, onDelete: cascade }
  Note:
    properties:
      text: { type: string }
      orgId: { type: uuid }
    relations:
      org: { entity: Org, key: orgId, onDelete: setNull }
  Badge:
    scopes: { read: badge.read, readwrite: badge.write }
    properties:
      personId: { type: uuid, required: true }
    relations:
      person: { entity: Person, key: personId }
";

const ALL: [&str; 5] = [
    "org.readwrite",
    "person.readwrite",
    "note.readwrite",
    "badge.write",
    "hr.read",
];

async fn service(dir: &tempfile::TempDir) -> DataService {
    crate::service_tests::sqlite_service(dir, SCHEMAS).await
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn create(data: &DataService, entity: &str, body: Value) -> String {
    data.create(entity, &body, &ALL).await.unwrap().id
}

#[tokio::test]
async fn expand_runs_one_query_per_navigation_property_not_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = service(&dir).await;
    let mut orgs = Vec::new();
    for i in 0..40 {
        let org = create(&data, "Org", json!({"name": format!("org {i:02}")})).await;
        for j in 0..3 {
            create(
                &data,
                "Person",
                json!({"name": format!("p{i:02}-{j}"), "orgId": org}),
            )
            .await;
        }
        orgs.push(org);
    }
    let before = data.queries_run();
    let page = data
        .list(
            "Person",
            &pairs(&[("$expand", "org($select=name)"), ("$select", "name")]),
            &ALL,
            "https://h/api",
            None,
        )
        .await
        .unwrap()
        .body;
    assert_eq!(
        data.queries_run() - before,
        1,
        "a to-one expansion with nothing inside it joins the page's own query"
    );
    // With something expanded inside, it is batched: one query for every org at once.
    let before = data.queries_run();
    data.list(
        "Person",
        &pairs(&[("$expand", "org($expand=people($top=1))")]),
        &ALL,
        "u",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        data.queries_run() - before,
        3,
        "people, their orgs, the orgs' people"
    );
    let people = page["value"].as_array().unwrap();
    assert_eq!(people.len(), 120);
    assert_eq!(
        people[0],
        json!({"id": people[0]["id"], "name": "p00-0", "org": {"id": orgs[0], "name": "org 00"}})
    );

    let before = data.queries_run();
    let page = data
        .list(
            "Org",
            &pairs(&[("$expand", "people($select=name;$orderby=name desc;$top=2;$count=true;$expand=org($select=name))")]),
            &ALL,
            "https://h/api",
            None,
        )
        .await
        .unwrap()
        .body;
    assert_eq!(
        data.queries_run() - before,
        3,
        "orgs, their people, the people's org"
    );
    let first = &page["value"][0];
    assert_eq!(first["people@odata.count"], 3);
    let names: Vec<&str> = first["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p00-2", "p00-1"]);
    assert_eq!(first["people"][0]["org"]["name"], "org 00");
    assert!(
        first["people"][0].get("orgId").is_none(),
        "a key read only to expand is not answered"
    );
    assert!(
        first.get("people@odata.nextLink").is_none(),
        "never beyond the client's $top"
    );
    // Server-driven paging inside: a next link to the rest, as a query on Person.
    data.page_size = 2;
    let page = data
        .list(
            "Org",
            &pairs(&[("$expand", "people($select=name;$orderby=name desc)")]),
            &ALL,
            "https://h/api",
            None,
        )
        .await
        .unwrap()
        .body;
    let next = page["value"][0]["people@odata.nextLink"].as_str().unwrap();
    assert_eq!(
        next,
        format!(
            "https://h/api/Person?$filter=orgId%20eq%20{}&$select=name&$orderby=name%20desc&$skip=2",
            orgs[0]
        )
    );
}

#[tokio::test]
async fn expanded_collections_follow_skip_and_count_and_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let data = service(&dir).await;
    let org = create(&data, "Org", json!({"name": "A"})).await;
    let empty = create(&data, "Org", json!({"name": "B"})).await;
    for name in ["x", "y"] {
        create(
            &data,
            "Person",
            json!({"name": name, "orgId": org, "secret": "s"}),
        )
        .await;
    }
    let page = data
        .list(
            "Org",
            &pairs(&[
                ("$expand", "people($skip=5;$count=true)"),
                ("$orderby", "name"),
            ]),
            &ALL,
            "u",
            None,
        )
        .await
        .unwrap()
        .body;
    assert_eq!(page["value"][0]["people"], json!([]));
    assert_eq!(
        page["value"][0]["people@odata.count"], 2,
        "counted though all are skipped"
    );
    assert_eq!(page["value"][1]["people@odata.count"], 0);
    assert!(page["value"][0].get("people@odata.nextLink").is_none());
    let _ = empty;
    // A caller without hr.read: the hidden property is neither answered nor usable inside.
    let reader = ["org.read", "person.read"];
    let page = data
        .list("Org", &pairs(&[("$expand", "people")]), &reader, "u", None)
        .await
        .unwrap()
        .body;
    assert!(page["value"][0]["people"][0].get("secret").is_none());
    let err = data
        .list(
            "Org",
            &pairs(&[("$expand", "people($filter=secret eq 's')")]),
            &reader,
            "u",
            None,
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("secret")),
        "{err:?}"
    );
    // An entity the caller may not read is never expanded.
    let err = data
        .list(
            "Org",
            &pairs(&[("$expand", "people")]),
            &["org.read"],
            "u",
            None,
        )
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DataError::Forbidden(_)), "{err:?}");
    // `*` leaves out quietly what it may not read.
    let page = data
        .list(
            "Org",
            &pairs(&[("$expand", "*")]),
            &["org.read", "note.read"],
            "u",
            None,
        )
        .await
        .unwrap()
        .body;
    assert!(page["value"][0].get("people").is_none());
    assert_eq!(page["value"][0]["notes"], json!([]));
}

#[tokio::test]
async fn bad_expansions_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = service(&dir).await;
    let bad = async |value: &str| match data
        .list("Person", &pairs(&[("$expand", value)]), &ALL, "u", None)
        .await
    {
        Err(DataError::BadRequest(message)) => message,
        other => panic!("{value}: {:?}", other.map(|p| p.body)),
    };
    assert!(
        bad("nope")
            .await
            .contains("Person has no navigation property \"nope\" at position 1")
    );
    assert!(bad("org,org").await.contains("expanded twice"));
    assert!(
        bad("org($top=1)")
            .await
            .contains("only $select and $expand apply")
    );
    assert!(
        bad("org($expand=people($expand=org($expand=people)))")
            .await
            .contains("deeper than 3")
    );
    assert!(
        bad("org($select=nope)")
            .await
            .starts_with("$expand=org: $select: Org has no property")
    );
    assert!(
        bad("org($levels=2)")
            .await
            .contains("unsupported query option")
    );
    // Depth 3 itself is fine.
    data.list(
        "Person",
        &pairs(&[("$expand", "org($expand=people($expand=org))")]),
        &ALL,
        "u",
        None,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn foreign_keys_refuse_missing_targets_and_apply_on_delete() {
    let dir = tempfile::tempdir().unwrap();
    let data = service(&dir).await;
    let missing = "00000000-0000-4000-8000-00000000ffff";
    let err = data
        .create("Person", &json!({"name": "x", "orgId": missing}), &ALL)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, DataError::BadRequest(m) if m == &format!("orgId: there is no Org with id {missing} (relation Person.org)")),
        "{err:?}"
    );
    let org = create(&data, "Org", json!({"name": "A"})).await;
    let person = create(&data, "Person", json!({"name": "p", "orgId": org})).await;
    let note = create(&data, "Note", json!({"text": "n", "orgId": org})).await;
    create(&data, "Badge", json!({"personId": person})).await;
    let err = data
        .update(
            "Person",
            &person,
            &json!({"orgId": missing}),
            None,
            &ALL,
            crate::UpdateMode::Merge,
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("no Org with id")),
        "{err:?}"
    );
    // Deleting the org cascades to people — whose badges restrict it.
    let err = data.delete("Org", &org, None, &ALL).await.err().unwrap();
    assert!(
        matches!(&err, DataError::Conflict(m) if m.contains("or items it cascades to")),
        "{err:?}"
    );
    let err = data
        .delete("Person", &person, None, &ALL)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, DataError::Conflict(m) if m.contains("still referenced by Badge.person")),
        "{err:?}"
    );
    // Who may delete an org must be allowed to delete and change what it reaches.
    let err = data
        .delete("Org", &org, None, &["org.readwrite"])
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DataError::Forbidden(_)), "{err:?}");
    let badges = data.list("Badge", &[], &ALL, "u", None).await.unwrap().body;
    let badge = badges["value"][0]["id"].as_str().unwrap().to_string();
    data.delete("Badge", &badge, None, &ALL).await.unwrap();
    data.delete("Org", &org, None, &ALL).await.unwrap();
    assert!(matches!(
        data.get("Person", &person, &[], &ALL, "u").await,
        Err(DataError::NotFound(_))
    ));
    let kept = data.get("Note", &note, &[], &ALL, "u").await.unwrap();
    assert_eq!(kept.body["orgId"], Value::Null, "setNull");
}

#[test]
fn relation_declarations_are_checked() {
    let error = |relations: &str| {
        let text = format!(
            "entities:\n  A:\n    properties:\n      bId: {{ type: uuid, required: true }}\n      n: {{ type: string }}\n    relations:\n{relations}\n  B:\n    properties:\n      x: {{ type: string }}\n"
        );
        SchemaSet::parse(&text, true, "s.yaml")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error("      b: { entity: C, key: bId }"),
        "A.relations.b.entity: no entity \"C\" is declared"
    );
    assert!(error("      b: { entity: B, key: n }").contains("n must have type uuid"));
    assert!(error("      b: { entity: B, key: zz }").contains("A has no property \"zz\""));
    assert!(error("      b: { entity: B }").contains("give either key"));
    assert!(error("      n: { entity: B, key: bId }").contains("same name"));
    assert!(
        error("      b: { entity: B, key: bId, onDelete: setNull }")
            .contains("setNull needs bId to be optional")
    );
    assert!(
        error("      b: { entity: B, key: bId, onDelete: drop }")
            .contains("use restrict, cascade or setNull")
    );
    assert!(error("      b: { entity: B, via: a }").contains("B has no relation \"a\""));
    assert!(
        error("      b: { entity: B, key: bId }\n      c: { entity: B, key: bId }")
            .contains("already the key")
    );
}

#[tokio::test]
async fn deep_insert_creates_everything_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = service(&dir).await;
    let body = json!({
        "name": "Acme",
        "people": [
            {"name": "Ann", "badge": null},
            {"name": "Bob"}
        ],
        "notes": [{"text": "hello"}]
    });
    // `badge` is no relation of Person: the whole insert is refused, nothing is written.
    let err = data.create("Org", &body, &ALL).await.err().unwrap();
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("Person has no property \"badge\"")),
        "{err:?}"
    );
    let count = |entity: &'static str| {
        let data = &data;
        async move { data.count(entity, &[], &ALL).await.unwrap() }
    };
    assert_eq!(count("Org").await, 0);
    let body = json!({"name": "Acme", "people": [{"name": "Ann"}, {"name": "Bob"}], "notes": [{"text": "hello"}]});
    let item = data
        .create_at("Org", &body, &ALL, "https://h/api")
        .await
        .unwrap();
    assert_eq!(item.body["name"], "Acme");
    let names: Vec<&str> = item.body["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ann", "Bob"]);
    assert_eq!(item.body["people"][0]["orgId"], item.body["id"]);
    assert_eq!(item.body["notes"][0]["text"], "hello");
    // To-one, nested the other way, three levels; and a bind to an existing item.
    let badge = data
        .create_at(
            "Badge",
            &json!({"person": {"name": "Cid", "org": {"name": "Globex"}}}),
            &ALL,
            "u",
        )
        .await
        .unwrap();
    assert_eq!(badge.body["person"]["org"]["name"], "Globex");
    let org = item.body["id"].as_str().unwrap();
    let bound = data
        .create(
            "Person",
            &json!({"name": "Dee", "org@odata.bind": format!("Org({org})")}),
            &ALL,
        )
        .await
        .unwrap();
    assert_eq!(bound.body["orgId"], org);
    // Refusals: a nested item that names its own key, a nested item of an entity the caller
    // may not write, a bind to nothing, binds of the wrong shape.
    let refused = async |entity: &str, body: Value, scopes: &[&str]| {
        data.create(entity, &body, scopes).await.err().unwrap()
    };
    let err = refused(
        "Org",
        json!({"name": "X", "people": [{"orgId": org}]}),
        &ALL,
    )
    .await;
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("takes its orgId from the item it is nested in")),
        "{err:?}"
    );
    let err = refused(
        "Org",
        json!({"name": "X", "people": [{"name": "Y"}]}),
        &["org.readwrite"],
    )
    .await;
    assert!(matches!(err, DataError::Forbidden(_)), "{err:?}");
    let missing = "00000000-0000-4000-8000-00000000ffff";
    let err = refused(
        "Person",
        json!({"org@odata.bind": format!("Org({missing})")}),
        &ALL,
    )
    .await;
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("there is no Org with id")),
        "{err:?}"
    );
    let err = refused("Person", json!({"org@odata.bind": "Note(1)"}), &ALL).await;
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("this relation leads to Org")),
        "{err:?}"
    );
    let err = refused("Person", json!({"org@odata.bind": org, "orgId": org}), &ALL).await;
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("must be") || m.contains("not both")),
        "{err:?}"
    );
    let err = refused("Org", json!({"name": "X", "people": {"name": "Y"}}), &ALL).await;
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("give an array")),
        "{err:?}"
    );
    assert_eq!(count("Org").await, 2, "no refused insert left anything");
}

#[tokio::test]
async fn review_regressions_expansion_budget_set_null_etags_and_units() {
    let dir = tempfile::tempdir().unwrap();
    let data = service(&dir).await;
    let org = create(&data, "Org", json!({"name": "Big"})).await;
    for i in 0..101 {
        create(
            &data,
            "Person",
            json!({"name": format!("p{i}"), "orgId": org}),
        )
        .await;
    }
    // 101 people each showing their org with its 101 people: over the budget, refused.
    let err = data
        .list(
            "Person",
            &pairs(&[("$expand", "org($expand=people)")]),
            &ALL,
            "u",
            None,
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("more than 10000 expanded items")),
        "{err:?}"
    );
    // setNull gives the changed items a new version (ETag).
    let other = create(&data, "Org", json!({"name": "Small"})).await;
    let note = create(&data, "Note", json!({"text": "n", "orgId": other})).await;
    let before = data.get("Note", &note, &[], &ALL, "u").await.unwrap().etag;
    data.delete("Org", &other, None, &ALL).await.unwrap();
    let after = data.get("Note", &note, &[], &ALL, "u").await.unwrap();
    assert_ne!(
        before, after.etag,
        "the ETag moves with the key set to null"
    );
    assert_eq!(after.body["orgId"], Value::Null);
    // One item twice in a unit: refused up front, nothing written.
    let person = data
        .list("Person", &pairs(&[("$top", "1")]), &ALL, "u", None)
        .await
        .unwrap()
        .body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ops = [
        crate::WriteOp::Update {
            entity: "Person".into(),
            id: person.clone(),
            body: json!({"name": "a"}),
            if_match: None,
            mode: crate::UpdateMode::Merge,
        },
        crate::WriteOp::Delete {
            entity: "person".into(),
            id: person.to_uppercase(),
            if_match: None,
        },
    ];
    let (index, err) = data.write_atomically(&ops, &ALL, "u").await.err().unwrap();
    assert_eq!(index, 1);
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("already changed earlier in this unit")),
        "{err:?}"
    );
    // A body naming a property twice, in two cases.
    let err = data
        .create("Org", &json!({"name": "a", "NAME": "b"}), &ALL)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, DataError::BadRequest(m) if m.contains("given twice")),
        "{err:?}"
    );
    // Setting a key needs read access to the target (else success would tell what exists).
    let err = data
        .create("Person", &json!({"orgId": org}), &["person.readwrite"])
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DataError::Forbidden(_)), "{err:?}");
    // An aggregate alone is one group.
    let page = data
        .list(
            "Person",
            &pairs(&[("$apply", "aggregate($count as n)"), ("$count", "true")]),
            &ALL,
            "u",
            None,
        )
        .await
        .unwrap()
        .body;
    assert_eq!(page["@odata.count"], 1);
}
