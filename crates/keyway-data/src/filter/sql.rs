//! Type-checks a `$filter` against an entity and compiles it to SQL with `?` placeholders.
//!
//! Storage contract (shared with the table code): a column per property named exactly as the
//! property; string, enum, uuid (lowercase), date (`YYYY-MM-DD`) and date-time (UTC,
//! `YYYY-MM-DDTHH:MM:SS.mmmZ`) are text, so their order is their text order; integer is BIGINT,
//! number DOUBLE, boolean BIGINT 0/1. `id` is the implicit uuid key.

use super::{
    ArithOp, CompareOp, Expr, FilterError, Literal, Located, Operand, StringFunction, ValueFunction,
};
use crate::{Entity, PropertyType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

/// Values one compiled filter may bind at most.
const MAX_BOUND_VALUES: usize = 1000;

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

fn type_error<T>(position: usize, message: String) -> Result<T, FilterError> {
    Err(FilterError::at(position, message))
}

/// Quotes a (validated) identifier for `dialect`.
pub(crate) fn quote(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    }
}

/// Resolves a property name (case-insensitively) to its canonical name and type. `other` is
/// the type of the property it is compared with, if any: an unknown name there is most likely
/// a value written without its quotes, and the error says so.
fn resolve(
    entity: &Entity,
    name: &str,
    position: usize,
    other: Option<PropertyType>,
) -> Result<(String, PropertyType), FilterError> {
    if name.eq_ignore_ascii_case("id") {
        return Ok(("id".into(), PropertyType::Uuid));
    }
    if let Some(p) = entity.property(name) {
        return Ok((p.name.clone(), p.kind));
    }
    let error = FilterError::at(
        position,
        format!("{} has no property {name:?}", entity.name),
    );
    let lowercase = name.to_ascii_lowercase();
    Err(match other {
        _ if matches!(lowercase.as_str(), "null" | "true" | "false") => {
            error.with_hint(format!("{lowercase} is written in lowercase"))
        }
        Some(PropertyType::String | PropertyType::Enum) => {
            error.with_hint(format!("a text value needs quotes: '{name}'"))
        }
        _ => error,
    })
}

/// A property, or a function of one, as SQL.
struct Subject {
    /// The SQL expression.
    sql: String,
    kind: PropertyType,
    /// How errors name it: the property, or `tolower(name)`.
    name: String,
    /// The values its own placeholders bind, in order (`indexof`'s text, arithmetic's
    /// literals).
    values: Vec<SqlValue>,
}

