//! The data API's OData `$filter` parser and SQL compiler on arbitrary text.
#![no_main]

use std::sync::OnceLock;

use keyway_data::{Dialect, SchemaSet, compile_filter, parse_filter};
use libfuzzer_sys::fuzz_target;

/// An entity with one property of every type, so every literal kind meets every column kind.
const SCHEMA: &str = "entities:
  Thing:
    properties:
      s: { type: string, filterable: true }
      i: { type: integer }
      n: { type: number }
      b: { type: boolean }
      d: { type: date }
      t: { type: date-time }
      u: { type: uuid }
      e: { type: enum, values: [a, b] }
";

fn schemas() -> &'static SchemaSet {
    static SET: OnceLock<SchemaSet> = OnceLock::new();
    SET.get_or_init(|| SchemaSet::parse(SCHEMA, true, "fuzz.yaml").expect("the fuzz schema is valid"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let expr = match parse_filter(text) {
        Ok(expr) => expr,
        Err(err) => {
            // Positions are 1-based characters, at most one past the end.
            assert!(err.position >= 1 && err.position <= text.chars().count() + 1, "{err:?} for {text:?}");
            return;
        }
    };
    // What parses prints back to text that parses to the same tree (positions aside: they
    // are where the text stood).
    let printed = expr.to_string();
    assert_eq!(
        parse_filter(&printed).map(|e| e.without_positions()),
        Ok(expr.without_positions()),
        "{text:?} printed as {printed:?}"
    );
    let entity = schemas().entity("Thing").expect("declared");
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        let compiled = compile_filter(&expr, entity, dialect);
        if let Err(err) = &compiled {
            // Type errors point into the text as well.
            assert!(err.position >= 1 && err.position <= text.chars().count(), "{err:?} for {text:?}");
        }
        if let Ok(fragment) = compiled {
            // Every value is bound, none pasted: one placeholder per value, and no literal
            // text of the input reaches the SQL outside quoted identifiers.
            assert_eq!(fragment.sql.matches('?').count(), fragment.values.len(), "{text:?} → {}", fragment.sql);
            assert!(!fragment.sql.replace("''", "").contains('\''), "{text:?} → {}", fragment.sql);
        }
    }
});
