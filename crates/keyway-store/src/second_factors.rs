//! Users' second factors: a TOTP secret (sealed by keyway-auth with the master key) with the
//! last time step accepted, and single-use recovery codes kept by digest. Spending a step or a
//! code is one conditional UPDATE, so two requests racing with the same code cannot both win.

use sqlx::Row;

use crate::{Store, StoreError};

/// A user's TOTP enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: String,
    /// The secret, sealed (keyway-auth opens it).
    pub secret: String,
    /// The last RFC 6238 time step a code was accepted for.
    pub last_step: i64,
    pub created_at: i64,
}

impl Store {
    /// Enrols a user (replacing an earlier enrolment) and replaces their recovery codes, in one
    /// transaction.
    pub async fn set_totp(
        &self,
        record: &TotpRecord,
        recovery_code_hashes: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer().begin().await?;
        for statement in [
            "DELETE FROM user_totp WHERE user_id = ?",
            "DELETE FROM recovery_codes WHERE user_id = ?",
        ] {
            sqlx::query(self.sql(statement))
                .bind(&record.user_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(self.sql(
            "INSERT INTO user_totp (user_id, secret, last_step, created_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(&record.user_id)
        .bind(&record.secret)
        .bind(record.last_step)
        .bind(record.created_at)
        .execute(&mut *tx)
        .await?;
        for hash in recovery_code_hashes {
            sqlx::query(self.sql(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) \
                 VALUES (?, ?, ?, NULL)",
            ))
            .bind(&record.user_id)
            .bind(hash)
            .bind(record.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a user's TOTP enrolment and recovery codes; false when there was none.
    pub async fn delete_totp(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(self.sql("DELETE FROM user_totp WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(self.sql("DELETE FROM recovery_codes WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn totp(&self, user_id: &str) -> Result<Option<TotpRecord>, StoreError> {
        let row =
            sqlx::query(self.sql(
                "SELECT user_id, secret, last_step, created_at FROM user_totp WHERE user_id = ?",
            ))
            .bind(user_id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|row| {
            Ok(TotpRecord {
                user_id: row.try_get("user_id")?,
                secret: row.try_get("secret")?,
                last_step: row.try_get("last_step")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Records that a code of time step `step` was accepted; false when that step (or a later
    /// one) was accepted already — the code is being replayed.
    pub async fn spend_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            self.sql("UPDATE user_totp SET last_step = ? WHERE user_id = ? AND last_step < ?"),
        )
        .bind(step)
        .bind(user_id)
        .bind(step)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Spends a recovery code by digest; false when it is unknown or was used.
    pub async fn spend_recovery_code(
        &self,
        user_id: &str,
        code_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? \
             AND used_at IS NULL",
        ))
        .bind(now)
        .bind(user_id)
        .bind(code_hash)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many of a user's recovery codes are still unused.
    pub async fn unused_recovery_codes(&self, user_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            self.sql("SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL"),
        )
        .bind(user_id)
        .fetch_one(self.reader())
        .await?;
        Ok(row.try_get(0)?)
    }
}
