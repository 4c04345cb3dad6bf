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
    /// Every sealed value: signing keys, client signing secrets, TOTP secrets, and the
    /// settings whose names `settings` lists.
    pub async fn sealed_values(&self, settings: &[&str]) -> Result<Vec<SealedValue>, StoreError> {
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
            for row in sqlx::query(self.sql(sql)).fetch_all(self.writer()).await? {
                out.push(SealedValue {
                    place: place(row.try_get(0)?),
                    sealed: row.try_get(1)?,
                });
            }
        }
        for name in settings {
            if let Some(sealed) = self.setting(name).await? {
                out.push(SealedValue {
                    place: SealedPlace::Setting((*name).to_string()),
                    sealed,
                });
            }
        }
        Ok(out)
    }

    /// Writes `values` (sealed under a new key) and records `new_key_id` under
    /// `key_id_setting`, in one transaction, provided the store is still under `old_key_id`.
    /// Returns false (and changes nothing) when it is not.
    pub async fn replace_sealed_values(
        &self,
        values: &[SealedValue],
        key_id_setting: &str,
        old_key_id: &str,
        new_key_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        let moved =
            sqlx::query(self.sql("UPDATE settings SET value = ? WHERE name = ? AND value = ?"))
                .bind(new_key_id)
                .bind(key_id_setting)
                .bind(old_key_id)
                .execute(&mut *tx)
                .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        for value in values {
            let (sql, key) = match &value.place {
                SealedPlace::SigningKey(kid) => {
                    ("UPDATE signing_keys SET private_key = ? WHERE kid = ?", kid)
                }
                SealedPlace::ClientSecret(id) => (
                    "UPDATE clients SET signing_secret = ? WHERE client_id = ?",
                    id,
                ),
                SealedPlace::Totp(user) => {
                    ("UPDATE user_totp SET secret = ? WHERE user_id = ?", user)
                }
                SealedPlace::Setting(name) => {
                    ("UPDATE settings SET value = ? WHERE name = ?", name)
                }
            };
            sqlx::query(self.sql(sql))
                .bind(&value.sealed)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
