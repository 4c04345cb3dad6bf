//! The SCIM filter grammar (RFC 7644 §3.4.2.2) as a typed tree: a lexer and a
//! recursive-descent parser with precedence `not` > `and` > `or`. Input is bounded (length,
//! nesting, number of comparisons) before and while it is parsed, so a hostile filter costs
//! at most a few kilobytes of work. Nothing here knows SQL: [`super::filter_sql`] compiles a
//! tree, [`super::filter_eval`] evaluates one against JSON (PATCH value filters).

use super::error::{ScimError, ScimType};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;
/// Deepest nesting of parentheses, `not` and value filters.
pub const MAX_FILTER_DEPTH: usize = 16;
/// Most comparisons in one filter.
pub const MAX_FILTER_TERMS: usize = 64;

/// `attr` or `attr.sub`; names as written (compared case-insensitively, RFC 7643 §2.1). A
/// schema URN prefix of the resource's own core schema is dropped by the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// `attr` or `attr.sub`, lower-cased: the key the attribute tables use.
    pub fn key(&self) -> String {
        match &self.sub {
            Some(sub) => format!("{}.{}", self.attr, sub).to_ascii_lowercase(),
            None => self.attr.to_ascii_lowercase(),
        }
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sub {
            Some(sub) => write!(f, "{}.{sub}", self.attr),
            None => f.write_str(&self.attr),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<CompareOp> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
}

/// A comparison's right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter`, whose paths
    /// name sub-attributes of `attr`.
    ValuePath {
        attr: String,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Str(String),
    Word(String),
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidFilter, detail)
}

/// Splits a filter (or PATCH path) into tokens.
pub(crate) fn lex(input: &str) -> Result<Vec<Token>, ScimError> {
    if input.len() > MAX_FILTER_BYTES {
        return Err(invalid(format!(
            "the filter is longer than {MAX_FILTER_BYTES} bytes"
        )));
    }
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            // Any whitespace the word loop below stops at must be skipped here, or that loop
            // would make empty words forever (a proptest found U+0085).
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                // A JSON string (RFC 7644: compValue strings are JSON strings).
                let mut end = None;
                let mut escaped = false;
                for (i, ch) in input[start + 1..].char_indices() {
                    if escaped {
                        escaped = false;
                    } else if ch == '\\' {
                        escaped = true;
                    } else if ch == '"' {
                        end = Some(start + 1 + i);
                        break;
                    }
                }
                let end = end.ok_or_else(|| invalid("a string is not closed with \""))?;
                let text: String = serde_json::from_str(&input[start..=end])
                    .map_err(|e| invalid(format!("a string is not valid JSON: {e}")))?;
                tokens.push(Token::Str(text));
                while chars.peek().is_some_and(|&(i, _)| i <= end) {
                    chars.next();
                }
            }
            _ => {
                let mut end = input.len();
                while let Some(&(i, ch)) = chars.peek() {
                    if ch.is_whitespace() || matches!(ch, '(' | ')' | '[' | ']' | '"') {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(input[start..end].to_string()));
            }
        }
    }
    Ok(tokens)
}

/// The core schema URN a path may be prefixed with (`urn:…:User:userName`).
pub(crate) fn strip_urn<'a>(word: &'a str, core_urn: &str) -> &'a str {
    match word.get(..core_urn.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(core_urn) => word
            .get(core_urn.len()..)
            .map(|rest| rest.trim_start_matches(':'))
            .unwrap_or(word),
        _ => word,
    }
}

/// Parses `attr` / `attr.sub` (`$ref` allowed as a name).
pub(crate) fn attr_path(word: &str, core_urn: &str) -> Result<AttrPath, ScimError> {
    let word = strip_urn(word, core_urn);
    let valid_name = |name: &str| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let (attr, sub) = match word.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (word, None),
    };
    if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
        return Err(invalid(format!("{word:?} is not an attribute path")));
    }
    Ok(AttrPath {
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    })
}

