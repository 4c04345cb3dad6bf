//! Relations between entities (OData navigation properties): a to-one relation is a key
//! property of this entity holding another entity's id (a foreign key with an index and a
//! declared `ON DELETE`); a to-many relation is the reverse of some to-one relation.
//!
//! ```yaml
//! Contact:
//!   properties: { organizationId: { type: uuid } }
//!   relations: { organization: { entity: Organization, key: organizationId } }
//! Organization:
//!   relations: { contacts: { entity: Contact, via: organization } }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::load::{err, valid_name};
use super::{PropertyType, SchemaError, SchemaSet};

/// What deleting a target does to the items that reference it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// The delete is refused while references remain (the default).
    Restrict,
    /// The referencing items are deleted too.
    Cascade,
    /// The referencing items' key becomes null.
    SetNull,
}

impl OnDelete {
    fn parse(text: &str) -> Option<OnDelete> {
        Some(match text {
            "restrict" => OnDelete::Restrict,
            "cascade" => OnDelete::Cascade,
            "setNull" => OnDelete::SetNull,
            _ => return None,
        })
    }

    /// The schema's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            OnDelete::Restrict => "restrict",
            OnDelete::Cascade => "cascade",
            OnDelete::SetNull => "setNull",
        }
    }

    /// The SQL referential action.
    pub fn sql(self) -> &'static str {
        match self {
            OnDelete::Restrict => "RESTRICT",
            OnDelete::Cascade => "CASCADE",
            OnDelete::SetNull => "SET NULL",
        }
    }
}

/// A navigation property.
#[derive(Debug, Clone)]
pub struct Relation {
    pub name: String,
    /// The canonical name of the entity it leads to.
    pub target: String,
    pub kind: RelationKind,
}

#[derive(Debug, Clone)]
pub enum RelationKind {
    /// Many-to-one: this entity's `key` property holds the target's id.
    ToOne { key: String, on_delete: OnDelete },
    /// One-to-many: the target's to-one relation `via`, through the target's property `key`,
    /// points here.
    ToMany { via: String, key: String },
}

