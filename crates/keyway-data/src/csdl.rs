//! The OData service's description, from the schemas: the service document (`GET /api/`) and
//! `$metadata` in CSDL XML and CSDL JSON (OData 4.01). Each is drawn for one caller: an entity
//! it may not read, or a property hidden from it, is left out — as the rest of the API never
//! confirms that such a property exists.

use serde_json::{Map, Value, json};

use crate::{Entity, Property, PropertyType, SchemaSet};

/// The schema namespace of every type.
pub(crate) const NAMESPACE: &str = "keyway";
const CONTAINER: &str = "Container";

/// The entities `scopes` may read, each with only the properties they may read.
fn readable(schemas: &SchemaSet, scopes: &[&str]) -> Vec<Entity> {
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

fn escape(text: &str) -> String {
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
         <edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.01\">\n\
         <edmx:DataServices>\n",
    );
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
             <Property Name=\"id\" Type=\"Edm.Guid\" Nullable=\"false\"/>\n",
            escape(&entity.name)
        ));
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
            out.push_str("/>\n");
        }
        out.push_str("</EntityType>\n");
    }
    out.push_str(&format!("<EntityContainer Name=\"{CONTAINER}\">\n"));
    for entity in &entities {
        out.push_str(&format!(
            "<EntitySet Name=\"{0}\" EntityType=\"{NAMESPACE}.{0}\"/>\n",
            escape(&entity.name)
        ));
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
        members.insert("id".into(), json!({ "$Type": "Edm.Guid" }));
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
            members.insert(property.name.clone(), Value::Object(member));
        }
        schema.insert(entity.name.clone(), Value::Object(members));
        container.insert(
            entity.name.clone(),
            json!({ "$Collection": true, "$Type": format!("{NAMESPACE}.{}", entity.name) }),
        );
    }
    schema.insert(CONTAINER.into(), Value::Object(container));
    json!({
        "$Version": "4.01",
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
            "<Property Name=\"firstName\" Type=\"Edm.String\" Nullable=\"false\" MaxLength=\"100\"/>"
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
