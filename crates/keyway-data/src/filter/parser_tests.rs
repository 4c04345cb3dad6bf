//! The `$filter` grammar's tests: trees, positions, messages.

use super::*;

fn at<T>(item: T, position: usize) -> Located<T> {
    Located::new(item, position)
}

fn prop(p: &str, position: usize) -> Located<Operand> {
    at(Operand::Property(p.into()), position)
}

fn lit(l: Literal, position: usize) -> Located<Operand> {
    at(Operand::Literal(l), position)
}

#[test]
fn precedence_and_literals() {
    // 1-based positions:  a=1 eq=3 1=6 or=8 b=11 eq=13 'x''y'=16 and=23 not=27 c=31 gt=33 2.5=36
    let expr = parse_filter("a eq 1 or b eq 'x''y' and not c gt 2.5").unwrap();
    assert_eq!(
        expr,
        Expr::Or(
            Box::new(Expr::Compare(
                prop("a", 1),
                at(CompareOp::Eq, 3),
                lit(Literal::Int(1), 6)
            )),
            Box::new(Expr::And(
                Box::new(Expr::Compare(
                    prop("b", 11),
                    at(CompareOp::Eq, 13),
                    lit(Literal::String("x'y".into()), 16)
                )),
                Box::new(Expr::Not(Box::new(Expr::Compare(
                    prop("c", 31),
                    at(CompareOp::Gt, 33),
                    lit(Literal::Decimal(2.5), 36)
                )))),
            )),
        )
    );
    let expr = parse_filter("born ge 2010-01-05 and at lt 2020-01-01T10:00:00Z and id eq 01234567-89ab-cdef-0123-456789ABCDEF and x eq null").unwrap();
    assert!(format!("{expr}").contains("01234567-89ab-cdef-0123-456789abcdef"));
    assert_eq!(
        parse_filter("contains(name,'Ann')").unwrap(),
        Expr::Call(
            at(StringFunction::Contains, 1),
            prop("name", 10),
            lit(Literal::String("Ann".into()), 15)
        )
    );
}

#[test]
fn positions_count_characters_not_bytes() {
    // 'ÅÅÅ' is 3 characters but 6 bytes: the property after it is at character 19.
    let expr = parse_filter("name eq 'ÅÅÅ' and x eq 1").unwrap();
    let Expr::And(_, right) = expr else {
        panic!("{expr:?}")
    };
    let Expr::Compare(x, _, _) = *right else {
        panic!("{right:?}")
    };
    assert_eq!(x.position, 19);
    let error = parse_filter("name eq 'é' oops").unwrap_err();
    assert_eq!(error.position, 13);
}

#[test]
fn errors_report_positions() {
    let err = |s: &str| parse_filter(s).unwrap_err();
    assert_eq!(err("name eq").position, 8);
    assert_eq!(err("name eq 'abc").position, 9);
    assert_eq!(err("name xx 1").position, 6);
    assert_eq!(err("(a eq 1").position, 8);
    assert_eq!(err("a eq 1 b").position, 8);
    assert_eq!(err("a eq 1; DROP TABLE x").position, 7);
    assert_eq!(err("a eq 12abc").position, 6);
    assert_eq!(err("").position, 1);
    assert!(err(&"(".repeat(100)).message.contains("deeply") || err(&"(".repeat(100)).position > 0);
    assert!(err(&"not ".repeat(200)).message.contains("deeply"));
}

#[test]
fn errors_name_the_offending_token() {
    let text = |s: &str| parse_filter(s).unwrap_err().to_string();
    assert_eq!(
        text("name eq"),
        "$filter: expected a property name or a value, found the end of $filter at position 8"
    );
    assert_eq!(
        text("name xx 1"),
        "$filter: expected a comparison operator (eq ne gt ge lt le) after name, found \"xx\" at position 6"
    );
    assert_eq!(
        text("name = 'Ann'"),
        "$filter: unexpected character '=' at position 6 (comparisons are written eq ne gt ge lt le)"
    );
    assert_eq!(
        text("name eq \"Ann\""),
        "$filter: unexpected character '\"' at position 9 (a text value is written in single quotes: 'text')"
    );
    assert_eq!(
        text("name eq 'Ann"),
        "$filter: string literal 'Ann is not closed at position 9 (a quote inside a text value is written twice: '')"
    );
    assert_eq!(
        text("a eq 1 b"),
        "$filter: unexpected \"b\" after the end of the expression at position 8 (conditions are joined with and, or)"
    );
    assert_eq!(
        text("(a eq 1"),
        "$filter: expected \")\", found the end of $filter at position 8"
    );
    assert_eq!(
        text("a eq 1 and or b eq 2"),
        "$filter: expected a property name or a value, found \"or\" at position 12"
    );
    assert_eq!(
        text("contains(name 'x')"),
        "$filter: expected \",\", found 'x' at position 15"
    );
    assert_eq!(
        text("a eq 12abc"),
        "$filter: \"12abc\" is not a valid number, date, date-time or GUID at position 6"
    );
    assert_eq!(text(""), "$filter: the expression is empty at position 1");
}
