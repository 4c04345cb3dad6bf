//! Generated filters print to OData and parse back to the same tree.

use proptest::prelude::*;

use super::{CompareOp, Expr, Literal, Operand, StringFunction, parse_filter};

const KEYWORDS: [&str; 12] = [
    "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "null", "true", "false",
];

fn property() -> impl Strategy<Value = Operand> {
    "[a-zA-Z][a-zA-Z0-9_]{0,8}"
        .prop_filter("not a keyword", |s| !KEYWORDS.contains(&s.as_str()))
        .prop_map(Operand::Property)
}

fn literal() -> impl Strategy<Value = Operand> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(Literal::Int),
        (-1.0e12f64..1.0e12)
            .prop_filter("not integral", |d| d.fract() != 0.0)
            .prop_map(Literal::Decimal),
        "\\PC{0,12}".prop_map(Literal::String),
        (1900u32..2100, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| Literal::Date(format!("{y:04}-{m:02}-{d:02}"))),
        (1900u32..2100, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60).prop_map(|(y, m, d, h, mi)| {
            Literal::DateTime(format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:00Z"))
        }),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".prop_map(Literal::Guid),
    ]
    .prop_map(Operand::Literal)
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![property(), literal()]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le)
    ]
}

fn function() -> impl Strategy<Value = StringFunction> {
    prop_oneof![
        Just(StringFunction::Contains),
        Just(StringFunction::StartsWith),
        Just(StringFunction::EndsWith)
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (operand(), op(), operand()).prop_map(|(a, o, b)| Expr::Compare(a, o, b)),
        (function(), operand(), operand()).prop_map(|(f, a, b)| Expr::Call(f, a, b)),
    ];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

proptest! {
    #[test]
    fn printed_filters_parse_back(tree in expr()) {
        let text = tree.to_string();
        let parsed = parse_filter(&text);
        prop_assert_eq!(parsed, Ok(tree), "{}", text);
    }

    #[test]
    fn arbitrary_input_never_panics(text in "\\PC{0,64}") {
        let _ = parse_filter(&text);
    }
}
