//! Every value in the store sealed under the master key, read and replaced together: `keyway
//! keys rotate-master` opens each with the old key, seals it with the new one, and writes them
//! all and the new key's id in one transaction, so a store is never half under each key.

use sqlx::Row;

use crate::{Store, StoreError};

/// Where a sealed value lives (its sealing context is derived from this by keyway-auth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedPlace {
    /// `signing_keys.private_key` of a kid.
    SigningKey(String),
    /// `clients.signing_secret` of a client id.
    ClientSecret(String),
    /// `user_totp.secret` of a user id.
    Totp(String),
    /// A row of `settings` (the hub's own secrets: CSRF key, link key, toki key).
    Setting(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub place: SealedPlace,
    pub sealed: String,
}

/// Makes the place of a row from its key column.
type PlaceOf = fn(String) -> SealedPlace;

impl Store {
    /// Seals every value again with `reseal` (old sealed text → new) and records `new_key_id`
    /// under `key_id_setting`, in one transaction that first takes the key-id row (provided it
    /// still holds `old_key_id`: otherwise `Ok(None)`, nothing changed), then reads the values,
    /// and replaces each only if it is unchanged. A value written meanwhile by a process still
    /// on the old key fails the whole rotation (`Ok(None)`) instead of staying under it.
    /// Returns how many values were sealed again.
    pub async fn reseal_all<E: From<StoreError>>(
        &self,
        settings: &[&str],
        key_id_setting: &str,
        old_key_id: &str,
        new_key_id: &str,
        reseal: impl Fn(&SealedValue) -> Result<String, E>,
    ) -> Result<Option<usize>, E> {
        let mut tx = self.writer().begin().await.map_err(StoreError::from)?;
        let moved =
            sqlx::query(self.sql("UPDATE settings SET value = ? WHERE name = ? AND value = ?"))
                .bind(new_key_id)
                .bind(key_id_setting)
                .bind(old_key_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        if moved.rows_affected() != 1 {
            return Ok(None);
        }
        let values = read_sealed(self, &mut tx, settings).await?;
        for value in &values {
            let sealed = reseal(value)?;
            let (sql, key) = match &value.place {
                SealedPlace::SigningKey(kid) => (
                    "UPDATE signing_keys SET private_key = ? WHERE kid = ? AND private_key = ?",
                    kid,
                ),
                SealedPlace::ClientSecret(id) => (
                    "UPDATE clients SET signing_secret = ? WHERE client_id = ? \
                     AND signing_secret = ?",
                    id,
                ),
                SealedPlace::Totp(user) => (
                    "UPDATE user_totp SET secret = ? WHERE user_id = ? AND secret = ?",
                    user,
                ),
                SealedPlace::Setting(name) => (
                    "UPDATE settings SET value = ? WHERE name = ? AND value = ?",
                    name,
                ),
            };
            let done = sqlx::query(self.sql(sql))
                .bind(&sealed)
                .bind(key)
                .bind(&value.sealed)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            if done.rows_affected() != 1 {
                return Ok(None);
            }
        }
        // Toki sessions are not sealed again but ended: they last an hour at most, and a node
        // still on the old key may be writing one; callers send a new hello.
        sqlx::query(self.sql("DELETE FROM toki_sessions"))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some(values.len()))
    }
}

async fn read_sealed(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    settings: &[&str],
) -> Result<Vec<SealedValue>, StoreError> {
    let mut out = Vec::new();
    let queries: [(&str, PlaceOf); 3] = [
        (
            "SELECT kid, private_key FROM signing_keys WHERE private_key IS NOT NULL",
            SealedPlace::SigningKey,
        ),
        (
            "SELECT client_id, signing_secret FROM clients WHERE signing_secret IS NOT NULL",
            SealedPlace::ClientSecret,
        ),
        ("SELECT user_id, secret FROM user_totp", SealedPlace::Totp),
    ];
    for (sql, place) in queries {
        for row in sqlx::query(store.sql(sql)).fetch_all(&mut *conn).await? {
            out.push(SealedValue {
                place: place(row.try_get(0)?),
                sealed: row.try_get(1)?,
            });
        }
    }
    for name in settings {
        let row = sqlx::query(store.sql("SELECT value FROM settings WHERE name = ?"))
            .bind(*name)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            out.push(SealedValue {
                place: SealedPlace::Setting((*name).to_string()),
                sealed: row.try_get(0)?,
            });
        }
    }
    Ok(out)
}
