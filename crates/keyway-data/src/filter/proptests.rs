//! Generated filters print to OData and parse back to the same tree.

use proptest::prelude::*;

use super::{
    ArithOp, CompareOp, Expr, Lambda, Literal, Located, Operand, Quantifier, StringFunction,
    ValueFunction, parse_filter,
};

const KEYWORDS: [&str; 22] = [
    "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "null", "true", "false", "has",
    "add", "sub", "mul", "div", "mod", "indexof", "any", "all",
];

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,8}".prop_filter("not a keyword", |s| !KEYWORDS.contains(&s.as_str()))
}

/// A property or a path to one (`c/organization/name`).
fn path() -> impl Strategy<Value = String> {
    proptest::collection::vec(name(), 1..4).prop_map(|names| names.join("/"))
}

fn property() -> impl Strategy<Value = Operand> {
    path().prop_map(Operand::Property)
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

fn function_of_property() -> impl Strategy<Value = Operand> {
    let function = prop_oneof![
        Just(ValueFunction::ToLower),
        Just(ValueFunction::ToUpper),
        Just(ValueFunction::Length),
        Just(ValueFunction::Year),
        Just(ValueFunction::Month),
        Just(ValueFunction::Day),
    ];
    (function, property()).prop_map(|(f, p)| match p {
        Operand::Property(name) => Operand::Function(f, name),
        other => other,
    })
}

fn arith() -> impl Strategy<Value = ArithOp> {
    prop_oneof![
        Just(ArithOp::Add),
        Just(ArithOp::Sub),
        Just(ArithOp::Mul),
        Just(ArithOp::Div),
        Just(ArithOp::Mod),
    ]
}

/// `a op b` as the parser builds it from flat text: left-associative, `mul` tighter than `add`.
fn arithmetic() -> impl Strategy<Value = Operand> {
    let simple = || {
        prop_oneof![
            property(),
            any::<i64>().prop_map(|i| Operand::Literal(Literal::Int(i)))
        ]
    };
    (simple(), arith(), simple()).prop_map(|(a, op, b)| {
        Operand::Arithmetic(Box::new(unplaced(a)), op, Box::new(unplaced(b)))
    })
}

fn index_of() -> impl Strategy<Value = Operand> {
    (property(), "\\PC{0,8}").prop_map(|(p, text)| match p {
        Operand::Property(name) => Operand::IndexOf(name, text),
        other => other,
    })
}

fn enum_member() -> impl Strategy<Value = Operand> {
    ("[a-z][a-z0-9]{0,4}\\.[A-Z][A-Za-z0-9_]{0,8}", "\\PC{0,8}")
        .prop_map(|(kind, member)| Operand::Literal(Literal::Enum(kind, member)))
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        property(),
        literal(),
        function_of_property(),
        arithmetic(),
        index_of(),
        enum_member()
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
        Just(CompareOp::Has)
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
        (operand(), op(), operand()).prop_map(|(a, o, b)| Expr::Compare(
            unplaced(a),
            unplaced(o),
            unplaced(b)
        )),
        (function(), operand(), operand()).prop_map(|(f, a, b)| Expr::Call(
            unplaced(f),
            unplaced(a),
            unplaced(b)
        )),
        (operand(), proptest::collection::vec(literal(), 1..4))
            .prop_map(|(a, list)| Expr::In(unplaced(a), list.into_iter().map(unplaced).collect())),
    ];
    let any_of_nothing = path().prop_map(|p| {
        Expr::Lambda(Lambda {
            path: unplaced(p),
            quantifier: Quantifier::Any,
            variable: None,
            predicate: None,
        })
    });
    let leaf = prop_oneof![4 => leaf, 1 => any_of_nothing];
    leaf.prop_recursive(5, 32, 2, |inner| {
        let quantifier = prop_oneof![Just(Quantifier::Any), Just(Quantifier::All)];
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            (path(), quantifier, name(), inner).prop_map(|(p, quantifier, variable, e)| {
                Expr::Lambda(Lambda {
                    path: unplaced(p),
                    quantifier,
                    variable: Some(unplaced(variable)),
                    predicate: Some(Box::new(e)),
                })
            }),
        ]
    })
    .prop_filter("lambdas the grammar accepts", |e| {
        lambdas_fit(e, &mut Vec::new())
    })
}

