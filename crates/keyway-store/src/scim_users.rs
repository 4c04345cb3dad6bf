//! SCIM 2.0 reads and writes of users (keyway-auth's `scim` module decides; this runs the
//! statements). A SCIM write is one transaction, conditional on the version the writer read, so
//! an `If-Match` cannot lose a race and a disabled user's sessions end with the same commit.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::dynamic::bind_all;
use crate::users::{USER_COLUMNS, from_row};
use crate::{DynValue, Store, StoreError, UserProfile, UserRecord};

/// A user with what SCIM keeps beside the OAuth fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUserRow {
    pub user: UserRecord,
    pub external_id: Option<String>,
    /// meta.lastModified (seconds); `None` until the first SCIM write.
    pub updated_at: Option<i64>,
    /// Bumped by every SCIM write (the optimistic lock behind `If-Match`).
    pub version: i64,
    /// Every email entry SCIM sent, as a JSON array (the primary one is also `profile.email`).
    pub emails_json: Option<String>,
    /// The groups the user is in: (SCIM id, name), by name.
    pub groups: Vec<(String, String)>,
}

/// A WHERE clause and ordering for a SCIM list. `sql` comes only from keyway-auth's filter
/// compiler: fixed column names and `?` placeholders, never request text; `values` are bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScimWhere {
    pub sql: String,
    pub values: Vec<DynValue>,
    /// A fixed `ORDER BY` list (column names from a whitelist).
    pub order_by: String,
}

/// One page of a SCIM list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimPage<T> {
    pub total: i64,
    pub items: Vec<T>,
}

/// A SCIM write of a whole user (PUT, PATCH or the second half of a create).
#[derive(Debug, Clone)]
pub struct ScimUserWrite<'a> {
    pub user_id: &'a str,
    /// The version the writer read: the write happens only if it is still current.
    pub expected_version: i64,
    pub username: &'a str,
    pub profile: &'a UserProfile,
    pub external_id: Option<&'a str>,
    pub emails_json: Option<&'a str>,
    pub disabled_at: Option<i64>,
    /// The user goes from enabled to disabled: end their sessions and revoke their token
    /// families, as `keyway user disable` does.
    pub disabling: bool,
    /// A new password (PHC string): set it and end the user's sessions, as `keyway user
    /// passwd` does.
    pub password_hash: Option<&'a str>,
    pub now: i64,
}

const SCIM_COLUMNS: &str = "external_id, updated_at, scim_version, scim_emails";

fn scim_row(row: &AnyRow) -> Result<ScimUserRow, StoreError> {
    Ok(ScimUserRow {
        user: from_row(row)?,
        external_id: row.try_get("external_id")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("scim_version")?,
        emails_json: row.try_get("scim_emails")?,
        groups: Vec::new(),
    })
}