pub(crate) struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    depth: usize,
    terms: usize,
    core_urn: &'a str,
}

/// Parses a whole filter.
pub fn parse_filter(input: &str, core_urn: &str) -> Result<Filter, ScimError> {
    let tokens = lex(input)?;
    if tokens.is_empty() {
        return Err(invalid("the filter is empty"));
    }
    let mut parser = Parser::new(&tokens, core_urn);
    let filter = parser.or()?;
    if parser.pos != tokens.len() {
        return Err(invalid(format!(
            "unexpected {} after a complete filter",
            parser.describe()
        )));
    }
    Ok(filter)
}

impl<'a> Parser<'a> {
    pub(crate) fn new(tokens: &'a [Token], core_urn: &'a str) -> Parser<'a> {
        Parser {
            tokens,
            pos: 0,
            depth: 0,
            terms: 0,
            core_urn,
        }
    }

    /// Whether every token was used.
    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.tokens.len()
    }

    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "the end".into(),
            Some(Token::Word(w)) => format!("{w:?}"),
            Some(Token::Str(_)) => "a string".into(),
            Some(t) => format!("{t:?}"),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn deeper(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(invalid(format!(
                "the filter nests deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        Ok(())
    }

    pub(crate) fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.keyword("not") && matches!(self.tokens.get(self.pos + 1), Some(Token::Open)) {
            self.pos += 1;
            self.deeper()?;
            let inner = self.group()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if matches!(self.peek(), Some(Token::Open)) {
            self.deeper()?;
            let inner = self.group()?;
            self.depth -= 1;
            return Ok(inner);
        }
        self.comparison()
    }

    /// `( filter )`.
    fn group(&mut self) -> Result<Filter, ScimError> {
        self.pos += 1;
        let inner = self.or()?;
        if !matches!(self.peek(), Some(Token::Close)) {
            return Err(invalid(format!("expected ) but found {}", self.describe())));
        }
        self.pos += 1;
        Ok(inner)
    }

    fn comparison(&mut self) -> Result<Filter, ScimError> {
        let Some(Token::Word(word)) = self.peek() else {
            return Err(invalid(format!(
                "expected an attribute but found {}",
                self.describe()
            )));
        };
        self.pos += 1;
        if matches!(self.peek(), Some(Token::OpenBracket)) {
            let path = attr_path(word, self.core_urn)?;
            if path.sub.is_some() {
                return Err(invalid(format!(
                    "{word:?}[…]: a value filter needs a plain attribute"
                )));
            }
            self.pos += 1;
            self.deeper()?;
            let inner = self.or()?;
            self.depth -= 1;
            if !matches!(self.peek(), Some(Token::CloseBracket)) {
                return Err(invalid(format!("expected ] but found {}", self.describe())));
            }
            self.pos += 1;
            return Ok(Filter::ValuePath {
                attr: path.attr,
                filter: Box::new(inner),
            });
        }
        let path = attr_path(word, self.core_urn)?;
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return Err(invalid(format!(
                "the filter has more than {MAX_FILTER_TERMS} comparisons"
            )));
        }
        let op = match self.peek() {
            Some(Token::Word(op)) if op.eq_ignore_ascii_case("pr") => {
                self.pos += 1;
                return Ok(Filter::Present(path));
            }
            Some(Token::Word(op)) => CompareOp::parse(op).ok_or_else(|| {
                invalid(format!(
                    "{op:?} is not an operator (eq ne co sw ew gt ge lt le pr)"
                ))
            })?,
            _ => {
                return Err(invalid(format!(
                    "expected an operator after {path} but found {}",
                    self.describe()
                )));
            }
        };
        self.pos += 1;
        let value = match self.peek() {
            Some(Token::Str(s)) => CompValue::Str(s.clone()),
            Some(Token::Word(w)) => match w.as_str() {
                "true" => CompValue::Bool(true),
                "false" => CompValue::Bool(false),
                "null" => CompValue::Null,
                number => CompValue::Num(
                    number
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .ok_or_else(|| {
                            invalid(format!(
                                "{number:?} is not a value (strings take double quotes)"
                            ))
                        })?,
                ),
            },
            _ => {
                return Err(invalid(format!(
                    "expected a value after {path} but found {}",
                    self.describe()
                )));
            }
        };
        self.pos += 1;
        Ok(Filter::Compare { path, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn p(s: &str) -> Result<Filter, ScimError> {
        parse_filter(s, URN)
    }

    fn kind(r: Result<Filter, ScimError>) -> Option<ScimType> {
        r.err().and_then(|e| e.scim_type())
    }

    #[test]
    fn precedence_and_grouping() {
        let f = p(r#"userName eq "a" or name.givenName sw "b" and not (active eq false)"#).unwrap();
        let Filter::Or(left, right) = f else {
            panic!("or at the top")
        };
        assert!(matches!(
            *left,
            Filter::Compare {
                op: CompareOp::Eq,
                ..
            }
        ));
        let Filter::And(_, not) = *right else {
            panic!("and binds tighter")
        };
        assert!(matches!(*not, Filter::Not(_)));
    }

    #[test]
    fn names_operators_and_urns_are_case_insensitive() {
        let f = p(&format!("{URN}:USERNAME EQ \"X\" AND emails PR")).unwrap();
        let Filter::And(a, b) = f else { panic!() };
        let Filter::Compare { path, value, .. } = *a else {
            panic!()
        };
        assert_eq!(path.key(), "username");
        assert_eq!(value, CompValue::Str("X".into()));
        assert!(matches!(*b, Filter::Present(_)));
    }

    #[test]
    fn value_paths() {
        let f = p(r#"emails[type eq "work" and value co "@example.com"]"#).unwrap();
        let Filter::ValuePath { attr, filter } = f else {
            panic!()
        };
        assert_eq!(attr, "emails");
        assert!(matches!(*filter, Filter::And(..)));
    }

    #[test]
    fn strings_are_json_and_stay_data() {
        let f = p(r#"userName eq "a\"b' OR 1=1 --%_\\ \u00e9""#).unwrap();
        let Filter::Compare { value, .. } = f else {
            panic!()
        };
        assert_eq!(value, CompValue::Str("a\"b' OR 1=1 --%_\\ é".into()));
    }

    #[test]
    fn bad_filters_are_invalid_filter() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName eq 'single'",
            "userName zz \"a\"",
            "(userName eq \"a\"",
            "userName eq \"a\")",
            "userName eq \"open",
            "1abc eq \"a\"",
            "userName eq \"a\" and",
            "emails[type eq \"work\"",
            "a.b.c eq \"x\"",
            "userName eq NaN",
        ] {
            assert_eq!(kind(p(bad)), Some(ScimType::InvalidFilter), "{bad:?}");
        }
    }

    #[test]
    fn unicode_whitespace_separates_words() {
        let f = p("userName\u{85}eq\u{a0}\"a\"").unwrap();
        assert!(matches!(
            f,
            Filter::Compare {
                op: CompareOp::Eq,
                ..
            }
        ));
        assert!(p("\u{2028}").is_err());
    }

    #[test]
    fn limits() {
        let long = format!("userName eq \"{}\"", "x".repeat(10_000));
        assert_eq!(kind(p(&long)), Some(ScimType::InvalidFilter));
        let deep = format!("{}userName eq \"a\"{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(kind(p(&deep)), Some(ScimType::InvalidFilter));
        let nots = format!("{}userName eq \"a\"{}", "not (".repeat(40), ")".repeat(40));
        assert_eq!(kind(p(&nots)), Some(ScimType::InvalidFilter));
        let many = vec!["userName eq \"a\""; 100].join(" or ");
        assert_eq!(kind(p(&many)), Some(ScimType::InvalidFilter));
        let fine = vec!["userName eq \"a\""; 60].join(" or ");
        assert!(p(&fine).is_ok());
    }
}
