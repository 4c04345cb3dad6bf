//! The OData service's description, from the schemas: the service document (`GET /api/`) and
//! `$metadata` in CSDL XML and CSDL JSON (OData 4.01). Each is drawn for one caller: an entity
//! it may not read, or a property hidden from it, is left out — as the rest of the API never
//! confirms that such a property exists.

use serde_json::{Map, Value, json};

use crate::schema::{OnDelete, Relation, RelationKind};
use crate::{Entity, Property, PropertyType, SchemaSet};

/// The schema namespace of every type.
pub(crate) const NAMESPACE: &str = "keyway";
const CONTAINER: &str = "Container";

const CORE: &str = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1";
const CAPABILITIES: &str =
    "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1";

/// The restrictions of an entity set the caller may not write: (term, property).
const RESTRICTIONS: [(&str, &str); 3] = [
    ("InsertRestrictions", "Insertable"),
    ("UpdateRestrictions", "Updatable"),
    ("DeleteRestrictions", "Deletable"),
];

/// A set without searchable properties says that `$search` does not apply to it.
const SEARCH_RESTRICTION: (&str, &str) = ("SearchRestrictions", "Searchable");

/// Whether `scopes` may write `entity`'s items, and whether they may write `property` of it.
fn may_write(schemas: &SchemaSet, entity: &Entity, scopes: &[&str]) -> bool {
    schemas.entity(&entity.name).is_some_and(|e| {
        e.scopes_to_write()
            .iter()
            .any(|s| scopes.contains(&s.as_str()))
    })
}

/// A property `scopes` may read but not write (every property of an entity they cannot write).
fn read_only(writable: bool, property: &Property, scopes: &[&str]) -> bool {
    !writable || !property.writable_by(scopes)
}

/// The entities `scopes` may read, each with only the properties they may read.
pub(crate) fn readable(schemas: &SchemaSet, scopes: &[&str]) -> Vec<Entity> {
    schemas
        .entities()
        .filter(|e| {
            e.scopes_to_read()
                .iter()
                .any(|s| scopes.contains(&s.as_str()))
        })
        .map(|e| e.readable_by(scopes))
        .collect()
}

/// A value the schema may declare for an enum that CSDL accepts as a member name.
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && text.len() <= 128
}

/// The enum type of `property`, when its values can be member names (else it is a string).
fn enum_type(entity: &Entity, property: &Property) -> Option<String> {
    (property.kind == PropertyType::Enum
        && !property.values.is_empty()
        && property.values.iter().all(|v| is_identifier(v)))
    .then(|| format!("{}_{}", entity.name, property.name))
}

/// The CSDL type of a property.
/// `Edm.Guid`, or `Edm.Int64` for an entity with integer ids.
pub(crate) fn id_edm_type(entity: &Entity) -> &'static str {
    match entity.id_type {
        crate::IdType::Uuid => "Edm.Guid",
        crate::IdType::Integer => "Edm.Int64",
    }
}

fn edm_type(entity: &Entity, property: &Property) -> String {
    if let Some(name) = enum_type(entity, property) {
        return format!("{NAMESPACE}.{name}");
    }
    match property.kind {
        PropertyType::String | PropertyType::Enum => "Edm.String",
        PropertyType::Integer => "Edm.Int64",
        PropertyType::Number => "Edm.Double",
        PropertyType::Boolean => "Edm.Boolean",
        PropertyType::Date => "Edm.Date",
        PropertyType::DateTime => "Edm.DateTimeOffset",
        PropertyType::Uuid => "Edm.Guid",
    }
    .to_string()
}

/// A navigation property as `$metadata` describes it.
struct Navigation<'a> {
    relation: &'a Relation,
    nullable: bool,
    /// The navigation property on the target that is this one's reverse.
    partner: Option<&'a str>,
    /// A to-one relation's key (its referential constraint: key → the target's id).
    key: Option<&'a str>,
    /// A to-many relation's `OnDelete` action: what deleting this item does to those.
    on_delete: Option<&'static str>,
}

