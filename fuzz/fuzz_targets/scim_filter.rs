//! The SCIM filter parser and SQL compiler, and PATCH application, on arbitrary text
//! (keyway_auth::scim; docs/scim.md).
#![no_main]

use keyway_auth::scim::{
    GROUP_SCHEMA, Resource, USER_SCHEMA, compile, parse_filter, patch_group_json, patch_user_json,
};
use keyway_store::Backend;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (resource, urn) in [
        (Resource::User, USER_SCHEMA),
        (Resource::Group, GROUP_SCHEMA),
    ] {
        let Ok(filter) = parse_filter(text, urn) else {
            continue;
        };
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
            if let Ok(sql) = compile(resource, backend, Some(&filter), None) {
                // One bound value per placeholder; no request text in the SQL.
                assert_eq!(
                    sql.sql.matches('?').count(),
                    sql.values.len(),
                    "{}",
                    sql.sql
                );
                let fixed = sql
                    .sql
                    .replace("ESCAPE '!'", "")
                    .replace("<> ''", "")
                    .replace("COLLATE \"C\"", "");
                assert!(!fixed.contains('\'') && !fixed.contains('"'), "{}", sql.sql);
            }
        }
    }
    // The same text as a PATCH path, on a user and a group with a bit of everything: any
    // outcome but a panic is fine.
    let user = serde_json::json!({"schemas": [USER_SCHEMA], "id": "u1", "userName": "ada",
        "name": {"givenName": "Ada"}, "emails": [{"value": "a@x.example", "type": "work"}]});
    let group = serde_json::json!({"schemas": [GROUP_SCHEMA], "id": "g1", "displayName": "ops",
        "members": [{"value": "u1", "display": "ada"}]});
    for op in ["add", "replace", "remove"] {
        let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": op, "path": text, "value": "x"}]});
        for (start, patch) in [
            (&user, patch_user_json as fn(&mut _, &_) -> _),
            (&group, patch_group_json),
        ] {
            if let Some(mut resource) = start.as_object().cloned() {
                let _ = patch(&mut resource, &body);
            }
        }
    }
});