/// `operand` (a property or a function of one) as SQL; `other` as in [`resolve`].
fn subject(
    entity: &Entity,
    operand: &Located<Operand>,
    other: Option<PropertyType>,
    dialect: Dialect,
) -> Result<Subject, FilterError> {
    let position = operand.position;
    match &operand.item {
        Operand::Property(name) => {
            let (column, kind) = resolve(entity, name, position, other)?;
            Ok(Subject {
                sql: quote(dialect, &column),
                kind,
                name: column,
                values: Vec::new(),
            })
        }
        Operand::IndexOf(name, text) => {
            let (column, kind) = resolve(entity, name, position, None)?;
            if kind != PropertyType::String {
                return type_error(
                    position,
                    format!(
                        "indexof() applies to string properties; {column} is {}",
                        kind.as_str()
                    ),
                );
            }
            let col = quote(dialect, &column);
            // 0-based, -1 when absent (OData); the SQL functions are 1-based, 0 when absent.
            let sql = match dialect {
                Dialect::Sqlite => format!("(instr({col}, ?) - 1)"),
                Dialect::Postgres => format!("(strpos({col}, ?) - 1)"),
                Dialect::Mysql => format!("(LOCATE(?, {col}) - 1)"),
            };
            Ok(Subject {
                sql,
                kind: PropertyType::Integer,
                name: format!("indexof({column})"),
                values: vec![SqlValue::Text(text.clone())],
            })
        }
        Operand::Arithmetic(a, op, b) => arithmetic(entity, a, *op, b, dialect),
        Operand::Function(function, name) => {
            let (column, kind) = resolve(entity, name, position, None)?;
            let col = quote(dialect, &column);
            let text = matches!(kind, PropertyType::String | PropertyType::Enum);
            let dated = matches!(kind, PropertyType::Date | PropertyType::DateTime);
            let integer = if dialect == Dialect::Mysql {
                "SIGNED"
            } else {
                "INTEGER"
            };
            // Dates and date-times are stored as text (`YYYY-MM-DD…`, date-times in UTC).
            let part =
                |from: u8, len: u8| format!("CAST(SUBSTR({col}, {from}, {len}) AS {integer})");
            let (sql, result) = match function {
                ValueFunction::ToLower if text => (format!("LOWER({col})"), PropertyType::String),
                ValueFunction::ToUpper if text => (format!("UPPER({col})"), PropertyType::String),
                ValueFunction::Length if text => (
                    match dialect {
                        Dialect::Mysql => format!("CHAR_LENGTH({col})"),
                        _ => format!("LENGTH({col})"),
                    },
                    PropertyType::Integer,
                ),
                ValueFunction::Year if dated => (part(1, 4), PropertyType::Integer),
                ValueFunction::Month if dated => (part(6, 2), PropertyType::Integer),
                ValueFunction::Day if dated => (part(9, 2), PropertyType::Integer),
                _ => {
                    let wants = match function {
                        ValueFunction::ToLower | ValueFunction::ToUpper | ValueFunction::Length => {
                            "string"
                        }
                        _ => "date or date-time",
                    };
                    return type_error(
                        position,
                        format!(
                            "{}() applies to {wants} properties; {column} is {}",
                            function.as_str(),
                            kind.as_str()
                        ),
                    );
                }
            };
            Ok(Subject {
                sql,
                kind: result,
                name: format!("{}({column})", function.as_str()),
                values: Vec::new(),
            })
        }
        Operand::Literal(_) => {
            type_error(position, format!("expected a property, found {operand}"))
        }
    }
}

/// A side of an arithmetic operation: a numeric subject, or a number bound as a value.
fn numeric_side(
    entity: &Entity,
    operand: &Located<Operand>,
    dialect: Dialect,
) -> Result<Subject, FilterError> {
    let side = match &operand.item {
        Operand::Literal(Literal::Int(i)) => Subject {
            sql: "?".into(),
            kind: PropertyType::Integer,
            name: i.to_string(),
            values: vec![SqlValue::Int(*i)],
        },
        Operand::Literal(Literal::Decimal(d)) => Subject {
            sql: "?".into(),
            kind: PropertyType::Number,
            name: format!("{d:?}"),
            values: vec![SqlValue::Float(*d)],
        },
        Operand::Literal(other) => {
            return type_error(
                operand.position,
                format!("arithmetic needs numbers, found {other}"),
            );
        }
        _ => subject(entity, operand, None, dialect)?,
    };
    if !matches!(side.kind, PropertyType::Integer | PropertyType::Number) {
        return type_error(
            operand.position,
            format!(
                "arithmetic needs numbers; {} is {}",
                side.name,
                side.kind.as_str()
            ),
        );
    }
    Ok(side)
}

/// `a op b` over numbers: integer when both sides are (`div` then truncates, as OData's
/// integer division does), else double.
fn arithmetic(
    entity: &Entity,
    a: &Located<Operand>,
    op: ArithOp,
    b: &Located<Operand>,
    dialect: Dialect,
) -> Result<Subject, FilterError> {
    let left = numeric_side(entity, a, dialect)?;
    let right = numeric_side(entity, b, dialect)?;
    let integer = left.kind == PropertyType::Integer && right.kind == PropertyType::Integer;
    let (l, r) = (&left.sql, &right.sql);
    let sql = match op {
        ArithOp::Add => format!("({l} + {r})"),
        ArithOp::Sub => format!("({l} - {r})"),
        ArithOp::Mul => format!("({l} * {r})"),
        ArithOp::Div if integer && dialect == Dialect::Mysql => format!("({l} DIV {r})"),
        ArithOp::Div if integer => format!("({l} / {r})"),
        // A double division everywhere (SQLite and PostgreSQL would divide integers).
        ArithOp::Div => {
            let double = if dialect == Dialect::Mysql {
                "DOUBLE"
            } else {
                "DOUBLE PRECISION"
            };
            format!("(CAST({l} AS {double}) / {r})")
        }
        ArithOp::Mod if !integer => {
            return type_error(b.position, "mod applies to integers".to_string());
        }
        ArithOp::Mod if dialect == Dialect::Mysql => format!("MOD({l}, {r})"),
        ArithOp::Mod => format!("({l} % {r})"),
    };
    let mut values = left.values;
    values.extend(right.values);
    Ok(Subject {
        sql,
        kind: if integer {
            PropertyType::Integer
        } else {
            PropertyType::Number
        },
        name: format!("{} {} {}", left.name, op.as_str(), right.name),
        values,
    })
}

