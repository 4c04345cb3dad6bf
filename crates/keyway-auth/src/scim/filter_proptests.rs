//! Properties of the filter grammar and its SQL: any input is refused or compiled without a
//! panic, and compiled SQL holds no request text (only fixed pieces and `?` placeholders).

use proptest::prelude::*;
use serde_json::Value;

use super::attrs::USER_SCHEMA;
use super::filter::{CompValue, Filter, parse_filter};
use super::filter_sql::{Resource, compile};
use keyway_store::{Backend, DynValue};

const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];

/// The SQL with its fixed quoted pieces taken out: no quote may remain.
fn quotes_left(sql: &str) -> bool {
    let rest = sql
        .replace("ESCAPE '!'", "")
        .replace("<> ''", "")
        .replace("COLLATE \"C\"", "");
    rest.contains('\'') || rest.contains('"') || rest.contains(';') || rest.contains("--")
}

fn check_compiled(filter: &Filter) {
    for resource in [Resource::User, Resource::Group] {
        for backend in BACKENDS {
            if let Ok(w) = compile(resource, backend, Some(filter), None) {
                assert!(!quotes_left(&w.sql), "{}", w.sql);
                assert_eq!(w.sql.matches('?').count(), w.values.len(), "{}", w.sql);
            }
        }
    }
}

fn text_filter() -> impl Strategy<Value = (String, String, String)> {
    let attrs = prop::sample::select(vec![
        "userName",
        "name.givenName",
        "emails.value",
        "externalId",
        "id",
        "groups.display",
    ]);
    let ops = prop::sample::select(vec!["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]);
    (attrs, ops, any::<String>()).prop_map(|(a, o, v)| (a.to_string(), o.to_string(), v))
}

proptest! {
    #[test]
    fn any_text_is_refused_or_compiled_safely(input in any::<String>()) {
        if let Ok(filter) = parse_filter(&input, USER_SCHEMA) {
            check_compiled(&filter);
        }
    }

    #[test]
    fn filter_shaped_text_is_refused_or_compiled_safely(
        parts in prop::collection::vec(
            prop::sample::select(vec!["userName", "eq", "co", "and", "or", "not", "(", ")", "[",
                "]", "\"x\"", "\"'\"", "\"%_!\\\\\"", "emails", "value", "pr", "true", "null",
                "members", "meta.created", "\"2026-01-01T00:00:00Z\"", "gt", "1"]),
            0..24,
        )
    ) {
        if let Ok(filter) = parse_filter(&parts.join(" "), USER_SCHEMA) {
            check_compiled(&filter);
        }
    }

    #[test]
    fn string_values_survive_as_bound_data((attr, op, value) in text_filter()) {
        let literal = Value::String(value.clone()).to_string();
        let filter = parse_filter(&format!("{attr} {op} {literal}"), USER_SCHEMA);
        let filter = match filter {
            Ok(f) => f,
            // Only the length limit may refuse a well-formed comparison.
            Err(_) => { prop_assert!(literal.len() > super::filter::MAX_FILTER_BYTES - 20); return Ok(()); }
        };
        let Filter::Compare { value: CompValue::Str(parsed), .. } = &filter else {
            return Err(TestCaseError::fail("not a comparison"));
        };
        prop_assert_eq!(parsed, &value);
        for backend in BACKENDS {
            let w = compile(Resource::User, backend, Some(&filter), None).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(!quotes_left(&w.sql), "{}", w.sql);
            if op == "eq" {
                prop_assert!(w.values.contains(&DynValue::Text(value.clone())));
            }
        }
    }
}
