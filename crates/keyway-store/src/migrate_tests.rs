//! Upgrading a database that linked records before migration 0005 (compact link tables): what
//! was linked reads back the same afterwards, on every backend the environment names.

use sqlx::Executor;

use super::*;
use crate::LinkHashRow;

const UUID_1: &str = "0f1e2d3c-4b5a-8697-a8b9-cadbecfd0e1f";
const UUID_2: &str = "11111111-2222-8333-8444-555555555555";

fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// Fills the pre-0005 tables: partner A's p1 (two hashes) and p2 (one), partner B's q1 linked
/// to p1's person through the same F_L_D_S hash.
async fn link_the_old_way(store: &Store) -> Result<(), StoreError> {
    let records = [
        ("A", "p1", UUID_1, 1),
        ("A", "p2", UUID_2, 2),
        ("B", "q1", UUID_1, 3),
    ];
    for (partner, patid, uuid, seq) in records {
        sqlx::query(store.sql(
            "INSERT INTO link_records (partner, patid, uuid, flag, reason, seq, created_at) \
             VALUES (?, ?, ?, 'NEW', 'no known hash', ?, 7)",
        ))
        .bind(partner)
        .bind(patid)
        .bind(uuid)
        .bind(seq)
        .execute(store.writer())
        .await?;
    }
    let hashes = [
        (hash(1), "F_L_D_S", "A", "p1", UUID_1),
        (hash(2), "F_L_D_R", "A", "p1", UUID_1),
        (hash(3), "F_L_D_S_FOLD", "A", "p2", UUID_2),
        (hash(1), "F_L_D_S", "B", "q1", UUID_1),
    ];
    for (hash, rule, partner, patid, uuid) in hashes {
        sqlx::query(store.sql(
            "INSERT INTO link_hashes (hash, rule, partner, patid, uuid) VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(hash)
        .bind(rule)
        .bind(partner)
        .bind(patid)
        .bind(uuid)
        .execute(store.writer())
        .await?;
    }
    Ok(())
}

async fn upgrade_keeps_links(url: &str) -> Result<(), StoreError> {
    let store = Store::connect(url).await?;
    store.migrate_until(4).await?;
    link_the_old_way(&store).await?;
    store.migrate().await?;

    let mut tx = store.begin_link().await?;
    assert_eq!(tx.next_seq, 1, "the link lock row is kept as it was");
    let mut records = tx.records("A", &["p1", "p2", "nobody"]).await?;
    records.sort_by_key(|r| r.seq);
    let seen: Vec<(&str, &str, i64)> = records
        .iter()
        .map(|r| (r.patid.as_str(), r.uuid.as_str(), r.seq))
        .collect();
    assert_eq!(seen, [("p1", UUID_1, 1), ("p2", UUID_2, 2)]);

    let (h1, h3) = (hash(1), hash(3));
    let mut entries = tx.hash_entries(&[&h1, &h3]).await?;
    entries.sort_by(|a, b| (&a.hash, &a.partner).cmp(&(&b.hash, &b.partner)));
    let seen: Vec<(&str, i64, &str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e.hash.as_str(),
                e.rule,
                e.partner.as_str(),
                e.patid.as_str(),
                e.uuid.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (h1.as_str(), 2, "A", "p1", UUID_1),
            (h1.as_str(), 2, "B", "q1", UUID_1),
            (h3.as_str(), 4, "A", "p2", UUID_2),
        ]
    );
    assert_eq!(
        tx.partner_uuids("B", &[UUID_1, UUID_2]).await?,
        [(UUID_1.to_string(), "q1".to_string())]
    );
    // The compact tables keep their keys: a second entry for the same record and rule is
    // refused, and so is a second record for one patid.
    let again = LinkHashRow {
        hash: h1.clone(),
        rule: 2,
        seq: 1,
    };
    assert!(tx.insert_hashes(&[again]).await.is_err());
    drop(tx);
    let stats = store.link_stats().await?;
    assert_eq!((stats.records, stats.persons), (3, 2));
    Ok(())
}

#[tokio::test]
async fn sqlite_upgrade_keeps_links() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|_| StoreError::Corrupt("no temporary directory"))?;
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    upgrade_keeps_links(&url).await
}

/// A fresh database on the server `var` names, or None when the variable is not set.
async fn server_database(var: &str) -> Result<Option<String>, StoreError> {
    server_database_named(var, "kw_upgrade_test").await
}

/// As [`server_database`], with its own name (tests run in parallel).
async fn server_database_named(var: &str, name: &str) -> Result<Option<String>, StoreError> {
    let Ok(base) = std::env::var(var) else {
        keyway_kernel::report_skip(
            &format!("store upgrade on {var}"),
            &format!("{var} is not set"),
            &format!("set {var} to a database URL the tests may create databases in"),
        );
        return Ok(None);
    };
    // One fixed name, dropped first: reruns leave no trail of databases behind.
    let admin = Store::connect(&base).await?;
    admin
        .writer()
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .await?;
    admin
        .writer()
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let cut = base.rfind('/').map(|i| i + 1).unwrap_or(base.len());
    Ok(Some(format!("{}{name}", &base[..cut])))
}

