use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// A resource owner who logs in at the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: String,
    pub username: String,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
    pub created_at: i64,
    /// OpenID Connect standard claims of the user, given out by scope.
    pub profile: UserProfile,
    /// When the user was disabled (`None`: enabled).
    pub disabled_at: Option<i64>,
}

/// A user's profile: OpenID Connect standard claims (`email` and `email_verified` with the
/// `email` scope, the names with `profile`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

pub(crate) const USER_COLUMNS: &str = "user_id, username, password_hash, created_at, email, \
     email_verified, name, given_name, family_name, disabled_at";

pub(crate) fn from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    from_row_as(row, &UNPREFIXED)
}

/// The names of the user columns in a result: as they are, or `u_…` where a join selected
/// them under that prefix ([`PREFIXED_USER_COLUMNS`]).
pub(crate) struct UserColumnNames([&'static str; 10]);

const UNPREFIXED: UserColumnNames = UserColumnNames([
    "user_id",
    "username",
    "password_hash",
    "created_at",
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "disabled_at",
]);
pub(crate) const PREFIXED: UserColumnNames = UserColumnNames([
    "u_user_id",
    "u_username",
    "u_password_hash",
    "u_created_at",
    "u_email",
    "u_email_verified",
    "u_name",
    "u_given_name",
    "u_family_name",
    "u_disabled_at",
]);
/// The user columns of table alias `u`, selected as `u_…` (for joins with other tables that
/// have a `user_id` or `created_at`).
pub(crate) const PREFIXED_USER_COLUMNS: &str = "u.user_id AS u_user_id, u.username AS u_username, \
     u.password_hash AS u_password_hash, u.created_at AS u_created_at, u.email AS u_email, \
     u.email_verified AS u_email_verified, u.name AS u_name, u.given_name AS u_given_name, \
     u.family_name AS u_family_name, u.disabled_at AS u_disabled_at";

pub(crate) fn from_row_as(row: &AnyRow, names: &UserColumnNames) -> Result<UserRecord, StoreError> {
    let [
        user_id,
        username,
        password_hash,
        created_at,
        email,
        email_verified,
        name,
        given_name,
        family_name,
        disabled_at,
    ] = names.0;
    Ok(UserRecord {
        user_id: row.try_get(user_id)?,
        username: row.try_get(username)?,
        password_hash: row.try_get(password_hash)?,
        created_at: row.try_get(created_at)?,
        profile: UserProfile {
            email: row.try_get(email)?,
            email_verified: row.try_get::<i64, _>(email_verified)? != 0,
            name: row.try_get(name)?,
            given_name: row.try_get(given_name)?,
            family_name: row.try_get(family_name)?,
        },
        disabled_at: row.try_get(disabled_at)?,
    })
}

impl Store {
    pub async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO users (user_id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(&user.user_id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::conflict_or(e, "user"))?;
        Ok(())
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = ?"
        )))
        .bind(username)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn user_by_id(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE user_id = ?"
        )))
        .bind(user_id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(self.sql(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        )))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Replaces a user's password hash and ends their login sessions (whoever signed in with the
    /// old password must sign in again); with `revoke_tokens_at`, also revokes every token
    /// family of theirs (applications must have them sign in again), else those the sessions
    /// gave without `offline_access`. `None` when there is no such user, else the sessions
    /// ended.
    pub async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
        revoke_all: bool,
        now: i64,
    ) -> Result<Option<Vec<crate::LoginSessionRecord>>, StoreError> {
        let Some(user) = self.user_by_name(username).await? else {
            return Ok(None);
        };
        let mut tx = self.writer().begin().await?;
        sqlx::query(self.sql(
            "UPDATE users SET password_hash = ?, scim_version = scim_version + 1 WHERE user_id = ?",
        ))
        .bind(password_hash)
        .bind(&user.user_id)
        .execute(&mut *tx)
        .await?;
        let ended = self.take_user_sessions(&mut tx, &user.user_id).await?;
        if revoke_all {
            self.revoke_families_where(&mut tx, "user_id", &user.user_id, now)
                .await?;
        } else {
            // As any ending of a session: what it gave without offline_access ends with it.
            for sid in ended.iter().filter_map(|s| s.sid.as_deref()) {
                self.revoke_session_families(&mut tx, sid, now).await?;
            }
        }
        tx.commit().await?;
        Ok(Some(ended))
    }

    /// Deletes a user with their sessions and consents, and revokes their token families.
    /// Replaces a user's profile; false when there is no such user.
    pub async fn set_user_profile(
        &self,
        user_id: &str,
        profile: &UserProfile,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE users SET email = ?, email_verified = ?, name = ?, given_name = ?, \
             family_name = ?, scim_version = scim_version + 1 WHERE user_id = ?",
        ))
        .bind(&profile.email)
        .bind(i64::from(profile.email_verified))
        .bind(&profile.name)
        .bind(&profile.given_name)
        .bind(&profile.family_name)
        .bind(user_id)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Disables a user (`Some(now)`: their login sessions end and their token families are
    /// revoked, in one transaction) or enables them again (`None`).
    /// Disables (`Some(now)`: sessions ended, every token family revoked) or enables a
    /// user. `None` when there is no such user, else the sessions ended.
    pub async fn set_user_disabled(
        &self,
        user_id: &str,
        disabled_at: Option<i64>,
    ) -> Result<Option<Vec<crate::LoginSessionRecord>>, StoreError> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(self.sql(
            "UPDATE users SET disabled_at = ?, scim_version = scim_version + 1 WHERE user_id = ?",
        ))
        .bind(disabled_at)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let mut ended = Vec::new();
        if let Some(now) = disabled_at {
            ended = self.take_user_sessions(&mut tx, user_id).await?;
            self.revoke_families_where(&mut tx, "user_id", user_id, now)
                .await?;
        }
        tx.commit().await?;
        Ok((done.rows_affected() == 1).then_some(ended))
    }

    /// Deletes a user and everything of theirs; `None` when there is no such user, else the
    /// login sessions ended.
    pub async fn delete_user(
        &self,
        username: &str,
        now: i64,
    ) -> Result<Option<Vec<crate::LoginSessionRecord>>, StoreError> {
        let Some(user) = self.user_by_name(username).await? else {
            return Ok(None);
        };
        self.delete_user_by_id(&user.user_id, None, now).await
    }

    /// Deletes a user by id — only at `version` (SCIM's write counter), if given — and
    /// everything of theirs; `None` when there is no such user (at that version), else the
    /// login sessions ended. The condition and the deletion are one transaction: a concurrent
    /// rename or write cannot make it delete someone else or a changed user.
    pub async fn delete_user_by_id(
        &self,
        user_id: &str,
        version: Option<i64>,
        now: i64,
    ) -> Result<Option<Vec<crate::LoginSessionRecord>>, StoreError> {
        let mut tx = self.writer().begin().await?;
        let deleted = match version {
            Some(version) => {
                sqlx::query(self.sql("DELETE FROM users WHERE user_id = ? AND scim_version = ?"))
                    .bind(user_id)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?
            }
            None => {
                sqlx::query(self.sql("DELETE FROM users WHERE user_id = ?"))
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
            }
        };
        if deleted.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let ended = self.take_user_sessions(&mut tx, user_id).await?;
        for statement in [
            "DELETE FROM consents WHERE user_id = ?",
            "DELETE FROM authorization_codes WHERE user_id = ?",
            "DELETE FROM upstream_identities WHERE user_id = ?",
            "DELETE FROM group_members WHERE user_id = ?",
            "DELETE FROM user_totp WHERE user_id = ?",
            "DELETE FROM recovery_codes WHERE user_id = ?",
            "DELETE FROM passkeys WHERE user_id = ?",
            "DELETE FROM scope_grants WHERE holder_kind = 'user' AND holder = ?",
        ] {
            sqlx::query(self.sql(statement))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        self.revoke_families_where(&mut tx, "user_id", user_id, now)
            .await?;
        tx.commit().await?;
        Ok(Some(ended))
    }
}
