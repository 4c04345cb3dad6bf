//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON representation in memory: paths
//! (`attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`) are parsed against the attribute
//! table, then `add`, `replace` and `remove` change the document. The result is read back by
//! the same strict parser as a PUT body, so a PATCH can never store what a PUT could not.

use serde_json::{Map, Value};

use super::attrs::{Attr, Kind, Mutability, PATCH_OP, find};
use super::body::{get, syntax};
use super::error::{ScimError, ScimType};
use super::filter::{Filter, Parser, Token, attr_path, lex};
use super::filter_eval::matches;

/// Most operations in one PATCH request.
pub(crate) const MAX_OPERATIONS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// A parsed PATCH path, with canonical attribute names.
#[derive(Debug, Clone)]
pub(crate) struct PatchPath {
    attr: &'static Attr,
    filter: Option<Filter>,
    sub: Option<&'static Attr>,
}

fn bad_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidPath, detail)
}

fn mutability(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::Mutability, detail)
}

/// `externalId` is a common attribute, not in the schema tables; this stands for it.
const EXTERNAL_ID: Attr = Attr {
    name: "externalId",
    kind: Kind::String,
    multi: false,
    required: false,
    mutability: Mutability::ReadWrite,
    returned: super::attrs::Returned::Default,
    unique: false,
    canonical: &[],
    reference_types: &[],
    description: "",
    sub: &[],
};

fn lookup(attrs: &'static [Attr], name: &str) -> Result<&'static Attr, ScimError> {
    if name.eq_ignore_ascii_case("externalId") {
        return Ok(&EXTERNAL_ID);
    }
    if ["id", "meta", "schemas"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
    {
        return Err(mutability(format!("{name} cannot be changed")));
    }
    find(attrs, name).ok_or_else(|| bad_path(format!("no attribute {name:?}")))
}

fn lookup_sub(attr: &'static Attr, name: &str) -> Result<&'static Attr, ScimError> {
    find(attr.sub, name)
        .ok_or_else(|| bad_path(format!("{} has no sub-attribute {name:?}", attr.name)))
}

/// Parses a PATCH path.
pub(crate) fn parse_path(
    text: &str,
    attrs: &'static [Attr],
    core_urn: &str,
) -> Result<PatchPath, ScimError> {
    let tokens = lex(text).map_err(|e| bad_path(e.to_string()))?;
    let Some(Token::Word(head)) = tokens.first() else {
        return Err(bad_path(format!("{text:?} is not a path")));
    };
    let head_path = attr_path(head, core_urn).map_err(|e| bad_path(e.to_string()))?;
    let attr = lookup(attrs, &head_path.attr)?;
    if tokens.len() == 1 {
        let sub = match &head_path.sub {
            Some(sub) => Some(lookup_sub(attr, sub)?),
            None => None,
        };
        return Ok(PatchPath {
            attr,
            filter: None,
            sub,
        });
    }
    if head_path.sub.is_some() || tokens.get(1) != Some(&Token::OpenBracket) || !attr.multi {
        return Err(bad_path(format!("{text:?} is not a path")));
    }
    let close = tokens
        .iter()
        .rposition(|t| *t == Token::CloseBracket)
        .ok_or_else(|| bad_path(format!("{text:?}: [ without ]")))?;
    let mut parser = Parser::new(&tokens[2..close], core_urn);
    let filter = parser.or().map_err(|e| bad_path(e.to_string()))?;
    if !parser.at_end() {
        return Err(bad_path(format!("{text:?}: unexpected text inside [ ]")));
    }
    let sub = match &tokens[close + 1..] {
        [] => None,
        [Token::Word(w)] if w.starts_with('.') => Some(lookup_sub(attr, &w[1..])?),
        _ => return Err(bad_path(format!("{text:?}: unexpected text after ]"))),
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub,
    })
}

/// Applies a PatchOp body to a User representation (what `scim_patch_user` does before it
/// reads the result back and stores it).
pub fn patch_user_json(resource: &mut Map<String, Value>, body: &Value) -> Result<(), ScimError> {
    apply_patch(
        resource,
        body,
        super::attrs::USER_ATTRS,
        super::attrs::USER_SCHEMA,
    )
}

/// Applies a PatchOp body to a Group representation.
pub fn patch_group_json(resource: &mut Map<String, Value>, body: &Value) -> Result<(), ScimError> {
    apply_patch(
        resource,
        body,
        super::attrs::GROUP_ATTRS,
        super::attrs::GROUP_SCHEMA,
    )
}

/// Applies a PatchOp body to `resource`.
pub(crate) fn apply_patch(
    resource: &mut Map<String, Value>,
    body: &Value,
    attrs: &'static [Attr],
    core_urn: &str,
) -> Result<(), ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| syntax("the body must be a JSON object"))?;
    super::body::check_schemas(object, PATCH_OP)?;
    for key in object.keys() {
        if !["schemas", "operations"].contains(&key.to_ascii_lowercase().as_str()) {
            return Err(syntax(format!("a PatchOp has no attribute {key:?}")));
        }
    }
    let operations = get(object, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| syntax("\"Operations\" must be a non-empty list"))?;
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::bad(
            ScimType::TooMany,
            format!("at most {MAX_OPERATIONS} operations in one PATCH"),
        ));
    }
    for operation in operations {
        let operation = operation
            .as_object()
            .ok_or_else(|| syntax("every operation must be an object"))?;
        for key in operation.keys() {
            if !["op", "path", "value"].contains(&key.to_ascii_lowercase().as_str()) {
                return Err(syntax(format!("an operation has no attribute {key:?}")));
            }
        }
        let op = match get(operation, "op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
        {
            Some(op) if op == "add" => Op::Add,
            Some(op) if op == "replace" => Op::Replace,
            Some(op) if op == "remove" => Op::Remove,
            _ => return Err(syntax("\"op\" must be add, replace or remove")),
        };
        let value = get(operation, "value");
        let path = match get(operation, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(parse_path(p, attrs, core_urn)?),
            Some(_) => return Err(bad_path("\"path\" must be a string")),
        };
        match (path, op) {
            (Some(path), _) => apply(resource, op, &path, value)?,
            (None, Op::Remove) => {
                return Err(ScimError::bad(ScimType::NoTarget, "remove needs a path"));
            }
            (None, _) => {
                let values = value
                    .and_then(Value::as_object)
                    .ok_or_else(|| syntax("an operation without a path needs an object value"))?;
                for (key, v) in values {
                    if key.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    if key.eq_ignore_ascii_case("id") && resource.get("id") == Some(v) {
                        continue;
                    }
                    let path = parse_path(key, attrs, core_urn)?;
                    apply(resource, op, &path, Some(v))?;
                }
            }
        }
    }
    Ok(())
}

