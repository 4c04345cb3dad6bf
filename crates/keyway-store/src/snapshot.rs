//! Consistent copies of a SQLite store for `keyway backup`, and the check `keyway restore`
//! makes of one. (PostgreSQL and MariaDB have their own tools: docs/deploy.md, "Backups".)

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::Row;

use crate::{Backend, Store, StoreError};

impl Store {
    /// Writes a consistent copy of a SQLite store to `dest` (which must not exist) while the
    /// hub goes on serving: `VACUUM INTO` reads one snapshot of the database (WAL included)
    /// and writes a compact file. Any other backend is refused.
    pub async fn snapshot_sqlite_into(&self, dest: &Path) -> Result<(), StoreError> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::NotSqlite(self.backend().name()));
        }
        let dest = dest
            .to_str()
            .ok_or(StoreError::Corrupt("a backup path that is not UTF-8"))?;
        sqlx::query("VACUUM INTO ?")
            .bind(dest)
            .execute(self.reader())
            .await?;
        Ok(())
    }

    /// SQLite's `PRAGMA integrity_check`: empty when the database is sound, else its findings.
    pub async fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::NotSqlite(self.backend().name()));
        }
        let rows = sqlx::query("PRAGMA integrity_check")
            .fetch_all(self.reader())
            .await?;
        let found = rows
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(found.into_iter().filter(|line| line != "ok").collect())
    }
}

/// The database file a `sqlite:` URL names, as sqlx reads it (percent-decoded, query cut);
/// `None` for another scheme or an in-memory database.
pub fn sqlite_file_of(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty()).then(|| path.to_path_buf())
}
