//! Lexer and recursive-descent parser for `$filter`.
//!
//! ```text
//! expr    = and ( "or" and )*
//! and     = unary ( "and" unary )*
//! unary   = "not" unary | compare
//! compare = "(" expr ")" | call | lambda | operand op operand      op = eq ne gt ge lt le has
//!         | operand "in" "(" literal ("," literal)* ")"
//! lambda  = path "/" ("any" | "all") "(" [ variable ":" expr ] ")"
//! path    = name ("/" name)*          (`$it/…`, a lambda variable's `c/…`, `organization/name`)
//! call    = ("contains" | "startswith" | "endswith") "(" operand "," operand ")"
//! operand = term (("add" | "sub") term)*
//! term    = primary (("mul" | "div" | "mod") primary)*
//! primary = path | literal | function "(" path ")" | "indexof(" path "," string ")"
//! ```

use super::{
    ArithOp, CompareOp, Expr, FilterError, Lambda, Literal, Located, Operand, Quantifier,
    StringFunction,
};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Word(String),
    Literal(Literal),
    Open,
    Close,
    Comma,
    Slash,
    Colon,
}

impl Token {
    /// The token as an error message names it.
    fn describe(&self) -> String {
        match self {
            Token::Word(word) => format!("{word:?}"),
            Token::Literal(literal) => format!("{literal}"),
            Token::Open => "\"(\"".into(),
            Token::Close => "\")\"".into(),
            Token::Comma => "\",\"".into(),
            Token::Slash => "\"/\"".into(),
            Token::Colon => "\":\"".into(),
        }
    }
}

/// Longest `$filter` accepted (characters).
const MAX_LEN: usize = 4096;
/// Deepest nesting accepted (stops stack exhaustion by crafted input).
const MAX_DEPTH: usize = 64;
/// Arithmetic operators in one `$filter` at most.
const MAX_ARITHMETIC: usize = 32;
/// Names in one path (`c/organization/name` has three).
const MAX_PATH_SEGMENTS: usize = 4;
/// `any`/`all` inside one another at most.
pub(crate) const MAX_LAMBDA_DEPTH: usize = 3;
/// Characters of a string literal quoted in an error message.
const PREVIEW_CHARS: usize = 24;

fn fail<T>(position: usize, message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError::at(position, message))
}

/// What people write for a comparison or a string in other languages, and the OData form.
fn character_hint(c: char) -> Option<&'static str> {
    match c {
        '=' | '<' | '>' | '!' => Some("comparisons are written eq ne gt ge lt le"),
        '&' | '|' => Some("conditions are joined with and, or, not"),
        '"' => Some("a text value is written in single quotes: 'text'"),
        _ => None,
    }
}

/// The start of a string literal, for the message that says it is not closed.
fn preview(text: &str) -> String {
    let mut shown: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        shown.push('…');
    }
    format!("'{shown}")
}

fn lex(input: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let chars: Vec<char> = input.chars().collect();
    if chars.len() > MAX_LEN {
        return fail(MAX_LEN + 1, format!("longer than {MAX_LEN} characters"));
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
            '/' => {
                tokens.push((at, Token::Slash));
                i += 1;
            }
            ':' => {
                tokens.push((at, Token::Colon));
                i += 1;
            }
            '\'' => {
                let (text, next) = string_at(&chars, i)?;
                i = next;
                tokens.push((at, Token::Literal(Literal::String(text))));
            }
            _ if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.' | '$') => {
                let start = i;
                i += 1;
                // A colon belongs to a date-time (which starts with a digit); elsewhere it
                // ends a lambda variable (`c:`).
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '_' | '-' | '+' | '.')
                        || (chars[i] == ':' && c.is_ascii_digit()))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word.contains('.')
                    && word.starts_with(|c: char| c.is_ascii_alphabetic())
                    && chars.get(i) == Some(&'\'')
                {
                    // `Namespace.Type'member'`: an enum literal.
                    let (member, next) = string_at(&chars, i)?;
                    i = next;
                    tokens.push((at, Token::Literal(Literal::Enum(word, member))));
                    continue;
                }
                tokens.push((at, classify(&word, at)?));
            }
            _ => {
                let error = FilterError::at(at, format!("unexpected character {c:?}"));
                return Err(match character_hint(c) {
                    Some(hint) => error.with_hint(hint),
                    None => error,
                });
            }
        }
    }
    Ok(tokens)
}

