//! `$filter` through navigation properties: the SQL of paths and lambdas, and their errors.

use super::*;
use crate::{SchemaSet, parse_filter};

const SCHEMAS: &str = "entities:
  Org:
    properties:
      name: { type: string }
      parentId: { type: uuid }
    relations:
      parent: { entity: Org, key: parentId }
      children: { entity: Org, via: parent }
      people: { entity: Person, via: org }
  Person:
    properties:
      name: { type: string }
      age: { type: integer }
      status: { type: enum, values: [lead, customer] }
      orgId: { type: uuid }
    relations:
      org: { entity: Org, key: orgId }
";

fn compile(entity: &str, filter: &str, dialect: Dialect) -> Result<SqlFragment, FilterError> {
    let schemas = SchemaSet::parse(SCHEMAS, true, "t").unwrap();
    let entity = schemas.entity(entity).unwrap().clone();
    let reach = |name: &str| schemas.entity(name).cloned();
    compile_filter_reaching(&parse_filter(filter)?, &entity, dialect, &reach)
}

fn error(entity: &str, filter: &str) -> String {
    compile(entity, filter, Dialect::Sqlite)
        .unwrap_err()
        .to_string()
}

#[test]
fn lambdas_are_correlated_exists_subqueries() {
    let f = compile("Org", "people/any(p: p/age gt 30)", Dialect::Sqlite).unwrap();
    assert_eq!(
        f.sql,
        "(EXISTS (SELECT 1 FROM \"data_person\" AS kw_l0 WHERE kw_l0.\"orgId\" = \
         \"data_org\".\"id\" AND ((kw_l0.\"age\" > ?))))"
    );
    assert_eq!(f.values, [SqlValue::Int(30)]);
    let f = compile("Org", "people/any()", Dialect::Mysql).unwrap();
    assert_eq!(
        f.sql,
        "(EXISTS (SELECT 1 FROM `data_person` AS kw_l0 WHERE kw_l0.`orgId` = `data_org`.`id`))"
    );
    // all: no item for which the condition fails (or is unknown).
    let f = compile(
        "Org",
        "people/all(p: p/status eq 'lead')",
        Dialect::Postgres,
    )
    .unwrap();
    assert_eq!(
        f.sql,
        "(NOT EXISTS (SELECT 1 FROM \"data_person\" AS kw_l0 WHERE kw_l0.\"orgId\" = \
         \"data_org\".\"id\" AND NOT COALESCE(((kw_l0.\"status\" = ?)), FALSE)))"
    );
    // Unprefixed names inside a lambda are the filtered entity's ($it), qualified so the
    // subquery's own columns of the same name cannot capture them.
    let f = compile("Org", "children/any(c: c/name eq name)", Dialect::Sqlite).unwrap();
    assert!(
        f.sql.contains("(kw_l0.\"name\" = \"data_org\".\"name\")"),
        "{}",
        f.sql
    );
    let g = compile(
        "Org",
        "children/any(c: c/name eq $it/name)",
        Dialect::Sqlite,
    )
    .unwrap();
    assert_eq!(f, g);
    // Nested, with the outer variable inside.
    let f = compile(
        "Org",
        "children/any(c: c/people/any(p: p/name eq c/name and p/age lt 3))",
        Dialect::Sqlite,
    )
    .unwrap();
    assert!(
        f.sql.contains("kw_l1.\"orgId\" = kw_l0.\"id\"")
            && f.sql.contains("(kw_l1.\"name\" = kw_l0.\"name\")"),
        "{}",
        f.sql
    );
}

#[test]
fn to_one_paths_are_scalar_subqueries_by_primary_key() {
    let f = compile("Person", "org/name eq 'Acme'", Dialect::Sqlite).unwrap();
    assert_eq!(
        f.sql,
        "((SELECT kw_l0.\"name\" FROM \"data_org\" AS kw_l0 WHERE kw_l0.\"id\" = \
         \"data_person\".\"orgId\") = ?)"
    );
    let f = compile("Person", "org/parent/name eq null", Dialect::Postgres).unwrap();
    assert!(
        f.sql.contains("kw_l1.\"id\" = (SELECT kw_l0.\"parentId\""),
        "{}",
        f.sql
    );
    // Functions and in-lists take paths too; a path's own columns stay unbound.
    let f = compile("Person", "tolower(org/name) in ('a', 'b')", Dialect::Mysql).unwrap();
    assert_eq!(f.values.len(), 2);
    // An enum reached through a path is typed by the entity that declares it.
    let f = compile(
        "Org",
        "people/any(p: p/status eq keyway.Person_status'customer')",
        Dialect::Sqlite,
    )
    .unwrap();
    assert_eq!(f.values, [SqlValue::Text("customer".into())]);
    // No path: no qualification, the SQL the rest of keyway has always seen.
    let f = compile("Person", "name eq 'x'", Dialect::Sqlite).unwrap();
    assert_eq!(f.sql, "(\"name\" = ?)");
}