fn needs_value(value: Option<&Value>) -> Result<&Value, ScimError> {
    value.ok_or_else(|| syntax("add and replace need a value"))
}

fn apply(
    resource: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let attr = path.attr;
    if attr.mutability == Mutability::ReadOnly
        || path
            .sub
            .is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Err(mutability(format!("{} is read-only", attr.name)));
    }
    if !attr.multi {
        return apply_single(resource, op, attr, path.sub, value);
    }
    if path
        .sub
        .is_some_and(|s| s.mutability == Mutability::Immutable)
    {
        return Err(mutability(format!(
            "{}.{} is immutable: remove the value and add another",
            attr.name,
            path.sub.map(|s| s.name).unwrap_or_default()
        )));
    }
    let mut items: Vec<Value> = match resource.remove(attr.name) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let primary_before: Vec<Value> = items.iter().filter(|e| is_primary(e)).cloned().collect();
    let result = apply_multi(&mut items, op, path, value);
    fix_primary(&mut items, &primary_before);
    if !items.is_empty() {
        resource.insert(attr.name.into(), Value::Array(items));
    }
    result
}

fn apply_single(
    resource: &mut Map<String, Value>,
    op: Op,
    attr: &'static Attr,
    sub: Option<&'static Attr>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match (op, sub) {
        (Op::Remove, None) if attr.mutability == Mutability::WriteOnly => {
            // Removing the password: no password sign-in any more.
            resource.insert(attr.name.into(), Value::Null);
        }
        (Op::Remove, None) => {
            resource.remove(attr.name);
        }
        (Op::Remove, Some(sub)) => {
            if let Some(Value::Object(object)) = resource.get_mut(attr.name) {
                object.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
                if object.is_empty() {
                    resource.remove(attr.name);
                }
            }
        }
        (_, None) if attr.kind == Kind::Complex => {
            let incoming = needs_value(value)?.as_object().ok_or_else(|| {
                super::body::value_error(format!("{} must be an object", attr.name))
            })?;
            let entry = resource
                .entry(attr.name)
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(object) = entry {
                for (k, v) in incoming {
                    let sub = lookup_sub(attr, k)?;
                    object.insert(sub.name.into(), v.clone());
                }
            }
        }
        (_, None) => {
            resource.insert(attr.name.into(), needs_value(value)?.clone());
        }
        (_, Some(sub)) => {
            let v = needs_value(value)?.clone();
            let entry = resource
                .entry(attr.name)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(object) = entry {
                object.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
                object.insert(sub.name.into(), v);
            }
        }
    }
    Ok(())
}

