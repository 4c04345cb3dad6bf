//! The OpenAPI 3.1 document of the data API, generated from the schemas: one collection and
//! one item path per entity, the OAuth 2.0 security scheme of the hub, and on every operation
//! the scopes that allow it (any one of them).

use serde_json::{Map, Value, json};

use crate::schema::RelationKind;
use crate::{Entity, Property, PropertyType, SchemaSet};

fn property_schema(p: &Property) -> Value {
    let mut schema = Map::new();
    let (kind, format) = match p.kind {
        PropertyType::String => ("string", p.format.clone()),
        PropertyType::Integer => ("integer", Some("int64".into())),
        PropertyType::Number => ("number", Some("double".into())),
        PropertyType::Boolean => ("boolean", None),
        PropertyType::Date => ("string", Some("date".into())),
        PropertyType::DateTime => ("string", Some("date-time".into())),
        PropertyType::Uuid => ("string", Some("uuid".into())),
        PropertyType::Enum => ("string", None),
    };
    schema.insert(
        "type".into(),
        if p.required {
            json!(kind)
        } else {
            json!([kind, "null"])
        },
    );
    if let Some(format) = format {
        schema.insert("format".into(), json!(format));
    }
    if let Some(max) = p.max_length {
        schema.insert("maxLength".into(), json!(max));
    }
    if let Some(pattern) = &p.pattern {
        schema.insert("pattern".into(), json!(pattern.as_str()));
    }
    if let Some(min) = p.minimum {
        schema.insert("minimum".into(), json!(min));
    }
    if let Some(max) = p.maximum {
        schema.insert("maximum".into(), json!(max));
    }
    if p.kind == PropertyType::Enum {
        let mut values: Vec<Value> = p.values.iter().map(|v| json!(v)).collect();
        if !p.required {
            values.push(Value::Null);
        }
        schema.insert("enum".into(), Value::Array(values));
    }
    if let Some(scope) = &p.read_scope {
        let mut text = format!("Present only for tokens with the {scope} scope.");
        if let Some(write) = &p.write_scope {
            text.push_str(&format!(" Tokens with {write} may also set it."));
        }
        schema.insert("description".into(), json!(text));
    }
    Value::Object(schema)
}

/// `id`'s schema: a UUID the hub makes, or an integer the client may choose on create.
fn id_schema(entity: &Entity) -> Value {
    match entity.id_type {
        crate::IdType::Uuid => json!({ "type": "string", "format": "uuid", "readOnly": true }),
        crate::IdType::Integer => {
            json!({ "type": "integer", "format": "int64", "minimum": 1, "maximum": crate::MAX_INTEGER_ID })
        }
    }
}

fn entity_schema(entity: &Entity) -> Value {
    let mut properties = Map::new();
    properties.insert("id".into(), id_schema(entity));
    for p in &entity.properties {
        properties.insert(p.name.clone(), property_schema(p));
    }
    // Navigation properties: answered only when `$expand` names them (a POST may nest
    // related items: `{Entity}Create`).
    for relation in &entity.relations {
        let target = json!({ "$ref": format!("#/components/schemas/{}", relation.target) });
        let schema = if relation.is_collection() {
            json!({ "type": "array", "items": target, "readOnly": true })
        } else {
            json!({ "oneOf": [target, { "type": "null" }], "readOnly": true })
        };
        properties.insert(relation.name.clone(), schema);
    }
    // An item answered alone carries its context URL (`…/$metadata#Contact/$entity`).
    properties.insert(
        "@odata.context".into(),
        json!({ "type": "string", "readOnly": true }),
    );
    let required: Vec<&str> = entity
        .properties
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name.as_str())
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        // An expanded collection's `contacts@odata.count` and `contacts@odata.nextLink`.
        "patternProperties": {
            "^[A-Za-z][A-Za-z0-9_]*@odata\\.count$": { "type": "integer", "readOnly": true },
            "^[A-Za-z][A-Za-z0-9_]*@odata\\.nextLink$": { "type": "string", "readOnly": true },
        },
        "additionalProperties": false,
    })
}