/// Whether the lambdas of `expr` nest at most three deep, each with a variable name not in
/// use around it (what the parser requires).
fn lambdas_fit(expr: &Expr, around: &mut Vec<String>) -> bool {
    match expr {
        Expr::Or(a, b) | Expr::And(a, b) => lambdas_fit(a, around) && lambdas_fit(b, around),
        Expr::Not(e) => lambdas_fit(e, around),
        Expr::Lambda(Lambda {
            variable: Some(variable),
            predicate: Some(predicate),
            ..
        }) => {
            if around.len() == 3 || around.contains(&variable.item) {
                return false;
            }
            around.push(variable.item.clone());
            let fits = lambdas_fit(predicate, around);
            around.pop();
            fits
        }
        _ => true,
    }
}

fn entity() -> crate::Entity {
    let text = "entities:\n  Contact:\n    properties:\n      name: { type: string }\n      age: { type: integer }\n      vip: { type: boolean }\n      born: { type: date }\n";
    crate::SchemaSet::parse(text, true, "t")
        .unwrap()
        .entity("contact")
        .unwrap()
        .clone()
}

/// A generated node: its position is only known once printed, so trees compare without them.
fn unplaced<T>(item: T) -> Located<T> {
    Located::new(item, 0)
}

/// Every operand of the tree as printed, with its 1-based character position.
fn operands(expr: &Expr, out: &mut Vec<(usize, String)>) {
    match expr {
        Expr::Or(a, b) | Expr::And(a, b) => {
            operands(a, out);
            operands(b, out);
        }
        Expr::Not(e) => operands(e, out),
        Expr::Compare(a, _, b) | Expr::Call(_, a, b) => {
            out.extend([(a.position, a.to_string()), (b.position, b.to_string())]);
        }
        Expr::In(a, list) => {
            out.push((a.position, a.to_string()));
            out.extend(list.iter().map(|v| (v.position, v.to_string())));
        }
        Expr::Lambda(lambda) => {
            out.push((lambda.path.position, lambda.path.item.clone()));
            if let Some(variable) = &lambda.variable {
                out.push((variable.position, variable.item.clone()));
            }
            if let Some(predicate) = &lambda.predicate {
                operands(predicate, out);
            }
        }
    }
}

proptest! {
    #[test]
    fn printed_filters_parse_back(tree in expr()) {
        let text = tree.to_string();
        let parsed = parse_filter(&text).map(|e| e.without_positions());
        prop_assert_eq!(parsed, Ok(tree), "{}", text);
    }

    #[test]
    fn operand_positions_point_at_their_text(tree in expr()) {
        let text = tree.to_string();
        let parsed = parse_filter(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut found = Vec::new();
        operands(&parsed, &mut found);
        let chars: Vec<char> = text.chars().collect();
        for (position, operand) in found {
            prop_assert!(position >= 1 && position <= chars.len(), "{} at {}", text, position);
            let rest: String = chars[position - 1..].iter().collect();
            prop_assert!(rest.starts_with(&operand), "{} at {}: {}", text, position, operand);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(text in "\\PC{0,64}") {
        let _ = parse_filter(&text);
    }

    /// Every error, of the grammar or of the types, points into the text (or one past its
    /// end), counted in characters.
    #[test]
    fn error_positions_point_into_the_text(
        text in "[ a-z0-9'()=.,:-]{0,24}|(name|age|vip|born|nope|lead|eq|gt|and|not|null|true|'x'|3|2020-01-01| |\\(|\\)){1,9}"
    ) {
        let length = text.chars().count();
        match parse_filter(&text) {
            Err(err) => prop_assert!(err.position >= 1 && err.position <= length + 1, "{:?} for {:?}", err, text),
            Ok(expr) => {
                if let Err(err) = super::compile_filter(&expr, &entity(), super::Dialect::Sqlite) {
                    prop_assert!(err.position >= 1 && err.position <= length, "{:?} for {:?}", err, text);
                }
            }
        }
    }
}