/// Two elements of a multi-valued attribute are the same value when their `value`s are (a
/// member, an address), or, without `value`s, when they are equal.
fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn incoming_elements(attr: &'static Attr, value: &Value) -> Result<Vec<Value>, ScimError> {
    let list = match value {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![value.clone()],
        Value::Null => Vec::new(),
        _ => {
            return Err(super::body::value_error(format!(
                "{} takes objects",
                attr.name
            )));
        }
    };
    // Canonical sub-attribute names, so later filters and the strict reader see one spelling.
    list.into_iter()
        .map(|item| {
            let object = item
                .as_object()
                .ok_or_else(|| super::body::value_error(format!("{} takes objects", attr.name)))?;
            let mut out = Map::new();
            for (k, v) in object {
                out.insert(lookup_sub(attr, k)?.name.into(), v.clone());
            }
            Ok(Value::Object(out))
        })
        .collect()
}

fn apply_multi(
    items: &mut Vec<Value>,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let attr = path.attr;
    let selected = |items: &[Value]| -> Result<Vec<usize>, ScimError> {
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let hit = match &path.filter {
                Some(filter) => matches(filter, item)?,
                None => true,
            };
            if hit {
                out.push(i);
            }
        }
        Ok(out)
    };
    match (op, &path.filter, path.sub) {
        (Op::Add, None, None) => {
            for element in incoming_elements(attr, needs_value(value)?)? {
                match items.iter().position(|e| same_element(e, &element)) {
                    Some(i) => items[i] = element,
                    None => items.push(element),
                }
            }
        }
        (Op::Replace, None, None) => {
            *items = incoming_elements(attr, needs_value(value)?)?;
        }
        (Op::Remove, None, None) => match value {
            // Remove with a list of values (as Azure AD sends): only those elements go.
            Some(v) if !v.is_null() => {
                let gone = incoming_elements(attr, v)?;
                items.retain(|e| !gone.iter().any(|g| same_element(e, g)));
            }
            _ => items.clear(),
        },
        (Op::Add, Some(_), None) => {
            return Err(bad_path(
                "add with a value filter needs a sub-attribute (or add to the attribute itself)",
            ));
        }
        (Op::Replace, Some(_), None) => {
            let hits = selected(items)?;
            if hits.is_empty() {
                return Err(ScimError::bad(
                    ScimType::NoTarget,
                    "the filter matches no value",
                ));
            }
            let replacement = incoming_elements(attr, needs_value(value)?)?;
            let [replacement] = replacement.as_slice() else {
                return Err(super::body::value_error(
                    "replace a filtered value with one object",
                ));
            };
            for i in hits {
                items[i] = replacement.clone();
            }
        }
        (Op::Remove, Some(_), None) => {
            let hits = selected(items)?;
            let mut i = 0;
            items.retain(|_| {
                let keep = !hits.contains(&i);
                i += 1;
                keep
            });
        }
        (_, _, Some(sub)) => {
            let hits = selected(items)?;
            if hits.is_empty() && op != Op::Remove {
                if let Some(filter) = &path.filter {
                    // `add emails[type eq "work"].value` for a user without a work address
                    // (as Entra ID sends it) adds one; a `replace` must find its target
                    // (RFC 7644 §3.5.2.3).
                    let Some(pinned) = equalities(filter).filter(|_| op == Op::Add) else {
                        return Err(ScimError::bad(
                            ScimType::NoTarget,
                            "the filter matches no value",
                        ));
                    };
                    let mut element = Map::new();
                    for (k, v) in pinned {
                        element.insert(lookup_sub(attr, &k)?.name.into(), v);
                    }
                    element.insert(sub.name.into(), needs_value(value)?.clone());
                    items.push(Value::Object(element));
                    return Ok(());
                }
                let mut element = Map::new();
                element.insert(sub.name.into(), needs_value(value)?.clone());
                items.push(Value::Object(element));
                return Ok(());
            }
            for i in hits {
                if let Value::Object(object) = &mut items[i] {
                    object.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
                    if op != Op::Remove {
                        object.insert(sub.name.into(), needs_value(value)?.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

/// The sub-attribute values a filter of `eq` comparisons joined by `and` pins down (`type eq
/// "work"` → `{"type": "work"}`); `None` for any other filter.
fn equalities(filter: &Filter) -> Option<Map<String, Value>> {
    use super::filter::{CompValue, CompareOp};
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() => {
            let value = match value {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                _ => return None,
            };
            let mut out = Map::new();
            out.insert(path.attr.clone(), value);
            Some(out)
        }
        Filter::And(a, b) => {
            let mut out = equalities(a)?;
            out.extend(equalities(b)?);
            Some(out)
        }
        _ => None,
    }
}

fn is_primary(item: &Value) -> bool {
    item.get("primary") == Some(&Value::Bool(true))
}

/// RFC 7643 §2.4 and RFC 7644 §3.5.2: `primary: true` at most once; the value this operation
/// made primary wins (the last such one), wherever it stands in the list — not whichever
/// primary happens to come last.
fn fix_primary(items: &mut [Value], primary_before: &[Value]) {
    let primaries: Vec<usize> = (0..items.len())
        .filter(|&i| is_primary(&items[i]))
        .collect();
    let newly_set = primaries
        .iter()
        .rev()
        .find(|&&i| !primary_before.contains(&items[i]));
    let last = newly_set.or(primaries.last()).copied();
    if let Some(last) = last {
        for (i, item) in items.iter_mut().enumerate() {
            if i != last
                && let Some(object) = item.as_object_mut()
                && object.get("primary") == Some(&Value::Bool(true))
            {
                object.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::attrs::{GROUP_ATTRS, GROUP_SCHEMA, USER_ATTRS, USER_SCHEMA};
    use serde_json::json;

    fn patch(
        resource: Value,
        ops: Value,
        attrs: &'static [Attr],
        urn: &str,
    ) -> Result<Value, ScimError> {
        let mut map = resource.as_object().cloned().unwrap();
        apply_patch(
            &mut map,
            &json!({"schemas": [PATCH_OP], "Operations": ops}),
            attrs,
            urn,
        )?;
        Ok(Value::Object(map))
    }

    fn user(ops: Value) -> Result<Value, ScimError> {
        let ada = json!({"schemas": [USER_SCHEMA], "id": "u1", "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "a@work.example", "type": "work", "primary": true},
                       {"value": "a@home.example", "type": "home"}]});
        patch(ada, ops, USER_ATTRS, USER_SCHEMA)
    }

    #[test]
    fn paths_with_filters_and_sub_attributes() {
        let out = user(json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ada@work.example"},
            {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
            {"op": "remove", "path": "name.familyName"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:externalId", "value": "e-1"}
        ]))
        .unwrap();
        assert_eq!(out["emails"][0]["value"], "ada@work.example");
        assert_eq!(out["emails"][1]["value"], "a@home.example");
        assert_eq!(out["name"], json!({"givenName": "Augusta"}));
        assert_eq!(out["externalId"], "e-1");
    }

    /// Making a value primary that stands before the current primary one: it wins, the other
    /// stops being primary (found by a reviewer: the later entry used to win).
    #[test]
    fn the_value_made_primary_wins_wherever_it_stands() {
        let mut items = vec![
            json!({"value": "h@x.example", "type": "home"}),
            json!({"value": "w@x.example", "type": "work", "primary": true}),
        ];
        let before: Vec<Value> = items.iter().filter(|e| is_primary(e)).cloned().collect();
        if let Some(object) = items[0].as_object_mut() {
            object.insert("primary".into(), Value::Bool(true));
        }
        fix_primary(&mut items, &before);
        assert_eq!(items[0]["primary"], true);
        assert_eq!(items[1]["primary"], false);
    }

    #[test]
    fn no_path_values_and_primary() {
        let out = user(json!([{"op": "add", "value": {"name.formatted": "Ada L",
            "emails": [{"value": "new@x.example", "primary": true}], "active": false}}]))
        .unwrap();
        assert_eq!(out["name"]["formatted"], "Ada L");
        assert_eq!(out["emails"].as_array().unwrap().len(), 3);
        assert_eq!(out["emails"][0]["primary"], false);
        assert_eq!(out["active"], false);
    }

    #[test]
    fn add_through_an_unmatched_filter_makes_the_value() {
        let out = user(
            json!([{"op": "add", "path": "emails[type eq \"other\"].value",
                                "value": "ada@other.example"}]),
        )
        .unwrap();
        assert_eq!(
            out["emails"][2],
            json!({"type": "other", "value": "ada@other.example"})
        );
        let kind = user(
            json!([{"op": "add", "path": "emails[type co \"x\"].value", "value": "a@b.example"}]),
        )
        .unwrap_err()
        .scim_type();
        assert_eq!(kind, Some(ScimType::NoTarget));
    }

    #[test]
    fn members() {
        let group = json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "ops",
            "members": [{"value": "u1", "display": "ada"}, {"value": "u2"}]});
        let run = |ops| patch(group.clone(), ops, GROUP_ATTRS, GROUP_SCHEMA);
        let out = run(json!([{"op": "remove", "path": "members[value eq \"u1\"]"}])).unwrap();
        assert_eq!(out["members"], json!([{"value": "u2"}]));
        let out = run(
            json!([{"op": "add", "path": "members", "value": [{"value": "u3"}, {"value": "u2"}]}]),
        )
        .unwrap();
        assert_eq!(out["members"].as_array().unwrap().len(), 3);
        let out =
            run(json!([{"op": "remove", "path": "members", "value": [{"value": "u2"}]}])).unwrap();
        assert_eq!(out["members"], json!([{"value": "u1", "display": "ada"}]));
        let out = run(json!([{"op": "remove", "path": "members"}])).unwrap();
        assert!(out.get("members").is_none());
    }

    #[test]
    fn refusals() {
        let kind = |ops| user(ops).unwrap_err().scim_type();
        assert_eq!(kind(json!([{"op": "remove"}])), Some(ScimType::NoTarget));
        assert_eq!(
            kind(json!([{"op": "replace", "path": "id", "value": "x"}])),
            Some(ScimType::Mutability)
        );
        assert_eq!(
            kind(json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}])),
            Some(ScimType::Mutability)
        );
        assert_eq!(
            kind(json!([{"op": "add", "path": "nickName", "value": "x"}])),
            Some(ScimType::InvalidPath)
        );
        assert_eq!(
            kind(json!([{"op": "add", "path": "name.middleName", "value": "x"}])),
            Some(ScimType::InvalidPath)
        );
        assert_eq!(
            kind(json!([{"op": "add", "path": "emails[type eq", "value": "x"}])),
            Some(ScimType::InvalidPath)
        );
        assert_eq!(
            kind(
                json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x@y.z"}])
            ),
            Some(ScimType::NoTarget)
        );
        assert_eq!(
            kind(json!([{"op": "move", "path": "userName"}])),
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(kind(json!([])), Some(ScimType::InvalidSyntax));
        let many: Vec<Value> = (0..101)
            .map(|_| json!({"op": "remove", "path": "name"}))
            .collect();
        assert_eq!(kind(Value::Array(many)), Some(ScimType::TooMany));
    }
}
