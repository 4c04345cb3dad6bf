use thiserror::Error;

/// Everything that can go wrong talking to the database.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The URL names no supported backend.
    #[error("unsupported database URL {0:?}: use sqlite:, postgres: or mysql:")]
    UnsupportedUrl(String),
    /// A row that must be unique already exists (duplicate username, client id...).
    #[error("{0} already exists")]
    Conflict(String),
    /// The database answered with an error or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value could not be read back (a corrupt or hand-edited row).
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
    /// An admin command found no store that `keyway serve` has created at this place (a
    /// missing SQLite file, or a server database without keyway's tables); nothing was made.
    #[error("no keyway store at {0}")]
    NotCreated(String),
    /// Another hub process held the migration lock all the time this one waited (it may be
    /// stuck migrating: see its log, or the database's lock holders).
    #[error(
        "another hub held the database's migration lock for {0} s (it may be stuck \
         migrating): check the other nodes' logs, then start this one again"
    )]
    MigrationLocked(u64),
    /// The SQLite file could not be created or kept private.
    #[error(transparent)]
    PrivateFile(#[from] keyway_kernel::PrivateFileError),
    #[error(
        "this is a {0} store: keyway backup and restore are for SQLite hubs; back up {0} with \
         its own tools (docs/deploy.md, \"Backups\")"
    )]
    NotSqlite(&'static str),
}

impl StoreError {
    /// Whether the database could not compute a value the statement asked for (an overflow,
    /// a division by zero): the request's doing, not the database's failing.
    pub fn is_data_exception(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        let code = db.code().unwrap_or_default();
        // PostgreSQL: SQLSTATE class 22; MariaDB: out of range (1264, 1690), division by zero
        // (1365); SQLite reports an overflow in its message only.
        code.starts_with("22") && code.len() == 5
            || ["1264", "1690", "1365"].contains(&code.as_ref())
            || db.message().contains("integer overflow")
    }

    /// Whether the database refused a write for a foreign key: a reference to a row that does
    /// not exist, or a delete of a row still referenced (`ON DELETE RESTRICT`).
    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db)) if foreign_key_refusal(db.as_ref()))
    }

    /// Whether the database refused a write for a unique key (a primary key taken).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }

    /// Maps a unique-constraint violation to [`StoreError::Conflict`], anything else unchanged.
    pub(crate) fn conflict_or(err: sqlx::Error, what: &str) -> StoreError {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            return StoreError::Conflict(what.to_string());
        }
        StoreError::Database(err)
    }
}

/// A foreign key refused the statement. SQLite reports `ON DELETE RESTRICT` as a trigger
/// constraint (code 1811) with the foreign key's message, not as a foreign key violation.
pub(crate) fn foreign_key_refusal(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.is_foreign_key_violation() || db.message().contains("FOREIGN KEY constraint failed")
}
