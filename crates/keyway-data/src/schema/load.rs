//! Reading schema files (YAML, or TOML — a `keyway.toml` `[data]` section or a file of its own)
//! and validating them with messages that name the place of the mistake.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use super::relations::{RawRelation, resolve};
use super::{Entity, IdType, Property, PropertyType, SchemaSet};

/// A schema file that cannot be used: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SchemaError {
    /// `file:line:column` for syntax errors, or a path like `Contact.properties.age.minimum`.
    pub location: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    entities: BTreeMap<String, RawEntity>,
    /// In keyway.toml the schemas sit under `[data]`.
    #[serde(default)]
    data: Option<Box<RawFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    scopes: RawScopes,
    /// `uuid` (the default) or `integer`.
    id: Option<String>,
    properties: BTreeMap<String, RawProperty>,
    #[serde(default)]
    relations: BTreeMap<String, RawRelation>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScopes {
    read: Option<String>,
    readwrite: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProperty {
    #[serde(rename = "type")]
    kind: String,
    format: Option<String>,
    #[serde(default)]
    required: bool,
    max_length: Option<u32>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    pattern: Option<String>,
    #[serde(alias = "enum")]
    values: Option<Vec<String>>,
    #[serde(default)]
    filterable: bool,
    #[serde(default)]
    searchable: bool,
    scope: Option<String>,
    write_scope: Option<String>,
}

impl SchemaSet {
    /// Loads a schema file; `.yaml`/`.yml` are YAML, anything else TOML.
    pub fn load(path: &Path) -> Result<SchemaSet, SchemaError> {
        let text = std::fs::read_to_string(path).map_err(|e| SchemaError {
            location: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        SchemaSet::parse(&text, yaml, &path.display().to_string())
    }

    /// Parses and validates schema text. `origin` names the source in messages.
    pub fn parse(text: &str, yaml: bool, origin: &str) -> Result<SchemaSet, SchemaError> {
        let raw: RawFile = if yaml {
            serde_yaml_ng::from_str(text).map_err(|e| {
                let location = match e.location() {
                    Some(at) => format!("{origin}:{}:{}", at.line(), at.column()),
                    None => origin.to_string(),
                };
                SchemaError {
                    location,
                    message: strip_position(&e.to_string()),
                }
            })?
        } else {
            toml::from_str(text).map_err(|e| {
                let location = match e.span() {
                    Some(span) => {
                        let (line, column) = line_column(text, span.start);
                        format!("{origin}:{line}:{column}")
                    }
                    None => origin.to_string(),
                };
                SchemaError {
                    location,
                    message: e.message().to_string(),
                }
            })?
        };
        let entities = match raw.data {
            Some(data) if raw.entities.is_empty() => data.entities,
            _ => raw.entities,
        };
        validate(entities)
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

pub(super) fn err(location: String, message: impl Into<String>) -> SchemaError {
    SchemaError {
        location,
        message: message.into(),
    }
}

/// Why `name` may not name a property or relation: the table's own columns, and the `kw_`
/// prefix of the columns and aliases keyway makes (search columns, query aliases).
pub(super) fn reserved(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if ["version", "created_at", "updated_at"].contains(&lower.as_str()) {
        return Some(
            "version, created_at and updated_at are columns of every table; choose another name",
        );
    }
    lower
        .starts_with("kw_")
        .then_some("names starting with kw_ are keyway's own (search columns, query aliases)")
}

pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

fn validate(raw: BTreeMap<String, RawEntity>) -> Result<SchemaSet, SchemaError> {
    let mut set = SchemaSet::default();
    let mut seen = HashSet::new();
    let mut relations = BTreeMap::new();
    if raw.is_empty() {
        return Err(err("entities".into(), "no entity is declared"));
    }
    for (name, entity) in raw {
        if !valid_name(&name) {
            return Err(err(
                name.clone(),
                "entity names are letters, digits and _ (starting with a letter, at most 63)",
            ));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(err(
                name.clone(),
                "another entity has the same name in a different case",
            ));
        }
        let lower = name.to_ascii_lowercase();
        for group in &entity.groups {
            if !valid_name(group) {
                return Err(err(
                    format!("{name}.groups"),
                    format!("{group:?} is not a valid group name"),
                ));
            }
        }
        let read_scope = entity
            .scopes
            .read
            .unwrap_or_else(|| format!("{lower}.read"));
        let write_scope = entity
            .scopes
            .readwrite
            .unwrap_or_else(|| format!("{lower}.readwrite"));
        for (what, scope) in [("read", &read_scope), ("readwrite", &write_scope)] {
            if !valid_scope(scope) {
                return Err(err(
                    format!("{name}.scopes.{what}"),
                    format!("{scope:?} is not a valid scope"),
                ));
            }
        }
        if entity.properties.is_empty() {
            return Err(err(
                format!("{name}.properties"),
                "an entity needs at least one property",
            ));
        }
        let mut names = HashSet::new();
        let mut properties = Vec::new();
        for (prop_name, raw_prop) in entity.properties {
            let at = format!("{name}.properties.{prop_name}");
            if !valid_name(&prop_name) {
                return Err(err(
                    at,
                    "property names are letters, digits and _ (starting with a letter)",
                ));
            }
            if prop_name.eq_ignore_ascii_case("id") {
                return Err(err(
                    at,
                    "`id` is implicit (a UUID, or an integer with `id: integer` beside \
                     `properties`); do not declare it",
                ));
            }
            if let Some(why) = reserved(&prop_name) {
                return Err(err(at, why));
            }
            if !names.insert(prop_name.to_ascii_lowercase()) {
                return Err(err(
                    at,
                    "another property has the same name in a different case",
                ));
            }
            properties.push(property(&at, prop_name, raw_prop)?);
        }
        let id_type = match entity.id.as_deref() {
            None | Some("uuid") => IdType::Uuid,
            Some("integer") => IdType::Integer,
            Some(other) => {
                return Err(err(
                    format!("{name}.id"),
                    format!("{other:?} is not an id type (uuid or integer)"),
                ));
            }
        };
        relations.insert(name.clone(), entity.relations);
        set.insert(Entity {
            name,
            groups: entity.groups,
            read_scope,
            write_scope,
            id_type,
            properties,
            relations: Vec::new(),
        });
    }
    resolve(&mut set, relations)?;
    Ok(set)
}

fn property(at: &str, name: String, raw: RawProperty) -> Result<Property, SchemaError> {
    let kind = PropertyType::parse(&raw.kind).ok_or_else(|| {
        err(
            format!("{at}.type"),
            format!("unknown type {:?}: use string, integer, number, boolean, date, date-time, uuid or enum", raw.kind),
        )
    })?;
    let numeric = matches!(kind, PropertyType::Integer | PropertyType::Number);
    if (raw.max_length.is_some() || raw.pattern.is_some()) && kind != PropertyType::String {
        return Err(err(
            at.to_string(),
            "maxLength and pattern apply only to type string",
        ));
    }
    if (raw.minimum.is_some() || raw.maximum.is_some()) && !numeric {
        return Err(err(
            at.to_string(),
            "minimum and maximum apply only to integer and number",
        ));
    }
    if let (Some(min), Some(max)) = (raw.minimum, raw.maximum)
        && min > max
    {
        return Err(err(
            format!("{at}.minimum"),
            format!("minimum {min} is above maximum {max}"),
        ));
    }
    let values = raw.values.unwrap_or_default();
    if kind == PropertyType::Enum {
        if values.is_empty() {
            return Err(err(
                format!("{at}.values"),
                "an enum needs a non-empty list of values",
            ));
        }
        let unique: HashSet<&String> = values.iter().collect();
        if unique.len() != values.len() {
            return Err(err(format!("{at}.values"), "enum values must be unique"));
        }
    } else if !values.is_empty() {
        return Err(err(
            format!("{at}.values"),
            "values apply only to type enum",
        ));
    }
    if let Some(format) = &raw.format {
        if kind != PropertyType::String {
            return Err(err(
                format!("{at}.format"),
                "format applies only to type string (date, date-time and uuid are types)",
            ));
        }
        if crate::formats::matches(format, "").is_none() {
            return Err(err(
                format!("{at}.format"),
                format!(
                    "unknown format {format:?}: use one of {}",
                    crate::formats::FORMATS.join(", ")
                ),
            ));
        }
    }
    let pattern = match &raw.pattern {
        Some(text) => Some(Regex::new(text).map_err(|e| {
            err(
                format!("{at}.pattern"),
                format!("not a valid regular expression: {e}"),
            )
        })?),
        None => None,
    };
    if raw.searchable && kind != PropertyType::String {
        return Err(err(
            format!("{at}.searchable"),
            "only string properties can be searchable",
        ));
    }
    if raw.searchable && raw.scope.is_some() {
        // One full-text index covers every searchable property: a match would tell a caller
        // without the scope what the hidden property holds.
        return Err(err(
            format!("{at}.searchable"),
            "a property behind a read scope cannot be searchable (a search would reveal it)",
        ));
    }
    for (key, scope) in [("scope", &raw.scope), ("writeScope", &raw.write_scope)] {
        if let Some(scope) = scope
            && !valid_scope(scope)
        {
            return Err(err(
                format!("{at}.{key}"),
                format!("{scope:?} is not a valid scope"),
            ));
        }
    }
    Ok(Property {
        name,
        kind,
        format: raw.format,
        required: raw.required,
        max_length: raw.max_length,
        minimum: raw.minimum,
        maximum: raw.maximum,
        pattern,
        values,
        filterable: raw.filterable,
        searchable: raw.searchable,
        read_scope: raw.scope,
        write_scope: raw.write_scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRM: &str = r#"
entities:
  Contact:
    groups: [crm]
    properties:
      firstName: { type: string, required: true, maxLength: 100, filterable: true }
      email: { type: string, format: email, pattern: "^[^@]+@[^@]+$" }
      age: { type: integer, minimum: 0, maximum: 150 }
      status: { type: enum, values: [lead, customer] }
      salary: { type: number, scope: admin.read }
  Organization:
    groups: [crm]
    scopes: { read: org.view }
    properties:
      name: { type: string, required: true }
"#;

    #[test]
    fn parses_a_valid_yaml_schema() {
        let set = SchemaSet::parse(CRM, true, "crm.yaml").unwrap();
        assert_eq!(set.len(), 2);
        let contact = set.entity("CONTACT").unwrap();
        assert_eq!(contact.name, "Contact");
        assert_eq!(contact.read_scope, "contact.read");
        assert!(
            contact
                .scopes_to_write()
                .contains(&"crm.readwrite".to_string())
        );
        assert_eq!(contact.property("FIRSTNAME").unwrap().name, "firstName");
        assert_eq!(set.entity("organization").unwrap().read_scope, "org.view");
    }

    #[test]
    fn toml_under_a_data_section() {
        let text = "[data.entities.Note.properties.body]\ntype = \"string\"\n";
        let set = SchemaSet::parse(text, false, "keyway.toml").unwrap();
        assert!(set.entity("note").is_some());
    }

    fn error(text: &str) -> String {
        SchemaSet::parse(text, true, "s.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn precise_messages() {
        assert_eq!(
            error("entities:\n  A:\n    properties:\n      x: { type: strnig }\n"),
            "A.properties.x.type: unknown type \"strnig\": use string, integer, number, boolean, date, date-time, uuid or enum"
        );
        assert!(
            error("entities:\n  A:\n    properties:\n      x: { type: string, minimum: 1 }\n")
                .starts_with("A.properties.x: minimum")
        );
        assert!(
            error("entities:\n  A:\n    properties:\n      x: { type: string, colour: red }\n")
                .starts_with("s.yaml:4:")
        );
        assert!(
            error("entities:\n  A:\n    properties:\n      id: { type: uuid }\n")
                .contains("implicit")
        );
        assert!(
            error("entities:\n  A:\n    properties:\n      x: { type: enum }\n")
                .contains("non-empty")
        );
        assert!(
            error("entities:\n  A:\n    properties:\n      x: { type: string, pattern: \"(\" }\n")
                .contains("regular expression")
        );
        assert!(
            error("entities:\n  A b:\n    properties:\n      x: { type: string }\n")
                .contains("entity names")
        );
        assert_eq!(
            error("entities:\n  A:\n    properties:\n      x: { type: string, format: phone }\n"),
            "A.properties.x.format: unknown format \"phone\": use one of email, uri, hostname, ipv4, ipv6"
        );
        assert!(
            error("entities:\n  A:\n    properties:\n      x: { type: integer, format: email }\n")
                .contains("format applies only to type string")
        );
        assert!(error("entities: [").starts_with("s.yaml:"));
        assert!(
            error("entities:\n  A:\n    properties:\n      kw_search_1: { type: string }\n")
                .contains("keyway's own")
        );
        assert!(
            error("entities:\n  A:\n    properties:\n      Version: { type: string }\n")
                .contains("columns of every table")
        );
        assert_eq!(
            error(
                "entities:\n  A:\n    properties:\n      x: { type: integer, searchable: true }\n"
            ),
            "A.properties.x.searchable: only string properties can be searchable"
        );
        assert!(
            error("entities:\n  A:\n    properties:\n      x: { type: string, searchable: true, scope: s.read }\n")
                .contains("a search would reveal it")
        );
    }
}
