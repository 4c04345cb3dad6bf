//! `$search` (OData 4.01 §5.1.7): words, `"phrases"`, `AND`, `OR`, `NOT` and parentheses
//! (adjacent terms are ANDed; NOT binds tighter than AND, AND tighter than OR), and `word*`
//! for a prefix. Each term becomes one parameterised test against the backend's own
//! full-text index (`search_index.rs`): SQLite FTS5, PostgreSQL `tsvector` with GIN,
//! MariaDB `FULLTEXT`. Terms are always bound values, never SQL or index syntax.

use crate::filter::sql::quote;
use crate::query::QueryError;
use crate::search_index::{fts_table, search_column};
use crate::table::table_name;
use crate::{Dialect, Entity, SqlFragment, SqlValue};

/// Terms in one `$search` at most (each is a sub-query or an index probe).
pub const MAX_SEARCH_TERMS: usize = 16;
/// Longest `$search` accepted (characters).
const MAX_SEARCH_LEN: usize = 1024;
/// Deepest nesting of parentheses and `NOT` (the parser recurses on them: without a bound a
/// few kilobytes of `(` would overflow the stack and abort the process).
const MAX_SEARCH_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// A word; `prefix` for `word*`.
    Term {
        text: String,
        prefix: bool,
    },
    Phrase(String),
    And(Box<Search>, Box<Search>),
    Or(Box<Search>, Box<Search>),
    Not(Box<Search>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Word(String),
    Phrase(String),
}

fn fail(message: String) -> QueryError {
    QueryError(format!("$search: {message}"))
}

