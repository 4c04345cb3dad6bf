//! OData `$filter` (OData v4.01 URL conventions, the subset keyway supports): comparison
//! `eq ne gt ge lt le`, `in (…)`, `and or not`, parentheses, `contains`/`startswith`/`endswith`, `null`,
//! typed literals (strings, integers, decimals, booleans, dates, date-times, GUIDs), paths
//! through to-one navigation properties and `any`/`all` over navigation collections.
//!
//! A real grammar (`parser.rs`) produces an [`Expr`]; [`compile_filter`] checks every property
//! against the entity and every literal against the property's type, then emits SQL with `?`
//! placeholders and the values to bind (`sql.rs`).

mod parser;
mod scope;
pub(crate) mod sql;

#[cfg(test)]
mod proptests;

use std::fmt;

pub use parser::parse_filter;
pub use scope::{Reach, mentions_it};
pub use sql::{Dialect, SqlFragment, SqlValue, compile_filter, compile_filter_reaching};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// `status has keyway.Contact_status'lead'`: an enum property holds the member (keyway's
    /// enums are not flags, so this is equality with a typed literal).
    Has,
}

/// Arithmetic between numeric operands (OData 4.01 §5.1.1.2): `mul`, `div` and `mod` bind
/// tighter than `add` and `sub`, all tighter than comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl ArithOp {
    pub fn parse(word: &str) -> Option<ArithOp> {
        Some(match word {
            "add" => ArithOp::Add,
            "sub" => ArithOp::Sub,
            "mul" => ArithOp::Mul,
            "div" => ArithOp::Div,
            "mod" => ArithOp::Mod,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "add",
            ArithOp::Sub => "sub",
            ArithOp::Mul => "mul",
            ArithOp::Div => "div",
            ArithOp::Mod => "mod",
        }
    }

    /// Whether it binds tighter than `add` and `sub`.
    pub fn multiplicative(self) -> bool {
        matches!(self, ArithOp::Mul | ArithOp::Div | ArithOp::Mod)
    }
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
            CompareOp::Has => "has",
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

/// A function of one property that yields a value to compare: `tolower(name) eq 'ada'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFunction {
    ToLower,
    ToUpper,
    Length,
    Year,
    Month,
    Day,
}

impl ValueFunction {
    pub fn parse(word: &str) -> Option<ValueFunction> {
        Some(match word {
            "tolower" => ValueFunction::ToLower,
            "toupper" => ValueFunction::ToUpper,
            "length" => ValueFunction::Length,
            "year" => ValueFunction::Year,
            "month" => ValueFunction::Month,
            "day" => ValueFunction::Day,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ValueFunction::ToLower => "tolower",
            ValueFunction::ToUpper => "toupper",
            ValueFunction::Length => "length",
            ValueFunction::Year => "year",
            ValueFunction::Month => "month",
            ValueFunction::Day => "day",
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
    /// `Namespace.Type'member'`: an enum member, with its type's qualified name.
    Enum(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Property(String),
    Literal(Literal),
    /// A function of a property (the argument is a property name).
    Function(ValueFunction, String),
    /// `indexof(property, 'text')`: the 0-based position of the text, -1 if absent.
    IndexOf(String, String),
    /// `a add b`, `a mul 2`, …
    Arithmetic(Box<Located<Operand>>, ArithOp, Box<Located<Operand>>),
}

impl Operand {
    /// The same operand with every nested position set to 0.
    pub fn without_positions(&self) -> Operand {
        match self {
            Operand::Arithmetic(a, op, b) => Operand::Arithmetic(
                Box::new(Located::new(a.item.without_positions(), 0)),
                *op,
                Box::new(Located::new(b.item.without_positions(), 0)),
            ),
            other => other.clone(),
        }
    }
}

/// A node of the tree and where its text starts in the `$filter`: a 1-based character
/// position, so that an error found while checking the tree against the schema can point at
/// the token it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub item: T,
    pub position: usize,
}

impl<T> Located<T> {
    pub fn new(item: T, position: usize) -> Located<T> {
        Located { item, position }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Located<Operand>, Located<CompareOp>, Located<Operand>),
    Call(Located<StringFunction>, Located<Operand>, Located<Operand>),
    /// `subject in (v1, v2, …)`: true when the subject equals one of the values.
    In(Located<Operand>, Vec<Located<Operand>>),
    /// `contacts/any(c: c/age gt 30)`, `contacts/any()`, `contacts/all(c: …)`.
    Lambda(Lambda),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

impl fmt::Display for Quantifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantifier::Any => "any",
            Quantifier::All => "all",
        })
    }
}

