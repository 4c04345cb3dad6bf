//! The `$filter` compiler's tests: SQL per dialect, bound values, type errors.

use super::*;
use crate::{SchemaSet, parse_filter};

fn contact() -> Entity {
    let text = "entities:\n  Contact:\n    properties:\n      name: { type: string }\n      age: { type: integer }\n      score: { type: number }\n      vip: { type: boolean }\n      status: { type: enum, values: [lead, customer] }\n      born: { type: date }\n      seen: { type: date-time }\n      org: { type: uuid }\n";
    SchemaSet::parse(text, true, "t")
        .unwrap()
        .entity("contact")
        .unwrap()
        .clone()
}

fn sql(filter: &str, dialect: Dialect) -> Result<SqlFragment, FilterError> {
    compile_filter(&parse_filter(filter)?, &contact(), dialect)
}

#[test]
fn arithmetic_indexof_and_has_compile_with_their_values_in_order() {
    let f = sql("age add 5 mul 2 gt 10", Dialect::Sqlite).unwrap();
    assert_eq!(f.sql, "((\"age\" + (? * ?)) > ?)");
    assert_eq!(
        f.values,
        [SqlValue::Int(5), SqlValue::Int(2), SqlValue::Int(10)]
    );
    let f = sql("age div 2 ne 3", Dialect::Mysql).unwrap();
    assert_eq!(f.sql, "((`age` DIV ?) <> ? OR (`age` DIV ?) IS NULL)");
    assert_eq!(
        f.values,
        [SqlValue::Int(2), SqlValue::Int(3), SqlValue::Int(2)]
    );
    let f = sql("score div age le 1.5", Dialect::Postgres).unwrap();
    assert_eq!(
        f.sql,
        "((CAST(\"score\" AS DOUBLE PRECISION) / \"age\") <= ?)"
    );
    let f = sql("age mod 7 eq 0", Dialect::Postgres).unwrap();
    assert_eq!(f.sql, "((\"age\" % ?) = ?)");
    let f = sql("indexof(name,'nn') eq 1", Dialect::Sqlite).unwrap();
    assert_eq!(f.sql, "((instr(\"name\", ?) - 1) = ?)");
    assert_eq!(f.values, [SqlValue::Text("nn".into()), SqlValue::Int(1)]);
    let f = sql("indexof(name,'x') ge 0", Dialect::Mysql).unwrap();
    assert_eq!(f.sql, "((LOCATE(?, `name`) - 1) >= ?)");
    let f = sql("status has keyway.Contact_status'lead'", Dialect::Postgres).unwrap();
    assert_eq!(f.sql, "(\"status\" = ?)");
    assert_eq!(f.values, [SqlValue::Text("lead".into())]);
    let f = sql("status eq keyway.Contact_status'customer'", Dialect::Sqlite).unwrap();
    assert_eq!(f.values, [SqlValue::Text("customer".into())]);
    let error = |filter: &str| sql(filter, Dialect::Sqlite).unwrap_err().to_string();
    assert!(error("name add 1 eq 2").contains("arithmetic needs numbers; name is string"));
    assert!(error("score mod 2 eq 0").contains("mod applies to integers"));
    assert!(error("status has 'lead'").contains("has compares an enum property"));
    assert!(error("age has keyway.Contact_status'lead'").contains("has compares an enum property"));
    assert!(error("status has keyway.Other'lead'").contains("written keyway.Contact_status'…'"));
    assert!(error("status has keyway.Contact_status'nope'").contains("not one of status's values"));
    assert!(error("indexof(age,'1') eq 0").contains("indexof() applies to string properties"));
    assert!(error("age add 1 eq 'x'").contains("is a number; 'x' is not"));
    assert!(error("indexof(name, 1) eq 0").contains("a text value in indexof"));
    assert!(error(&format!("age{} eq 1", " add 1".repeat(40))).contains("more than 32 arithmetic"));
    let many = (0..100)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let chain = " add 1".repeat(20);
    assert!(error(&format!("age{chain} in ({many})")).contains("at most 1000"));
}

