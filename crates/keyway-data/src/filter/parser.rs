//! Lexer and recursive-descent parser for `$filter`.
//!
//! ```text
//! expr    = and ( "or" and )*
//! and     = unary ( "and" unary )*
//! unary   = "not" unary | compare
//! compare = "(" expr ")" | call | operand [ op operand ]      op = eq ne gt ge lt le
//! call    = ("contains" | "startswith" | "endswith") "(" operand "," operand ")"
//! operand = property | literal
//! ```

use super::{CompareOp, Expr, FilterError, Literal, Operand, StringFunction};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(Literal),
    Open,
    Close,
    Comma,
}

/// Longest `$filter` accepted (characters).
const MAX_LEN: usize = 4096;
/// Deepest nesting accepted (stops stack exhaustion by crafted input).
const MAX_DEPTH: usize = 64;

fn fail<T>(position: usize, message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError {
        position,
        message: message.into(),
    })
}

fn lex(input: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let chars: Vec<char> = input.chars().collect();
    if chars.len() > MAX_LEN {
        return fail(MAX_LEN, format!("longer than {MAX_LEN} characters"));
    }
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                tokens.push((at, Token::Open));
                i += 1;
            }
            ')' => {
                tokens.push((at, Token::Close));
                i += 1;
            }
            ',' => {
                tokens.push((at, Token::Comma));
                i += 1;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return fail(at, "string literal is not closed"),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                tokens.push((at, Token::Literal(Literal::String(text))));
            }
            _ if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '+' || c == '.' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '_' | '-' | '+' | '.' | ':'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push((at, classify(&word, at)?));
            }
            _ => return fail(at, format!("unexpected character {c:?}")),
        }
    }
    Ok(tokens)
}