/// `a` or `an` before a type's name.
fn article(kind: PropertyType) -> &'static str {
    match kind {
        PropertyType::Integer | PropertyType::Enum => "an",
        _ => "a",
    }
}

/// What a literal of the wrong type was probably meant to be.
fn literal_hint(kind: PropertyType, literal: &Literal) -> Option<String> {
    match (kind, literal) {
        (PropertyType::String | PropertyType::Enum, Literal::String(_) | Literal::Null) => None,
        (PropertyType::String | PropertyType::Enum, other) => {
            Some(format!("a text value needs quotes: '{other}'"))
        }
        (_, Literal::String(text)) => {
            let unquoted = match super::parser::classify(text, 0) {
                Ok(super::parser::Token::Literal(literal)) => literal,
                _ => return None,
            };
            let fits = matches!(
                (kind, &unquoted),
                (PropertyType::Integer, Literal::Int(_))
                    | (PropertyType::Number, Literal::Int(_) | Literal::Decimal(_))
                    | (PropertyType::Boolean, Literal::Bool(_))
                    | (PropertyType::Date, Literal::Date(_))
                    | (PropertyType::DateTime, Literal::DateTime(_))
                    | (PropertyType::Uuid, Literal::Guid(_))
            );
            fits.then(|| {
                format!(
                    "{} values are written without quotes: {text}",
                    kind.as_str()
                )
            })
        }
        _ => None,
    }
}

