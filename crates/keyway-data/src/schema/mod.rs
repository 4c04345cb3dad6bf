//! Entities and their properties.
//!
//! Names match case-insensitively and are answered in their declared (canonical) case: the
//! legacy design left this open; keyway decides it so that `/api/contact` and `/api/Contact`
//! are the same collection and responses always say `Contact`.

mod load;
mod relations;

use std::collections::BTreeMap;

use regex::Regex;

pub use load::SchemaError;
pub use relations::{OnDelete, Relation, RelationKind};

/// The type of a property (JSON Schema / OpenAPI vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    String,
    Integer,
    Number,
    Boolean,
    Date,
    DateTime,
    Uuid,
    Enum,
}

impl PropertyType {
    pub fn parse(text: &str) -> Option<PropertyType> {
        Some(match text {
            "string" => PropertyType::String,
            "integer" => PropertyType::Integer,
            "number" => PropertyType::Number,
            "boolean" => PropertyType::Boolean,
            "date" => PropertyType::Date,
            "date-time" => PropertyType::DateTime,
            "uuid" => PropertyType::Uuid,
            "enum" => PropertyType::Enum,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PropertyType::String => "string",
            PropertyType::Integer => "integer",
            PropertyType::Number => "number",
            PropertyType::Boolean => "boolean",
            PropertyType::Date => "date",
            PropertyType::DateTime => "date-time",
            PropertyType::Uuid => "uuid",
            PropertyType::Enum => "enum",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub kind: PropertyType,
    pub format: Option<String>,
    pub required: bool,
    pub max_length: Option<u32>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub pattern: Option<Regex>,
    pub values: Vec<String>,
    /// Gets an index and may appear in `$filter`/`$orderby` cheaply.
    pub filterable: bool,
    /// Covered by the entity's full-text index (`$search`).
    pub searchable: bool,
    /// A scope needed to see this property; without it the property is left out of answers
    /// and cannot be named in queries or bodies (it is treated as undeclared).
    pub read_scope: Option<String>,
    /// A scope that lets a caller write this property without being able to read it
    /// (`writeScope`: an intake service that records salaries it may not see).
    pub write_scope: Option<String>,
}

impl Property {
    /// Whether a caller holding `scopes` may see this property, and so name it in `$filter`,
    /// `$orderby` and `$select`.
    pub fn readable_by(&self, scopes: &[&str]) -> bool {
        self.read_scope
            .as_deref()
            .is_none_or(|scope| scopes.contains(&scope))
    }

    /// Whether a caller holding `scopes` (and the entity's write scope) may set this property:
    /// one it can read, or one whose `writeScope` it holds.
    pub fn writable_by(&self, scopes: &[&str]) -> bool {
        self.readable_by(scopes)
            || self
                .write_scope
                .as_deref()
                .is_some_and(|scope| scopes.contains(&scope))
    }
}

/// What an entity's `id` is: a UUID the hub makes (the default), or an integer (`id:
/// integer` in the schema, `Item(1)` in URLs) the client gives or the hub counts up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    Uuid,
    Integer,
}

/// The largest integer id: the largest integer a JSON number carries exactly in every
/// client (2^53 - 1).
pub const MAX_INTEGER_ID: i64 = 9_007_199_254_740_991;

#[derive(Debug, Clone)]
pub struct Entity {
    pub name: String,
    pub groups: Vec<String>,
    pub read_scope: String,
    pub write_scope: String,
    pub id_type: IdType,
    /// Declaration order (the `id` key is implicit and not listed).
    pub properties: Vec<Property>,
    /// Navigation properties: to one item (through a key property of this entity) or to the
    /// items of another entity whose key property points here.
    pub relations: Vec<Relation>,
}

impl Entity {
    /// The type of `id`, as `$filter` and relation keys see it.
    pub fn id_kind(&self) -> PropertyType {
        match self.id_type {
            IdType::Uuid => PropertyType::Uuid,
            IdType::Integer => PropertyType::Integer,
        }
    }

    /// A property by name, case-insensitively.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The properties `$search` looks in, in declaration order.
    pub fn searchable(&self) -> Vec<&Property> {
        self.properties.iter().filter(|p| p.searchable).collect()
    }

    /// A relation (navigation property) by name, case-insensitively.
    pub fn relation(&self, name: &str) -> Option<&Relation> {
        self.relations
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// The entity as a caller holding `scopes` may read it: properties it cannot read are
    /// absent, so every query option checked against this view refuses them exactly as it
    /// refuses a name that was never declared (their existence is not confirmed either).
    /// A to-one relation whose key property is hidden is hidden with it (a to-many one is
    /// checked against its target when it is expanded).
    pub fn readable_by(&self, scopes: &[&str]) -> Entity {
        let mut view = self.restricted(|p| p.readable_by(scopes));
        let keys: Vec<String> = view.properties.iter().map(|p| p.name.clone()).collect();
        view.relations.retain(|r| match &r.kind {
            RelationKind::ToOne { key, .. } => keys.contains(key),
            RelationKind::ToMany { .. } => true,
        });
        view
    }

    /// The entity as a caller holding `scopes` may write it (see [`Property::writable_by`]).
    pub fn writable_by(&self, scopes: &[&str]) -> Entity {
        self.restricted(|p| p.writable_by(scopes))
    }

    fn restricted(&self, keep: impl Fn(&Property) -> bool) -> Entity {
        Entity {
            name: self.name.clone(),
            groups: self.groups.clone(),
            read_scope: self.read_scope.clone(),
            write_scope: self.write_scope.clone(),
            id_type: self.id_type,
            properties: self
                .properties
                .iter()
                .filter(|p| keep(p))
                .cloned()
                .collect(),
            relations: self.relations.clone(),
        }
    }

    /// Scopes that allow reading: the entity's own, its write scope, and its groups'.
    pub fn scopes_to_read(&self) -> Vec<String> {
        let mut scopes = vec![self.read_scope.clone(), self.write_scope.clone()];
        for group in &self.groups {
            scopes.push(format!("{group}.read"));
            scopes.push(format!("{group}.readwrite"));
        }
        scopes
    }

    /// Scopes that allow writing: the entity's write scope and its groups' `readwrite`.
    pub fn scopes_to_write(&self) -> Vec<String> {
        let mut scopes = vec![self.write_scope.clone()];
        scopes.extend(self.groups.iter().map(|g| format!("{g}.readwrite")));
        scopes
    }
}

/// Every declared entity.
#[derive(Debug, Clone, Default)]
pub struct SchemaSet {
    entities: BTreeMap<String, Entity>,
}

impl SchemaSet {
    /// An entity by name, case-insensitively.
    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.get(&name.to_ascii_lowercase())
    }

    pub fn entities(&self) -> impl Iterator<Item = &Entity> {
        self.entities.values()
    }

    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// The to-one relations of every entity that point at `target`: (their entity, relation).
    pub fn references_to<'a>(
        &'a self,
        target: &'a str,
    ) -> impl Iterator<Item = (&'a Entity, &'a Relation)> + 'a {
        self.entities().flat_map(move |e| {
            e.relations.iter().filter_map(move |r| {
                let to_one = matches!(r.kind, RelationKind::ToOne { .. });
                (to_one && r.target.eq_ignore_ascii_case(target)).then_some((e, r))
            })
        })
    }

    fn entity_mut(&mut self, name: &str) -> Option<&mut Entity> {
        self.entities.get_mut(&name.to_ascii_lowercase())
    }

    pub(crate) fn insert(&mut self, entity: Entity) {
        self.entities
            .insert(entity.name.to_ascii_lowercase(), entity);
    }
}