/// `path/any(variable: predicate)` over a navigation collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Lambda {
    /// The collection, as written (`contacts`, `o/contacts`, `$it/contacts`).
    pub path: Located<String>,
    pub quantifier: Quantifier,
    /// `None` only for `any()`: true when the collection has an item.
    pub variable: Option<Located<String>>,
    pub predicate: Option<Box<Expr>>,
}

/// Values an `in (…)` list may hold.
pub const MAX_IN_VALUES: usize = 100;

impl Expr {
    /// The same tree with every position set to 0: two filters that mean the same compare
    /// equal, wherever their text stood (a printed tree parses back to this).
    pub fn without_positions(&self) -> Expr {
        fn unplaced<T: Clone>(node: &Located<T>) -> Located<T> {
            Located::new(node.item.clone(), 0)
        }
        fn operand(node: &Located<Operand>) -> Located<Operand> {
            Located::new(node.item.without_positions(), 0)
        }
        let strip = |expr: &Expr| Box::new(expr.without_positions());
        match self {
            Expr::Or(a, b) => Expr::Or(strip(a), strip(b)),
            Expr::And(a, b) => Expr::And(strip(a), strip(b)),
            Expr::Not(e) => Expr::Not(strip(e)),
            Expr::Compare(a, o, b) => Expr::Compare(operand(a), unplaced(o), operand(b)),
            Expr::Call(f, a, b) => Expr::Call(unplaced(f), operand(a), operand(b)),
            Expr::In(a, list) => Expr::In(operand(a), list.iter().map(operand).collect()),
            Expr::Lambda(lambda) => Expr::Lambda(Lambda {
                path: unplaced(&lambda.path),
                quantifier: lambda.quantifier,
                variable: lambda.variable.as_ref().map(unplaced),
                predicate: lambda.predicate.as_deref().map(strip),
            }),
        }
    }
}

/// Why a `$filter` was refused: what is wrong, the 1-based character position of the token
/// it is about (characters, not bytes, of the URL-decoded option), and perhaps a hint.
///
/// Displayed as `$filter: Contact has no property "lead" at position 11 (a text value needs
/// quotes: 'lead')`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("$filter: {message} at position {position}{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct FilterError {
    pub position: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl FilterError {
    pub(crate) fn at(position: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            position,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> FilterError {
        self.hint = Some(hint.into());
        self
    }
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
            Literal::Enum(kind, member) => write!(f, "{kind}'{}'", member.replace('\'', "''")),
        }
    }
}

impl<T: fmt::Display> fmt::Display for Located<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.item.fmt(f)
    }
}

impl fmt::Display for StringFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Property(p) => f.write_str(p),
            Operand::Literal(l) => write!(f, "{l}"),
            Operand::Function(func, p) => write!(f, "{}({p})", func.as_str()),
            Operand::IndexOf(p, text) => write!(f, "indexof({p},'{}')", text.replace('\'', "''")),
            Operand::Arithmetic(a, op, b) => write!(f, "{a} {} {b}", op.as_str()),
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
            Expr::Compare(a, op, b) => write!(f, "{a} {} {b}", op.item.as_str()),
            Expr::Call(func, a, b) => write!(f, "{func}({a},{b})"),
            Expr::In(a, list) => {
                let items: Vec<String> = list.iter().map(ToString::to_string).collect();
                write!(f, "{a} in ({})", items.join(","))
            }
            Expr::Lambda(lambda) => {
                write!(f, "{}/{}(", lambda.path, lambda.quantifier)?;
                if let (Some(variable), Some(predicate)) = (&lambda.variable, &lambda.predicate) {
                    write!(f, "{variable}:{predicate}")?;
                }
                f.write_str(")")
            }
        }
    }
}
