//! Trust rules between clients (issue 18): what one client may do with another's users and
//! APIs. Nothing crosses between clients without a rule.

use sqlx::Row;

use crate::{Store, StoreError};

/// One rule: `from_client` may `purpose` (`transmit`, `exchange`, `call`) `to_client`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRuleRecord {
    pub from_client: String,
    pub to_client: String,
    pub purpose: String,
    /// The scopes that may cross (space-separated); `None`: those the user's token holds.
    pub scope: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "from_client, to_client, purpose, scope, created_at";

fn rule_of(row: &sqlx::any::AnyRow) -> Result<ClientRuleRecord, StoreError> {
    Ok(ClientRuleRecord {
        from_client: row.try_get("from_client")?,
        to_client: row.try_get("to_client")?,
        purpose: row.try_get("purpose")?,
        scope: row.try_get("scope")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Adds a rule or replaces the one for the same clients and purpose; true when one was
    /// replaced. Delete then insert in one transaction: the backends spell upserts differently.
    pub async fn put_client_rule(&self, rule: &ClientRuleRecord) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        let replaced = sqlx::query(self.sql(
            "DELETE FROM client_rules WHERE from_client = ? AND to_client = ? AND purpose = ?",
        ))
        .bind(&rule.from_client)
        .bind(&rule.to_client)
        .bind(&rule.purpose)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        sqlx::query(self.sql(&format!(
            "INSERT INTO client_rules ({COLUMNS}) VALUES (?, ?, ?, ?, ?)"
        )))
        .bind(&rule.from_client)
        .bind(&rule.to_client)
        .bind(&rule.purpose)
        .bind(&rule.scope)
        .bind(rule.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "a rule for these clients and purpose"))?;
        tx.commit().await?;
        Ok(replaced)
    }

    /// Removes a rule; false when there was none.
    pub async fn delete_client_rule(
        &self,
        from_client: &str,
        to_client: &str,
        purpose: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "DELETE FROM client_rules WHERE from_client = ? AND to_client = ? AND purpose = ?",
        ))
        .bind(from_client)
        .bind(to_client)
        .bind(purpose)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The rule for these clients and purpose, if there is one.
    pub async fn client_rule(
        &self,
        from_client: &str,
        to_client: &str,
        purpose: &str,
    ) -> Result<Option<ClientRuleRecord>, StoreError> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {COLUMNS} FROM client_rules \
             WHERE from_client = ? AND to_client = ? AND purpose = ?"
        )))
        .bind(from_client)
        .bind(to_client)
        .bind(purpose)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(rule_of).transpose()
    }

    /// Every rule, ordered by the client it starts from, then the target and purpose.
    pub async fn client_rules(&self) -> Result<Vec<ClientRuleRecord>, StoreError> {
        let rows = sqlx::query(self.sql(&format!(
            "SELECT {COLUMNS} FROM client_rules ORDER BY from_client, to_client, purpose"
        )))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(rule_of).collect()
    }
}