/// The string literal whose opening quote is at `open`, and the index after its closing one.
fn string_at(chars: &[char], open: usize) -> Result<(String, usize), FilterError> {
    let mut text = String::new();
    let mut i = open + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(FilterError::at(
                    open + 1,
                    format!("string literal {} is not closed", preview(&text)),
                )
                .with_hint("a quote inside a text value is written twice: ''"));
            }
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                text.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((text, i + 1)),
            Some(c) => {
                text.push(*c);
                i += 1;
            }
        }
    }
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

pub(super) fn classify(word: &str, at: usize) -> Result<Token, FilterError> {
    Ok(match word {
        "null" => Token::Literal(Literal::Null),
        "true" => Token::Literal(Literal::Bool(true)),
        "false" => Token::Literal(Literal::Bool(false)),
        "$it" => Token::Word(word.to_string()),
        _ if crate::formats::is_guid(word) => {
            Token::Literal(Literal::Guid(word.to_ascii_lowercase()))
        }
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
        _ => return fail(at, format!("{word:?} is not a property name or a value")),
    })
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    end: usize,
    depth: usize,
    operators: usize,
    /// The variables of the `any`/`all` being parsed, outermost first.
    lambdas: Vec<String>,
}

const COMPARISON: &str = "a comparison operator (eq ne gt ge lt le)";

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(p, _)| *p)
    }

    /// `expected …, found …` at the next token (or at the end).
    fn unexpected<T>(&self, expected: &str) -> Result<T, FilterError> {
        let found = self
            .peek()
            .map_or_else(|| "the end of $filter".to_string(), Token::describe);
        fail(
            self.position(),
            format!("expected {expected}, found {found}"),
        )
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), FilterError> {
        if self.peek() == Some(&token) {
            self.next += 1;
            Ok(())
        } else {
            self.unexpected(what)
        }
    }

    fn deeper(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return fail(
                self.position(),
                format!("nested too deeply (at most {MAX_DEPTH} levels)"),
            );
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        self.deeper()?;
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
            self.deeper()?;
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
            self.expect(Token::Close, "\")\"")?;
            return Ok(inner);
        }
        let at = self.position();
        let function = match self.peek() {
            Some(Token::Word(w)) if w == "contains" => Some(StringFunction::Contains),
            Some(Token::Word(w)) if w == "startswith" => Some(StringFunction::StartsWith),
            Some(Token::Word(w)) if w == "endswith" => Some(StringFunction::EndsWith),
            _ => None,
        };
        if let Some(segments) = self.lambda_ahead() {
            return self.lambda(segments);
        }
        if let Some(function) = function
            && self.tokens.get(self.next + 1).map(|(_, t)| t) == Some(&Token::Open)
        {
            self.next += 2;
            let a = self.operand()?;
            self.expect(Token::Comma, "\",\"")?;
            let b = self.operand()?;
            self.expect(Token::Close, "\")\"")?;
            return Ok(Expr::Call(Located::new(function, at), a, b));
        }
        let left = self.operand()?;
        if self.peek_word("in") {
            return self.in_list(left);
        }
        let op_at = self.position();
        let op = match self.peek() {
            Some(Token::Word(w)) => match w.as_str() {
                "eq" => CompareOp::Eq,
                "ne" => CompareOp::Ne,
                "gt" => CompareOp::Gt,
                "ge" => CompareOp::Ge,
                "lt" => CompareOp::Lt,
                "le" => CompareOp::Le,
                "has" => CompareOp::Has,
                _ => return self.unexpected(&format!("{COMPARISON} after {left}")),
            },
            _ => return self.unexpected(&format!("{COMPARISON} after {left}")),
        };
        self.next += 1;
        let right = self.operand()?;
        Ok(Expr::Compare(left, Located::new(op, op_at), right))
    }

    /// `in ( value, value, … )` after `subject`: one to [`MAX_IN_VALUES`] values.
    fn in_list(&mut self, subject: Located<Operand>) -> Result<Expr, FilterError> {
        self.next += 1;
        self.expect(Token::Open, "\"(\" after in")?;
        let mut values = Vec::new();
        loop {
            if values.len() == super::MAX_IN_VALUES {
                return fail(
                    self.position(),
                    format!(
                        "more than {} values in an in (…) list",
                        super::MAX_IN_VALUES
                    ),
                );
            }
            let at = self.position();
            match self.tokens.get(self.next).map(|(_, t)| t.clone()) {
                Some(Token::Literal(literal)) => {
                    self.next += 1;
                    values.push(Located::new(Operand::Literal(literal), at));
                }
                _ => return self.unexpected("a value in the in (…) list"),
            }
            match self.peek() {
                Some(Token::Comma) => self.next += 1,
                Some(Token::Close) => {
                    self.next += 1;
                    return Ok(Expr::In(subject, values));
                }
                _ => return self.unexpected("\",\" or \")\" in the in (…) list"),
            }
        }
    }

    /// `term (("add" | "sub") term)*`
    fn operand(&mut self) -> Result<Located<Operand>, FilterError> {
        let mut left = self.term()?;
        while let Some(op) = self.arith_op(false) {
            self.arithmetic()?;
            self.next += 1;
            let right = self.term()?;
            let at = left.position;
            left = Located::new(Operand::Arithmetic(Box::new(left), op, Box::new(right)), at);
        }
        Ok(left)
    }

    /// `primary (("mul" | "div" | "mod") primary)*`
    fn term(&mut self) -> Result<Located<Operand>, FilterError> {
        let mut left = self.primary()?;
        while let Some(op) = self.arith_op(true) {
            self.arithmetic()?;
            self.next += 1;
            let right = self.primary()?;
            let at = left.position;
            left = Located::new(Operand::Arithmetic(Box::new(left), op, Box::new(right)), at);
        }
        Ok(left)
    }

    /// Counts an arithmetic operator: the tree they build is compiled recursively.
    fn arithmetic(&mut self) -> Result<(), FilterError> {
        self.operators += 1;
        if self.operators > MAX_ARITHMETIC {
            return fail(
                self.position(),
                format!("more than {MAX_ARITHMETIC} arithmetic operators"),
            );
        }
        Ok(())
    }

    /// The arithmetic operator next, of the multiplicative kind or of the additive one.
    fn arith_op(&self, multiplicative: bool) -> Option<ArithOp> {
        match self.peek() {
            Some(Token::Word(w)) => {
                ArithOp::parse(w).filter(|op| op.multiplicative() == multiplicative)
            }
            _ => None,
        }
    }

    /// `indexof(property, 'text')`.
    fn index_of(&mut self, at: usize) -> Result<Located<Operand>, FilterError> {
        self.next += 2;
        let Some(property) = self.path()? else {
            return self.unexpected("a property name in indexof(…)");
        };
        self.expect(Token::Comma, "\",\"")?;
        let text = match self.tokens.get(self.next).map(|(_, t)| t.clone()) {
            Some(Token::Literal(Literal::String(text))) => text,
            _ => return self.unexpected("a text value in indexof(…)"),
        };
        self.next += 1;
        self.expect(Token::Close, "\")\"")?;
        Ok(Located::new(Operand::IndexOf(property, text), at))
    }

    /// `name ("/" name)*` at the next token, as written (`c/organization/name`); `None`
    /// unless a name is next.
    fn path(&mut self) -> Result<Option<String>, FilterError> {
        let mut path = match self.peek() {
            Some(Token::Word(name)) if !is_keyword(name) => name.clone(),
            _ => return Ok(None),
        };
        self.next += 1;
        let mut segments = 1;
        while self.peek() == Some(&Token::Slash) {
            self.next += 1;
            match self.peek() {
                Some(Token::Word(name)) if !is_keyword(name) && name != "$it" => {
                    segments += 1;
                    if segments > MAX_PATH_SEGMENTS {
                        return fail(
                            self.position(),
                            format!("a path has at most {MAX_PATH_SEGMENTS} names"),
                        );
                    }
                    path.push('/');
                    path.push_str(name);
                    self.next += 1;
                }
                _ => return self.unexpected(&format!("a property name after {path}/")),
            }
        }
        Ok(Some(path))
    }

    /// The number of names before `/any(` or `/all(` if a lambda starts at the next token.
    fn lambda_ahead(&self) -> Option<usize> {
        let token = |i: usize| self.tokens.get(self.next + i).map(|(_, t)| t);
        let mut names = 0;
        loop {
            match token(2 * names) {
                Some(Token::Word(w)) if !is_keyword(w) => {}
                _ => return None,
            }
            if token(2 * names + 1) != Some(&Token::Slash) {
                return None;
            }
            names += 1;
            if let (Some(Token::Word(w)), Some(Token::Open)) =
                (token(2 * names), token(2 * names + 1))
                && (w == "any" || w == "all")
            {
                return Some(names);
            }
            if names >= MAX_PATH_SEGMENTS {
                return None;
            }
        }
    }

    /// `path/any(v: expr)`, `path/any()` or `path/all(v: expr)` (`names` names in the path).
    fn lambda(&mut self, names: usize) -> Result<Expr, FilterError> {
        let at = self.position();
        let mut path = Vec::with_capacity(names);
        for _ in 0..names {
            if let Some(Token::Word(name)) = self.peek() {
                path.push(name.clone());
            }
            self.next += 2;
        }
        let quantifier_at = self.position();
        let quantifier = if self.peek_word("any") {
            Quantifier::Any
        } else {
            Quantifier::All
        };
        self.next += 2;
        let path = Located::new(path.join("/"), at);
        if self.peek() == Some(&Token::Close) {
            self.next += 1;
            if quantifier == Quantifier::All {
                return fail(
                    quantifier_at,
                    format!("all() needs a condition: {path}/all(x: x/… eq …)"),
                );
            }
            return Ok(Expr::Lambda(Lambda {
                path,
                quantifier,
                variable: None,
                predicate: None,
            }));
        }
        let variable_at = self.position();
        let variable = match self.peek() {
            Some(Token::Word(name)) if !is_keyword(name) && name != "$it" => name.clone(),
            _ => return self.unexpected(&format!("a variable name after {path}/{quantifier}(")),
        };
        if self.lambdas.contains(&variable) {
            return fail(
                variable_at,
                format!("{variable} already names the variable of an enclosing any/all"),
            );
        }
        if self.lambdas.len() == MAX_LAMBDA_DEPTH {
            return fail(
                quantifier_at,
                format!("any/all nest deeper than {MAX_LAMBDA_DEPTH} levels"),
            );
        }
        self.next += 1;
        self.expect(Token::Colon, &format!("\":\" after {variable}"))?;
        self.lambdas.push(variable.clone());
        let predicate = self.expr()?;
        self.lambdas.pop();
        self.expect(Token::Close, "\")\"")?;
        Ok(Expr::Lambda(Lambda {
            path,
            quantifier,
            variable: Some(Located::new(variable, variable_at)),
            predicate: Some(Box::new(predicate)),
        }))
    }

    fn primary(&mut self) -> Result<Located<Operand>, FilterError> {
        let at = self.position();
        if self.peek_word("indexof")
            && self.tokens.get(self.next + 1).map(|(_, t)| t) == Some(&Token::Open)
        {
            return self.index_of(at);
        }
        match self.tokens.get(self.next).map(|(_, t)| t.clone()) {
            Some(Token::Literal(literal)) => {
                self.next += 1;
                Ok(Located::new(Operand::Literal(literal), at))
            }
            Some(Token::Word(word)) => {
                let opens = self.tokens.get(self.next + 1).map(|(_, t)| t) == Some(&Token::Open);
                match super::ValueFunction::parse(&word) {
                    Some(function) if opens => {
                        self.next += 2;
                        let Some(argument) = self.path()? else {
                            return self.unexpected(&format!("a property name in {word}(…)"));
                        };
                        self.expect(Token::Close, "\")\"")?;
                        Ok(Located::new(Operand::Function(function, argument), at))
                    }
                    _ if !is_keyword(&word) => match self.path()? {
                        Some(path) => Ok(Located::new(Operand::Property(path), at)),
                        None => self.unexpected("a property name or a value"),
                    },
                    _ => self.unexpected("a property name or a value"),
                }
            }
            _ => self.unexpected("a property name or a value"),
        }
    }
}

/// Words that are operators, never property names.
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "and"
            | "or"
            | "not"
            | "eq"
            | "ne"
            | "gt"
            | "ge"
            | "lt"
            | "le"
            | "in"
            | "has"
            | "add"
            | "sub"
            | "mul"
            | "div"
            | "mod"
    )
}

/// Parses a `$filter` value (already URL-decoded).
pub fn parse_filter(input: &str) -> Result<Expr, FilterError> {
    let tokens = lex(input)?;
    let end = input.chars().count() + 1;
    if tokens.is_empty() {
        return fail(1, "the expression is empty");
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        end,
        depth: 0,
        operators: 0,
        lambdas: Vec::new(),
    };
    let expr = parser.expr()?;
    if let Some(extra) = parser.peek() {
        return Err(FilterError::at(
            parser.position(),
            format!(
                "unexpected {} after the end of the expression",
                extra.describe()
            ),
        )
        .with_hint("conditions are joined with and, or"));
    }
    Ok(expr)
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
