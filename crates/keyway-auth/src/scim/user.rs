//! The SCIM User resource over keyway's users: its JSON representation and the strict reading
//! of a User body (POST, PUT, and the result of a PATCH).

use keyway_store::ScimUserRow;
use serde_json::{Map, Value, json};

use super::attrs::{USER_ATTRS, USER_SCHEMA};
use super::body::{
    boolean, check_schemas, complex, elements, get, known_attributes, opt_string, value_error,
};
use super::error::ScimError;
use super::meta::meta;
use crate::SecretString;
use crate::users::{checked_email, checked_username, profile_value};

/// Most email entries a user may have.
pub(crate) const MAX_EMAILS: usize = 10;

/// What a body says of a user's password (writeOnly: absent keeps it).
#[derive(Debug, Clone)]
pub(crate) enum PasswordChange {
    Keep,
    /// `null` (PUT) or PATCH `remove`: no password sign-in any more.
    Clear,
    Set(SecretString),
}

/// A User body, checked.
#[derive(Debug, Clone)]
pub(crate) struct UserInput {
    pub user_name: String,
    pub external_id: Option<String>,
    pub formatted: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    /// Normalised entries (`value`, and `type`/`primary` when given).
    pub emails: Vec<Value>,
    /// `None`: not sent, the user stays as they are (a PUT never re-enables by omission).
    pub active: Option<bool>,
    pub password: PasswordChange,
}

impl UserInput {
    /// The entry whose value becomes the `email` claim: the primary one, else the first.
    pub(crate) fn claim_email(&self) -> Option<String> {
        claim_entry(&self.emails)
            .and_then(|e| e.get("value"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The entries as stored (`None` for none).
    pub(crate) fn emails_json(&self) -> Option<String> {
        (!self.emails.is_empty()).then(|| Value::Array(self.emails.clone()).to_string())
    }
}

fn claim_entry(entries: &[Value]) -> Option<&Value> {
    entries
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| entries.first())
}

/// `externalId`: at most 190 characters, no control characters.
pub(crate) fn external_id(body: &Map<String, Value>) -> Result<Option<String>, ScimError> {
    let id = opt_string(get(body, "externalId"), "externalId")?;
    if let Some(id) = &id
        && (id.chars().count() > 190 || id.chars().any(char::is_control))
    {
        return Err(value_error(
            "externalId: at most 190 characters, no control characters",
        ));
    }
    Ok(id.filter(|id| !id.is_empty()))
}

/// Reads a User body strictly.
pub(crate) fn parse_user(body: &Value) -> Result<UserInput, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| super::body::syntax("the body must be a JSON object"))?;
    check_schemas(object, USER_SCHEMA)?;
    let mut input = UserInput {
        user_name: String::new(),
        external_id: external_id(object)?,
        formatted: None,
        family_name: None,
        given_name: None,
        emails: Vec::new(),
        active: None,
        password: PasswordChange::Keep,
    };
    let mut named = false;
    for (attr, value) in known_attributes(object, USER_ATTRS, "User")? {
        match attr.name {
            "userName" => {
                let name = opt_string(Some(value), "userName")?
                    .ok_or_else(|| value_error("userName must be a string"))?;
                input.user_name = checked_username(&name)?;
                named = true;
            }
            "name" if value.is_null() => {}
            "name" => {
                for (sub, v) in complex(value, attr)? {
                    let text = opt_string(Some(v), sub.name)?.unwrap_or_default();
                    let text = profile_value(sub.name, text, 200)?;
                    match sub.name {
                        "formatted" => input.formatted = text,
                        "familyName" => input.family_name = text,
                        _ => input.given_name = text,
                    }
                }
            }
            "emails" => input.emails = emails(value, attr)?,
            "active" if value.is_null() => {}
            "active" => input.active = Some(boolean(value, "active")?),
            "password" => {
                input.password = match value {
                    Value::Null => PasswordChange::Clear,
                    Value::String(p) => PasswordChange::Set(SecretString::new(p.clone())),
                    _ => return Err(value_error("password must be a string")),
                }
            }
            _ => {}
        }
    }
    if !named {
        return Err(value_error("userName is required"));
    }
    Ok(input)
}

