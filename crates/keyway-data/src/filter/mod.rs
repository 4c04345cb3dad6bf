//! OData `$filter` (OData v4.01 URL conventions, the subset keyway supports): comparison
//! `eq ne gt ge lt le`, `and or not`, parentheses, `contains`/`startswith`/`endswith`, `null`,
//! and typed literals (strings, integers, decimals, booleans, dates, date-times, GUIDs).
//!
//! A real grammar (`parser.rs`) produces an [`Expr`]; [`compile_filter`] checks every property
//! against the entity and every literal against the property's type, then emits SQL with `?`
//! placeholders and the values to bind (`sql.rs`).

mod parser;
pub(crate) mod sql;

#[cfg(test)]
mod proptests;

use std::fmt;

pub use parser::parse_filter;
pub use sql::{Dialect, SqlFragment, SqlValue, compile_filter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFunction {
    Contains,
    StartsWith,
    EndsWith,
}

impl StringFunction {
    pub fn as_str(self) -> &'static str {
        match self {
            StringFunction::Contains => "contains",
            StringFunction::StartsWith => "startswith",
            StringFunction::EndsWith => "endswith",
        }
    }
}

/// A literal as written. Dates, date-times and GUIDs keep their (validated) text.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Decimal(f64),
    String(String),
    Date(String),
    DateTime(String),
    Guid(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Property(String),
    Literal(Literal),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Operand, CompareOp, Operand),
    Call(StringFunction, Operand, Operand),
}

/// Why a `$filter` was refused; `position` is the 1-based character column in the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("$filter at position {position}: {message}")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Decimal(d) => {
                let text = format!("{d:?}");
                f.write_str(&text)
            }
            Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Date(s) | Literal::DateTime(s) | Literal::Guid(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Property(p) => f.write_str(p),
            Operand::Literal(l) => write!(f, "{l}"),
        }
    }
}

/// Prints fully parenthesised OData, which parses back to the same tree.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(a, b) => write!(f, "({a} or {b})"),
            Expr::And(a, b) => write!(f, "({a} and {b})"),
            Expr::Not(e) => write!(f, "not {e}"),
            Expr::Compare(a, op, b) => write!(f, "{a} {} {b}", op.as_str()),
            Expr::Call(func, a, b) => write!(f, "{}({a},{b})", func.as_str()),
        }
    }
}