fn is_guid(word: &str) -> bool {
    let parts: Vec<&str> = word.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A date literal: the same grammar as stored values (`crate::datetime`), so a day that does
/// not exist is not a date.
fn is_date(word: &str) -> bool {
    crate::datetime::parse_date(word).is_ok()
}

/// `YYYY-MM-DDThh:mm[:ss[.fff]](Z|±hh:mm)`, checked by the RFC 3339 grammar.
fn is_datetime(word: &str) -> bool {
    crate::datetime::parse_date_time(word).is_ok()
}

fn classify(word: &str, at: usize) -> Result<Token, FilterError> {
    Ok(match word {
        "null" => Token::Literal(Literal::Null),
        "true" => Token::Literal(Literal::Bool(true)),
        "false" => Token::Literal(Literal::Bool(false)),
        _ if is_guid(word) => Token::Literal(Literal::Guid(word.to_ascii_lowercase())),
        _ if is_date(word) => Token::Literal(Literal::Date(word.to_string())),
        _ if is_datetime(word) => Token::Literal(Literal::DateTime(word.to_string())),
        _ if word.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') => {
            if let Ok(i) = word.parse::<i64>() {
                Token::Literal(Literal::Int(i))
            } else if let Ok(d) = word.parse::<f64>()
                && d.is_finite()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
            {
                Token::Literal(Literal::Decimal(d))
            } else {
                return fail(
                    at,
                    format!("{word:?} is not a valid number, date, date-time or GUID"),
                );
            }
        }
        _ if word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Token::Word(word.to_string())
        }
        _ => return fail(at, format!("{word:?} is not a property name or literal")),
    })
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(p, _)| *p)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), FilterError> {
        if self.peek() == Some(&token) {
            self.next += 1;
            Ok(())
        } else {
            fail(self.position(), format!("expected {what}"))
        }
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return fail(self.position(), "nested too deeply");
        }
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.next += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.next += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.peek_word("not") {
            self.next += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return fail(self.position(), "nested too deeply");
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, FilterError> {
        if self.peek() == Some(&Token::Open) {
            self.next += 1;
            let inner = self.expr()?;
            self.expect(Token::Close, "')'")?;
            return Ok(inner);
        }
        let function = match self.peek() {
            Some(Token::Word(w)) if w == "contains" => Some(StringFunction::Contains),
            Some(Token::Word(w)) if w == "startswith" => Some(StringFunction::StartsWith),
            Some(Token::Word(w)) if w == "endswith" => Some(StringFunction::EndsWith),
            _ => None,
        };
        if let Some(function) = function
            && self.tokens.get(self.next + 1).map(|(_, t)| t) == Some(&Token::Open)
        {
            self.next += 2;
            let a = self.operand()?;
            self.expect(Token::Comma, "','")?;
            let b = self.operand()?;
            self.expect(Token::Close, "')'")?;
            return Ok(Expr::Call(function, a, b));
        }
        let left = self.operand()?;
        let at = self.position();
        let op = match self.peek() {
            Some(Token::Word(w)) => match w.as_str() {
                "eq" => CompareOp::Eq,
                "ne" => CompareOp::Ne,
                "gt" => CompareOp::Gt,
                "ge" => CompareOp::Ge,
                "lt" => CompareOp::Lt,
                "le" => CompareOp::Le,
                other => {
                    return fail(
                        at,
                        format!(
                            "expected a comparison operator (eq ne gt ge lt le), found {other:?}"
                        ),
                    );
                }
            },
            _ => return fail(at, "expected a comparison operator (eq ne gt ge lt le)"),
        };
        self.next += 1;
        let right = self.operand()?;
        Ok(Expr::Compare(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, FilterError> {
        let at = self.position();
        match self.tokens.get(self.next).map(|(_, t)| t.clone()) {
            Some(Token::Literal(literal)) => {
                self.next += 1;
                Ok(Operand::Literal(literal))
            }
            Some(Token::Word(word))
                if !matches!(
                    word.as_str(),
                    "and" | "or" | "not" | "eq" | "ne" | "gt" | "ge" | "lt" | "le"
                ) =>
            {
                self.next += 1;
                Ok(Operand::Property(word))
            }
            Some(_) => fail(at, "expected a property name or a literal"),
            None => fail(at, "unexpected end of $filter"),
        }
    }
}

/// Parses a `$filter` value (already URL-decoded).
pub fn parse_filter(input: &str) -> Result<Expr, FilterError> {
    let tokens = lex(input)?;
    let end = input.chars().count() + 1;
    if tokens.is_empty() {
        return fail(1, "empty $filter");
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        end,
        depth: 0,
    };
    let expr = parser.expr()?;
    if parser.next < parser.tokens.len() {
        return fail(
            parser.position(),
            "unexpected text after the end of the expression",
        );
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(p: &str) -> Operand {
        Operand::Property(p.into())
    }

    #[test]
    fn precedence_and_literals() {
        let expr = parse_filter("a eq 1 or b eq 'x''y' and not c gt 2.5").unwrap();
        assert_eq!(
            expr,
            Expr::Or(
                Box::new(Expr::Compare(
                    prop("a"),
                    CompareOp::Eq,
                    Operand::Literal(Literal::Int(1))
                )),
                Box::new(Expr::And(
                    Box::new(Expr::Compare(
                        prop("b"),
                        CompareOp::Eq,
                        Operand::Literal(Literal::String("x'y".into()))
                    )),
                    Box::new(Expr::Not(Box::new(Expr::Compare(
                        prop("c"),
                        CompareOp::Gt,
                        Operand::Literal(Literal::Decimal(2.5))
                    )))),
                )),
            )
        );
        let expr = parse_filter("born ge 2010-01-05 and at lt 2020-01-01T10:00:00Z and id eq 01234567-89ab-cdef-0123-456789ABCDEF and x eq null").unwrap();
        assert!(format!("{expr}").contains("01234567-89ab-cdef-0123-456789abcdef"));
        assert_eq!(
            parse_filter("contains(name,'Ann')").unwrap(),
            Expr::Call(
                StringFunction::Contains,
                prop("name"),
                Operand::Literal(Literal::String("Ann".into()))
            )
        );
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
        assert!(
            err(&"(".repeat(100)).message.contains("deeply") || err(&"(".repeat(100)).position > 0
        );
        assert!(err(&"not ".repeat(200)).message.contains("deeply"));
    }
}
