//! Groups of users and their members. A group exists once created (or, for the built-in
//! `keyway-admins`, once it has a member); deleting one removes its memberships with it.

use sqlx::Row;

use crate::{Store, StoreError};

/// The first column of each row, as text.
pub(crate) fn first_strings(rows: &[sqlx::any::AnyRow]) -> Result<Vec<String>, StoreError> {
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

/// A group with the usernames of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub name: String,
    pub created_at: i64,
    /// Usernames, sorted.
    pub members: Vec<String>,
}

impl Store {
    /// Creates a group with its SCIM id (random, stable across renames); `Conflict` when it
    /// exists.
    pub async fn insert_group(
        &self,
        name: &str,
        scim_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            self.sql("INSERT INTO user_groups (name, scim_id, created_at) VALUES (?, ?, ?)"),
        )
        .bind(name)
        .bind(scim_id)
        .bind(now)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::conflict_or(e, "group"))?;
        Ok(())
    }

    /// Deletes a group and its memberships; false when there was no such group.
    pub async fn delete_group(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_group_where(name, None).await
    }

    /// Deletes the group `name` only while it still has SCIM id `scim_id` (and, if given,
    /// write counter `version`): a rename since the caller read it cannot make this delete
    /// another group. The condition and the deletion are one transaction.
    pub async fn delete_scim_group(
        &self,
        name: &str,
        scim_id: &str,
        version: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.delete_group_where(name, Some((scim_id, version)))
            .await
    }

    async fn delete_group_where(
        &self,
        name: &str,
        scim: Option<(&str, Option<i64>)>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        if let Some((scim_id, version)) = scim {
            // Locked on the server backends, so no write slips between check and delete.
            let lock = match self.backend() {
                crate::Backend::Sqlite => "",
                crate::Backend::Postgres | crate::Backend::Mysql => " FOR UPDATE",
            };
            let sql = format!(
                "SELECT scim_version FROM user_groups WHERE name = ? AND scim_id = ?{lock}"
            );
            let still = sqlx::query(self.sql(&sql))
                .bind(name)
                .bind(scim_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.try_get::<i64, _>(0))
                .transpose()?;
            if still.is_none() || version.is_some_and(|v| still != Some(v)) {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        sqlx::query(self.sql("DELETE FROM group_members WHERE group_name = ?"))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            self.sql("DELETE FROM scope_grants WHERE holder_kind = 'group' AND holder = ?"),
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(self.sql("DELETE FROM user_groups WHERE name = ?"))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every group with its members, by name.
    pub async fn groups(&self) -> Result<Vec<GroupRecord>, StoreError> {
        let rows = sqlx::query(self.sql("SELECT name, created_at FROM user_groups ORDER BY name"))
            .fetch_all(self.reader())
            .await?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.try_get("name")?;
            let members = self.group_members(&name).await?;
            groups.push(GroupRecord {
                created_at: row.try_get("created_at")?,
                name,
                members,
            });
        }
        Ok(groups)
    }

    /// One group, if it exists.
    pub async fn group(&self, name: &str) -> Result<Option<GroupRecord>, StoreError> {
        let row = sqlx::query(self.sql("SELECT name, created_at FROM user_groups WHERE name = ?"))
            .bind(name)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(GroupRecord {
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
            members: self.group_members(name).await?,
        }))
    }

    async fn group_members(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(self.sql(
            "SELECT users.username FROM group_members JOIN users \
             ON users.user_id = group_members.user_id WHERE group_members.group_name = ? \
             ORDER BY users.username",
        ))
        .bind(name)
        .fetch_all(self.reader())
        .await?;
        first_strings(&rows)
    }

    /// Adds a user to a group; false when the user was a member already. Like every change
    /// of a group, it moves the group's SCIM version (a SCIM write that read the group before
    /// then fails instead of undoing this).
    pub async fn insert_group_member(
        &self,
        group: &str,
        user_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        let done =
            sqlx::query(self.sql(
                "INSERT INTO group_members (group_name, user_id, created_at) VALUES (?, ?, ?)",
            ))
            .bind(group)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await;
        match done {
            Ok(_) => {
                bump_group_version(self, &mut tx, group).await?;
                tx.commit().await?;
                Ok(true)
            }
            Err(err) => match StoreError::conflict_or(err, "group member") {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Takes a user out of a group; false when the user was not a member.
    pub async fn delete_group_member(
        &self,
        group: &str,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        let done =
            sqlx::query(self.sql("DELETE FROM group_members WHERE group_name = ? AND user_id = ?"))
                .bind(group)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 1 {
            bump_group_version(self, &mut tx, group).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The names of the groups a user is in, sorted.
    pub async fn user_groups(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            self.sql("SELECT group_name FROM group_members WHERE user_id = ? ORDER BY group_name"),
        )
        .bind(user_id)
        .fetch_all(self.reader())
        .await?;
        first_strings(&rows)
    }

    /// Whether a user is a member of a group.
    pub async fn is_group_member(&self, group: &str, user_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            self.sql("SELECT 1 FROM group_members WHERE group_name = ? AND user_id = ?"),
        )
        .bind(group)
        .bind(user_id)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.is_some())
    }
}

async fn bump_group_version(
    store: &Store,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    group: &str,
) -> Result<(), StoreError> {
    sqlx::query(store.sql("UPDATE user_groups SET scim_version = scim_version + 1 WHERE name = ?"))
        .bind(group)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Who holds a granted scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantHolder<'a> {
    /// A user, by user id.
    User(&'a str),
    /// A group, by name: every member holds it.
    Group(&'a str),
}

impl GrantHolder<'_> {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            GrantHolder::User(id) => ("user", id),
            GrantHolder::Group(name) => ("group", name),
        }
    }
}

impl Store {
    /// Grants `scopes` to a holder (already granted ones stay).
    pub async fn grant_scopes(
        &self,
        holder: GrantHolder<'_>,
        scopes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let (kind, id) = holder.parts();
        for scope in scopes {
            let done = sqlx::query(self.sql(
                "INSERT INTO scope_grants (holder_kind, holder, scope, created_at) \
                 VALUES (?, ?, ?, ?)",
            ))
            .bind(kind)
            .bind(id)
            .bind(scope)
            .bind(now)
            .execute(self.writer())
            .await;
            match done {
                Ok(_) => {}
                Err(err) => match StoreError::conflict_or(err, "scope grant") {
                    StoreError::Conflict(_) => {}
                    other => return Err(other),
                },
            }
        }
        Ok(())
    }

    /// Takes `scopes` from a holder; how many it held.
    pub async fn revoke_scopes(
        &self,
        holder: GrantHolder<'_>,
        scopes: &[String],
    ) -> Result<u64, StoreError> {
        let (kind, id) = holder.parts();
        let mut removed = 0;
        for scope in scopes {
            let done = sqlx::query(self.sql(
                "DELETE FROM scope_grants WHERE holder_kind = ? AND holder = ? AND scope = ?",
            ))
            .bind(kind)
            .bind(id)
            .bind(scope)
            .execute(self.writer())
            .await?;
            removed += done.rows_affected();
        }
        Ok(removed)
    }

    /// The scopes granted to a holder itself, sorted.
    pub async fn granted_scopes(&self, holder: GrantHolder<'_>) -> Result<Vec<String>, StoreError> {
        let (kind, id) = holder.parts();
        let rows = sqlx::query(self.sql(
            "SELECT scope FROM scope_grants WHERE holder_kind = ? AND holder = ? ORDER BY scope",
        ))
        .bind(kind)
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        first_strings(&rows)
    }

    /// Every scope a user holds: granted to them or to a group they are in.
    pub async fn user_held_scopes(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(self.sql(
            "SELECT scope FROM scope_grants WHERE holder_kind = 'user' AND holder = ? \
             UNION SELECT scope_grants.scope FROM scope_grants JOIN group_members \
             ON scope_grants.holder_kind = 'group' AND scope_grants.holder = group_members.group_name \
             WHERE group_members.user_id = ?",
        ))
        .bind(user_id)
        .bind(user_id)
        .fetch_all(self.reader())
        .await?;
        first_strings(&rows)
    }
}
