//! Type-checks a `$filter` against an entity and compiles it to SQL with `?` placeholders.
//!
//! Storage contract (shared with the table code): a column per property named exactly as the
//! property; string, enum, uuid (lowercase), date (`YYYY-MM-DD`) and date-time (UTC,
//! `YYYY-MM-DDTHH:MM:SS.mmmZ`) are text, so their order is their text order; integer is BIGINT,
//! number DOUBLE, boolean BIGINT 0/1. `id` is the implicit uuid key.

use super::{CompareOp, Expr, FilterError, Literal, Operand, StringFunction};
use crate::{Entity, PropertyType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

/// A value to bind, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Int(i64),
    Float(f64),
    Text(String),
}

/// A boolean SQL expression and its bound values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SqlFragment {
    pub sql: String,
    pub values: Vec<SqlValue>,
}

fn type_error<T>(message: String) -> Result<T, FilterError> {
    Err(FilterError {
        position: 0,
        message,
    })
}

/// Quotes a (validated) identifier for `dialect`.
pub(crate) fn quote(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    }
}

/// Resolves a property name (case-insensitively) to its canonical name and type.
fn resolve(entity: &Entity, name: &str) -> Result<(String, PropertyType), FilterError> {
    if name.eq_ignore_ascii_case("id") {
        return Ok(("id".into(), PropertyType::Uuid));
    }
    match entity.property(name) {
        Some(p) => Ok((p.name.clone(), p.kind)),
        None => type_error(format!("{} has no property {name:?}", entity.name)),
    }
}

/// Checks and converts a literal for a property of type `kind`.
fn bind_value(
    entity: &Entity,
    property: &str,
    kind: PropertyType,
    literal: &Literal,
) -> Result<SqlValue, FilterError> {
    let mismatch = || {
        type_error(format!(
            "{property} is {}; {literal} is not a {} literal",
            kind.as_str(),
            kind.as_str()
        ))
    };
    Ok(match (kind, literal) {
        (PropertyType::String, Literal::String(s)) => SqlValue::Text(s.clone()),
        (PropertyType::Enum, Literal::String(s)) => {
            let allowed = entity
                .property(property)
                .map(|p| p.values.clone())
                .unwrap_or_default();
            if !allowed.contains(s) {
                return type_error(format!(
                    "{s:?} is not one of {property}'s values ({})",
                    allowed.join(", ")
                ));
            }
            SqlValue::Text(s.clone())
        }
        (PropertyType::Integer, Literal::Int(i)) => SqlValue::Int(*i),
        (PropertyType::Number, Literal::Int(i)) => SqlValue::Float(*i as f64),
        (PropertyType::Number, Literal::Decimal(d)) => SqlValue::Float(*d),
        (PropertyType::Boolean, Literal::Bool(b)) => SqlValue::Int(i64::from(*b)),
        (PropertyType::Date, Literal::Date(d)) => SqlValue::Text(d.clone()),
        (PropertyType::DateTime, Literal::DateTime(t)) => match normalize_datetime(t) {
            Some(utc) => SqlValue::Text(utc),
            None => return type_error(format!("{t} is not a valid date-time")),
        },
        (PropertyType::Uuid, Literal::Guid(g)) => SqlValue::Text(g.clone()),
        _ => return mismatch(),
    })
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
    }
}

fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        other => other,
    }
}

/// Compiles `expr` for `entity`. Every property is checked, every literal typed and bound.
pub fn compile_filter(
    expr: &Expr,
    entity: &Entity,
    dialect: Dialect,
) -> Result<SqlFragment, FilterError> {
    let mut out = SqlFragment::default();
    emit(expr, entity, dialect, &mut out)?;
    Ok(out)
}

