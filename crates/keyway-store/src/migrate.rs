//! A small forward-only migrator: each backend's migrations are compiled in, applied in order,
//! and recorded in `keyway_migrations`.

use sqlx::{Executor, Row};

use crate::{Backend, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// The migrations of one backend, from `migrations/<backend>/`. Listing them once here keeps
/// every backend on the same versions by construction.
macro_rules! migrations {
    ($backend:literal) => {
        &[
            Migration {
                version: 1,
                name: "init",
                sql: include_str!(concat!("../migrations/", $backend, "/0001_init.sql")),
            },
            Migration {
                version: 2,
                name: "link",
                sql: include_str!(concat!("../migrations/", $backend, "/0002_link.sql")),
            },
            Migration {
                version: 3,
                name: "client_keys",
                sql: include_str!(concat!("../migrations/", $backend, "/0003_client_keys.sql")),
            },
            Migration {
                version: 4,
                name: "toki_keys",
                sql: include_str!(concat!("../migrations/", $backend, "/0004_toki_keys.sql")),
            },
            Migration {
                version: 5,
                name: "link_compact",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0005_link_compact.sql"
                )),
            },
            Migration {
                version: 6,
                name: "pushed_requests",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0006_pushed_requests.sql"
                )),
            },
            Migration {
                version: 7,
                name: "bound_refresh_and_secrets",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0007_bound_refresh_and_secrets.sql"
                )),
            },
            Migration {
                version: 8,
                name: "upstream_logins",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0008_upstream_logins.sql"
                )),
            },
            Migration {
                version: 9,
                name: "groups",
                sql: include_str!(concat!("../migrations/", $backend, "/0009_groups.sql")),
            },
            Migration {
                version: 10,
                name: "scim",
                sql: include_str!(concat!("../migrations/", $backend, "/0010_scim.sql")),
            },
            Migration {
                version: 11,
                name: "logout",
                sql: include_str!(concat!("../migrations/", $backend, "/0011_logout.sql")),
            },
            Migration {
                version: 12,
                name: "second_factors",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0012_second_factors.sql"
                )),
            },
            Migration {
                version: 13,
                name: "passkeys",
                sql: include_str!(concat!("../migrations/", $backend, "/0013_passkeys.sql")),
            },
            Migration {
                version: 14,
                name: "client_rules_and_audit",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0014_client_rules_and_audit.sql"
                )),
            },
            Migration {
                version: 15,
                name: "transmit",
                sql: include_str!(concat!("../migrations/", $backend, "/0015_transmit.sql")),
            },
            Migration {
                version: 16,
                name: "sealed_signing_keys",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0016_sealed_signing_keys.sql"
                )),
            },
            Migration {
                version: 17,
                name: "upkeep_leases",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0017_upkeep_leases.sql"
                )),
            },
            Migration {
                version: 18,
                name: "cluster_state",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0018_cluster_state.sql"
                )),
            },
            Migration {
                version: 19,
                name: "audit_occurrences",
                sql: include_str!(concat!(
                    "../migrations/",
                    $backend,
                    "/0019_audit_occurrences.sql"
                )),
            },
        ]
    };
}

const SQLITE: &[Migration] = migrations!("sqlite");
/// The migration lock (an arbitrary key of keyway's own).
const POSTGRES_TRY_LOCK: &str = "SELECT pg_try_advisory_lock(7342019)";
const POSTGRES_UNLOCK: &str = "SELECT pg_advisory_unlock(7342019)";
const MYSQL_LOCK: &str = "SELECT GET_LOCK('keyway_migrations', 300)";
const MYSQL_UNLOCK: &str = "SELECT RELEASE_LOCK('keyway_migrations')";
const POSTGRES: &[Migration] = migrations!("postgres");
const MYSQL: &[Migration] = migrations!("mysql");

