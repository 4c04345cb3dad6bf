use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// Reads a hub-wide setting (for example the CSRF secret).
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(self.sql("SELECT value FROM settings WHERE name = ?"))
            .bind(name)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// Stores `value` under `name` unless a value is already there; returns the value in force.
    /// Two hubs starting together thus agree on one value.
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String, StoreError> {
        if let Some(existing) = self.setting(name).await? {
            return Ok(existing);
        }
        let insert = sqlx::query(self.sql("INSERT INTO settings (name, value) VALUES (?, ?)"))
            .bind(name)
            .bind(value)
            .execute(self.writer())
            .await;
        match insert {
            Ok(_) => Ok(value.to_string()),
            Err(err) => match StoreError::conflict_or(err, name) {
                StoreError::Conflict(_) => self
                    .setting(name)
                    .await?
                    .ok_or(StoreError::Corrupt("settings")),
                other => Err(other),
            },
        }
    }

    /// Replaces `name`'s value with `value` if it is still `expected` (false: it was not).
    pub async fn replace_setting_if(
        &self,
        name: &str,
        expected: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query(self.sql("UPDATE settings SET value = ? WHERE name = ? AND value = ?"))
                .bind(value)
                .bind(name)
                .bind(expected)
                .execute(self.writer())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores `value` under `name`, replacing what was there (for facts the hub publishes to the
    /// admin commands, such as the issuer it serves as).
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(self.sql("DELETE FROM settings WHERE name = ?"))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(self.sql("INSERT INTO settings (name, value) VALUES (?, ?)"))
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The longest access-token lifetime any hub or admin command on this store was
    /// configured with, raised to `ttl` if that is longer: a revoked family's deny-list entry
    /// must outlive every access token of the family, including ones issued before the
    /// lifetime was lowered.
    pub async fn longest_access_token_ttl(&self, ttl: i64) -> Result<i64, StoreError> {
        const NAME: &str = "longest_access_token_ttl";
        let stored = self
            .setting(NAME)
            .await?
            .and_then(|value| value.parse::<i64>().ok())
            .unwrap_or(0);
        if ttl > stored {
            self.set_setting(NAME, &ttl.to_string()).await?;
            return Ok(ttl);
        }
        Ok(stored)
    }
}