/// The navigation properties of `entity` that lead to an entity the caller may read (all
/// in `entities`, the caller's views).
fn navigations<'a>(entity: &'a Entity, entities: &'a [Entity]) -> Vec<Navigation<'a>> {
    let view = |name: &str| entities.iter().find(|e| e.name == name);
    entity
        .relations
        .iter()
        .filter_map(|relation| {
            let target = view(&relation.target)?;
            Some(match &relation.kind {
                RelationKind::ToOne { key, .. } => Navigation {
                    relation,
                    nullable: entity.property(key).is_none_or(|p| !p.required),
                    partner: target
                        .relations
                        .iter()
                        .find(|r| {
                            matches!(&r.kind, RelationKind::ToMany { via, .. } if *via == relation.name)
                                && r.target == entity.name
                        })
                        .map(|r| r.name.as_str()),
                    key: Some(key),
                    on_delete: None,
                },
                RelationKind::ToMany { via, key } => {
                    // Shown only when the caller may read the key that links them.
                    target.property(key)?;
                    let on_delete = match target.relation(via).map(|r| &r.kind) {
                        Some(RelationKind::ToOne { on_delete, .. }) => match on_delete {
                            OnDelete::Cascade => "Cascade",
                            OnDelete::SetNull => "SetNull",
                            OnDelete::Restrict => "None",
                        },
                        _ => "None",
                    };
                    Navigation {
                        relation,
                        nullable: false,
                        partner: target.relation(via).map(|r| r.name.as_str()),
                        key: None,
                        on_delete: Some(on_delete),
                    }
                }
            })
        })
        .collect()
}

fn navigation_type(relation: &Relation) -> String {
    if relation.is_collection() {
        format!("Collection({NAMESPACE}.{})", relation.target)
    } else {
        format!("{NAMESPACE}.{}", relation.target)
    }
}

/// Text for an XML attribute or element.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /api/`: the entity sets `scopes` may read.
pub fn service_document(schemas: &SchemaSet, base_url: &str, scopes: &[&str]) -> Value {
    let sets: Vec<Value> = readable(schemas, scopes)
        .iter()
        .map(|e| json!({ "name": e.name, "kind": "EntitySet", "url": e.name }))
        .collect();
    json!({ "@odata.context": format!("{base_url}/$metadata"), "value": sets })
}

/// `GET /api/$metadata`: CSDL XML.
pub fn metadata_xml(schemas: &SchemaSet, scopes: &[&str]) -> String {
    let entities = readable(schemas, scopes);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.01\">\n",
    );
    for (uri, namespace, alias) in [
        (CORE, "Org.OData.Core.V1", "Core"),
        (CAPABILITIES, "Org.OData.Capabilities.V1", "Capabilities"),
    ] {
        out.push_str(&format!(
            "<edmx:Reference Uri=\"{uri}.xml\"><edmx:Include Namespace=\"{namespace}\" \
             Alias=\"{alias}\"/></edmx:Reference>\n"
        ));
    }
    out.push_str("<edmx:DataServices>\n");
    out.push_str(&format!(
        "<Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"{NAMESPACE}\">\n"
    ));
    for entity in &entities {
        for property in &entity.properties {
            if let Some(name) = enum_type(entity, property) {
                out.push_str(&format!("<EnumType Name=\"{name}\">\n"));
                for (i, value) in property.values.iter().enumerate() {
                    out.push_str(&format!("<Member Name=\"{value}\" Value=\"{i}\"/>\n"));
                }
                out.push_str("</EnumType>\n");
            }
        }
    }
    for entity in &entities {
        out.push_str(&format!(
            "<EntityType Name=\"{}\">\n<Key><PropertyRef Name=\"id\"/></Key>\n\
             <Property Name=\"id\" Type=\"{}\" Nullable=\"false\"/>\n",
            escape(&entity.name),
            id_edm_type(entity)
        ));
        let writable = may_write(schemas, entity, scopes);
        for property in &entity.properties {
            out.push_str(&format!(
                "<Property Name=\"{}\" Type=\"{}\" Nullable=\"{}\"",
                escape(&property.name),
                edm_type(entity, property),
                !property.required
            ));
            if let Some(max) = property.max_length {
                out.push_str(&format!(" MaxLength=\"{max}\""));
            }
            if read_only(writable, property, scopes) {
                out.push_str(
                    "><Annotation Term=\"Core.Permissions\" EnumMember=\"Core.Permission/Read\"/>\
                     </Property>\n",
                );
            } else {
                out.push_str("/>\n");
            }
        }
        for navigation in navigations(entity, &entities) {
            let relation = navigation.relation;
            out.push_str(&format!(
                "<NavigationProperty Name=\"{}\" Type=\"{}\"",
                escape(&relation.name),
                navigation_type(relation)
            ));
            if !relation.is_collection() {
                out.push_str(&format!(" Nullable=\"{}\"", navigation.nullable));
            }
            if let Some(partner) = navigation.partner {
                out.push_str(&format!(" Partner=\"{}\"", escape(partner)));
            }
            out.push_str(">\n");
            if let Some(key) = navigation.key {
                out.push_str(&format!(
                    "<ReferentialConstraint Property=\"{}\" ReferencedProperty=\"id\"/>\n",
                    escape(key)
                ));
            }
            if let Some(action) = navigation.on_delete {
                out.push_str(&format!("<OnDelete Action=\"{action}\"/>\n"));
            }
            out.push_str("</NavigationProperty>\n");
        }
        out.push_str("</EntityType>\n");
    }
    out.push_str(&format!("<EntityContainer Name=\"{CONTAINER}\">\n"));
    for entity in &entities {
        let name = escape(&entity.name);
        out.push_str(&format!(
            "<EntitySet Name=\"{name}\" EntityType=\"{NAMESPACE}.{name}\">\n"
        ));
        for navigation in navigations(entity, &entities) {
            out.push_str(&format!(
                "<NavigationPropertyBinding Path=\"{}\" Target=\"{}\"/>\n",
                escape(&navigation.relation.name),
                escape(&navigation.relation.target)
            ));
        }
        let mut restrictions: Vec<(&str, &str)> = Vec::new();
        if !may_write(schemas, entity, scopes) {
            restrictions.extend(RESTRICTIONS);
        }
        if entity.searchable().is_empty() {
            restrictions.push(SEARCH_RESTRICTION);
        }
        for (term, property) in restrictions {
            out.push_str(&format!(
                "<Annotation Term=\"Capabilities.{term}\"><Record><PropertyValue \
                 Property=\"{property}\" Bool=\"false\"/></Record></Annotation>\n"
            ));
        }
        out.push_str("</EntitySet>\n");
    }
    out.push_str("</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n");
    out
}

