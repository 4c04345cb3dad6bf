//! A data directory remembers the server database it serves (`keyway.store`, the URL without
//! its password): a node of a cluster restarted without its `--database` (a new shell, a lost
//! variable) would otherwise start an empty SQLite hub of its own, with a new master key and
//! issuer, pass its readiness check, and answer a share of the cluster's traffic wrongly.

use std::path::Path;

use anyhow::Context as _;

const MARKER: &str = "keyway.store";

/// Refuses to start a new SQLite store in a data directory that served a server database;
/// records the server database otherwise.
pub(crate) fn check(data_dir: &Path, database_url: &str) -> anyhow::Result<()> {
    let marker = data_dir.join(MARKER);
    let recorded = std::fs::read_to_string(&marker).ok();
    if database_url.starts_with("sqlite:") {
        if let Some(recorded) = recorded
            && !data_dir.join("keyway.db").exists()
        {
            anyhow::bail!(
                "the data directory {} belongs to a hub on {} (see {}): give that --database \
                 (or KEYWAY_DATABASE, `database` in keyway.toml) and its --master-key-file to \
                 serve it; to start an embedded SQLite hub here instead, remove {}",
                data_dir.display(),
                recorded.trim(),
                marker.display(),
                marker.display()
            );
        }
        return Ok(());
    }
    // Without the query: it may carry a password (`?password=…`) or TLS file paths.
    let shown = keyway_store::redact_url(database_url.split('?').next().unwrap_or(database_url));
    match recorded.as_deref().map(str::trim) {
        Some(same) if same == shown => Ok(()),
        Some(other) => anyhow::bail!(
            "the data directory {} belongs to a hub on {other} (see {}), not {shown}: give \
             that --database, or, if the database has moved, remove {} and start again",
            data_dir.display(),
            marker.display(),
            marker.display()
        ),
        None => std::fs::write(&marker, format!("{shown}\n"))
            .with_context(|| format!("cannot write {}", marker.display())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cluster_node_without_its_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        super::check(dir.path(), "postgres://kw:secret@db.internal/keyway").unwrap();
        let recorded = std::fs::read_to_string(dir.path().join("keyway.store")).unwrap();
        assert!(!recorded.contains("secret"), "{recorded}");
        super::check(dir.path(), "postgres://kw:other@db.internal/keyway").unwrap();
        let err = super::check(dir.path(), "postgres://kw@db.internal/another")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not postgres://kw@db.internal/another"),
            "{err}"
        );
        let query = tempfile::tempdir().unwrap();
        super::check(query.path(), "mysql://kw@db/keyway?password=hunter2").unwrap();
        let recorded = std::fs::read_to_string(query.path().join("keyway.store")).unwrap();
        assert!(!recorded.contains("hunter2"), "{recorded}");
        let err = super::check(dir.path(), "sqlite:///x/keyway.db")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("belongs to a hub on postgres://") && err.contains("remove"),
            "{err}"
        );
        // A data directory that already holds a SQLite hub is that hub's.
        std::fs::write(dir.path().join("keyway.db"), b"").unwrap();
        super::check(dir.path(), "sqlite:///x/keyway.db").unwrap();
    }
}
