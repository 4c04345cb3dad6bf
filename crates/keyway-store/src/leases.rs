//! Leases: a named job held by one node of a cluster until `expires_at` (milliseconds), renewed
//! by its holder and taken over by another node once expired.

use crate::{Store, StoreError};

impl Store {
    /// Takes or renews the lease `name` for `holder` until `now_ms + ttl_ms`: true when
    /// `holder` holds it now.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let renewed = sqlx::query(self.sql(
            "UPDATE upkeep_leases SET holder = ?, expires_at = ? \
             WHERE name = ? AND (holder = ? OR expires_at < ?)",
        ))
        .bind(holder)
        .bind(now_ms + ttl_ms)
        .bind(name)
        .bind(holder)
        .bind(now_ms)
        .execute(self.writer())
        .await?;
        if renewed.rows_affected() == 1 {
            return Ok(true);
        }
        let taken = sqlx::query(
            self.sql("INSERT INTO upkeep_leases (name, holder, expires_at) VALUES (?, ?, ?)"),
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms + ttl_ms)
        .execute(self.writer())
        .await;
        match taken {
            Ok(_) => Ok(true),
            Err(err) => match StoreError::conflict_or(err, name) {
                // MariaDB counts changed rather than matched rows: a renewal that wrote the
                // same values (the same millisecond) reads as 0. The row says who holds it.
                StoreError::Conflict(_) => Ok(self
                    .lease_holder(name)
                    .await?
                    .is_some_and(|(held_by, until)| held_by == holder && until >= now_ms)),
                other => Err(other),
            },
        }
    }

    /// Ends `holder`'s lease `name` now, if it holds it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query(self.sql("DELETE FROM upkeep_leases WHERE name = ? AND holder = ?"))
            .bind(name)
            .bind(holder)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Who holds the lease `name`, and until when (milliseconds).
    pub async fn lease_holder(&self, name: &str) -> Result<Option<(String, i64)>, StoreError> {
        use sqlx::Row;
        let row =
            sqlx::query(self.sql("SELECT holder, expires_at FROM upkeep_leases WHERE name = ?"))
                .bind(name)
                .fetch_optional(self.writer())
                .await?;
        row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .transpose()
    }
}
