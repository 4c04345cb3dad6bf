//! The service over a real (SQLite) store: what a caller may name in queries and bodies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keyway_store::Store;
use serde_json::json;

use crate::{DataError, DataService, Dialect, SchemaSet, UpdateMode, sync_tables};

const SCHEMAS: &str = "entities:
  Contact:
    properties:
      name: { type: string }
      salary: { type: number, scope: admin.read }
      rating: { type: integer, scope: hr.read, writeScope: hr.submit }
";

async fn service(dir: &tempfile::TempDir) -> DataService {
    sqlite_service(dir, SCHEMAS).await
}

/// A service over a new SQLite store in `dir` for the schema text `schemas` (YAML), with a
/// fixed clock and ids counting up from `…0001`.
pub(crate) async fn sqlite_service(dir: &tempfile::TempDir, schemas: &str) -> DataService {
    let url = format!("sqlite://{}", dir.path().join("data.db").display());
    let store = Store::open(&url).await.unwrap();
    let schemas = SchemaSet::parse(schemas, true, "t").unwrap();
    sync_tables(&store, &schemas, Dialect::Sqlite, false)
        .await
        .unwrap();
    let next = Arc::new(AtomicU64::new(1));
    DataService::new(
        store,
        Arc::new(schemas),
        Arc::new(|| 1_700_000_000_000),
        Arc::new(move || {
            format!(
                "00000000-0000-4000-8000-{:012x}",
                next.fetch_add(1, Ordering::Relaxed)
            )
        }),
    )
}

fn pairs(key: &str, value: &str) -> Vec<(String, String)> {
    vec![(key.to_string(), value.to_string())]
}

