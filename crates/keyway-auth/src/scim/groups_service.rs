//! SCIM operations on groups. The built-in [`ADMINS`] group (the hub's administrators) can be
//! read and its members changed — provisioning administrators is what a SCIM client with the
//! `scim` scope is for — but it is never renamed or deleted, and no group is renamed into it.

use keyway_store::{ScimGroupRow, ScimGroupWrite, StoreError};
use serde_json::Value;

use super::attrs::{GROUP_ATTRS, GROUP_SCHEMA};
use super::error::{ScimError, ScimType};
use super::filter_sql::{Resource, compile};
use super::group::{GroupInput, group_json, parse_group, parse_patched_group};
use super::list::ListQuery;
use super::write::{check_if_match, patched, until_written};
use crate::groups::ADMINS;
use crate::{AuthService, random_token};

fn conflict(err: StoreError, name: &str) -> ScimError {
    super::write::conflict(err, &format!("displayName {name:?}"))
}

impl AuthService {
    async fn scim_group_row(&self, id: &str) -> Result<ScimGroupRow, ScimError> {
        self.store
            .scim_group(id)
            .await?
            .ok_or_else(|| ScimError::NotFound(format!("no group with id {id:?}")))
    }

    /// Every member id must name a user (400 `invalidValue` naming the first that does not).
    async fn check_members(&self, input: &GroupInput) -> Result<(), ScimError> {
        let found = self.store.existing_user_ids(&input.members).await?;
        match input.members.iter().find(|id| !found.contains(id)) {
            Some(missing) => Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("members: no user with id {missing:?}"),
            )),
            None => Ok(()),
        }
    }

    pub async fn scim_get_group(&self, base: &str, id: &str) -> Result<Value, ScimError> {
        Ok(group_json(&self.scim_group_row(id).await?, base))
    }

    pub async fn scim_list_groups(
        &self,
        base: &str,
        query: &ListQuery,
    ) -> Result<Value, ScimError> {
        let filter = compile(
            Resource::Group,
            self.store.backend(),
            query.filter.as_ref(),
            query.sort.as_ref().map(|(p, d)| (p, *d)),
        )?;
        let page = self
            .store
            .scim_groups_page(
                &filter,
                query.start_index - 1,
                query.count,
                query.projection.wants("members"),
            )
            .await?;
        let items = page.items.iter().map(|row| group_json(row, base)).collect();
        Ok(query.response(page.total, items))
    }

    pub async fn scim_create_group(&self, base: &str, body: &Value) -> Result<Value, ScimError> {
        let input = parse_group(body)?;
        self.check_members(&input).await?;
        let id = random_token(self.entropy(), 16);
        let now = self.clock().now_secs();
        self.store
            .insert_scim_group(
                &id,
                &input.display_name,
                input.external_id.as_deref(),
                &input.members,
                now,
            )
            .await
            .map_err(|e| conflict(e, &input.display_name))?;
        self.scim_get_group(base, &id).await
    }

    pub async fn scim_replace_group(
        &self,
        base: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        until_written(if_match, "group", || async move {
            let row = self.scim_group_row(id).await?;
            check_if_match(&group_json(&row, base), if_match)?;
            self.write_group(base, &row, parse_group(body)?).await
        })
        .await
    }

    pub async fn scim_patch_group(
        &self,
        base: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        until_written(if_match, "group", || async move {
            let row = self.scim_group_row(id).await?;
            let current = group_json(&row, base);
            check_if_match(&current, if_match)?;
            let resource = patched(current, body, GROUP_ATTRS, GROUP_SCHEMA)?;
            self.write_group(base, &row, parse_patched_group(&resource)?)
                .await
        })
        .await
    }

    /// Stores a group's new state if nobody wrote it since `row` was read (`None` otherwise).
    async fn write_group(
        &self,
        base: &str,
        row: &ScimGroupRow,
        input: GroupInput,
    ) -> Result<Option<Value>, ScimError> {
        if input.display_name != row.name && (row.name == ADMINS || input.display_name == ADMINS) {
            return Err(ScimError::bad(
                ScimType::Mutability,
                format!("the built-in group {ADMINS} keeps its name, and no group takes it"),
            ));
        }
        self.check_members(&input).await?;
        let written = self
            .store
            .write_scim_group(&ScimGroupWrite {
                id: &row.id,
                expected_version: row.version,
                old_name: &row.name,
                name: &input.display_name,
                external_id: input.external_id.as_deref(),
                members: &input.members,
                now: self.clock().now_secs(),
            })
            .await
            .map_err(|e| conflict(e, &input.display_name))?;
        if !written {
            return Ok(None);
        }
        self.scim_get_group(base, &row.id).await.map(Some)
    }

    pub async fn scim_delete_group(
        &self,
        base: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        let row = self.scim_group_row(id).await?;
        if row.name == ADMINS {
            return Err(ScimError::Forbidden(format!(
                "the built-in group {ADMINS} cannot be deleted (its members can be removed)"
            )));
        }
        check_if_match(&group_json(&row, base), if_match)?;
        // Still this group (not one renamed into its name since) and, with If-Match, still at
        // the version checked: both inside the deleting transaction.
        let version = if_match.map(|_| row.version);
        if !self
            .store
            .delete_scim_group(&row.name, &row.id, version)
            .await?
        {
            return Err(match version {
                Some(_) => ScimError::PreconditionFailed(
                    "the group changed (or went) since it was read: read it again".into(),
                ),
                None => ScimError::NotFound(format!("no group with id {id:?}")),
            });
        }
        Ok(())
    }
}
