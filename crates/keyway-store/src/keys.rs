//! The hub's token-signing keys: life cycle, public JWK, and the private key sealed under the
//! master key by keyway-auth (the store never sees it in the clear).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// Where a signing key is in its life: published before it signs, signing, then published
/// until every token it signed has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published in the JWKS, not yet signing.
    Next,
    /// Signing new tokens.
    Current,
    /// No longer signing; published until `expires_at`.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Retired => "retired",
        }
    }

    pub fn parse(text: &str) -> Option<KeyState> {
        match text {
            "next" => Some(KeyState::Next),
            "current" => Some(KeyState::Current),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    /// The public half as a JWK (JSON text).
    pub public_jwk: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// When a retired key may be forgotten.
    pub expires_at: Option<i64>,
    /// The PKCS#8 private key, sealed (`None`: a key from before sealing, still in a file).
    pub private_key: Option<String>,
}

const COLUMNS: &str =
    "kid, alg, state, public_jwk, created_at, activated_at, retired_at, expires_at, private_key";

fn from_row(row: &AnyRow) -> Result<SigningKeyRecord, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(SigningKeyRecord {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        state: KeyState::parse(&state).ok_or(StoreError::Corrupt("signing_keys.state"))?,
        public_jwk: row.try_get("public_jwk")?,
        created_at: row.try_get("created_at")?,
        activated_at: row.try_get("activated_at")?,
        retired_at: row.try_get("retired_at")?,
        expires_at: row.try_get("expires_at")?,
        private_key: row.try_get("private_key")?,
    })
}

impl Store {
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM signing_keys ORDER BY created_at, kid");
        let rows = sqlx::query(self.sql(&sql)).fetch_all(self.reader()).await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let sql =
            format!("INSERT INTO signing_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        sqlx::query(self.sql(&sql))
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(key.state.as_str())
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.activated_at)
            .bind(key.retired_at)
            .bind(key.expires_at)
            .bind(&key.private_key)
            .execute(self.writer())
            .await
            .map_err(|e| StoreError::conflict_or(e, "signing key"))?;
        Ok(())
    }

    /// Rotates in one transaction: the current key retires (kept until `retired_expires_at`),
    /// the next key starts signing, and `new_next` is published to sign after it.
    /// Returns false (and changes nothing) when the keys moved under us.
    pub async fn rotate_signing_keys(
        &self,
        current_kid: Option<&str>,
        next_kid: &str,
        new_next: &SigningKeyRecord,
        now: i64,
        retired_expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        if let Some(current) = current_kid {
            let done = sqlx::query(self.sql(
                "UPDATE signing_keys SET state = 'retired', retired_at = ?, expires_at = ? \
                 WHERE kid = ? AND state = 'current'",
            ))
            .bind(now)
            .bind(retired_expires_at)
            .bind(current)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
        }
        let done = sqlx::query(self.sql(
            "UPDATE signing_keys SET state = 'current', activated_at = ? \
             WHERE kid = ? AND state = 'next'",
        ))
        .bind(now)
        .bind(next_kid)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let sql =
            format!("INSERT INTO signing_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        sqlx::query(self.sql(&sql))
            .bind(&new_next.kid)
            .bind(&new_next.alg)
            .bind(new_next.state.as_str())
            .bind(&new_next.public_jwk)
            .bind(new_next.created_at)
            .bind(new_next.activated_at)
            .bind(new_next.retired_at)
            .bind(new_next.expires_at)
            .bind(&new_next.private_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores the sealed private key of `kid`, a key imported from its file, unless another
    /// process stored it first (then false).
    pub async fn set_signing_key_private(
        &self,
        kid: &str,
        sealed: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query(self.sql(
                "UPDATE signing_keys SET private_key = ? WHERE kid = ? AND private_key IS NULL",
            ))
            .bind(sealed)
            .bind(kid)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One key's record.
    pub async fn signing_key(&self, kid: &str) -> Result<Option<SigningKeyRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM signing_keys WHERE kid = ?");
        let row = sqlx::query(self.sql(&sql))
            .bind(kid)
            .fetch_optional(self.writer())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Forgets retired keys whose tokens have all expired; returns their kids (to delete files).
    pub async fn drop_expired_signing_keys(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            self.sql("SELECT kid FROM signing_keys WHERE state = 'retired' AND expires_at < ?"),
        )
        .bind(now)
        .fetch_all(self.writer())
        .await?;
        let kids: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
        for kid in &kids {
            sqlx::query(self.sql("DELETE FROM signing_keys WHERE kid = ?"))
                .bind(kid)
                .execute(self.writer())
                .await?;
        }
        Ok(kids)
    }
}