#[test]
fn functions_of_a_property_compile_per_dialect_and_are_type_checked() {
    let f = sql(
        "tolower(name) eq 'ada' and length(name) gt 2 and year(born) ge 1990",
        Dialect::Mysql,
    )
    .unwrap();
    assert_eq!(
        f.sql,
        "(((LOWER(`name`) = ?) AND (CHAR_LENGTH(`name`) > ?)) AND (CAST(SUBSTR(`born`, 1, 4) AS SIGNED) >= ?))"
    );
    assert_eq!(
        f.values,
        vec![
            SqlValue::Text("ada".into()),
            SqlValue::Int(2),
            SqlValue::Int(1990)
        ]
    );
    let f = sql(
        "month(seen) eq 12 and toupper(status) eq 'LEAD'",
        Dialect::Postgres,
    )
    .unwrap();
    assert_eq!(
        f.sql,
        "((CAST(SUBSTR(\"seen\", 6, 2) AS INTEGER) = ?) AND (UPPER(\"status\") = ?))"
    );
    // An upper-cased enum is text: no check against the enum's values.
    assert_eq!(f.values[1], SqlValue::Text("LEAD".into()));
    let f = sql("contains(tolower(name), 'ov')", Dialect::Sqlite).unwrap();
    assert_eq!(f.sql, "(instr(LOWER(\"name\"), ?) > 0)");
    // Wrong argument types and wrong value types are named, with their position.
    let err = sql("year(name) eq 2000", Dialect::Sqlite).unwrap_err();
    assert_eq!(err.position, 1);
    assert!(
        err.to_string()
            .contains("year() applies to date or date-time properties; name is string"),
        "{err}"
    );
    let err = sql("length(name) eq 'long'", Dialect::Sqlite).unwrap_err();
    assert!(err.to_string().contains("length(name) is integer"), "{err}");
    assert!(parse_filter("tolower('x') eq 'x'").is_err());
    assert!(parse_filter("tolower(name eq 'x'").is_err());
}

#[test]
fn in_lists_compile_to_equalities_with_the_same_checks() {
    let f = sql(
        "status in ('lead','customer') and age in (1, 2)",
        Dialect::Postgres,
    )
    .unwrap();
    assert_eq!(
        f.sql,
        "(((\"status\" = ?) OR (\"status\" = ?)) AND ((\"age\" = ?) OR (\"age\" = ?)))"
    );
    assert_eq!(
        f.values,
        vec![
            SqlValue::Text("lead".into()),
            SqlValue::Text("customer".into()),
            SqlValue::Int(1),
            SqlValue::Int(2)
        ]
    );
    // Each value is checked against the property, and the error points at it.
    let err = sql("age in (1, 'two')", Dialect::Sqlite).unwrap_err();
    assert_eq!(err.position, 12, "{err}");
    let err = sql("status in ('lead', 'boss')", Dialect::Sqlite).unwrap_err();
    assert!(err.to_string().contains("boss"), "{err}");
    // Values only, one to a hundred of them.
    assert!(parse_filter("age in ()").is_err());
    assert!(parse_filter("age in (name)").is_err());
    let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let err = parse_filter(&format!("age in ({})", many.join(","))).unwrap_err();
    assert!(err.to_string().contains("more than 100 values"), "{err}");
    // A property is not named `in`.
    assert!(parse_filter("in eq 1").is_err());
}

#[test]
fn compiles_to_placeholders_only() {
    let f = sql(
        "Name eq 'x''; DROP TABLE contact; --' and age ge 18 or not (vip eq true)",
        Dialect::Sqlite,
    )
    .unwrap();
    assert_eq!(
        f.sql,
        "(((\"name\" = ?) AND (\"age\" >= ?)) OR (NOT COALESCE((\"vip\" = ?), FALSE)))"
    );
    assert_eq!(
        f.values,
        vec![
            SqlValue::Text("x'; DROP TABLE contact; --".into()),
            SqlValue::Int(18),
            SqlValue::Int(1)
        ]
    );
    let f = sql(
        "18 lt age and status ne 'lead' and name eq null",
        Dialect::Mysql,
    )
    .unwrap();
    assert_eq!(
        f.sql,
        "(((`age` > ?) AND (`status` <> ? OR `status` IS NULL)) AND (`name` IS NULL))"
    );
    let f = sql("endswith(name,'son')", Dialect::Postgres).unwrap();
    assert_eq!(f.sql, "(right(\"name\", char_length(?)) = ?)");
    assert_eq!(f.values.len(), 2);
}

#[test]
fn typed_literals() {
    let f = sql("seen gt 2024-05-01T10:00:00+02:00 and born eq 2000-02-29 and org eq 01234567-89AB-cdef-0123-456789abcdef and score lt 3", Dialect::Sqlite).unwrap();
    assert_eq!(
        f.values[0],
        SqlValue::Text("2024-05-01T08:00:00.000Z".into())
    );
    assert_eq!(
        f.values[2],
        SqlValue::Text("01234567-89ab-cdef-0123-456789abcdef".into())
    );
    assert_eq!(f.values[3], SqlValue::Float(3.0));
}

