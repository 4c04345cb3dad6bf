//! Evaluates a value filter (`members[value eq "…"]`, `emails[type eq "work"]`) against one
//! element of a multi-valued attribute, in memory: PATCH paths only, over a resource that is
//! already loaded and bounded (64 KiB bodies, one group's members). Strings compare
//! case-exactly, as the SQL filters do.

use serde_json::Value;

use super::error::{ScimError, ScimType};
use super::filter::{CompValue, CompareOp, Filter};

/// Whether `element` (a JSON object) matches `filter`, whose paths name its keys.
pub(crate) fn matches(filter: &Filter, element: &Value) -> Result<bool, ScimError> {
    Ok(match filter {
        Filter::And(a, b) => matches(a, element)? && matches(b, element)?,
        Filter::Or(a, b) => matches(a, element)? || matches(b, element)?,
        Filter::Not(a) => !matches(a, element)?,
        Filter::ValuePath { .. } => {
            return Err(ScimError::bad(
                ScimType::InvalidPath,
                "value filters do not nest",
            ));
        }
        Filter::Present(path) => {
            field(element, &path.attr).is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
        }
        Filter::Compare { path, op, value } => {
            let actual = field(element, &path.attr);
            compare(actual, *op, value)
        }
    })
}

/// A key of a JSON object, case-insensitively.
fn field<'a>(element: &'a Value, name: &str) -> Option<&'a Value> {
    element
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn compare(actual: Option<&Value>, op: CompareOp, wanted: &CompValue) -> bool {
    let actual = actual.filter(|v| !v.is_null());
    match (actual, wanted) {
        (None, CompValue::Null) => op == CompareOp::Eq,
        (Some(_), CompValue::Null) => op == CompareOp::Ne,
        (None, _) => op == CompareOp::Ne,
        (Some(Value::String(a)), CompValue::Str(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            CompareOp::Co => a.contains(b.as_str()),
            CompareOp::Sw => a.starts_with(b.as_str()),
            CompareOp::Ew => a.ends_with(b.as_str()),
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
        },
        (Some(Value::Bool(a)), CompValue::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        (Some(Value::Number(a)), CompValue::Num(b)) => {
            let a = a.as_f64().unwrap_or(f64::NAN);
            match op {
                CompareOp::Eq => a == *b,
                CompareOp::Ne => a != *b,
                CompareOp::Gt => a > *b,
                CompareOp::Ge => a >= *b,
                CompareOp::Lt => a < *b,
                CompareOp::Le => a <= *b,
                _ => false,
            }
        }
        _ => op == CompareOp::Ne,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;
    use serde_json::json;

    fn m(f: &str, v: Value) -> bool {
        matches(&parse_filter(f, "urn:x").unwrap(), &v).unwrap()
    }

    #[test]
    fn element_filters() {
        let work = json!({"value": "a@x.example", "type": "work", "primary": true});
        assert!(m(r#"type eq "work""#, work.clone()));
        assert!(!m(r#"TYPE eq "Work""#, work.clone()));
        assert!(m(r#"type eq "work" and primary eq true"#, work.clone()));
        assert!(m(r#"value ew "x.example" or type eq "home""#, work.clone()));
        assert!(m("not (display pr)", work.clone()));
        assert!(m("display eq null", work));
    }
}