/// An item's own properties, `without` one (the key a nested item takes from its parent).
fn plain_schema(entity: &Entity, without: Option<&str>) -> Value {
    let kept = |p: &&Property| Some(p.name.as_str()) != without;
    let properties: Map<String, Value> = entity
        .properties
        .iter()
        .filter(kept)
        .map(|p| (p.name.clone(), property_schema(p)))
        .collect();
    let required: Vec<&str> = entity
        .properties
        .iter()
        .filter(kept)
        .filter(|p| p.required)
        .map(|p| p.name.as_str())
        .collect();
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

/// A POST body: the item's properties and, for a deep insert, the related items of its
/// to-many relations to create with it. (One level is described. The hub also takes a new
/// item for a to-one relation in place of its key, and up to three levels: docs/data.md.)
fn create_schema(entity: &Entity, schemas: &SchemaSet) -> Value {
    let mut schema = plain_schema(entity, None);
    if entity.id_type == crate::IdType::Integer {
        // Optional: the hub counts on from the highest id when it is left out.
        let mut id = id_schema(entity);
        if let Some(fields) = id.as_object_mut() {
            fields.remove("readOnly");
        }
        schema["properties"]["id"] = id;
    }
    for relation in &entity.relations {
        let (Some(target), RelationKind::ToMany { key, .. }) =
            (schemas.entity(&relation.target), &relation.kind)
        else {
            continue;
        };
        schema["properties"][&relation.name] =
            json!({ "type": "array", "items": plain_schema(target, Some(key)), "maxItems": 100 });
    }
    schema
}

/// A PATCH body: any subset of the writable properties.
fn patch_schema(entity: &Entity) -> Value {
    let properties: Map<String, Value> = entity
        .properties
        .iter()
        .map(|p| (p.name.clone(), property_schema(p)))
        .collect();
    json!({ "type": "object", "properties": properties, "additionalProperties": false })
}

/// Any one of `scopes` allows the operation (OpenAPI: a list of alternative requirements).
fn security(scopes: &[String]) -> Value {
    Value::Array(scopes.iter().map(|s| json!({ "oauth2": [s] })).collect())
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } },
    })
}

fn operations(entity: &Entity) -> (Value, Value, Value) {
    let name = &entity.name;
    let item_ref = json!({ "$ref": format!("#/components/schemas/{name}") });
    let read = security(&entity.scopes_to_read());
    let write = security(&entity.scopes_to_write());
    // Every status the hub can answer is documented, so clients (and schemathesis) can rely
    // on the list: 400/401/403 everywhere, plus what each operation adds.
    let errors = |ok: (&str, Value), extra: &[&str]| {
        let mut responses = Map::new();
        responses.insert(ok.0.to_string(), ok.1);
        for (code, text) in [
            ("400", "Bad request (malformed option, invalid body)"),
            ("401", "Missing or invalid access token"),
            ("403", "The token lacks a required scope"),
            ("404", "No item with this id"),
            (
                "409",
                "Other items still reference this one, or one it references went away",
            ),
            ("412", "If-Match does not match the item's current ETag"),
            ("413", "The body is larger than 64 KiB"),
            ("415", "The body is not application/json"),
        ] {
            if ["400", "401", "403"].contains(&code) || extra.contains(&code) {
                responses.insert(code.into(), problem(text));
            }
        }
        Value::Object(responses)
    };
    let with_body = ["409", "413", "415"];
    // OpenAPI links: the created item's id feeds the item operations (tools such as
    // schemathesis follow them to test real items, not only 404s).
    let links: Map<String, Value> = ["get", "replace", "update", "delete"]
        .iter()
        .map(|verb| {
            let operation = format!("{verb}{name}");
            let link =
                json!({ "operationId": operation, "parameters": { "id": "$response.body#/id" } });
            (format!("{verb}Created"), link)
        })
        .collect();
    let on_item = ["404", "409", "412", "413", "415"];
    let query_params: Vec<Value> = [
        "filter", "search", "select", "expand", "orderby", "top", "skip", "count", "apply",
    ]
    .iter()
    .map(|p| json!({ "$ref": format!("#/components/parameters/{p}") }))
    .collect();
    let collection = json!({
        "get": {
            "operationId": format!("list{name}"),
            "summary": format!("Search {name}"),
            "parameters": query_params,
            "security": read,
            "responses": errors(("200", json!({
                "description": "A page of results",
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "properties": {
                        "@odata.context": { "type": "string" },
                        "@odata.count": { "type": "integer" },
                        "@odata.nextLink": { "type": "string" },
                        "value": { "type": "array", "items": item_ref.clone() },
                    },
                    "required": ["value"],
                } } },
            })), &[]),
        },
        "post": {
            "operationId": format!("create{name}"),
            "summary": format!("Add a {name}"),
            "security": write,
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}Create") } } } },
            "responses": errors(("201", json!({
                "description": "Created",
                "headers": { "Location": { "schema": { "type": "string" } }, "ETag": { "schema": { "type": "string" } } },
                "content": { "application/json": { "schema": item_ref.clone() } },
                "links": links,
            })), &with_body),
        },
    });
    let mut id_type = id_schema(entity);
    if let Some(schema) = id_type.as_object_mut() {
        schema.remove("readOnly");
    }
    let id_param = json!({ "name": "id", "in": "path", "required": true, "schema": id_type });
    let if_match = json!({ "name": "If-Match", "in": "header", "required": false, "schema": { "type": "string" } });
    let updated = |description: &str| {
        json!({
            "description": description,
            "headers": { "ETag": { "schema": { "type": "string" } } },
            "content": { "application/json": { "schema": item_ref.clone() } },
        })
    };
    let item = json!({
        "parameters": [id_param],
        "get": {
            "operationId": format!("get{name}"),
            "parameters": [
                { "$ref": "#/components/parameters/select" },
                { "$ref": "#/components/parameters/expand" },
            ],
            "security": read,
            "responses": errors(("200", updated("The item")), &["404"]),
        },
        "put": {
            "operationId": format!("replace{name}"),
            "summary": "Replace the item (properties the caller cannot read are kept unless given)",
            "security": write,
            "parameters": [if_match.clone()],
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}Replace") } } } },
            "responses": errors(("200", updated("Replaced")), &on_item),
        },
        "patch": {
            "operationId": format!("update{name}"),
            "summary": "Change the given properties (an empty object changes nothing)",
            "security": write,
            "parameters": [if_match.clone()],
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}Patch") } } } },
            "responses": errors(("200", updated("Updated")), &on_item),
        },
        "delete": {
            "operationId": format!("delete{name}"),
            "security": write,
            "parameters": [if_match],
            "responses": errors(("204", json!({ "description": "Deleted" })), &["404", "409", "412"]),
        },
    });
    let count = json!({
        "get": {
            "operationId": format!("count{name}"),
            "parameters": [
                { "$ref": "#/components/parameters/filter" },
                { "$ref": "#/components/parameters/search" },
            ],
            "security": security(&entity.scopes_to_read()),
            "responses": errors(("200", json!({
                "description": "The number of matching items",
                "content": { "text/plain": { "schema": { "type": "integer" } } },
            })), &[]),
        },
    });
    (collection, item, count)
}