impl Store {
    /// Applies every migration this build knows and the database has not seen.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrate_until(i64::MAX).await
    }

    /// Applies the pending migrations up to `last` (tests of an upgrade start from an older
    /// schema).
    pub(crate) async fn migrate_until(&self, last: i64) -> Result<(), StoreError> {
        // Nodes of a cluster starting together on an empty database would run the same DDL at
        // once (PostgreSQL's catalog and MariaDB's keyway_migrations key refuse the second):
        // one migrates at a time, under a database lock held on a connection of its own; the
        // next then finds the work done. A SQLite data directory has one hub already.
        let mut lock: Option<sqlx::pool::PoolConnection<sqlx::Any>> = match self.backend() {
            Backend::Sqlite => None,
            Backend::Postgres | Backend::Mysql => Some(self.writer().acquire().await?),
        };
        if let Some(conn) = lock.as_mut() {
            let taken: Option<i64> = match self.backend() {
                Backend::Mysql => {
                    sqlx::query_scalar(MYSQL_LOCK)
                        .fetch_one(&mut **conn)
                        .await?
                }
                // Tried every 200 ms for as long as MariaDB's GET_LOCK waits, never forever.
                _ => {
                    let mut taken = None;
                    for _ in 0..1500 {
                        let got: bool = sqlx::query_scalar(POSTGRES_TRY_LOCK)
                            .fetch_one(&mut **conn)
                            .await?;
                        if got {
                            taken = Some(1);
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                    taken
                }
            };
            if taken != Some(1) {
                return Err(StoreError::MigrationLocked(300));
            }
        }
        let result = self.apply_migrations(last).await;
        if let Some(conn) = lock.as_mut() {
            let unlock = match self.backend() {
                Backend::Mysql => MYSQL_UNLOCK,
                _ => POSTGRES_UNLOCK,
            };
            // A lock left behind would hold the next node up: drop the connection instead.
            if sqlx::query(unlock).execute(&mut **conn).await.is_err()
                && let Some(conn) = lock.take()
            {
                let _ = conn.close().await;
            }
        }
        result
    }

    async fn apply_migrations(&self, last: i64) -> Result<(), StoreError> {
        let migrations = match self.backend() {
            Backend::Sqlite => SQLITE,
            Backend::Postgres => POSTGRES,
            Backend::Mysql => MYSQL,
        };
        let pool = self.writer();
        pool.execute(
            "CREATE TABLE IF NOT EXISTS keyway_migrations (\
             version BIGINT PRIMARY KEY, name VARCHAR(190) NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let applied: Vec<i64> = sqlx::query("SELECT version FROM keyway_migrations")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()?;
        for migration in migrations {
            if applied.contains(&migration.version) || migration.version > last {
                continue;
            }
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applying migration"
            );
            let mut tx = pool.begin().await?;
            for statement in statements(migration.sql) {
                tx.execute(sqlx::AssertSqlSafe(statement)).await?;
            }
            let record = self
                .sql("INSERT INTO keyway_migrations (version, name, applied_at) VALUES (?, ?, ?)");
            sqlx::query(record)
                .bind(migration.version)
                .bind(migration.name)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Splits a migration file into statements: `;` at the end of a line ends one; `--` comments go.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let line = line.trim_end();
        if line.trim_start().starts_with("--") || line.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.ends_with(';') {
            out.push(current.trim().trim_end_matches(';').to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "migrate_tests.rs"]
mod upgrade_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_drops_comments() {
        let parts = statements(
            "-- hi\nCREATE TABLE a (x INT);\nCREATE TABLE b (\n y INT\n) ENGINE=InnoDB;\n",
        );
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "CREATE TABLE a (x INT)");
        assert!(parts[1].ends_with("ENGINE=InnoDB"));
    }

    #[test]
    fn every_backend_has_the_same_versions() {
        let versions = |m: &[Migration]| m.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        assert_eq!(versions(SQLITE), versions(MYSQL));
    }
}
