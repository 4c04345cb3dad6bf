//! The SCIM Group resource over keyway's groups (`user_groups`, `group_members`): its JSON
//! representation and the strict reading of a Group body.

use keyway_store::ScimGroupRow;
use serde_json::{Map, Value, json};

use super::attrs::{GROUP_ATTRS, GROUP_SCHEMA};
use super::body::{check_schemas, complex, elements, known_attributes, opt_string, value_error};
use super::error::ScimError;
use super::meta::meta;
use super::user::external_id;

/// Most members one body may name (a 64 KiB body holds about a thousand anyway).
pub(crate) const MAX_MEMBERS: usize = 5000;

/// A Group body, checked.
#[derive(Debug, Clone)]
pub(crate) struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// User ids, without repeats, in the order given.
    pub members: Vec<String>,
}

/// Reads a Group body strictly (a POST or PUT: at most [`MAX_MEMBERS`] members in it).
pub(crate) fn parse_group(body: &Value) -> Result<GroupInput, ScimError> {
    parse_group_limited(body, Some(MAX_MEMBERS))
}

/// Reads a group as a PATCH left it: its members are the stored ones plus what the (size-
/// capped) request changed, so no cap applies — a group grown past it by `keyway group add`
/// must still let people be taken out.
pub(crate) fn parse_patched_group(body: &Value) -> Result<GroupInput, ScimError> {
    parse_group_limited(body, None)
}

fn parse_group_limited(body: &Value, max_members: Option<usize>) -> Result<GroupInput, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| super::body::syntax("the body must be a JSON object"))?;
    check_schemas(object, GROUP_SCHEMA)?;
    let mut input = GroupInput {
        display_name: String::new(),
        external_id: external_id(object)?,
        members: Vec::new(),
    };
    let mut named = false;
    for (attr, value) in known_attributes(object, GROUP_ATTRS, "Group")? {
        match attr.name {
            "displayName" => {
                let name = opt_string(Some(value), "displayName")?
                    .ok_or_else(|| value_error("displayName must be a string"))?;
                crate::groups::check_name(&name)?;
                input.display_name = name;
                named = true;
            }
            "members" => {
                let items = elements(value, attr)?;
                if let Some(max) = max_members
                    && items.len() > max
                {
                    return Err(value_error(format!(
                        "members: at most {max} in one POST or PUT (PATCH adds more)"
                    )));
                }
                let mut seen = std::collections::HashSet::with_capacity(items.len());
                for item in items {
                    let id = member_id(item, attr)?;
                    if seen.insert(id.clone()) {
                        input.members.push(id);
                    }
                }
            }
            _ => {}
        }
    }
    if !named {
        return Err(value_error("displayName is required"));
    }
    Ok(input)
}

/// A member's user id: its `value`, else the last segment of its `$ref`. Only users can be
/// members (`type` "User" or absent).
pub(crate) fn member_id(
    item: &Value,
    attr: &'static super::attrs::Attr,
) -> Result<String, ScimError> {
    let mut value = None;
    let mut reference = None;
    for (sub, v) in complex(item, attr)? {
        match sub.name {
            "value" => value = opt_string(Some(v), "members.value")?,
            "$ref" => reference = opt_string(Some(v), "members.$ref")?,
            "type" => {
                let kind = opt_string(Some(v), "members.type")?;
                if kind.as_deref().is_some_and(|k| k != "User") {
                    return Err(value_error(
                        "members.type: keyway groups hold users only (no nested groups)",
                    ));
                }
            }
            _ => {}
        }
    }
    let from_ref = reference
        .as_deref()
        .and_then(|r| r.trim_end_matches('/').rsplit('/').next())
        .map(str::to_string);
    value
        .or(from_ref)
        .filter(|v| !v.is_empty() && v.len() <= 190)
        .ok_or_else(|| value_error("every member needs a value (a user id)"))
}

/// A group's SCIM representation.
pub(crate) fn group_json(row: &ScimGroupRow, base: &str) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([GROUP_SCHEMA]));
    out.insert("id".into(), row.id.clone().into());
    if let Some(external) = &row.external_id {
        out.insert("externalId".into(), external.clone().into());
    }
    out.insert("displayName".into(), row.name.clone().into());
    if !row.members.is_empty() {
        let members: Vec<Value> = row
            .members
            .iter()
            .map(|m| {
                json!({"value": m.user_id, "$ref": format!("{base}/Users/{}", m.user_id),
                       "display": m.username, "type": "User"})
            })
            .collect();
        out.insert("members".into(), Value::Array(members));
    }
    let location = format!("{base}/Groups/{}", row.id);
    meta(
        out,
        "Group",
        row.created_at,
        row.updated_at.unwrap_or(row.created_at),
        row.version,
        &location,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group grown past the POST/PUT cap (by `keyway group add`) still takes a PATCH: the
    /// patched group is not held to it (a reviewer could not take a leaver out of one).
    #[test]
    fn a_patched_group_is_not_held_to_the_body_cap() {
        let members: Vec<Value> = (0..MAX_MEMBERS + 3)
            .map(|i| json!({"value": format!("u{i}")}))
            .collect();
        let group =
            json!({"schemas": [GROUP_SCHEMA], "displayName": "employees", "members": members});
        assert!(parse_group(&group).is_err());
        assert_eq!(
            parse_patched_group(&group).unwrap().members.len(),
            MAX_MEMBERS + 3
        );
    }
    use crate::scim::error::ScimType;

    #[test]
    fn members_are_users_by_value_or_ref() {
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "ops",
            "members": [{"value": "u1"}, {"$ref": "https://hub/scim/v2/Users/u2", "type": "User"},
                        {"value": "u1", "display": "ignored"}]});
        assert_eq!(parse_group(&body).unwrap().members, ["u1", "u2"]);
        let nested = json!({"schemas": [GROUP_SCHEMA], "displayName": "ops",
            "members": [{"value": "g", "type": "Group"}]});
        let err = parse_group(&nested).unwrap_err();
        assert_eq!(err.scim_type(), Some(ScimType::InvalidValue));
        let bad_name = json!({"schemas": [GROUP_SCHEMA], "displayName": "Ops Team"});
        assert_eq!(
            parse_group(&bad_name).unwrap_err().scim_type(),
            Some(ScimType::InvalidValue)
        );
    }
}
