//! SCIM 2.0 reads and writes of groups. A group's SCIM id is `user_groups.scim_id`; its name
//! (displayName) keys its memberships and scope grants, so a rename moves those in the same
//! transaction.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::scim_users::placeholders;
use crate::{ScimPage, ScimWhere, Store, StoreError};

/// A member of a group as SCIM shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimMember {
    pub user_id: String,
    pub username: String,
}

/// A group with what SCIM keeps beside its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroupRow {
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub version: i64,
    /// By username.
    pub members: Vec<ScimMember>,
}

/// A SCIM write of a whole group (PUT, PATCH): name, externalId and the member set.
#[derive(Debug, Clone)]
pub struct ScimGroupWrite<'a> {
    pub id: &'a str,
    pub expected_version: i64,
    /// The name the writer read (memberships and grants are keyed by it).
    pub old_name: &'a str,
    pub name: &'a str,
    pub external_id: Option<&'a str>,
    /// User ids; ids of users that do not exist are skipped by the database itself.
    pub members: &'a [String],
    pub now: i64,
}

const GROUP_COLUMNS: &str = "scim_id, name, external_id, created_at, updated_at, scim_version";

fn group_row(row: &AnyRow) -> Result<ScimGroupRow, StoreError> {
    Ok(ScimGroupRow {
        id: row
            .try_get::<Option<String>, _>("scim_id")?
            .ok_or(StoreError::Corrupt("user_groups.scim_id"))?,
        name: row.try_get("name")?,
        external_id: row.try_get("external_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("scim_version")?,
        members: Vec::new(),
    })
}

type AnyTx = sqlx::Transaction<'static, sqlx::Any>;

impl Store {
    /// One group by SCIM id, with its members.
    pub async fn scim_group(&self, id: &str) -> Result<Option<ScimGroupRow>, StoreError> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {GROUP_COLUMNS} FROM user_groups WHERE scim_id = ?"
        )))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut groups = vec![group_row(&row)?];
        self.attach_members(&mut groups).await?;
        Ok(groups.pop())
    }

    /// A page of groups matching `filter` (see [`Store::scim_users_page`]).
    pub async fn scim_groups_page(
        &self,
        filter: &ScimWhere,
        offset: i64,
        limit: i64,
        with_members: bool,
    ) -> Result<ScimPage<ScimGroupRow>, StoreError> {
        let (rows, total) = self
            .scim_page_rows(GROUP_COLUMNS, "user_groups", filter, offset, limit)
            .await?;
        let mut items = rows.iter().map(group_row).collect::<Result<Vec<_>, _>>()?;
        if with_members {
            self.attach_members(&mut items).await?;
        }
        Ok(ScimPage { total, items })
    }

    async fn attach_members(&self, groups: &mut [ScimGroupRow]) -> Result<(), StoreError> {
        if groups.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT group_members.group_name, users.user_id, users.username \
             FROM group_members JOIN users ON users.user_id = group_members.user_id \
             WHERE group_members.group_name IN ({}) ORDER BY users.username",
            placeholders(groups.len())
        );
        let mut query = sqlx::query(self.sql(&sql));
        for group in groups.iter() {
            query = query.bind(group.name.clone());
        }
        for row in query.fetch_all(self.reader()).await? {
            let group: String = row.try_get(0)?;
            if let Some(g) = groups.iter_mut().find(|g| g.name == group) {
                g.members.push(ScimMember {
                    user_id: row.try_get(1)?,
                    username: row.try_get(2)?,
                });
            }
        }
        Ok(())
    }

    /// Creates a group with its members in one transaction; `Conflict` when the name is taken.
    pub async fn insert_scim_group(
        &self,
        id: &str,
        name: &str,
        external_id: Option<&str>,
        members: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(self.sql(
            "INSERT INTO user_groups (name, scim_id, external_id, created_at, updated_at, \
             scim_version) VALUES (?, ?, ?, ?, ?, 0)",
        ))
        .bind(name)
        .bind(id)
        .bind(external_id)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "group"))?;
        self.add_members(&mut tx, name, members, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds users to a group inside `tx`; a user id that names nobody adds nothing (the
    /// `INSERT … SELECT` reads the users table in the same transaction).
    async fn add_members(
        &self,
        tx: &mut AnyTx,
        name: &str,
        members: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        for user_id in members {
            sqlx::query(self.sql(
                "INSERT INTO group_members (group_name, user_id, created_at) \
                 SELECT ?, user_id, ? FROM users WHERE user_id = ?",
            ))
            .bind(name)
            .bind(now)
            .bind(user_id)
            .execute(&mut **tx)
            .await
            .map_err(|e| StoreError::conflict_or(e, "group member"))?;
        }
        Ok(())
    }

    /// Writes a whole group if its version is still `expected_version`: false when it changed
    /// (or is gone) and nothing was written; `Conflict` when the new name is taken.
    pub async fn write_scim_group(&self, write: &ScimGroupWrite<'_>) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(self.sql(
            "UPDATE user_groups SET name = ?, external_id = ?, updated_at = ?, \
             scim_version = scim_version + 1 WHERE scim_id = ? AND scim_version = ? AND name = ?",
        ))
        .bind(write.name)
        .bind(write.external_id)
        .bind(write.now)
        .bind(write.id)
        .bind(write.expected_version)
        .bind(write.old_name)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "group"))?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if write.name != write.old_name {
            sqlx::query(self.sql("UPDATE group_members SET group_name = ? WHERE group_name = ?"))
                .bind(write.name)
                .bind(write.old_name)
                .execute(&mut *tx)
                .await?;
            sqlx::query(self.sql(
                "UPDATE scope_grants SET holder = ? WHERE holder_kind = 'group' AND holder = ?",
            ))
            .bind(write.name)
            .bind(write.old_name)
            .execute(&mut *tx)
            .await?;
        }
        let rows = sqlx::query(self.sql("SELECT user_id FROM group_members WHERE group_name = ?"))
            .bind(write.name)
            .fetch_all(&mut *tx)
            .await?;
        let current = crate::groups::first_strings(&rows)?;
        for gone in current.iter().filter(|id| !write.members.contains(id)) {
            sqlx::query(self.sql("DELETE FROM group_members WHERE group_name = ? AND user_id = ?"))
                .bind(write.name)
                .bind(gone)
                .execute(&mut *tx)
                .await?;
        }
        let added: Vec<String> = write
            .members
            .iter()
            .filter(|id| !current.contains(id))
            .cloned()
            .collect();
        self.add_members(&mut tx, write.name, &added, write.now)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Which of `user_ids` name existing users.
    pub async fn existing_user_ids(&self, user_ids: &[String]) -> Result<Vec<String>, StoreError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT user_id FROM users WHERE user_id IN ({})",
            placeholders(user_ids.len())
        );
        let mut query = sqlx::query(self.sql(&sql));
        for id in user_ids {
            query = query.bind(id.clone());
        }
        let rows = query.fetch_all(self.reader()).await?;
        crate::groups::first_strings(&rows)
    }
}
