//! The discovery documents (RFC 7644 §4, RFC 7643 §5–7): what this server supports, said
//! truthfully, and the schemas built from the same attribute tables the code reads.

use serde_json::{Value, json};

use super::attrs::{
    Attr, GROUP_ATTRS, GROUP_SCHEMA, Kind, Mutability, Returned, USER_ATTRS, USER_SCHEMA,
};

/// Largest page (`count` is capped to it).
pub const MAX_RESULTS: i64 = 200;
/// Largest request body, in bytes (the hub refuses larger ones with 413).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An access token of this hub with the scope scim \
                            (client_credentials grant).",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    })
}

fn resource_type(base: &str, name: &str, endpoint: &str, schema: &str, description: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": name,
        "name": name,
        "endpoint": endpoint,
        "description": description,
        "schema": schema,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}")}
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        resource_type(
            base,
            "User",
            "/Users",
            USER_SCHEMA,
            "People who sign in at the hub",
        ),
        resource_type(base, "Group", "/Groups", GROUP_SCHEMA, "Groups of users"),
    ]
}

fn attribute(a: &Attr) -> Value {
    let kind = match a.kind {
        Kind::String => "string",
        Kind::Boolean => "boolean",
        Kind::Reference => "reference",
        Kind::Complex => "complex",
    };
    let mutability = match a.mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    };
    let returned = match a.returned {
        Returned::Never => "never",
        Returned::Default => "default",
    };
    let mut out = json!({
        "name": a.name,
        "type": kind,
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "mutability": mutability,
        "returned": returned,
    });
    if matches!(a.kind, Kind::String | Kind::Reference) {
        out["caseExact"] = Value::Bool(true);
        out["uniqueness"] = Value::from(if a.unique { "server" } else { "none" });
    }
    if !a.canonical.is_empty() {
        out["canonicalValues"] = json!(a.canonical);
    }
    if !a.reference_types.is_empty() {
        out["referenceTypes"] = json!(a.reference_types);
    }
    if !a.sub.is_empty() {
        out["subAttributes"] = Value::Array(a.sub.iter().map(attribute).collect());
    }
    out
}

fn schema(base: &str, id: &str, name: &str, description: &str, attrs: &[Attr]) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attribute).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")}
    })
}

pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema(base, USER_SCHEMA, "User", "User Account", USER_ATTRS),
        schema(base, GROUP_SCHEMA, "Group", "Group", GROUP_ATTRS),
    ]
}

/// A discovery list as a ListResponse (these endpoints ignore filters, RFC 7644 §4).
pub fn list_response(items: Vec<Value>) -> Value {
    json!({
        "schemas": [super::attrs::LIST_RESPONSE],
        "totalResults": items.len(),
        "itemsPerPage": items.len(),
        "startIndex": 1,
        "Resources": items,
    })
}