/// The detail a caller gets for a name the entity does not have.
fn unknown(err: DataError) -> String {
    match err {
        DataError::BadRequest(detail) => detail,
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn hidden_properties_are_unknown_to_filter_orderby_select_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let data = service(&dir).await;
    let admin = ["contact.readwrite", "admin.read"];
    for (name, salary) in [("Ann", 87_500.0), ("Bob", 40_000.0)] {
        data.create("Contact", &json!({"name": name, "salary": salary}), &admin)
            .await
            .unwrap();
    }
    let plain = ["contact.read"];
    let probes = [
        (
            "$filter",
            "salary ge 87500 and salary le 87500",
            "wage ge 1",
        ),
        ("$orderby", "salary", "wage"),
        ("$select", "name,salary", "name,wage"),
    ];
    for (option, hidden, absent) in probes {
        let refused = data
            .list(
                "Contact",
                &pairs(option, hidden),
                &plain,
                "http://hub/api",
                None,
            )
            .await
            .map(|_| ())
            .expect_err(option);
        let never_declared = data
            .list(
                "Contact",
                &pairs(option, absent),
                &plain,
                "http://hub/api",
                None,
            )
            .await
            .map(|_| ())
            .expect_err(option);
        // Exactly the answer for a name never declared, so the property's existence is not
        // confirmed either.
        assert_eq!(
            unknown(refused).replace("salary", "wage"),
            unknown(never_declared),
            "{option}"
        );
    }
    let counted = data
        .count("Contact", &pairs("$filter", "salary gt 60000"), &plain)
        .await;
    assert!(matches!(counted, Err(DataError::BadRequest(_))), "$count");
    // With the property's scope every option works.
    for (option, hidden, _) in probes {
        data.list(
            "Contact",
            &pairs(option, hidden),
            &admin,
            "http://hub/api",
            None,
        )
        .await
        .unwrap();
    }
    let n = data
        .count("Contact", &pairs("$filter", "salary gt 60000"), &admin)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn hidden_properties_are_written_only_with_their_write_scope() {
    let dir = tempfile::tempdir().unwrap();
    let data = service(&dir).await;
    let writer = ["contact.readwrite"];
    // salary has no write scope: a caller that cannot read it cannot set it either.
    let refused = data
        .create("Contact", &json!({"name": "Ann", "salary": 1.0}), &writer)
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(unknown(refused), "Contact has no property \"salary\"");
    let item = data
        .create("Contact", &json!({"name": "Ann"}), &writer)
        .await
        .unwrap();
    for mode in [UpdateMode::Merge, UpdateMode::Replace] {
        let refused = data
            .update(
                "Contact",
                &item.id,
                &json!({"name": "Ann", "salary": 2.0}),
                None,
                &writer,
                mode,
            )
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(unknown(refused), "Contact has no property \"salary\"");
    }
    // rating declares writeScope hr.submit: its holder may write it without reading it, and
    // the answer still leaves it out.
    let submitter = ["contact.readwrite", "hr.submit"];
    let rated = data
        .update(
            "Contact",
            &item.id,
            &json!({"rating": 4}),
            None,
            &submitter,
            UpdateMode::Merge,
        )
        .await
        .unwrap();
    assert!(rated.body.get("rating").is_none(), "{}", rated.body);
    let seen = data
        .get("Contact", &item.id, &[], &["contact.read", "hr.read"], "")
        .await
        .unwrap();
    assert_eq!(seen.body["rating"], 4);
    // A PUT that does not name it keeps it (a caller cannot erase what it cannot see).
    data.update(
        "Contact",
        &item.id,
        &json!({"name": "Ann Lee"}),
        None,
        &submitter,
        UpdateMode::Replace,
    )
    .await
    .unwrap();
    let seen = data
        .get("Contact", &item.id, &[], &["contact.read", "hr.read"], "")
        .await
        .unwrap();
    assert_eq!(
        (seen.body["name"].clone(), seen.body["rating"].clone()),
        (json!("Ann Lee"), json!(4))
    );
}

#[tokio::test]
async fn the_search_index_follows_the_searchable_properties() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("search.db").display());
    let store = Store::open(&url).await.unwrap();
    let schema = |searchable: &str| {
        let text = format!(
            "entities:\n  Note:\n    properties:\n      title: {{ type: string, searchable: {} }}\n      body: {{ type: string, searchable: {} }}\n",
            searchable.contains('t'),
            searchable.contains('b')
        );
        SchemaSet::parse(&text, true, "t").unwrap()
    };
    let service = |schemas: SchemaSet| {
        DataService::new(
            store.clone(),
            Arc::new(schemas),
            Arc::new(|| 0),
            Arc::new(|| "00000000-0000-4000-8000-000000000001".to_string()),
        )
    };
    sync_tables(&store, &schema("t"), Dialect::Sqlite, false)
        .await
        .unwrap();
    let data = service(schema("t"));
    data.create(
        "Note",
        &json!({"title": "alpha", "body": "beta"}),
        &["note.readwrite"],
    )
    .await
    .unwrap();
    let hits = async |data: &DataService, term: &str| {
        data.count("Note", &pairs("$search", term), &["note.read"])
            .await
            .unwrap()
    };
    assert_eq!(
        (hits(&data, "alpha").await, hits(&data, "beta").await),
        (1, 0)
    );
    assert_eq!(
        hits(&data, "\"@@\"").await,
        0,
        "a phrase without words matches nothing"
    );
    // Now the body is searchable too: a new index, filled from the rows already there.
    sync_tables(&store, &schema("tb"), Dialect::Sqlite, false)
        .await
        .unwrap();
    sync_tables(&store, &schema("tb"), Dialect::Sqlite, false)
        .await
        .unwrap();
    let data = service(schema("tb"));
    assert_eq!(
        (hits(&data, "alpha").await, hits(&data, "beta").await),
        (1, 1)
    );
    // And none: the index goes; $search is refused by name.
    sync_tables(&store, &schema(""), Dialect::Sqlite, false)
        .await
        .unwrap();
    let data = service(schema(""));
    let err = data
        .count("Note", &pairs("$search", "alpha"), &["note.read"])
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("Note has no searchable properties"),
        "{err}"
    );
    let tables = store
        .dyn_fetch(
            "SELECT name FROM sqlite_master WHERE name LIKE '%search%'",
            &[],
            &[keyway_store::ColumnKind::Text],
        )
        .await
        .unwrap();
    assert!(tables.is_empty(), "{tables:?}");
}