/// `GET /api/$metadata?$format=json`: CSDL JSON (absent `$Type` is `Edm.String`, absent
/// `$Nullable` is false).
pub fn metadata_json(schemas: &SchemaSet, scopes: &[&str]) -> Value {
    let entities = readable(schemas, scopes);
    let mut schema = Map::new();
    for entity in &entities {
        for property in &entity.properties {
            if let Some(name) = enum_type(entity, property) {
                let mut members = Map::new();
                members.insert("$Kind".into(), json!("EnumType"));
                for (i, value) in property.values.iter().enumerate() {
                    members.insert(value.clone(), json!(i));
                }
                schema.insert(name, Value::Object(members));
            }
        }
    }
    let mut container = Map::new();
    container.insert("$Kind".into(), json!("EntityContainer"));
    for entity in &entities {
        let mut members = Map::new();
        members.insert("$Kind".into(), json!("EntityType"));
        members.insert("$Key".into(), json!(["id"]));
        members.insert("id".into(), json!({ "$Type": id_edm_type(entity) }));
        let writable = may_write(schemas, entity, scopes);
        for property in &entity.properties {
            let mut member = Map::new();
            let kind = edm_type(entity, property);
            if kind != "Edm.String" {
                member.insert("$Type".into(), json!(kind));
            }
            if !property.required {
                member.insert("$Nullable".into(), json!(true));
            }
            if let Some(max) = property.max_length {
                member.insert("$MaxLength".into(), json!(max));
            }
            if read_only(writable, property, scopes) {
                member.insert("@Core.Permissions".into(), json!("Read"));
            }
            members.insert(property.name.clone(), Value::Object(member));
        }
        let mut bindings = Map::new();
        for navigation in navigations(entity, &entities) {
            let relation = navigation.relation;
            let mut member = Map::new();
            member.insert("$Kind".into(), json!("NavigationProperty"));
            if relation.is_collection() {
                member.insert("$Collection".into(), json!(true));
            } else if navigation.nullable {
                member.insert("$Nullable".into(), json!(true));
            }
            member.insert(
                "$Type".into(),
                json!(format!("{NAMESPACE}.{}", relation.target)),
            );
            if let Some(partner) = navigation.partner {
                member.insert("$Partner".into(), json!(partner));
            }
            if let Some(key) = navigation.key {
                member.insert("$ReferentialConstraint".into(), json!({ key: "id" }));
            }
            if let Some(action) = navigation.on_delete {
                member.insert("$OnDelete".into(), json!(action));
            }
            members.insert(relation.name.clone(), Value::Object(member));
            bindings.insert(relation.name.clone(), json!(relation.target));
        }
        schema.insert(entity.name.clone(), Value::Object(members));
        let mut set = Map::new();
        set.insert("$Collection".into(), json!(true));
        set.insert(
            "$Type".into(),
            json!(format!("{NAMESPACE}.{}", entity.name)),
        );
        if !bindings.is_empty() {
            set.insert("$NavigationPropertyBinding".into(), Value::Object(bindings));
        }
        let mut restrictions: Vec<(&str, &str)> = Vec::new();
        if !writable {
            restrictions.extend(RESTRICTIONS);
        }
        if entity.searchable().is_empty() {
            restrictions.push(SEARCH_RESTRICTION);
        }
        for (term, property) in restrictions {
            set.insert(format!("@Capabilities.{term}"), json!({ property: false }));
        }
        container.insert(entity.name.clone(), Value::Object(set));
    }
    schema.insert(CONTAINER.into(), Value::Object(container));
    let include = |namespace: &str, alias: &str| json!({ "$Include": [{ "$Namespace": namespace, "$Alias": alias }] });
    let mut references = Map::new();
    references.insert(format!("{CORE}.json"), include("Org.OData.Core.V1", "Core"));
    references.insert(
        format!("{CAPABILITIES}.json"),
        include("Org.OData.Capabilities.V1", "Capabilities"),
    );
    json!({
        "$Version": "4.01",
        "$Reference": references,
        "$EntityContainer": format!("{NAMESPACE}.{CONTAINER}"),
        NAMESPACE: schema,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crm() -> SchemaSet {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/crm/schemas.yaml"
        );
        SchemaSet::load(std::path::Path::new(path)).expect("the example schemas")
    }

    #[test]
    fn metadata_names_types_keys_and_hides_what_a_caller_cannot_read() {
        let schemas = crm();
        let xml = metadata_xml(&schemas, &["crm.read"]);
        assert!(xml.contains("<EntityType Name=\"Contact\">"), "{xml}");
        assert!(
            xml.contains("<Key><PropertyRef Name=\"id\"/></Key>"),
            "{xml}"
        );
        assert!(xml.contains(
            "<Property Name=\"firstName\" Type=\"Edm.String\" Nullable=\"false\" MaxLength=\"100\">\
             <Annotation Term=\"Core.Permissions\" EnumMember=\"Core.Permission/Read\"/></Property>"
        ));
        assert!(xml.contains("Type=\"keyway.Contact_status\""), "{xml}");
        assert!(
            xml.contains("<Member Name=\"customer\" Value=\"2\"/>"),
            "{xml}"
        );
        assert!(xml.contains("Name=\"lastContactAt\" Type=\"Edm.DateTimeOffset\""));
        assert!(
            !xml.contains("salary"),
            "a property behind admin.read is not shown"
        );
        let with_admin = metadata_xml(&schemas, &["crm.read", "admin.read"]);
        assert!(with_admin.contains("Name=\"salary\" Type=\"Edm.Double\""));
        // Only Contact for a caller of contact.read.
        let contact_only = metadata_json(&schemas, &["contact.read"]);
        let names: Vec<&String> = contact_only["keyway"]["Container"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(names, ["$Kind", "Contact"]);
        assert_eq!(
            contact_only["keyway"]["Contact"]["firstName"]["$MaxLength"],
            100
        );
        assert_eq!(
            contact_only["keyway"]["Contact"]["score"]["$Type"],
            "Edm.Int64"
        );
        assert_eq!(
            contact_only["keyway"]["Contact"]["score"]["$Nullable"],
            true
        );
        // A reader is told what it may not do: write the set, or any of its properties.
        assert_eq!(
            contact_only["keyway"]["Container"]["Contact"]["@Capabilities.InsertRestrictions"],
            json!({ "Insertable": false })
        );
        assert_eq!(
            contact_only["keyway"]["Contact"]["firstName"]["@Core.Permissions"],
            "Read"
        );
        assert!(xml.contains(
            "<Annotation Term=\"Capabilities.DeleteRestrictions\"><Record><PropertyValue Property=\"Deletable\" Bool=\"false\"/>"
        ));
        assert!(xml.contains("Alias=\"Capabilities\""), "{xml}");
        // A writer is not.
        let writer = metadata_json(&schemas, &["crm.readwrite"]);
        let set = &writer["keyway"]["Container"]["Contact"];
        assert!(
            set.get("@Capabilities.InsertRestrictions").is_none(),
            "{set}"
        );
        let first = &writer["keyway"]["Contact"]["firstName"];
        assert!(first.get("@Core.Permissions").is_none(), "{first}");
        let service = service_document(&schemas, "https://hub/api", &["contact.read"]);
        assert_eq!(
            service["value"],
            json!([{ "name": "Contact", "kind": "EntitySet", "url": "Contact" }])
        );
        assert!(
            metadata_xml(&schemas, &[])
                .contains("<EntityContainer Name=\"Container\">\n</EntityContainer>")
        );
    }
}