fn emails(value: &Value, attr: &'static super::attrs::Attr) -> Result<Vec<Value>, ScimError> {
    let items = elements(value, attr)?;
    if items.len() > MAX_EMAILS {
        return Err(value_error(format!(
            "emails: at most {MAX_EMAILS} addresses"
        )));
    }
    let mut out = Vec::new();
    for item in items {
        let mut entry = Map::new();
        for (sub, v) in complex(item, attr)? {
            match (sub.name, v) {
                (_, Value::Null) => {}
                ("value", Value::String(s)) => {
                    let email = checked_email(s.clone())?
                        .ok_or_else(|| value_error("emails.value must not be empty"))?;
                    entry.insert("value".into(), email.into());
                }
                ("type", Value::String(s)) => {
                    let kind = profile_value("emails.type", s.clone(), 64)?;
                    if let Some(kind) = kind {
                        entry.insert("type".into(), kind.into());
                    }
                }
                ("primary", v) => {
                    entry.insert("primary".into(), boolean(v, "emails.primary")?.into());
                }
                _ => {}
            }
        }
        if !entry.contains_key("value") {
            return Err(value_error("every emails entry needs a value"));
        }
        out.push(Value::Object(entry));
    }
    let primaries = out
        .iter()
        .filter(|e| e.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(value_error("emails: at most one entry may be primary"));
    }
    Ok(out)
}

/// The email entries to show: those SCIM stored while they still agree with the `email`
/// claim (which `keyway user update` may have changed since), else the claim alone.
fn shown_emails(row: &ScimUserRow) -> Vec<Value> {
    let stored: Vec<Value> = row
        .emails_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let claim = row.user.profile.email.as_deref();
    let agrees = claim_entry(&stored)
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        == claim;
    match claim {
        _ if agrees => stored,
        Some(email) => vec![json!({"value": email, "primary": true})],
        None => Vec::new(),
    }
}

/// A user's SCIM representation (every attribute; projections come later).
pub(crate) fn user_json(row: &ScimUserRow, base: &str) -> Value {
    let user = &row.user;
    let mut out = Map::new();
    out.insert("schemas".into(), json!([USER_SCHEMA]));
    out.insert("id".into(), user.user_id.clone().into());
    if let Some(external) = &row.external_id {
        out.insert("externalId".into(), external.clone().into());
    }
    out.insert("userName".into(), user.username.clone().into());
    let mut name = Map::new();
    for (key, value) in [
        ("formatted", &user.profile.name),
        ("familyName", &user.profile.family_name),
        ("givenName", &user.profile.given_name),
    ] {
        if let Some(value) = value {
            name.insert(key.into(), value.clone().into());
        }
    }
    if !name.is_empty() {
        out.insert("name".into(), Value::Object(name));
    }
    let emails = shown_emails(row);
    if !emails.is_empty() {
        out.insert("emails".into(), Value::Array(emails));
    }
    out.insert("active".into(), user.disabled_at.is_none().into());
    if !row.groups.is_empty() {
        let groups: Vec<Value> = row
            .groups
            .iter()
            .map(|(id, name)| {
                json!({"value": id, "$ref": format!("{base}/Groups/{id}"), "display": name})
            })
            .collect();
        out.insert("groups".into(), Value::Array(groups));
    }
    let location = format!("{base}/Users/{}", user.user_id);
    meta(
        out,
        "User",
        user.created_at,
        row.updated_at.unwrap_or(user.created_at),
        row.version,
        &location,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;

    fn kind(body: Value) -> Option<ScimType> {
        parse_user(&body).err().and_then(|e| e.scim_type())
    }

    #[test]
    fn strict_bodies() {
        let ok = json!({"schemas": [USER_SCHEMA], "USERNAME": "ada", "id": "ignored",
                        "groups": [{"value": "x"}], "meta": {"version": "x"},
                        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
                        "name": {"givenName": "Ada"}, "active": "False"});
        let user = parse_user(&ok).unwrap();
        assert_eq!(user.user_name, "ada");
        assert_eq!(user.active, Some(false));
        assert_eq!(user.claim_email().as_deref(), Some("ada@example.com"));
        assert_eq!(
            kind(json!({"userName": "a"})),
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(
            kind(json!({"schemas": [crate::scim::attrs::GROUP_SCHEMA], "userName": "a"})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            kind(json!({"schemas": [USER_SCHEMA], "userName": "a", "nickName": "x"})),
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(
            kind(json!({"schemas": [USER_SCHEMA], "userName": "a\u{202e}b"})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            kind(json!({"schemas": [USER_SCHEMA]})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            kind(json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": [{"value": "nope"}]})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            kind(json!({"schemas": [USER_SCHEMA], "userName": "a", "active": 3})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(kind(json!([1])), Some(ScimType::InvalidSyntax));
    }
}
