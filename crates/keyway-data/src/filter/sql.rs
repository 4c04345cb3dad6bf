//! Type-checks a `$filter` against an entity and compiles it to SQL with `?` placeholders.
//!
//! Storage contract (shared with the table code): a column per property named exactly as the
//! property; string, enum, uuid (lowercase), date (`YYYY-MM-DD`) and date-time (UTC,
//! `YYYY-MM-DDTHH:MM:SS.mmmZ`) are text, so their order is their text order; integer is BIGINT,
//! number DOUBLE, boolean BIGINT 0/1. `id` is the implicit uuid key.

use std::cell::Cell;
use std::rc::Rc;

use super::scope::{Cx, Reach};
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
    /// For a property: the entity that declares it and its name there (a literal compared
    /// with it is typed by it).
    owner: Option<(Rc<Entity>, String)>,
}

/// `operand` (a property or a function of one) as SQL; `other` as in [`Cx::resolve`].
fn subject(
    cx: &Cx<'_>,
    operand: &Located<Operand>,
    other: Option<PropertyType>,
) -> Result<Subject, FilterError> {
    let position = operand.position;
    let dialect = cx.dialect;
    match &operand.item {
        Operand::Property(name) => {
            let found = cx.resolve(name, position, other)?;
            Ok(Subject {
                sql: found.sql,
                kind: found.kind,
                name: found.name,
                values: Vec::new(),
                owner: Some((found.owner, found.property)),
            })
        }
        Operand::IndexOf(name, text) => {
            let found = cx.resolve(name, position, None)?;
            let (column, kind) = (found.name, found.kind);
            if kind != PropertyType::String {
                return type_error(
                    position,
                    format!(
                        "indexof() applies to string properties; {column} is {}",
                        kind.as_str()
                    ),
                );
            }
            let col = found.sql;
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
                owner: None,
            })
        }
        Operand::Arithmetic(a, op, b) => arithmetic(cx, a, *op, b),
        Operand::Function(function, name) => {
            let found = cx.resolve(name, position, None)?;
            let (column, kind, col) = (found.name, found.kind, found.sql);
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
                owner: None,
            })
        }
        Operand::Literal(_) => {
            type_error(position, format!("expected a property, found {operand}"))
        }
    }
}

