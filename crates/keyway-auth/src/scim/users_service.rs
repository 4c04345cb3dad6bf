//! SCIM operations on users, as `AuthService` methods: the hub's handlers call one of these
//! per request. Every write reads the user with its version, checks `If-Match`, builds the
//! whole new state, and stores it with one conditional transaction; disabling and password
//! changes go through the same store rules as `keyway user disable` and `keyway user passwd`.

use keyway_store::{ScimUserRow, ScimUserWrite, UserProfile, UserRecord};
use serde_json::Value;

use super::attrs::{USER_ATTRS, USER_SCHEMA};
use super::error::ScimError;
use super::filter_sql::{Resource, compile};
use super::list::ListQuery;
use super::user::{PasswordChange, UserInput, parse_user, user_json};
use super::write::{check_if_match, conflict, patched, until_written};
use crate::{AuthService, random_token};

/// The password hash of a user made by SCIM without a password: no password matches it.
pub(crate) const NO_PASSWORD: &str = "!scim";

impl AuthService {
    async fn scim_user_row(&self, id: &str) -> Result<ScimUserRow, ScimError> {
        self.store
            .scim_user(id)
            .await?
            .ok_or_else(|| ScimError::NotFound(format!("no user with id {id:?}")))
    }

    /// One user's full representation.
    pub async fn scim_get_user(&self, base: &str, id: &str) -> Result<Value, ScimError> {
        Ok(user_json(&self.scim_user_row(id).await?, base))
    }

    /// A page of users as a ListResponse.
    pub async fn scim_list_users(&self, base: &str, query: &ListQuery) -> Result<Value, ScimError> {
        let filter = compile(
            Resource::User,
            self.store.backend(),
            query.filter.as_ref(),
            query.sort.as_ref().map(|(p, d)| (p, *d)),
        )?;
        let page = self
            .store
            .scim_users_page(
                &filter,
                query.start_index - 1,
                query.count,
                query.projection.wants("groups"),
            )
            .await?;
        let items = page.items.iter().map(|row| user_json(row, base)).collect();
        Ok(query.response(page.total, items))
    }

    /// Creates a user from a User body.
    pub async fn scim_create_user(&self, base: &str, body: &Value) -> Result<Value, ScimError> {
        let input = parse_user(body)?;
        let password_hash = match &input.password {
            PasswordChange::Set(password) => self.hash_password(password).await?,
            PasswordChange::Keep | PasswordChange::Clear => NO_PASSWORD.to_string(),
        };
        let now = self.clock().now_secs();
        let record = UserRecord {
            user_id: random_token(self.entropy(), 16),
            username: input.user_name.clone(),
            password_hash,
            created_at: now,
            profile: UserProfile {
                email: input.claim_email(),
                email_verified: false,
                name: input.formatted.clone(),
                given_name: input.given_name.clone(),
                family_name: input.family_name.clone(),
            },
            disabled_at: (input.active == Some(false)).then_some(now),
        };
        self.store
            .insert_scim_user(
                &record,
                input.external_id.as_deref(),
                input.emails_json().as_deref(),
            )
            .await
            .map_err(|e| conflict(e, &format!("userName {:?}", input.user_name)))?;
        self.scim_get_user(base, &record.user_id).await
    }

    /// Replaces a user with a User body (PUT).
    pub async fn scim_replace_user(
        &self,
        base: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        until_written(if_match, "user", || async move {
            let row = self.scim_user_row(id).await?;
            check_if_match(&user_json(&row, base), if_match)?;
            self.write_user(base, &row, parse_user(body)?).await
        })
        .await
    }

    /// Applies a PatchOp to a user.
    pub async fn scim_patch_user(
        &self,
        base: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        until_written(if_match, "user", || async move {
            let row = self.scim_user_row(id).await?;
            let current = user_json(&row, base);
            check_if_match(&current, if_match)?;
            let resource = patched(current, body, USER_ATTRS, USER_SCHEMA)?;
            self.write_user(base, &row, parse_user(&resource)?).await
        })
        .await
    }

    /// Stores a user's new state if nobody wrote it since `row` was read (`None` otherwise).
    async fn write_user(
        &self,
        base: &str,
        row: &ScimUserRow,
        input: UserInput,
    ) -> Result<Option<Value>, ScimError> {
        let old = &row.user;
        let password_hash = match &input.password {
            PasswordChange::Set(password) => Some(self.hash_password(password).await?),
            PasswordChange::Clear => Some(NO_PASSWORD.to_string()),
            PasswordChange::Keep => None,
        };
        let now = self.clock().now_secs();
        let email = input.claim_email();
        let profile = UserProfile {
            // A new address is not verified until someone says so (as `keyway user update`).
            email_verified: old.profile.email_verified && email == old.profile.email,
            email,
            name: input.formatted.clone(),
            given_name: input.given_name.clone(),
            family_name: input.family_name.clone(),
        };
        let disabled_at = match input.active {
            None => old.disabled_at,
            Some(true) => None,
            Some(false) => old.disabled_at.or(Some(now)),
        };
        let disabling = disabled_at.is_some() && old.disabled_at.is_none();
        let emails_json = input.emails_json();
        let written = self
            .store
            .write_scim_user(&ScimUserWrite {
                user_id: &old.user_id,
                expected_version: row.version,
                username: &input.user_name,
                profile: &profile,
                external_id: input.external_id.as_deref(),
                emails_json: emails_json.as_deref(),
                disabled_at,
                disabling,
                password_hash: password_hash.as_deref(),
                now,
            })
            .await
            .map_err(|e| conflict(e, &format!("userName {:?}", input.user_name)))?;
        let Some(ended) = written else {
            return Ok(None);
        };
        if disabling || password_hash.is_some() {
            // As `keyway user disable` and `set-password`: access tokens of the revoked
            // families join the deny-list now, and the clients of the ended sessions hear of it.
            self.refresh_revocations().await?;
            self.notify_logout(&ended).await;
        }
        self.scim_get_user(base, &old.user_id).await.map(Some)
    }

    /// Deletes a user as `keyway user delete` does (sessions, consents, memberships, grants;
    /// token families revoked).
    pub async fn scim_delete_user(
        &self,
        base: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        let row = self.scim_user_row(id).await?;
        check_if_match(&user_json(&row, base), if_match)?;
        let now = self.clock().now_secs();
        // By id, and with If-Match at the version checked: a rename or write since cannot make
        // this delete someone else, or a user changed after the check.
        let version = if_match.map(|_| row.version);
        let Some(ended) = self
            .store
            .delete_user_by_id(&row.user.user_id, version, now)
            .await?
        else {
            return Err(match version {
                Some(_) => ScimError::PreconditionFailed(
                    "the user changed (or went) since it was read: read it again".into(),
                ),
                None => ScimError::NotFound(format!("no user with id {id:?}")),
            });
        };
        self.refresh_revocations().await?;
        self.notify_logout(&ended).await;
        Ok(())
    }
}