#[test]
fn type_errors_are_clear() {
    let msg = |f: &str| sql(f, Dialect::Sqlite).unwrap_err().message;
    assert!(msg("nope eq 1").contains("no property \"nope\""));
    assert!(msg("age eq 'x'").contains("age is integer"));
    assert!(msg("status eq 'vip'").contains("not one of"));
    assert!(msg("vip gt true").contains("only eq and ne"));
    assert!(msg("age gt null").contains("null"));
    assert!(msg("contains(age,'1')").contains("string properties"));
    assert!(msg("1 eq 1").contains("at least one property"));
    assert!(msg("name eq age").contains("cannot compare"));
}

#[test]
fn type_errors_point_at_their_token() {
    let error = |f: &str| sql(f, Dialect::Sqlite).unwrap_err();
    let text = |f: &str| error(f).to_string();
    // The report of the first-hour trial: an unquoted value was "position 0".
    assert_eq!(
        text("status eq lead"),
        "$filter: Contact has no property \"lead\" at position 11 (a text value needs quotes: 'lead')"
    );
    assert_eq!(
        text("lead eq status"),
        "$filter: Contact has no property \"lead\" at position 1 (a text value needs quotes: 'lead')"
    );
    assert_eq!(
        text("age gt 1 and nope eq 1"),
        "$filter: Contact has no property \"nope\" at position 14"
    );
    assert_eq!(
        text("vip eq True"),
        "$filter: Contact has no property \"True\" at position 8 (true is written in lowercase)"
    );
    assert_eq!(
        text("age eq 'x'"),
        "$filter: age is integer; 'x' is not an integer value at position 8"
    );
    assert_eq!(
        text("age eq '42'"),
        "$filter: age is integer; '42' is not an integer value at position 8 (integer values are written without quotes: 42)"
    );
    assert_eq!(
        text("born lt '2000-01-01'"),
        "$filter: born is date; '2000-01-01' is not a date value at position 9 (date values are written without quotes: 2000-01-01)"
    );
    assert_eq!(
        text("name eq 42"),
        "$filter: name is string; 42 is not a string value at position 9 (a text value needs quotes: '42')"
    );
    assert_eq!(
        text("not (status eq 'vip')"),
        "$filter: \"vip\" is not one of status's values (lead, customer) at position 16"
    );
    assert_eq!(
        text("vip gt true"),
        "$filter: vip is boolean: only eq and ne apply at position 5"
    );
    assert_eq!(
        text("age  ge null"),
        "$filter: null can only be compared with eq or ne (age) at position 6"
    );
    assert_eq!(
        text("name eq age"),
        "$filter: cannot compare name (string) with age (integer) at position 9"
    );
    assert_eq!(
        text("1 eq 1"),
        "$filter: a comparison needs at least one property, found 1 and 1 at position 1"
    );
    assert_eq!(
        text("age eq 1 or contains(age,'1')"),
        "$filter: contains() applies to string properties; age is integer at position 22"
    );
    assert_eq!(
        text("startswith(name, Ann)"),
        "$filter: startswith() needs a text value as its second argument, found Ann at position 18 (a text value needs quotes: 'Ann')"
    );
    assert_eq!(
        text("endswith('x','y')"),
        "$filter: endswith() needs a property as its first argument, found 'x' at position 10"
    );
    // Characters, not bytes: 'Zoë' is 3 characters and 4 bytes.
    assert_eq!(error("name eq 'Zoë' and nope eq 1").position, 19);
}

#[test]
fn datetime_normalisation() {
    assert_eq!(
        normalize_datetime("2024-01-01T00:30:00+01:00").as_deref(),
        Some("2023-12-31T23:30:00.000Z")
    );
    assert_eq!(
        normalize_datetime("2024-02-29T12:00Z").as_deref(),
        Some("2024-02-29T12:00:00.000Z")
    );
    assert_eq!(
        normalize_datetime("2024-02-29T12:00:01.5Z").as_deref(),
        Some("2024-02-29T12:00:01.500Z")
    );
    assert_eq!(normalize_datetime("2024-13-01T00:00Z"), None);
}

#[test]
fn malformed_date_times_are_refused_without_panicking() {
    // A multi-byte character where the old code cut the text, and signed fields.
    for text in [
        "2020-01-01T00:00é00000",
        "2020-01-01T-5:-7:-9Z",
        "2020-+1-+1T00:00Z",
        "2023-02-31T00:00Z",
    ] {
        assert_eq!(normalize_datetime(text), None, "{text}");
    }
}