fn tokens(text: &str) -> Result<Vec<(usize, Token)>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((at, Token::Open));
                i += 1;
            }
            ')' => {
                out.push((at, Token::Close));
                i += 1;
            }
            '"' => {
                let mut phrase = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(fail(format!(
                                "the phrase at position {at} is not closed (a \" is missing)"
                            )));
                        }
                        Some('"') => break,
                        // OData 4.01: a backslash escapes a quote or a backslash.
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                            phrase.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(c) => {
                            phrase.push(*c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                if phrase.trim().is_empty() {
                    return Err(fail(format!("the phrase at position {at} is empty")));
                }
                out.push((at, Token::Phrase(phrase)));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | '"')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push((
                    at,
                    match word.as_str() {
                        "AND" => Token::And,
                        "OR" => Token::Or,
                        "NOT" => Token::Not,
                        _ => Token::Word(word),
                    },
                ));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    terms: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(at, _)| *at)
    }

    fn or(&mut self) -> Result<Search, QueryError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.next += 1;
            left = Search::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Search, QueryError> {
        let mut left = self.unary()?;
        loop {
            match self.peek() {
                Some(Token::And) => self.next += 1,
                // Adjacent terms: an implicit AND.
                Some(Token::Word(_) | Token::Phrase(_) | Token::Not | Token::Open) => {}
                _ => return Ok(left),
            }
            left = Search::And(Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Search, QueryError> {
        let at = self.position();
        let Some((_, token)) = self.tokens.get(self.next).cloned() else {
            return Err(fail(format!(
                "expected a word or a phrase, found the end at position {at}"
            )));
        };
        self.next += 1;
        match token {
            Token::Not | Token::Open => {
                self.depth += 1;
                if self.depth > MAX_SEARCH_DEPTH {
                    return Err(fail(format!(
                        "nested too deeply at position {at} (at most {MAX_SEARCH_DEPTH} levels)"
                    )));
                }
                let inner = if token == Token::Not {
                    Search::Not(Box::new(self.unary()?))
                } else {
                    let inner = self.or()?;
                    if self.peek() != Some(&Token::Close) {
                        return Err(fail(format!(
                            "expected ')' at position {}",
                            self.position()
                        )));
                    }
                    self.next += 1;
                    inner
                };
                self.depth -= 1;
                Ok(inner)
            }
            Token::Word(word) => {
                self.count_term(at)?;
                let (text, prefix) = match word.strip_suffix('*') {
                    Some(stem) => (stem.to_string(), true),
                    None => (word, false),
                };
                if text.is_empty() || text.contains('*') {
                    return Err(fail(format!(
                        "{:?} at position {at}: * may only end a word",
                        text + "*"
                    )));
                }
                Ok(Search::Term { text, prefix })
            }
            Token::Phrase(phrase) => {
                self.count_term(at)?;
                Ok(Search::Phrase(phrase))
            }
            Token::And | Token::Or | Token::Close => Err(fail(format!(
                "expected a word or a phrase at position {at}"
            ))),
        }
    }

    fn count_term(&mut self, at: usize) -> Result<(), QueryError> {
        self.terms += 1;
        if self.terms > MAX_SEARCH_TERMS {
            return Err(fail(format!(
                "more than {MAX_SEARCH_TERMS} terms (position {at})"
            )));
        }
        Ok(())
    }
}

/// Parses a `$search` value.
pub(crate) fn parse_search(text: &str) -> Result<Search, QueryError> {
    if text.chars().count() > MAX_SEARCH_LEN {
        return Err(fail(format!("longer than {MAX_SEARCH_LEN} characters")));
    }
    let tokens = tokens(text)?;
    let end = text.chars().count() + 1;
    let mut parser = Parser {
        tokens,
        next: 0,
        terms: 0,
        end,
        depth: 0,
    };
    let search = parser.or()?;
    if parser.next < parser.tokens.len() {
        return Err(fail(format!(
            "unexpected ')' at position {}",
            parser.position()
        )));
    }
    Ok(search)
}

/// The letters and digits of a word (a prefix probe takes nothing else).
fn word_chars(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Compiles `search` for `entity` (which must have searchable properties).
pub(crate) fn compile_search(
    search: &Search,
    entity: &Entity,
    dialect: Dialect,
) -> Result<SqlFragment, QueryError> {
    let searchable = entity.searchable();
    if searchable.is_empty() {
        return Err(fail(format!(
            "{} has no searchable properties",
            entity.name
        )));
    }
    let mut values = Vec::new();
    let sql = compile(search, entity, dialect, &mut values)?;
    Ok(SqlFragment { sql, values })
}

fn compile(
    search: &Search,
    entity: &Entity,
    dialect: Dialect,
    values: &mut Vec<SqlValue>,
) -> Result<String, QueryError> {
    Ok(match search {
        Search::And(a, b) => format!(
            "({} AND {})",
            compile(a, entity, dialect, values)?,
            compile(b, entity, dialect, values)?
        ),
        Search::Or(a, b) => format!(
            "({} OR {})",
            compile(a, entity, dialect, values)?,
            compile(b, entity, dialect, values)?
        ),
        Search::Not(a) => format!("(NOT {})", compile(a, entity, dialect, values)?),
        Search::Term { text, prefix } => probe(entity, dialect, text, *prefix, false, values)?,
        Search::Phrase(text) => probe(entity, dialect, text, false, true, values)?,
    })
}

/// One term against the index.
fn probe(
    entity: &Entity,
    dialect: Dialect,
    text: &str,
    prefix: bool,
    phrase: bool,
    values: &mut Vec<SqlValue>,
) -> Result<String, QueryError> {
    let table = table_name(entity);
    if prefix && word_chars(text).is_empty() {
        return Err(fail(format!("{text:?}*: a prefix needs letters or digits")));
    }
    Ok(match dialect {
        Dialect::Sqlite => {
            // An FTS5 string (a phrase of the tokens in it), optionally a prefix.
            let mut query = format!("\"{}\"", text.replace('"', "\"\""));
            if prefix {
                query.push('*');
            }
            values.push(SqlValue::Text(query));
            let fts = quote(dialect, &fts_table(entity));
            format!(
                "{}.rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)",
                quote(dialect, &table)
            )
        }
        Dialect::Postgres => {
            let column = quote(dialect, &search_column(entity));
            if prefix {
                values.push(SqlValue::Text(format!("{}:*", word_chars(text))));
                format!("{column} @@ to_tsquery('simple', ?)")
            } else {
                values.push(SqlValue::Text(text.to_string()));
                let function = if phrase {
                    "phraseto_tsquery"
                } else {
                    "plainto_tsquery"
                };
                format!("{column} @@ {function}('simple', ?)")
            }
        }
        Dialect::Mysql => {
            let column = quote(dialect, &search_column(entity));
            // Boolean mode: a quoted phrase of the words, or a word's letters and `*`.
            let query = if prefix {
                format!("{}*", word_chars(text))
            } else {
                format!("\"{}\"", text.replace('"', " "))
            };
            values.push(SqlValue::Text(query));
            format!("MATCH ({column}) AGAINST (? IN BOOLEAN MODE)")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(text: &str) -> Search {
        Search::Term {
            text: text.into(),
            prefix: false,
        }
    }

    #[test]
    fn grammar() {
        assert_eq!(
            parse_search("ann lee OR \"bob \\\"b\\\" smith\"").unwrap(),
            Search::Or(
                Box::new(Search::And(Box::new(term("ann")), Box::new(term("lee")))),
                Box::new(Search::Phrase("bob \"b\" smith".into()))
            )
        );
        assert_eq!(
            parse_search("NOT (a OR b) c*").unwrap(),
            Search::And(
                Box::new(Search::Not(Box::new(Search::Or(
                    Box::new(term("a")),
                    Box::new(term("b"))
                )))),
                Box::new(Search::Term {
                    text: "c".into(),
                    prefix: true
                })
            )
        );
        let error = |text: &str| parse_search(text).unwrap_err().to_string();
        assert_eq!(
            error("a AND"),
            "$search: expected a word or a phrase, found the end at position 6"
        );
        assert!(error("\"open").contains("not closed"));
        assert!(error("(a").contains("expected ')' at position 3"));
        assert!(error("a)").contains("unexpected ')' at position 2"));
        assert!(error("OR a").contains("position 1"));
        assert!(error("a*b").contains("* may only end a word"));
        assert!(error("\"  \"").contains("empty"));
        assert!(error(&"w ".repeat(17)).contains("more than 16 terms"));
        assert!(error(&format!("{}a", "(".repeat(40))).contains("nested too deeply"));
        assert!(error(&"NOT ".repeat(40)).contains("nested too deeply"));
        assert!(error(&"(".repeat(300_000)).contains("longer than 1024"));
    }
}