impl Relation {
    pub fn is_collection(&self) -> bool {
        matches!(self.kind, RelationKind::ToMany { .. })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawRelation {
    entity: String,
    key: Option<String>,
    via: Option<String>,
    on_delete: Option<String>,
}

/// Adds each entity's declared relations (entity name → its relations), checking every name
/// against the whole set: targets exist, keys are uuid properties, a `via` is a to-one
/// relation that points back.
pub(super) fn resolve(
    set: &mut SchemaSet,
    raw: BTreeMap<String, BTreeMap<String, RawRelation>>,
) -> Result<(), SchemaError> {
    // To-one relations first: a to-many one names its partner among them.
    let mut to_many = Vec::new();
    for (entity_name, relations) in raw {
        for (name, relation) in relations {
            let at = format!("{entity_name}.relations.{name}");
            check_name(set, &entity_name, &name, &at)?;
            let target = set
                .entity(&relation.entity)
                .map(|e| e.name.clone())
                .ok_or_else(|| {
                    err(
                        format!("{at}.entity"),
                        format!("no entity {:?} is declared", relation.entity),
                    )
                })?;
            match (relation.key, relation.via) {
                (Some(key), None) => {
                    let on_delete = match relation.on_delete.as_deref() {
                        None => OnDelete::Restrict,
                        Some(text) => OnDelete::parse(text).ok_or_else(|| {
                            err(
                                format!("{at}.onDelete"),
                                format!("{text:?}: use restrict, cascade or setNull"),
                            )
                        })?,
                    };
                    let id_kind = set
                        .entity(&target)
                        .map_or(PropertyType::Uuid, |t| t.id_kind());
                    let kind = to_one(set, &entity_name, &key, (on_delete, id_kind), &at)?;
                    push(set, &entity_name, Relation { name, target, kind });
                }
                (None, Some(via)) => {
                    if relation.on_delete.is_some() {
                        return Err(err(
                            format!("{at}.onDelete"),
                            "onDelete belongs on the to-one relation this one is the reverse of",
                        ));
                    }
                    to_many.push((entity_name.clone(), name, target, via, at));
                }
                _ => {
                    return Err(err(
                        at,
                        "give either key (this entity's uuid property holding the target's id) \
                         or via (the target's relation that points here)",
                    ));
                }
            }
        }
    }
    for (entity_name, name, target, via, at) in to_many {
        let partner = set
            .entity(&target)
            .and_then(|t| t.relation(&via))
            .cloned()
            .ok_or_else(|| {
                err(
                    format!("{at}.via"),
                    format!("{target} has no relation {via:?}"),
                )
            })?;
        let RelationKind::ToOne { key, .. } = partner.kind else {
            return Err(err(
                format!("{at}.via"),
                format!(
                    "{target}.{} is not a to-one relation (it has no key)",
                    partner.name
                ),
            ));
        };
        if !partner.target.eq_ignore_ascii_case(&entity_name) {
            return Err(err(
                format!("{at}.via"),
                format!(
                    "{target}.{} leads to {}, not to {entity_name}",
                    partner.name, partner.target
                ),
            ));
        }
        let via = partner.name;
        push(
            set,
            &entity_name,
            Relation {
                name,
                target,
                kind: RelationKind::ToMany { via, key },
            },
        );
    }
    Ok(())
}

fn check_name(set: &SchemaSet, entity_name: &str, name: &str, at: &str) -> Result<(), SchemaError> {
    if !valid_name(name) || name.eq_ignore_ascii_case("id") {
        return Err(err(
            at.to_string(),
            "relation names are letters, digits and _ (starting with a letter), not id",
        ));
    }
    let entity = set.entity(entity_name);
    if entity.is_some_and(|e| e.property(name).is_some() || e.relation(name).is_some()) {
        return Err(err(
            at.to_string(),
            "a property or another relation has the same name (in some case)",
        ));
    }
    Ok(())
}

/// Checks a to-one relation's key and makes it indexed (it is joined and checked on).
/// `target` is how the relation ends: its `onDelete` and the type of the target's id.
fn to_one(
    set: &mut SchemaSet,
    entity_name: &str,
    key: &str,
    target: (OnDelete, PropertyType),
    at: &str,
) -> Result<RelationKind, SchemaError> {
    let (on_delete, id_kind) = target;
    let Some(entity) = set.entity_mut(entity_name) else {
        return Err(err(at.to_string(), "no such entity"));
    };
    let taken = entity.relations.iter().any(
        |r| matches!(&r.kind, RelationKind::ToOne { key: k, .. } if k.eq_ignore_ascii_case(key)),
    );
    let Some(property) = entity
        .properties
        .iter_mut()
        .find(|p| p.name.eq_ignore_ascii_case(key))
    else {
        return Err(err(
            format!("{at}.key"),
            format!(
                "{entity_name} has no property {key:?} (declare it with type: {})",
                id_kind.as_str()
            ),
        ));
    };
    if property.kind != id_kind {
        return Err(err(
            format!("{at}.key"),
            format!(
                "{key} must have type {} (it holds the target's id)",
                id_kind.as_str()
            ),
        ));
    }
    if taken {
        return Err(err(
            format!("{at}.key"),
            format!("{key} is already the key of another relation"),
        ));
    }
    if on_delete == OnDelete::SetNull && property.required {
        return Err(err(
            format!("{at}.onDelete"),
            format!("setNull needs {key} to be optional (it is required)"),
        ));
    }
    property.filterable = true;
    Ok(RelationKind::ToOne {
        key: property.name.clone(),
        on_delete,
    })
}

fn push(set: &mut SchemaSet, entity_name: &str, relation: Relation) {
    if let Some(entity) = set.entity_mut(entity_name) {
        entity.relations.push(relation);
    }
}