/// The whole document for `schemas`, served by a hub whose issuer is `issuer`.
pub fn openapi_document(schemas: &SchemaSet, issuer: &str, page_size: u32) -> Value {
    let mut paths = Map::new();
    let mut components = Map::new();
    let mut scopes = Map::new();
    for entity in schemas.entities() {
        let (collection, item, count) = operations(entity);
        paths.insert(format!("/{}", entity.name), collection);
        paths.insert(format!("/{}({{id}})", entity.name), item);
        paths.insert(format!("/{}/$count", entity.name), count);
        components.insert(entity.name.clone(), entity_schema(entity));
        components.insert(format!("{}Patch", entity.name), patch_schema(entity));
        components.insert(
            format!("{}Replace", entity.name),
            plain_schema(entity, None),
        );
        components.insert(
            format!("{}Create", entity.name),
            create_schema(entity, schemas),
        );
        for scope in entity.scopes_to_read() {
            scopes.insert(
                scope.clone(),
                json!(format!("Read {} (or more)", entity.name)),
            );
        }
        for scope in entity.scopes_to_write() {
            scopes.insert(scope, json!(format!("Read and write {}", entity.name)));
        }
    }
    components.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "properties": {
                "type": { "type": "string" }, "title": { "type": "string" },
                "status": { "type": "integer" }, "detail": { "type": "string" },
            },
        }),
    );
    let param = |name: &str, description: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema });
    let text = json!({ "type": "string", "minLength": 1 });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "keyway data API", "version": "1" },
        "servers": [{ "url": format!("{issuer}/api") }],
        "paths": paths,
        "components": {
            "schemas": components,
            "parameters": {
                "filter": param("$filter", "OData filter expression (docs/data.md)", text.clone()),
                "apply": param("$apply", "Aggregation: filter(…) steps, then groupby((p,…)[,aggregate(…)]) or aggregate(p with sum|min|max|average|countdistinct as Alias, $count as Alias) (docs/data.md); answers one object per group", text.clone()),
                "search": param("$search", "Full-text search in the searchable properties: words (word* for a prefix), \"phrases\", AND, OR, NOT, parentheses (docs/data.md)", text.clone()),
                "select": param("$select", "Comma-separated properties to return", text.clone()),
                "expand": param("$expand", "Navigation properties to include, each with options in parentheses: organization($select=name), contacts($filter=…;$orderby=…;$top=5;$count=true); at most 3 levels deep", text.clone()),
                "orderby": param("$orderby", "Comma-separated properties, each optionally asc or desc", text),
                "top": param("$top", &format!("How many rows in all; pages hold at most {page_size} (Prefer: odata.maxpagesize lowers it), and @odata.nextLink leads to the next"), json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX })),
                "skip": param("$skip", "Items to skip", json!({ "type": "integer", "minimum": 0 })),
                "count": param("$count", "true to include @odata.count", json!({ "type": "boolean" })),
            },
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": { "tokenUrl": format!("{issuer}/oauth2/token"), "scopes": scopes.clone() },
                        "authorizationCode": {
                            "authorizationUrl": format!("{issuer}/oauth2/authorize"),
                            "tokenUrl": format!("{issuer}/oauth2/token"),
                            "scopes": scopes,
                        },
                    },
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crm_document_snapshot() {
        let schemas = SchemaSet::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/crm/schemas.yaml"
        )))
        .unwrap();
        let doc = openapi_document(&schemas, "https://hub.example.com", 1000);
        insta::assert_json_snapshot!(doc);
        // Every operation names the scopes that allow it.
        let post = &doc["paths"]["/Contact"]["post"]["security"];
        assert_eq!(
            post,
            &json!([{ "oauth2": ["contact.readwrite"] }, { "oauth2": ["crm.readwrite"] }])
        );
        assert!(doc["paths"]["/Organization({id})"]["delete"].is_object());
    }
}
