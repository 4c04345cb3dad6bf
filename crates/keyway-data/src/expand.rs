//! `$expand`'s syntax (OData 4.01 §5.1.3): `organization,contacts($select=firstName;$top=5)`.
//! Items are split at top-level commas, an item's options at top-level semicolons; quotes in
//! a nested `$filter` are respected. Names are resolved against the schemas by the service
//! ([`crate::service`]), which knows the caller's scopes.

use crate::query::QueryError;

/// Expansions may nest this deep (`a($expand=b($expand=c))` is 3).
pub const MAX_EXPAND_DEPTH: usize = 3;

/// One item of `$expand`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandRequest {
    /// The navigation property's name, or `*` for all of them.
    pub name: String,
    /// 1-based character position of the name in the option's value.
    pub position: usize,
    /// Its nested options (`$select`, `$filter`, …), as query pairs.
    pub options: Vec<(String, String)>,
}

/// Splits `text` at `separator` outside parentheses and single-quoted strings, with each
/// part's 1-based character offset.
pub(crate) fn split_top(text: &str, separator: char) -> Result<Vec<(usize, &str)>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start_byte, mut start_char) = (0usize, false, 0, 0);
    for (chars, (byte, c)) in text.char_indices().enumerate() {
        match c {
            '\'' => quoted = !quoted, // '' inside a string toggles twice: still inside.
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' at position {}", chars + 1))?;
            }
            c if c == separator && !quoted && depth == 0 => {
                parts.push((start_char + 1, &text[start_byte..byte]));
                start_byte = byte + c.len_utf8();
                start_char = chars + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err("a string is not closed (a ' is missing)".into());
    }
    if depth > 0 {
        return Err("a '(' is not closed".into());
    }
    parts.push((start_char + 1, &text[start_byte..]));
    Ok(parts)
}

/// Parses a `$expand` value.
pub(crate) fn parse_expand(value: &str) -> Result<Vec<ExpandRequest>, QueryError> {
    let fail = |message: String| QueryError(format!("$expand: {message}"));
    let mut items = Vec::new();
    for (offset, raw) in split_top(value, ',').map_err(fail)? {
        let leading = raw.chars().take_while(|c| c.is_whitespace()).count();
        let item = raw.trim();
        let position = offset + leading;
        if item.is_empty() {
            return Err(fail(format!(
                "empty item at position {position} (items are separated by single commas)"
            )));
        }
        let (name, options) = match item.split_once('(') {
            None => (item, Vec::new()),
            Some((name, rest)) => {
                let Some(inner) = rest.strip_suffix(')') else {
                    return Err(fail(format!(
                        "after the options of {:?} (position {position}) comes nothing but a ',' \
                         or the end",
                        name.trim()
                    )));
                };
                (name.trim_end(), options(inner, name.trim()).map_err(fail)?)
            }
        };
        if name.contains('/') {
            return Err(fail(format!(
                "{name:?} at position {position}: paths ($ref, $count, casts) cannot be expanded; \
                 name a navigation property, with options in parentheses"
            )));
        }
        if name == "*" && !options.is_empty() {
            return Err(fail(format!(
                "* at position {position} takes no options: name the navigation property instead"
            )));
        }
        items.push(ExpandRequest {
            name: name.to_string(),
            position,
            options,
        });
    }
    Ok(items)
}

/// `$select=a,b;$top=2` → pairs.
fn options(inner: &str, name: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (_, option) in split_top(inner, ';')? {
        let option = option.trim();
        if option.is_empty() {
            return Err(format!("an empty option in the parentheses of {name:?}"));
        }
        let Some((key, value)) = option.split_once('=') else {
            return Err(format!(
                "{option:?} in the options of {name:?} is not option=value"
            ));
        };
        pairs.push((key.trim().to_string(), value.to_string()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_and_nested_options() {
        let parsed = parse_expand(
            "organization, contacts($filter=name eq 'a,b;(c';$top=5;$expand=x($select=y))",
        )
        .unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].name, "organization");
        assert_eq!(parsed[1].position, 15);
        assert_eq!(
            parsed[1].options,
            vec![
                ("$filter".to_string(), "name eq 'a,b;(c'".to_string()),
                ("$top".to_string(), "5".to_string()),
                ("$expand".to_string(), "x($select=y)".to_string()),
            ]
        );
    }

    #[test]
    fn malformed_values_are_named() {
        let error = |v: &str| parse_expand(v).unwrap_err().to_string();
        assert!(error("a,,b").contains("empty item at position 3"));
        assert!(error("a($top=1").contains("not closed"));
        assert!(error("a)").contains("unbalanced ')' at position 2"));
        assert!(error("a($top=1)x").contains("comes nothing but"));
        assert!(error("a($filter=x eq 'y)").contains("not closed"));
        assert!(error("a($top)").contains("not option=value"));
        assert!(error("a/$ref").contains("cannot be expanded"));
        assert!(error("*($top=1)").contains("takes no options"));
    }
}