#[test]
fn navigation_errors_name_what_is_wrong() {
    assert_eq!(
        error("Org", "people/any(p: p/nope eq 1)"),
        "$filter: Person has no property \"nope\" at position 15"
    );
    assert_eq!(
        error("Org", "staff/any(p: p/age eq 1)"),
        "$filter: Org has no navigation property \"staff\" at position 1"
    );
    assert!(
        error("Person", "name/any(p: p/age eq 1)")
            .contains("(name is a property, not a navigation property)")
    );
    assert!(
        error("Person", "org/any(o: o/name eq 'x')")
            .contains("org is a single Org: any applies to collections")
    );
    assert!(
        error("Org", "people/name eq 'x'")
            .contains("people is a collection of Person: write people/any(x: x/…)")
    );
    assert!(
        error("Org", "people/any(p: p eq 1)").contains("p is a lambda variable: write p/property")
    );
    assert!(
        error("Org", "people/any(p: p/age eq 'x')")
            .contains("p/age is integer; 'x' is not an integer value")
    );
    assert!(error("Person", "org eq 1").contains("org is a navigation property"));
    assert!(error("Org", "people/all()").contains("all() needs a condition"));
    assert!(
        error("Org", "people/any(p: people/any(p: p/age eq 1))")
            .contains("p already names the variable")
    );
    let deep =
        "children/any(a: a/children/any(b: b/children/any(c: c/children/any(d: d/name eq 'x'))))";
    assert!(
        error("Org", deep).contains("any/all nest deeper than 3 levels"),
        "{}",
        error("Org", deep)
    );
    let many = vec!["people/any()"; 17].join(" or ");
    assert!(error("Org", &many).contains("more than 16 navigation properties"));
    assert!(error("Org", "a/b/c/d/e eq 1").contains("a path has at most 4 names"));
    // Nested lambdas go down from the innermost variable: reaching back up would read the
    // rows once per pair of items.
    for upward in [
        "people/all(p: p/org/people/any(q: q/age gt p/age))",
        "children/any(c: $it/people/any(q: q/age gt 1))",
        "children/any(c: children/any(d: d/name eq c/name))",
        "children/any(c: c/children/any(d: c/people/any(q: q/age eq 1)))",
        "parent/children/all(c: c/name ne name)",
    ] {
        let refused = error("Org", upward);
        assert!(
            refused.contains("a lambda ranges over")
                || refused.contains("not through a to-one step"),
            "{upward}: {refused}"
        );
    }
    // Not even at the top: from a Person, its org's people would be read once per person.
    assert!(error("Person", "org/people/any(p: p/age gt 1)").contains("not through a to-one step"));
    // An in-list over a path reads the path once.
    let f = compile("Person", "org/name in ('a', 'b', null)", Dialect::Sqlite).unwrap();
    assert_eq!(f.sql.matches("SELECT").count(), 2, "{}", f.sql);
    assert!(
        f.sql.contains(" IN (?, ?)") && f.sql.contains("IS NULL"),
        "{}",
        f.sql
    );
    let many: Vec<String> = (0..40).map(|i| format!("'n{i}'")).collect();
    assert!(
        compile(
            "Person",
            &format!("org/name in ({})", many.join(",")),
            Dialect::Postgres
        )
        .is_ok()
    );
    // The hint names a navigation property only to a caller who may follow it.
    let schemas = SchemaSet::parse(SCHEMAS, true, "t").unwrap();
    let person = schemas.entity("Person").unwrap();
    let expr = parse_filter("org eq 1").unwrap();
    let blind = compile_filter(&expr, person, Dialect::Sqlite)
        .unwrap_err()
        .to_string();
    assert!(!blind.contains("navigation"), "{blind}");
    // Without a way to reach other entities, navigation properties lead nowhere.
    let schemas = SchemaSet::parse(SCHEMAS, true, "t").unwrap();
    let org = schemas.entity("Org").unwrap();
    let expr = parse_filter("people/any()").unwrap();
    assert!(compile_filter(&expr, org, Dialect::Sqlite).is_err());
}
