//! Users' passkeys (WebAuthn credentials) and the challenges already answered. keyway-auth
//! (de)serialises the credential with webauthn-rs; here it is an opaque JSON text with the
//! columns the hub looks things up by.

use sqlx::Row;

use crate::{Store, StoreError};

/// One registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// SHA-256 (hex) of the raw credential id.
    pub credential_hash: String,
    /// The credential id, base64url.
    pub credential_id: String,
    pub user_id: String,
    /// The WebAuthn user handle the authenticator keeps for this user (a UUID).
    pub user_handle: String,
    pub name: String,
    /// webauthn-rs's `Passkey`, as JSON.
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// When a sign-in with it showed a signature counter that went backwards (a copy).
    pub compromised_at: Option<i64>,
}

/// What registering a passkey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyInsert {
    Inserted,
    /// The user holds the most passkeys allowed already.
    LimitReached,
}

const COLUMNS: &str = "credential_hash, credential_id, user_id, user_handle, name, credential, \
                       created_at, last_used_at, compromised_at";

fn record_of(row: &sqlx::any::AnyRow) -> Result<PasskeyRecord, StoreError> {
    Ok(PasskeyRecord {
        credential_hash: row.try_get("credential_hash")?,
        credential_id: row.try_get("credential_id")?,
        user_id: row.try_get("user_id")?,
        user_handle: row.try_get("user_handle")?,
        name: row.try_get("name")?,
        credential: row.try_get("credential")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        compromised_at: row.try_get("compromised_at")?,
    })
}

impl Store {
    /// Registers a passkey unless the user holds `max_per_user` already (counted in the same
    /// transaction, so two registrations at once cannot pass the limit together).
    /// [`StoreError::Conflict`] when the credential is registered already (to anyone).
    pub async fn insert_passkey(
        &self,
        record: &PasskeyRecord,
        max_per_user: i64,
    ) -> Result<PasskeyInsert, StoreError> {
        let mut tx = self.writer().begin().await?;
        // Locks the user's row on PostgreSQL and MariaDB (SQLite has one writer anyway).
        if self.backend() != crate::Backend::Sqlite {
            sqlx::query(self.sql("SELECT user_id FROM users WHERE user_id = ? FOR UPDATE"))
                .bind(&record.user_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let held: i64 = sqlx::query(self.sql("SELECT COUNT(*) FROM passkeys WHERE user_id = ?"))
            .bind(&record.user_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if held >= max_per_user {
            return Ok(PasskeyInsert::LimitReached);
        }
        sqlx::query(self.sql(&format!(
            "INSERT INTO passkeys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )))
        .bind(&record.credential_hash)
        .bind(&record.credential_id)
        .bind(&record.user_id)
        .bind(&record.user_handle)
        .bind(&record.name)
        .bind(&record.credential)
        .bind(record.created_at)
        .bind(record.last_used_at)
        .bind(record.compromised_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "a passkey with this credential id"))?;
        tx.commit().await?;
        Ok(PasskeyInsert::Inserted)
    }

    /// Marks a passkey as copied (its counter went backwards): refused from now on.
    pub async fn mark_passkey_compromised(
        &self,
        credential_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "UPDATE passkeys SET compromised_at = ? \
             WHERE credential_hash = ? AND compromised_at IS NULL",
        ))
        .bind(now)
        .bind(credential_hash)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// A user's passkeys, oldest first.
    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<PasskeyRecord>, StoreError> {
        let rows = sqlx::query(self.sql(&format!(
            "SELECT {COLUMNS} FROM passkeys WHERE user_id = ? ORDER BY created_at, credential_hash"
        )))
        .bind(user_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(record_of).collect()
    }

    /// The passkey with this credential id digest.
    pub async fn passkey(
        &self,
        credential_hash: &str,
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {COLUMNS} FROM passkeys WHERE credential_hash = ?"
        )))
        .bind(credential_hash)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(record_of).transpose()
    }

    /// Whether the user has any passkey.
    pub async fn has_passkeys(&self, user_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(self.sql("SELECT COUNT(*) FROM passkeys WHERE user_id = ?"))
            .bind(user_id)
            .fetch_one(self.reader())
            .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Stores a passkey's state after a sign-in (its new signature counter) and when it was
    /// used. Only if the stored state is still `previous`: of two sign-ins racing with one
    /// credential, the second sees a change and is refused (a counter never goes back).
    pub async fn update_passkey_use(
        &self,
        credential_hash: &str,
        previous: &str,
        credential: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE passkeys SET credential = ?, last_used_at = ? \
             WHERE credential_hash = ? AND credential = ?",
        ))
        .bind(credential)
        .bind(now)
        .bind(credential_hash)
        .bind(previous)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes one of a user's passkeys; false when the user has no such passkey.
    pub async fn delete_passkey(
        &self,
        user_id: &str,
        credential_hash: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query(self.sql("DELETE FROM passkeys WHERE user_id = ? AND credential_hash = ?"))
                .bind(user_id)
                .bind(credential_hash)
                .execute(self.writer())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes all of a user's passkeys; how many there were.
    pub async fn delete_passkeys_of(&self, user_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(self.sql("DELETE FROM passkeys WHERE user_id = ?"))
            .bind(user_id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }

    /// Whether a WebAuthn challenge (by digest) was spent: read before an answer is verified,
    /// so that a replay is named as one (and not as, say, a counter that did not move).
    pub async fn webauthn_challenge_spent(&self, challenge_hash: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            self.sql("SELECT COUNT(*) FROM webauthn_challenges WHERE challenge_hash = ?"),
        )
        .bind(challenge_hash)
        .fetch_one(self.reader())
        .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Spends a WebAuthn challenge (by digest) until `expires_at`; false when it was spent
    /// already: the answer is a replay.
    pub async fn spend_webauthn_challenge(
        &self,
        challenge_hash: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let insert = sqlx::query(
            self.sql("INSERT INTO webauthn_challenges (challenge_hash, expires_at) VALUES (?, ?)"),
        )
        .bind(challenge_hash)
        .bind(expires_at)
        .execute(self.writer())
        .await;
        match insert {
            Ok(_) => Ok(true),
            Err(err) => match StoreError::conflict_or(err, "WebAuthn challenge") {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }
}