/// `?, ?, …` for `n` values.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl Store {
    /// The rows of one page of `table` matching `filter`, and how many match in all.
    pub(crate) async fn scim_page_rows(
        &self,
        columns: &str,
        table: &str,
        filter: &ScimWhere,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<sqlx::any::AnyRow>, i64), StoreError> {
        // The page first: when it is the first and not full, it is everything and the count
        // query is not needed (a `userName eq` lookup then costs one indexed read).
        let rows = if limit == 0 {
            Vec::new()
        } else {
            bind_all(
                sqlx::query(self.sql(&format!(
                    "SELECT {columns} FROM {table} WHERE {} ORDER BY {} LIMIT ? OFFSET ?",
                    filter.sql, filter.order_by
                ))),
                &filter.values,
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(self.reader())
            .await?
        };
        let total = if offset == 0 && (rows.len() as i64) < limit {
            rows.len() as i64
        } else {
            let count = bind_all(
                sqlx::query(self.sql(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE {}",
                    filter.sql
                ))),
                &filter.values,
            )
            .fetch_one(self.reader())
            .await?;
            count.try_get(0)?
        };
        Ok((rows, total))
    }

    /// One user by id, with their groups.
    pub async fn scim_user(&self, user_id: &str) -> Result<Option<ScimUserRow>, StoreError> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {USER_COLUMNS}, {SCIM_COLUMNS} FROM users WHERE user_id = ?"
        )))
        .bind(user_id)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut users = vec![scim_row(&row)?];
        self.attach_user_groups(&mut users).await?;
        Ok(users.pop())
    }

    /// A page of users matching `filter`: `offset` rows skipped, at most `limit` returned
    /// (`limit` 0 counts only). `with_groups` reads their memberships too.
    pub async fn scim_users_page(
        &self,
        filter: &ScimWhere,
        offset: i64,
        limit: i64,
        with_groups: bool,
    ) -> Result<ScimPage<ScimUserRow>, StoreError> {
        let (rows, total) = self
            .scim_page_rows(
                &format!("{USER_COLUMNS}, {SCIM_COLUMNS}"),
                "users",
                filter,
                offset,
                limit,
            )
            .await?;
        let mut items = rows.iter().map(scim_row).collect::<Result<Vec<_>, _>>()?;
        if with_groups {
            self.attach_user_groups(&mut items).await?;
        }
        Ok(ScimPage { total, items })
    }

    /// Reads the groups of every user in `users` with one query.
    async fn attach_user_groups(&self, users: &mut [ScimUserRow]) -> Result<(), StoreError> {
        if users.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT group_members.user_id, user_groups.scim_id, user_groups.name \
             FROM group_members JOIN user_groups ON user_groups.name = group_members.group_name \
             WHERE group_members.user_id IN ({}) ORDER BY user_groups.name",
            placeholders(users.len())
        );
        let mut query = sqlx::query(self.sql(&sql));
        for user in users.iter() {
            query = query.bind(user.user.user_id.clone());
        }
        for row in query.fetch_all(self.reader()).await? {
            let user_id: String = row.try_get(0)?;
            let id: Option<String> = row.try_get(1)?;
            let name: String = row.try_get(2)?;
            if let Some(user) = users.iter_mut().find(|u| u.user.user_id == user_id) {
                user.groups.push((id.unwrap_or_default(), name));
            }
        }
        Ok(())
    }

    /// Creates a user with their SCIM fields in one transaction; `Conflict` when the username
    /// is taken.
    pub async fn insert_scim_user(
        &self,
        user: &UserRecord,
        external_id: Option<&str>,
        emails_json: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO users (user_id, username, password_hash, created_at, email, \
             email_verified, name, given_name, family_name, disabled_at, external_id, \
             updated_at, scim_version, scim_emails) \
             VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, 0, ?)",
        ))
        .bind(&user.user_id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .bind(&user.profile.email)
        .bind(&user.profile.name)
        .bind(&user.profile.given_name)
        .bind(&user.profile.family_name)
        .bind(user.disabled_at)
        .bind(external_id)
        .bind(user.created_at)
        .bind(emails_json)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::conflict_or(e, "user"))?;
        Ok(())
    }

    /// Writes a whole user if its version is still `expected_version`: `None` when it changed
    /// (or the user is gone) and nothing was written, else the login sessions the write ended
    /// (for back-channel logout); `Conflict` when the username is taken.
    pub async fn write_scim_user(
        &self,
        write: &ScimUserWrite<'_>,
    ) -> Result<Option<Vec<crate::LoginSessionRecord>>, StoreError> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(self.sql(
            "UPDATE users SET username = ?, email = ?, email_verified = ?, name = ?, \
             given_name = ?, family_name = ?, external_id = ?, scim_emails = ?, \
             disabled_at = ?, updated_at = ?, scim_version = scim_version + 1 \
             WHERE user_id = ? AND scim_version = ?",
        ))
        .bind(write.username)
        .bind(&write.profile.email)
        .bind(i64::from(write.profile.email_verified))
        .bind(&write.profile.name)
        .bind(&write.profile.given_name)
        .bind(&write.profile.family_name)
        .bind(write.external_id)
        .bind(write.emails_json)
        .bind(write.disabled_at)
        .bind(write.now)
        .bind(write.user_id)
        .bind(write.expected_version)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "user"))?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        if let Some(hash) = write.password_hash {
            sqlx::query(self.sql("UPDATE users SET password_hash = ? WHERE user_id = ?"))
                .bind(hash)
                .bind(write.user_id)
                .execute(&mut *tx)
                .await?;
        }
        let mut ended = Vec::new();
        if write.disabling || write.password_hash.is_some() {
            ended = self.take_user_sessions(&mut tx, write.user_id).await?;
        }
        if write.disabling {
            // As `set_user_disabled`: every token family of the user is revoked.
            self.revoke_families_where(&mut tx, "user_id", write.user_id, write.now)
                .await?;
        } else {
            // As `set_user_password` without revoke_all: what the ended sessions gave without
            // offline_access ends with them.
            for sid in ended.iter().filter_map(|s| s.sid.as_deref()) {
                self.revoke_session_families(&mut tx, sid, write.now)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(ended))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change made outside SCIM (the CLI) between a SCIM read and its write makes the write
    /// fail instead of undoing the change; so does a membership change for a group.
    #[tokio::test]
    async fn writes_outside_scim_move_the_version() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|_| StoreError::Corrupt("no temporary directory"))?;
        let store = Store::open(&format!("sqlite://{}", dir.path().join("k.db").display())).await?;
        let user = UserRecord {
            user_id: "u1".into(),
            username: "ada".into(),
            password_hash: "!scim".into(),
            created_at: 1,
            profile: UserProfile::default(),
            disabled_at: None,
        };
        store.insert_scim_user(&user, None, None).await?;
        let read = store
            .scim_user("u1")
            .await?
            .ok_or(StoreError::Corrupt("no user"))?;
        let cli = UserProfile {
            email: Some("ada@example.com".into()),
            ..UserProfile::default()
        };
        store.set_user_profile("u1", &cli).await?;
        let write = ScimUserWrite {
            user_id: "u1",
            expected_version: read.version,
            username: "ada",
            profile: &UserProfile::default(),
            external_id: None,
            emails_json: None,
            disabled_at: None,
            disabling: false,
            password_hash: None,
            now: 2,
        };
        assert!(
            store.write_scim_user(&write).await?.is_none(),
            "a stale write went through"
        );
        let now = store
            .scim_user("u1")
            .await?
            .ok_or(StoreError::Corrupt("no user"))?;
        assert_eq!(now.user.profile.email.as_deref(), Some("ada@example.com"));
        let fresh = ScimUserWrite {
            expected_version: now.version,
            ..write
        };
        assert!(store.write_scim_user(&fresh).await?.is_some());

        store.insert_scim_group("g1", "ops", None, &[], 1).await?;
        let group = store
            .scim_group("g1")
            .await?
            .ok_or(StoreError::Corrupt("no group"))?;
        assert!(store.insert_group_member("ops", "u1", 3).await?);
        let stale = crate::ScimGroupWrite {
            id: "g1",
            expected_version: group.version,
            old_name: "ops",
            name: "ops",
            external_id: None,
            members: &[],
            now: 4,
        };
        assert!(!store.write_scim_group(&stale).await?);
        let group = store
            .scim_group("g1")
            .await?
            .ok_or(StoreError::Corrupt("no group"))?;
        assert_eq!(group.members.len(), 1);
        store.close().await;
        Ok(())
    }
}