fn emit(
    expr: &Expr,
    entity: &Entity,
    dialect: Dialect,
    out: &mut SqlFragment,
) -> Result<(), FilterError> {
    match expr {
        Expr::Or(a, b) | Expr::And(a, b) => {
            out.sql.push('(');
            emit(a, entity, dialect, out)?;
            out.sql.push_str(if matches!(expr, Expr::Or(..)) {
                " OR "
            } else {
                " AND "
            });
            emit(b, entity, dialect, out)?;
            out.sql.push(')');
        }
        Expr::Not(inner) => {
            // NOT over SQL's three-valued logic: a NULL comparison counts as false first.
            out.sql.push_str("(NOT COALESCE(");
            emit(inner, entity, dialect, out)?;
            out.sql.push_str(", FALSE))");
        }
        Expr::Compare(left, op, right) => compare(left, *op, right, entity, dialect, out)?,
        Expr::Call(function, subject, needle) => {
            let Operand::Property(name) = subject else {
                return type_error(format!(
                    "{}() needs a property as its first argument",
                    function.as_str()
                ));
            };
            let (column, kind) = resolve(entity, name)?;
            if kind != PropertyType::String {
                return type_error(format!(
                    "{}() applies to string properties; {column} is {}",
                    function.as_str(),
                    kind.as_str()
                ));
            }
            let Operand::Literal(Literal::String(text)) = needle else {
                return type_error(format!(
                    "{}() needs a string literal as its second argument",
                    function.as_str()
                ));
            };
            let col = quote(dialect, &column);
            let value = || SqlValue::Text(text.clone());
            let (sql, binds) = match (function, dialect) {
                (StringFunction::Contains, Dialect::Sqlite) => (format!("instr({col}, ?) > 0"), 1),
                (StringFunction::Contains, Dialect::Postgres) => {
                    (format!("strpos({col}, ?) > 0"), 1)
                }
                (StringFunction::Contains, Dialect::Mysql) => (format!("LOCATE(?, {col}) > 0"), 1),
                (StringFunction::StartsWith, Dialect::Sqlite) => {
                    (format!("instr({col}, ?) = 1"), 1)
                }
                (StringFunction::StartsWith, Dialect::Postgres) => {
                    (format!("strpos({col}, ?) = 1"), 1)
                }
                (StringFunction::StartsWith, Dialect::Mysql) => {
                    (format!("LOCATE(?, {col}) = 1"), 1)
                }
                (StringFunction::EndsWith, Dialect::Sqlite) => (
                    format!("({col} IS NOT NULL AND (? = '' OR substr({col}, -length(?)) = ?))"),
                    3,
                ),
                (StringFunction::EndsWith, Dialect::Postgres) => {
                    (format!("right({col}, char_length(?)) = ?"), 2)
                }
                (StringFunction::EndsWith, Dialect::Mysql) => {
                    (format!("RIGHT({col}, CHAR_LENGTH(?)) = ?"), 2)
                }
            };
            out.sql.push('(');
            out.sql.push_str(&sql);
            out.sql.push(')');
            out.values.extend((0..binds).map(|_| value()));
        }
    }
    Ok(())
}

fn compare(
    left: &Operand,
    op: CompareOp,
    right: &Operand,
    entity: &Entity,
    dialect: Dialect,
    out: &mut SqlFragment,
) -> Result<(), FilterError> {
    let (name, op, literal) = match (left, right) {
        (Operand::Property(a), Operand::Property(b)) => {
            let (ca, ka) = resolve(entity, a)?;
            let (cb, kb) = resolve(entity, b)?;
            if ka != kb {
                return type_error(format!(
                    "cannot compare {ca} ({}) with {cb} ({})",
                    ka.as_str(),
                    kb.as_str()
                ));
            }
            out.sql.push_str(&format!(
                "({} {} {})",
                quote(dialect, &ca),
                sql_op(op),
                quote(dialect, &cb)
            ));
            return Ok(());
        }
        (Operand::Property(p), Operand::Literal(l)) => (p, op, l),
        (Operand::Literal(l), Operand::Property(p)) => (p, flip(op), l),
        (Operand::Literal(_), Operand::Literal(_)) => {
            return type_error("a comparison needs at least one property".into());
        }
    };
    let (column, kind) = resolve(entity, name)?;
    let col = quote(dialect, &column);
    if *literal == Literal::Null {
        return match op {
            CompareOp::Eq => {
                out.sql.push_str(&format!("({col} IS NULL)"));
                Ok(())
            }
            CompareOp::Ne => {
                out.sql.push_str(&format!("({col} IS NOT NULL)"));
                Ok(())
            }
            _ => type_error(format!(
                "null can only be compared with eq or ne ({column})"
            )),
        };
    }
    if matches!(kind, PropertyType::Boolean | PropertyType::Uuid)
        && !matches!(op, CompareOp::Eq | CompareOp::Ne)
    {
        return type_error(format!(
            "{column} is {}: only eq and ne apply",
            kind.as_str()
        ));
    }
    let value = bind_value(entity, &column, kind, literal)?;
    if op == CompareOp::Ne {
        // OData: a null property is "not equal" to any value; SQL's <> would drop it.
        out.sql.push_str(&format!("({col} <> ? OR {col} IS NULL)"));
    } else {
        out.sql.push_str(&format!("({col} {} ?)", sql_op(op)));
    }
    out.values.push(value);
    Ok(())
}

/// `YYYY-MM-DDThh:mm[:ss[.f…]](Z|±hh:mm)` → UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`; `None` unless the
/// text is an RFC 3339 date-time (the grammar in `crate::datetime`).
pub(crate) fn normalize_datetime(text: &str) -> Option<String> {
    crate::datetime::normalize_date_time(text).ok()
}

#[cfg(test)]
mod tests {
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
}
