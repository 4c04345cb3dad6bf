use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// An OAuth client as stored. Lists are kept space-separated (scopes, grants) or as a JSON array
/// (redirect URIs, which may contain spaces-free but arbitrary text) so one schema fits all
/// backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// Lowercase hex SHA-256 of the secret; `None` for public and `private_key_jwt` clients.
    pub secret_hash: Option<String>,
    pub public_client: bool,
    pub auth_method: String,
    pub grant_types: String,
    pub scope: String,
    pub redirect_uris: String,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    /// Per-client policy switches, as JSON (`{}` for none).
    pub policy: String,
    /// The client's signing secret, sealed with the hub's master key (keyway-auth).
    pub signing_secret: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "client_id, name, secret_hash, public_client, auth_method, grant_types, \
                       scope, redirect_uris, jwks, jwks_uri, policy, created_at, updated_at, \
                       signing_secret";

fn from_row(row: &AnyRow) -> Result<ClientRecord, StoreError> {
    Ok(ClientRecord {
        client_id: row.try_get("client_id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        public_client: row.try_get::<i64, _>("public_client")? != 0,
        auth_method: row.try_get("auth_method")?,
        grant_types: row.try_get("grant_types")?,
        scope: row.try_get("scope")?,
        redirect_uris: row.try_get("redirect_uris")?,
        jwks: row.try_get("jwks")?,
        jwks_uri: row.try_get("jwks_uri")?,
        policy: row.try_get("policy")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        signing_secret: row.try_get("signing_secret")?,
    })
}

impl Store {
    pub async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO clients ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(self.sql(&sql))
            .bind(&client.client_id)
            .bind(&client.name)
            .bind(&client.secret_hash)
            .bind(i64::from(client.public_client))
            .bind(&client.auth_method)
            .bind(&client.grant_types)
            .bind(&client.scope)
            .bind(&client.redirect_uris)
            .bind(&client.jwks)
            .bind(&client.jwks_uri)
            .bind(&client.policy)
            .bind(client.created_at)
            .bind(client.updated_at)
            .bind(&client.signing_secret)
            .execute(self.writer())
            .await
            .map_err(|e| StoreError::conflict_or(e, "client"))?;
        Ok(())
    }

    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM clients WHERE client_id = ?");
        let row = sqlx::query(self.sql(&sql))
            .bind(client_id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM clients ORDER BY created_at, client_id");
        let rows = sqlx::query(self.sql(&sql)).fetch_all(self.reader()).await?;
        rows.iter().map(from_row).collect()
    }

    /// Replaces a client's registered properties (name, grants, scope, redirect URIs, keys);
    /// returns false when the client does not exist. Its id, secret and kind stay.
    pub async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE clients SET name = ?, grant_types = ?, scope = ?, redirect_uris = ?, \
             jwks = ?, jwks_uri = ?, policy = ?, signing_secret = ?, updated_at = ? \
             WHERE client_id = ?",
        ))
        .bind(&client.name)
        .bind(&client.grant_types)
        .bind(&client.scope)
        .bind(&client.redirect_uris)
        .bind(&client.jwks)
        .bind(&client.jwks_uri)
        .bind(&client.policy)
        .bind(&client.signing_secret)
        .bind(client.updated_at)
        .bind(&client.client_id)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a client's secret digest; returns false when the client does not exist.
    pub async fn set_client_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            self.sql("UPDATE clients SET secret_hash = ?, updated_at = ? WHERE client_id = ?"),
        )
        .bind(secret_hash)
        .bind(now)
        .bind(client_id)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a client and everything issued to it; returns false when it did not exist.
    pub async fn delete_client(&self, client_id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        for table in [
            "DELETE FROM refresh_tokens WHERE client_id = ?",
            "DELETE FROM authorization_codes WHERE client_id = ?",
            "DELETE FROM authorization_requests WHERE client_id = ?",
            "DELETE FROM pushed_requests WHERE client_id = ?",
            "DELETE FROM consents WHERE client_id = ?",
            "DELETE FROM client_assertions WHERE client_id = ?",
            "DELETE FROM client_keys WHERE client_id = ?",
            "DELETE FROM toki_keys WHERE client_id = ?",
        ] {
            sqlx::query(self.sql(table))
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        self.revoke_families_where(&mut tx, "client_id", client_id, now)
            .await?;
        sqlx::query(self.sql("DELETE FROM client_rules WHERE from_client = ? OR to_client = ?"))
            .bind(client_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(self.sql("DELETE FROM clients WHERE client_id = ?"))
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}

/// A transfer public key registered for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeyRecord {
    pub client_id: String,
    pub fingerprint: String,
    /// `keyway-ed25519 BASE64`.
    pub public_key: String,
    pub created_at: i64,
}

impl Store {
    pub async fn insert_client_key(&self, key: &ClientKeyRecord) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO client_keys (client_id, fingerprint, public_key, created_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(&key.client_id)
        .bind(&key.fingerprint)
        .bind(&key.public_key)
        .bind(key.created_at)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::conflict_or(e, "this key for this client"))?;
        Ok(())
    }

    /// Registered keys of one client, or of every client when `client_id` is `None`.
    pub async fn client_keys(
        &self,
        client_id: Option<&str>,
    ) -> Result<Vec<ClientKeyRecord>, StoreError> {
        let base = "SELECT client_id, fingerprint, public_key, created_at FROM client_keys";
        let rows = match client_id {
            Some(id) => {
                sqlx::query(self.sql(&format!("{base} WHERE client_id = ? ORDER BY created_at")))
                    .bind(id)
                    .fetch_all(self.reader())
                    .await?
            }
            None => {
                sqlx::query(self.sql(&format!("{base} ORDER BY client_id, created_at")))
                    .fetch_all(self.reader())
                    .await?
            }
        };
        rows.iter()
            .map(|row| {
                Ok(ClientKeyRecord {
                    client_id: row.try_get("client_id")?,
                    fingerprint: row.try_get("fingerprint")?,
                    public_key: row.try_get("public_key")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}