/// Checks and converts a literal (at `position`) for a property of type `kind`.
fn bind_value(
    entity: &Entity,
    property: &str,
    kind: PropertyType,
    literal: &Located<Literal>,
) -> Result<SqlValue, FilterError> {
    let position = literal.position;
    let literal = &literal.item;
    let mismatch = || {
        let error = FilterError::at(
            position,
            format!(
                "{property} is {}; {literal} is not {} {} value",
                kind.as_str(),
                article(kind),
                kind.as_str()
            ),
        );
        Err(match literal_hint(kind, literal) {
            Some(hint) => error.with_hint(hint),
            None => error,
        })
    };
    Ok(match (kind, literal) {
        (PropertyType::String, Literal::String(s)) => SqlValue::Text(s.clone()),
        (PropertyType::Enum, Literal::Enum(type_name, s)) => {
            let expected = format!("{}.{}_{property}", crate::csdl::NAMESPACE, entity.name);
            if !type_name.eq_ignore_ascii_case(&expected) {
                return type_error(
                    position,
                    format!("{property}'s members are written {expected}'…', not {type_name}'…'"),
                );
            }
            return bind_value(
                entity,
                property,
                kind,
                &Located::new(Literal::String(s.clone()), position),
            );
        }
        (PropertyType::Enum, Literal::String(s)) => {
            let allowed = entity
                .property(property)
                .map(|p| p.values.clone())
                .unwrap_or_default();
            if !allowed.contains(s) {
                return type_error(
                    position,
                    format!(
                        "{s:?} is not one of {property}'s values ({})",
                        allowed.join(", ")
                    ),
                );
            }
            SqlValue::Text(s.clone())
        }
        (PropertyType::Integer, Literal::Int(i)) => SqlValue::Int(*i),
        (PropertyType::Number, Literal::Int(i)) => SqlValue::Float(*i as f64),
        (PropertyType::Number, Literal::Decimal(d)) => SqlValue::Float(*d),
        (PropertyType::Boolean, Literal::Bool(b)) => SqlValue::Int(i64::from(*b)),
        (PropertyType::Date, Literal::Date(d)) => SqlValue::Text(d.clone()),
        // A date-time at midnight UTC names that day: V2 clients, whose only date type is
        // Edm.DateTime, write dates so (`datetime'1990-01-01T00:00:00'`).
        (PropertyType::Date, Literal::DateTime(t))
            if normalize_datetime(t).is_some_and(|utc| utc.ends_with("T00:00:00.000Z")) =>
        {
            let utc = normalize_datetime(t).unwrap_or_default();
            SqlValue::Text(utc.chars().take(10).collect())
        }
        (PropertyType::DateTime, Literal::DateTime(t)) => match normalize_datetime(t) {
            Some(utc) => SqlValue::Text(utc),
            None => return type_error(position, format!("{t} is not a valid date-time")),
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
        CompareOp::Has => "=",
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
    // Every backend has a ceiling on bound values (SQLite's is 32,766), and each costs work
    // per row: a filter that needs more is refused by name, not by the database.
    if out.values.len() > MAX_BOUND_VALUES {
        return type_error(
            1,
            format!(
                "the filter binds {} values; at most {MAX_BOUND_VALUES} (fewer in (…) values or \
                 arithmetic terms)",
                out.values.len()
            ),
        );
    }
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
        Expr::Compare(left, op, right) => compare(left, op, right, entity, dialect, out)?,
        Expr::In(subject, values) => {
            // `a in (x, y)` is `a eq x or a eq y`: the same type checks and null handling.
            let eq = Located::new(CompareOp::Eq, subject.position);
            out.sql.push('(');
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    out.sql.push_str(" OR ");
                }
                compare(subject, &eq, value, entity, dialect, out)?;
            }
            out.sql.push(')');
        }
        Expr::Call(function, target, needle) => {
            let name = function.item.as_str();
            if let Operand::Literal(_) = &target.item {
                return type_error(
                    target.position,
                    format!("{name}() needs a property as its first argument, found {target}"),
                );
            }
            let found = subject(entity, target, None, dialect)?;
            if found.kind != PropertyType::String {
                return type_error(
                    target.position,
                    format!(
                        "{name}() applies to string properties; {} is {}",
                        found.name,
                        found.kind.as_str()
                    ),
                );
            }
            let text = match &needle.item {
                Operand::Literal(Literal::String(text)) => text,
                other => {
                    let error = FilterError::at(
                        needle.position,
                        format!(
                            "{name}() needs a text value as its second argument, found {other}"
                        ),
                    );
                    return Err(match other {
                        Operand::Literal(Literal::Null) => error,
                        _ => error.with_hint(format!("a text value needs quotes: '{other}'")),
                    });
                }
            };
            let function = function.item;
            let col = found.sql;
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
    left: &Located<Operand>,
    op: &Located<CompareOp>,
    right: &Located<Operand>,
    entity: &Entity,
    dialect: Dialect,
    out: &mut SqlFragment,
) -> Result<(), FilterError> {
    let op_at = op.position;
    let is_subject = |o: &Operand| !matches!(o, Operand::Literal(_));
    let (target, op, literal) = match (is_subject(&left.item), is_subject(&right.item)) {
        (true, true) => {
            // An unknown name beside a known text property reads as an unquoted value.
            let known = |o: &Operand| match o {
                Operand::Property(name) => entity.property(name).map(|p| p.kind),
                _ => None,
            };
            let a = subject(entity, left, known(&right.item), dialect)?;
            let b = subject(entity, right, Some(a.kind), dialect)?;
            if a.kind != b.kind {
                return type_error(
                    right.position,
                    format!(
                        "cannot compare {} ({}) with {} ({})",
                        a.name,
                        a.kind.as_str(),
                        b.name,
                        b.kind.as_str()
                    ),
                );
            }
            if op.item == CompareOp::Has {
                return type_error(op.position, "has compares an enum property with a member: status has keyway.Contact_status'lead'".to_string());
            }
            out.sql
                .push_str(&format!("({} {} {})", a.sql, sql_op(op.item), b.sql));
            out.values.extend(a.values);
            out.values.extend(b.values);
            return Ok(());
        }
        (true, false) => (left, op.item, right),
        (false, true) => (right, flip(op.item), left),
        (false, false) => {
            return type_error(
                left.position,
                format!("a comparison needs at least one property, found {left} and {right}"),
            );
        }
    };
    let Operand::Literal(value) = &literal.item else {
        return type_error(
            literal.position,
            format!("expected a value, found {literal}"),
        );
    };
    let literal = Located::new(value.clone(), literal.position);
    let found = subject(entity, target, None, dialect)?;
    let (col, kind, column, own) = (found.sql, found.kind, found.name, found.values);
    if op == CompareOp::Has
        && (kind != PropertyType::Enum || !matches!(literal.item, Literal::Enum(..)))
    {
        return type_error(
            op_at,
            format!(
                "has compares an enum property with a member (status has keyway.Contact_status'lead'); {column} is {}",
                kind.as_str()
            ),
        );
    }
    if literal.item == Literal::Null {
        return match op {
            CompareOp::Eq => {
                out.sql.push_str(&format!("({col} IS NULL)"));
                out.values.extend(own);
                Ok(())
            }
            CompareOp::Ne => {
                out.sql.push_str(&format!("({col} IS NOT NULL)"));
                out.values.extend(own);
                Ok(())
            }
            _ => type_error(
                op_at,
                format!("null can only be compared with eq or ne ({column})"),
            ),
        };
    }
    if matches!(kind, PropertyType::Boolean | PropertyType::Uuid)
        && !matches!(op, CompareOp::Eq | CompareOp::Ne)
    {
        return type_error(
            op_at,
            format!("{column} is {}: only eq and ne apply", kind.as_str()),
        );
    }
    // An arithmetic or indexof subject is typed by its result, not by a property.
    let value = if own.is_empty() && found_is_property(target) {
        bind_value(entity, &column, kind, &literal)?
    } else {
        computed_value(kind, &column, &literal)?
    };
    if op == CompareOp::Ne {
        // OData: a null property is "not equal" to any value; SQL's <> would drop it.
        out.sql.push_str(&format!("({col} <> ? OR {col} IS NULL)"));
        out.values.extend(own.iter().cloned());
        out.values.push(value);
        out.values.extend(own);
    } else {
        out.sql.push_str(&format!("({col} {} ?)", sql_op(op)));
        out.values.extend(own);
        out.values.push(value);
    }
    Ok(())
}

/// Whether `operand` is a property or a function of one (its literals are typed by the
/// property), rather than a computed number.
fn found_is_property(operand: &Located<Operand>) -> bool {
    matches!(operand.item, Operand::Property(_) | Operand::Function(..))
}

/// A literal compared with a computed number (`score add 1`, `indexof(…)`).
fn computed_value(
    kind: PropertyType,
    name: &str,
    literal: &Located<Literal>,
) -> Result<SqlValue, FilterError> {
    match (kind, &literal.item) {
        (PropertyType::Integer, Literal::Int(i)) => Ok(SqlValue::Int(*i)),
        (PropertyType::Integer, Literal::Decimal(d))
        | (PropertyType::Number, Literal::Decimal(d)) => Ok(SqlValue::Float(*d)),
        (PropertyType::Number, Literal::Int(i)) => Ok(SqlValue::Float(*i as f64)),
        (_, other) => type_error(
            literal.position,
            format!("{name} is a number; {other} is not"),
        ),
    }
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
        assert!(
            error("age has keyway.Contact_status'lead'").contains("has compares an enum property")
        );
        assert!(
            error("status has keyway.Other'lead'").contains("written keyway.Contact_status'…'")
        );
        assert!(
            error("status has keyway.Contact_status'nope'").contains("not one of status's values")
        );
        assert!(error("indexof(age,'1') eq 0").contains("indexof() applies to string properties"));
        assert!(error("age add 1 eq 'x'").contains("is a number; 'x' is not"));
        assert!(error("indexof(name, 1) eq 0").contains("a text value in indexof"));
        assert!(
            error(&format!("age{} eq 1", " add 1".repeat(40))).contains("more than 32 arithmetic")
        );
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
}