#[tokio::test]
async fn postgres_upgrade_keeps_links() -> Result<(), StoreError> {
    match server_database("KEYWAY_TEST_POSTGRES_URL").await? {
        Some(url) => upgrade_keeps_links(&url).await,
        None => Ok(()),
    }
}

#[tokio::test]
async fn mysql_upgrade_keeps_links() -> Result<(), StoreError> {
    match server_database("KEYWAY_TEST_MYSQL_URL").await? {
        Some(url) => upgrade_keeps_links(&url).await,
        None => Ok(()),
    }
}

/// Migration 0010 gives groups made before it a SCIM id, distinct per group.
async fn upgrade_gives_groups_scim_ids(url: &str) -> Result<(), StoreError> {
    let store = Store::connect(url).await?;
    store.migrate_until(9).await?;
    for name in ["ops", "keyway-admins"] {
        sqlx::query(store.sql("INSERT INTO user_groups (name, created_at) VALUES (?, 1)"))
            .bind(name)
            .execute(store.writer())
            .await?;
    }
    store.migrate().await?;
    let filter = crate::ScimWhere {
        sql: "1 = 1".into(),
        values: Vec::new(),
        order_by: "user_groups.name".into(),
    };
    let page = store.scim_groups_page(&filter, 0, 10, true).await?;
    assert_eq!(page.total, 2);
    let ids: Vec<&str> = page.items.iter().map(|g| g.id.as_str()).collect();
    assert!(ids.iter().all(|id| id.len() >= 16), "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        store.scim_group(ids[1]).await?.map(|g| g.name),
        Some("ops".into())
    );
    Ok(())
}

#[tokio::test]
async fn sqlite_upgrade_gives_groups_scim_ids() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|_| StoreError::Corrupt("no temporary directory"))?;
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    upgrade_gives_groups_scim_ids(&url).await
}

#[tokio::test]
async fn postgres_upgrade_gives_groups_scim_ids() -> Result<(), StoreError> {
    match server_database_named("KEYWAY_TEST_POSTGRES_URL", "kw_upgrade_scim_test").await? {
        Some(url) => upgrade_gives_groups_scim_ids(&url).await,
        None => Ok(()),
    }
}

#[tokio::test]
async fn mysql_upgrade_gives_groups_scim_ids() -> Result<(), StoreError> {
    match server_database_named("KEYWAY_TEST_MYSQL_URL", "kw_upgrade_scim_test").await? {
        Some(url) => upgrade_gives_groups_scim_ids(&url).await,
        None => Ok(()),
    }
}

/// A SCIM `userName eq` lookup is answered from the username index, not a table scan.
#[tokio::test]
async fn user_name_lookups_use_the_index() -> Result<(), StoreError> {
    use sqlx::Row;
    let dir = tempfile::tempdir().map_err(|_| StoreError::Corrupt("no temporary directory"))?;
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    let rows = sqlx::query(store.sql(
        "EXPLAIN QUERY PLAN SELECT user_id FROM users WHERE (users.username = ?) \
         ORDER BY users.username, users.user_id LIMIT ? OFFSET ?",
    ))
    .bind("ada")
    .bind(10_i64)
    .bind(0_i64)
    .fetch_all(store.reader())
    .await?;
    let plan: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(3))
        .collect::<Result<_, _>>()?;
    assert!(
        plan.iter()
            .any(|step| step.contains("USING INDEX") && !step.starts_with("SCAN")),
        "{plan:?}"
    );
    Ok(())
}

/// Three hubs starting together on an empty database: each migrates or finds it done.
async fn concurrent_first_starts(var: &str, name: &str) -> Result<(), StoreError> {
    let Some(url) = server_database_named(var, name).await? else {
        return Ok(());
    };
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Store::connect(&url).await?);
    }
    let (a, b, c) = tokio::join!(
        stores[0].migrate(),
        stores[1].migrate(),
        stores[2].migrate()
    );
    a?;
    b?;
    c?;
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM keyway_migrations")
        .fetch_one(stores[0].writer())
        .await?;
    assert!(version >= 18);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_starting_together_migrate_once() -> Result<(), StoreError> {
    concurrent_first_starts("KEYWAY_TEST_POSTGRES_URL", "kw_concurrent_start").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_nodes_starting_together_migrate_once() -> Result<(), StoreError> {
    concurrent_first_starts("KEYWAY_TEST_MYSQL_URL", "kw_concurrent_start").await
}