/// A side of an arithmetic operation: a numeric subject, or a number bound as a value.
fn numeric_side(cx: &Cx<'_>, operand: &Located<Operand>) -> Result<Subject, FilterError> {
    let side = match &operand.item {
        Operand::Literal(Literal::Int(i)) => Subject {
            sql: "?".into(),
            kind: PropertyType::Integer,
            name: i.to_string(),
            values: vec![SqlValue::Int(*i)],
            owner: None,
        },
        Operand::Literal(Literal::Decimal(d)) => Subject {
            sql: "?".into(),
            kind: PropertyType::Number,
            name: format!("{d:?}"),
            values: vec![SqlValue::Float(*d)],
            owner: None,
        },
        Operand::Literal(other) => {
            return type_error(
                operand.position,
                format!("arithmetic needs numbers, found {other}"),
            );
        }
        _ => subject(cx, operand, None)?,
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
    cx: &Cx<'_>,
    a: &Located<Operand>,
    op: ArithOp,
    b: &Located<Operand>,
) -> Result<Subject, FilterError> {
    let dialect = cx.dialect;
    let left = numeric_side(cx, a)?;
    let right = numeric_side(cx, b)?;
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
        owner: None,
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

/// Checks and converts a literal (at `position`) for `entity`'s property `property` of type
/// `kind`, which errors call `shown` (its path).
fn bind_value(
    entity: &Entity,
    property: &str,
    shown: &str,
    kind: PropertyType,
    literal: &Located<Literal>,
) -> Result<SqlValue, FilterError> {
    let position = literal.position;
    let literal = &literal.item;
    let mismatch = || {
        let error = FilterError::at(
            position,
            format!(
                "{shown} is {}; {literal} is not {} {} value",
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
                    format!("{shown}'s members are written {expected}'…', not {type_name}'…'"),
                );
            }
            return bind_value(
                entity,
                property,
                shown,
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
                        "{s:?} is not one of {shown}'s values ({})",
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
/// Navigation properties lead nowhere: see [`compile_filter_reaching`].
pub fn compile_filter(
    expr: &Expr,
    entity: &Entity,
    dialect: Dialect,
) -> Result<SqlFragment, FilterError> {
    compile_filter_reaching(expr, entity, dialect, &|_| None)
}

/// Compiles `expr` for `entity`, whose navigation properties lead to the entities `reach`
/// gives (paths like `organization/name`, `contacts/any(c: …)`).
pub fn compile_filter_reaching(
    expr: &Expr,
    entity: &Entity,
    dialect: Dialect,
    reach: Reach<'_>,
) -> Result<SqlFragment, FilterError> {
    let reached = Cell::new(0);
    let cx = Cx::new(entity, dialect, reach, &reached, expr);
    let mut out = SqlFragment::default();
    emit(expr, &cx, &mut out)?;
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

fn emit(expr: &Expr, cx: &Cx<'_>, out: &mut SqlFragment) -> Result<(), FilterError> {
    let dialect = cx.dialect;
    match expr {
        Expr::Or(a, b) | Expr::And(a, b) => {
            out.sql.push('(');
            emit(a, cx, out)?;
            out.sql.push_str(if matches!(expr, Expr::Or(..)) {
                " OR "
            } else {
                " AND "
            });
            emit(b, cx, out)?;
            out.sql.push(')');
        }
        Expr::Lambda(lambda) => {
            let (open, inner) = cx.lambda(lambda)?;
            out.sql.push_str(&open);
            if let Some(predicate) = &lambda.predicate {
                // `all`: no item for which the condition is not true (a NULL counts as false).
                let (before, after) = match lambda.quantifier {
                    super::Quantifier::Any => (" AND (", ")"),
                    super::Quantifier::All => (" AND NOT COALESCE((", "), FALSE)"),
                };
                out.sql.push_str(before);
                emit(predicate, &inner, out)?;
                out.sql.push_str(after);
            }
            out.sql.push_str("))");
        }
        Expr::Not(inner) => {
            // NOT over SQL's three-valued logic: a NULL comparison counts as false first.
            out.sql.push_str("(NOT COALESCE(");
            emit(inner, cx, out)?;
            out.sql.push_str(", FALSE))");
        }
        Expr::Compare(left, op, right) => compare(left, op, right, cx, out)?,
        Expr::In(subject, values) if super::scope::reads_a_path(&subject.item) => {
            in_through_path(subject, values, cx, out)?;
        }
        Expr::In(subject, values) => {
            // `a in (x, y)` is `a eq x or a eq y`: the same type checks and null handling.
            let eq = Located::new(CompareOp::Eq, subject.position);
            out.sql.push('(');
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    out.sql.push_str(" OR ");
                }
                compare(subject, &eq, value, cx, out)?;
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
            let found = subject(cx, target, None)?;
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
    cx: &Cx<'_>,
    out: &mut SqlFragment,
) -> Result<(), FilterError> {
    let op_at = op.position;
    let is_subject = |o: &Operand| !matches!(o, Operand::Literal(_));
    let (target, op, literal) = match (is_subject(&left.item), is_subject(&right.item)) {
        (true, true) => {
            // An unknown name beside a known text property reads as an unquoted value.
            let known = |o: &Operand| match o {
                Operand::Property(name) => cx.entity().property(name).map(|p| p.kind),
                _ => None,
            };
            let a = subject(cx, left, known(&right.item))?;
            let b = subject(cx, right, Some(a.kind))?;
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
    let found = subject(cx, target, None)?;
    let owner = found.owner;
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
    let value = typed_value(
        cx,
        &owner,
        own.is_empty(),
        target,
        (kind, &column),
        &literal,
    )?;
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

/// `literal` as a value to compare with `target` (of type and name `subject`): typed by the
/// property that `owner` declares, by the function of one, or as a number for a computation.
fn typed_value(
    cx: &Cx<'_>,
    owner: &Option<(Rc<Entity>, String)>,
    binds_nothing: bool,
    target: &Located<Operand>,
    subject: (PropertyType, &str),
    literal: &Located<Literal>,
) -> Result<SqlValue, FilterError> {
    let (kind, column) = subject;
    match owner {
        Some((entity, property)) => bind_value(entity, property, column, kind, literal),
        None if binds_nothing && found_is_property(target) => {
            bind_value(cx.entity(), column, column, kind, literal)
        }
        None => computed_value(kind, column, literal),
    }
}

/// `path in (…)` for a subject read through a relation: its subquery once, `IN (?, …)`
/// (`or … IS NULL` for a null in the list), the values typed as `eq` types them.
fn in_through_path(
    subject_operand: &Located<Operand>,
    values: &[Located<Operand>],
    cx: &Cx<'_>,
    out: &mut SqlFragment,
) -> Result<(), FilterError> {
    let found = subject(cx, subject_operand, None)?;
    let mut binds = Vec::with_capacity(values.len());
    let mut null = false;
    for value in values {
        let Operand::Literal(literal) = &value.item else {
            return type_error(value.position, format!("expected a value, found {value}"));
        };
        if *literal == Literal::Null {
            null = true;
            continue;
        }
        let literal = Located::new(literal.clone(), value.position);
        binds.push(typed_value(
            cx,
            &found.owner,
            found.values.is_empty(),
            subject_operand,
            (found.kind, &found.name),
            &literal,
        )?);
    }
    let col = &found.sql;
    let mut alternatives = Vec::new();
    if !binds.is_empty() {
        alternatives.push(format!("{col} IN ({})", vec!["?"; binds.len()].join(", ")));
        out.values.extend(found.values.iter().cloned());
        out.values.extend(binds);
    }
    if null {
        alternatives.push(format!("{col} IS NULL"));
        out.values.extend(found.values.iter().cloned());
    }
    out.sql
        .push_str(&format!("({})", alternatives.join(" OR ")));
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
#[path = "sql_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "scope_tests.rs"]
mod scope_tests;
