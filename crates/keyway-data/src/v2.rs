//! OData V2 for V2-only clients (SAP's pyodata, older SAP Gateway tooling): the same data
//! under `/api/v2/`, translated at the edge — `$metadata` as EDMX 1.0 with associations, V2
//! JSON (`{"d": {"results": [...], "__count": "…"}}`, `__metadata`, `/Date(ms)/`, Int64 as
//! text), V2 literals and functions in `$filter` (`guid'…'`, `datetime'…'`,
//! `substringof`), `$inlinecount`. Everything else — scopes, checks, SQL — is the V4 service's.

use serde_json::{Map, Value, json};

use crate::csdl::escape;
use crate::datetime::{Timestamp, parse_date_time};
use crate::schema::RelationKind;
use crate::{Entity, PropertyType, SchemaSet};

const EDMX: &str = "http://schemas.microsoft.com/ado/2007/06/edmx";
const METADATA: &str = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata";
const EDM: &str = "http://schemas.microsoft.com/ado/2008/09/edm";
const NAMESPACE: &str = crate::csdl::NAMESPACE;

fn v2_type(kind: PropertyType) -> &'static str {
    match kind {
        PropertyType::String | PropertyType::Enum => "Edm.String",
        PropertyType::Integer => "Edm.Int64",
        PropertyType::Number => "Edm.Double",
        PropertyType::Boolean => "Edm.Boolean",
        // V2 has no date without a time: a date is midnight UTC of that day.
        PropertyType::Date => "Edm.DateTime",
        PropertyType::DateTime => "Edm.DateTimeOffset",
        PropertyType::Uuid => "Edm.Guid",
    }
}

/// The association of a to-one relation `relation` of `entity`.
fn association(entity: &str, relation: &str) -> String {
    format!("{entity}_{relation}")
}

/// `GET /api/v2/$metadata`: EDMX 1.0, for what `scopes` may read (as the V4 document).
pub fn metadata_v2_xml(schemas: &SchemaSet, scopes: &[&str]) -> String {
    let entities = crate::csdl::readable(schemas, scopes);
    let readable = |name: &str| entities.iter().find(|e| e.name == name);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<edmx:Edmx Version=\"1.0\" xmlns:edmx=\"{EDMX}\">\n\
         <edmx:DataServices m:DataServiceVersion=\"2.0\" xmlns:m=\"{METADATA}\">\n\
         <Schema Namespace=\"{NAMESPACE}\" xmlns=\"{EDM}\">\n"
    );
    // (entity, relation, target, key, required) of every to-one relation both ends may read.
    let mut associations = Vec::new();
    for entity in &entities {
        out.push_str(&format!(
            "<EntityType Name=\"{}\"><Key><PropertyRef Name=\"id\"/></Key>\
             <Property Name=\"id\" Type=\"{}\" Nullable=\"false\"/>",
            escape(&entity.name),
            crate::csdl::id_edm_type(entity)
        ));
        for p in &entity.properties {
            out.push_str(&format!(
                "<Property Name=\"{}\" Type=\"{}\" Nullable=\"{}\"",
                escape(&p.name),
                v2_type(p.kind),
                !p.required
            ));
            if let Some(max) = p.max_length {
                out.push_str(&format!(" MaxLength=\"{max}\""));
            }
            out.push_str("/>");
        }
        for relation in &entity.relations {
            let Some(target) = readable(&relation.target) else {
                continue;
            };
            match &relation.kind {
                RelationKind::ToOne { key, .. } => {
                    let required = entity.property(key).is_some_and(|p| p.required);
                    associations.push((
                        entity.name.clone(),
                        relation.name.clone(),
                        target.name.clone(),
                        key.clone(),
                        required,
                    ));
                    out.push_str(&format!(
                        "<NavigationProperty Name=\"{}\" Relationship=\"{NAMESPACE}.{}\" FromRole=\"Dependent\" ToRole=\"Principal\"/>",
                        escape(&relation.name),
                        escape(&association(&entity.name, &relation.name))
                    ));
                }
                RelationKind::ToMany { via, key } => {
                    if target.property(key).is_none() {
                        continue;
                    }
                    out.push_str(&format!(
                        "<NavigationProperty Name=\"{}\" Relationship=\"{NAMESPACE}.{}\" FromRole=\"Principal\" ToRole=\"Dependent\"/>",
                        escape(&relation.name),
                        escape(&association(&target.name, via))
                    ));
                }
            }
        }
        out.push_str("</EntityType>\n");
    }
    for (entity, relation, target, key, required) in &associations {
        out.push_str(&format!(
            "<Association Name=\"{}\"><End Type=\"{NAMESPACE}.{}\" Role=\"Dependent\" Multiplicity=\"*\"/>\
             <End Type=\"{NAMESPACE}.{}\" Role=\"Principal\" Multiplicity=\"{}\"/>\
             <ReferentialConstraint><Principal Role=\"Principal\"><PropertyRef Name=\"id\"/></Principal>\
             <Dependent Role=\"Dependent\"><PropertyRef Name=\"{}\"/></Dependent></ReferentialConstraint></Association>\n",
            escape(&association(entity, relation)),
            escape(entity),
            escape(target),
            if *required { "1" } else { "0..1" },
            escape(key)
        ));
    }
    out.push_str("<EntityContainer Name=\"Container\" m:IsDefaultEntityContainer=\"true\">\n");
    for entity in &entities {
        let name = escape(&entity.name);
        out.push_str(&format!(
            "<EntitySet Name=\"{name}\" EntityType=\"{NAMESPACE}.{name}\"/>\n"
        ));
    }
    for (entity, relation, target, _, _) in &associations {
        out.push_str(&format!(
            "<AssociationSet Name=\"{a}\" Association=\"{NAMESPACE}.{a}\"><End EntitySet=\"{}\" Role=\"Dependent\"/>\
             <End EntitySet=\"{}\" Role=\"Principal\"/></AssociationSet>\n",
            escape(entity),
            escape(target),
            a = escape(&association(entity, relation))
        ));
    }
    out.push_str("</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n");
    out
}

/// `GET /api/v2/`: the V2 service document.
pub fn service_document_v2(schemas: &SchemaSet, scopes: &[&str]) -> Value {
    let sets: Vec<String> = crate::csdl::readable(schemas, scopes)
        .into_iter()
        .map(|e| e.name)
        .collect();
    json!({ "d": { "EntitySets": sets } })
}

/// `/Date(ms)/` or `/Date(ms±hhmm)/` → milliseconds since the epoch (the offset only says
/// where the time was written; the instant is the milliseconds).
fn date_ms(text: &str) -> Option<i64> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let digits_end = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map_or(inner.len(), |(i, _)| i);
    inner[..digits_end].parse().ok()
}

/// One stored value as V2 JSON.
fn value_out(kind: Option<PropertyType>, value: Value) -> Value {
    match (kind, &value) {
        (Some(PropertyType::Integer), Value::Number(n)) => json!(n.to_string()),
        (Some(PropertyType::DateTime), Value::String(text)) => match parse_date_time(text) {
            Ok(t) => json!(format!("/Date({}+0000)/", t.unix_ms)),
            Err(_) => value,
        },
        (Some(PropertyType::Date), Value::String(text)) => {
            match parse_date_time(&format!("{text}T00:00:00Z")) {
                Ok(t) => json!(format!("/Date({})/", t.unix_ms)),
                Err(_) => value,
            }
        }
        _ => value,
    }
}

/// A V4 item (with its expansions) as a V2 entry under `base` (`…/api/v2`).
pub fn entry_v2(schemas: &SchemaSet, entity: &Entity, base: &str, item: Value) -> Value {
    let Value::Object(fields) = item else {
        return item;
    };
    let mut out = Map::new();
    if let Some(id) = fields.get("id").and_then(crate::ids::id_text) {
        let key = match entity.id_type {
            crate::IdType::Uuid => format!("guid'{id}'"),
            crate::IdType::Integer => format!("{id}L"),
        };
        out.insert(
            "__metadata".into(),
            json!({ "uri": format!("{base}/{}({key})", entity.name), "type": format!("{NAMESPACE}.{}", entity.name) }),
        );
    }
    for (key, value) in fields {
        if key.contains('@') {
            continue;
        }
        if key == "id" && entity.id_type == crate::IdType::Integer {
            // Edm.Int64 is text in V2 JSON.
            out.insert(
                key,
                crate::ids::id_text(&value).map_or(Value::Null, Value::String),
            );
            continue;
        }
        if let Some(relation) = entity.relation(&key) {
            let Some(target) = schemas.entity(&relation.target) else {
                continue;
            };
            let converted = match value {
                Value::Array(items) => json!({
                    "results": items.into_iter().map(|i| entry_v2(schemas, target, base, i)).collect::<Vec<_>>()
                }),
                Value::Null => Value::Null,
                other => entry_v2(schemas, target, base, other),
            };
            out.insert(key, converted);
            continue;
        }
        let kind = entity.property(&key).map(|p| p.kind);
        out.insert(key, value_out(kind, value));
    }
    Value::Object(out)
}

/// A V2 request body as the V4 service takes it: `__metadata` dropped, `/Date(…)/` to RFC
/// 3339, Int64 and Double written as text (`"42"`, `"1.5d"`) to numbers; nested entries of
/// a deep insert likewise (`{"results": [...]}` to arrays).
pub fn body_from_v2(schemas: &SchemaSet, entity: &Entity, body: &Value) -> Result<Value, String> {
    let Some(object) = body.as_object() else {
        return Err("the body must be a JSON object".into());
    };
    let mut out = Map::new();
    for (key, value) in object {
        if key == "__metadata" {
            continue;
        }
        if let Some(relation) = entity.relation(key) {
            let target = schemas
                .entity(&relation.target)
                .ok_or_else(|| format!("no entity {}", relation.target))?;
            let items = value.get("results").unwrap_or(value);
            let converted = match items {
                Value::Array(list) => Value::Array(
                    list.iter()
                        .map(|i| body_from_v2(schemas, target, i))
                        .collect::<Result<_, _>>()?,
                ),
                Value::Null => Value::Null,
                other => body_from_v2(schemas, target, other)?,
            };
            out.insert(key.clone(), converted);
            continue;
        }
        let kind = if key.eq_ignore_ascii_case("id") {
            // A chosen integer id is Edm.Int64: text in V2 JSON.
            Some(entity.id_kind())
        } else {
            entity.property(key).map(|p| p.kind)
        };
        out.insert(key.clone(), value_in(key, kind, value)?);
    }
    Ok(Value::Object(out))
}

fn value_in(key: &str, kind: Option<PropertyType>, value: &Value) -> Result<Value, String> {
    let Value::String(text) = value else {
        return Ok(value.clone());
    };
    let bad = |what: &str| format!("{key}: {text:?} is not {what}");
    Ok(match kind {
        Some(PropertyType::Integer) => {
            let digits = text.strip_suffix(['L', 'l']).unwrap_or(text);
            json!(digits.parse::<i64>().map_err(|_| bad("an Edm.Int64"))?)
        }
        Some(PropertyType::Number) => {
            let digits = text
                .strip_suffix(['d', 'D', 'f', 'F', 'm', 'M'])
                .unwrap_or(text);
            let n: f64 = digits
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| bad("an Edm.Double"))?;
            json!(n)
        }
        Some(PropertyType::DateTime) if text.starts_with("/Date(") => {
            let ms = date_ms(text).ok_or_else(|| bad("a /Date(ms)/ value"))?;
            json!(Timestamp { unix_ms: ms }.to_string())
        }
        Some(PropertyType::Date) if text.starts_with("/Date(") => {
            let ms = date_ms(text).ok_or_else(|| bad("a /Date(ms)/ value"))?;
            let stamp = Timestamp { unix_ms: ms }.to_string();
            json!(stamp.get(..10).unwrap_or_default())
        }
        _ => value.clone(),
    })
}

/// A V2 `$filter` in V4's grammar: `guid'…'`, `datetime'…'` (UTC) and `datetimeoffset'…'`
/// lose their prefix and quotes, `12L`/`1.5d` their suffix, `substringof(a, b)` becomes
/// `contains(b, a)`. Strings are copied untouched; anything else is left to the V4 parser.
pub(crate) fn filter_from_v2(text: &str) -> Result<String, String> {
    // The V4 grammar's own limit, checked before any work: the translation copies.
    if text.chars().count() > MAX_FILTER_CHARS {
        return Err(format!("longer than {MAX_FILTER_CHARS} characters"));
    }
    translate(text, 0)
}

/// Characters of a `$filter` at most (as the V4 grammar takes).
const MAX_FILTER_CHARS: usize = 4096;
/// `substringof` inside `substringof` at most.
const MAX_NESTING: usize = 8;

fn translate(text: &str, depth: usize) -> Result<String, String> {
    if depth > MAX_NESTING {
        return Err(format!(
            "substringof is nested more than {MAX_NESTING} deep"
        ));
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = string_end(&chars, i).ok_or("a string is not closed (a ' is missing)")?;
            out.extend(&chars[i..=end]);
            i = end + 1;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || matches!(chars[i], '_' | '.' | '-' | '+' | ':'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            if matches!(lower.as_str(), "guid" | "datetime" | "datetimeoffset")
                && chars.get(i) == Some(&'\'')
            {
                let end =
                    string_end(&chars, i).ok_or("a literal is not closed (a ' is missing)")?;
                let inner: String = chars[i + 1..end].iter().collect();
                if lower == "guid" && !crate::formats::is_guid(&inner) {
                    let shown: String = inner.chars().take(40).collect();
                    return Err(format!(
                        "guid'{shown}' is not a GUID (8-4-4-4-12 hex digits)"
                    ));
                }
                out.push_str(&inner);
                let timed = inner.contains(['T', 't']);
                if lower == "datetime"
                    && timed
                    && !inner.ends_with(['Z', 'z'])
                    && !inner.contains('+')
                {
                    // V2's datetime has no zone: it is UTC. (A bare date stays a date.)
                    out.push('Z');
                }
                i = end + 1;
                continue;
            }
            if word.starts_with(|c: char| c.is_ascii_digit()) {
                // `12L`, `1.5d`: a number with V2's type suffix (not a GUID ending in d or f).
                let trimmed = word.trim_end_matches(['L', 'l', 'd', 'D', 'f', 'F', 'm', 'M']);
                let number = trimmed != word && trimmed.parse::<f64>().is_ok();
                out.push_str(if number { trimmed } else { &word });
                continue;
            }
            if lower == "substringof" {
                let (a, b, end) = two_arguments(&chars, i)?;
                out.push_str(&format!(
                    "contains({}, {})",
                    translate(&b, depth + 1)?,
                    translate(&a, depth + 1)?
                ));
                i = end + 1;
                continue;
            }
            out.push_str(&word);
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

/// The index of the quote that closes the string opening at `start` ('' is a quote inside).
fn string_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `( a , b )` from `open` (which must be `(`): the two argument texts and the index of `)`.
fn two_arguments(chars: &[char], open: usize) -> Result<(String, String, usize), String> {
    if chars.get(open) != Some(&'(') {
        return Err("substringof takes two arguments in parentheses".into());
    }
    let (mut depth, mut i, mut comma) = (0usize, open, None);
    while i < chars.len() {
        match chars[i] {
            '\'' => i = string_end(chars, i).ok_or("a string is not closed (a ' is missing)")?,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    let comma = comma.ok_or("substringof takes two arguments")?;
                    let a: String = chars[open + 1..comma].iter().collect();
                    let b: String = chars[comma + 1..i].iter().collect();
                    return Ok((a.trim().to_string(), b.trim().to_string(), i));
                }
            }
            ',' if depth == 1 => comma = Some(i),
            _ => {}
        }
        i += 1;
    }
    Err("substringof's parentheses are not closed".into())
}

/// A V2 key: `guid'…'`, `'…'` or bare.
pub fn key_from_v2(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("guid")
        .or_else(|| key.strip_prefix("GUID"))
        .unwrap_or(key);
    let key = key.trim_matches('\'');
    // An Edm.Int64 key is written `1L` in V2.
    match key.strip_suffix(['L', 'l']) {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.to_string()
        }
        _ => key.to_string(),
    }
}

/// A V2 request's query options as V4 ones: `$inlinecount=allpages` → `$count=true`,
/// `$filter` translated, `$format=json` dropped, `$expand=a/b` → `a($expand=b)`.
pub fn pairs_from_v2(pairs: &[(String, String)]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "$inlinecount" => match value.as_str() {
                "allpages" => out.push(("$count".to_string(), "true".to_string())),
                "none" => {}
                other => return Err(format!("$inlinecount={other:?}: use allpages or none")),
            },
            "$format" if value == "json" => {}
            "$format" => return Err(format!("$format={value:?}: this service answers JSON")),
            "$filter" => out.push((
                key.clone(),
                filter_from_v2(value).map_err(|e| format!("$filter: {e}"))?,
            )),
            "$expand" => out.push((key.clone(), expand_from_v2(value)?)),
            _ => out.push((key.clone(), value.clone())),
        }
    }
    Ok(out)
}

/// `a/b,c` → `a($expand=b),c` (paths deeper than `$expand` goes are refused by it).
fn expand_from_v2(value: &str) -> Result<String, String> {
    if value
        .split(',')
        .any(|path| path.split('/').count() > crate::MAX_EXPAND_DEPTH)
    {
        return Err(format!(
            "$expand: a path of more than {} steps",
            crate::MAX_EXPAND_DEPTH
        ));
    }
    Ok(value
        .split(',')
        .map(|path| {
            let mut steps: Vec<&str> = path.trim().split('/').collect();
            let mut text = steps.pop().unwrap_or_default().to_string();
            while let Some(step) = steps.pop() {
                text = format!("{step}($expand={text})");
            }
            text
        })
        .collect::<Vec<_>>()
        .join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_filters_read_as_v4() {
        assert_eq!(
            filter_from_v2("id eq guid'0B9e0000-0000-4000-8000-000000000001' and substringof('an''n', firstName)").unwrap(),
            "id eq 0B9e0000-0000-4000-8000-000000000001 and contains(firstName, 'an''n')"
        );
        assert_eq!(
            filter_from_v2(
                "lastContactAt ge datetime'2024-05-01T10:00:00' and score gt 5L and x lt 1.5d"
            )
            .unwrap(),
            "lastContactAt ge 2024-05-01T10:00:00Z and score gt 5 and x lt 1.5"
        );
        assert_eq!(
            filter_from_v2("name eq 'guid''x'''").unwrap(),
            "name eq 'guid''x'''"
        );
        assert!(filter_from_v2("name eq 'open").is_err());
        assert!(
            filter_from_v2("id eq guid'nope'")
                .unwrap_err()
                .contains("not a GUID")
        );
        assert_eq!(
            filter_from_v2("born eq datetime'1990-01-01'").unwrap(),
            "born eq 1990-01-01"
        );
        assert_eq!(
            expand_from_v2("contacts/organization,x").unwrap(),
            "contacts($expand=organization),x"
        );
        assert!(expand_from_v2(&"a/".repeat(5000)).is_err());
        let nested = (0..20).fold("'a'".to_string(), |s, _| format!("substringof({s},b)"));
        assert!(
            filter_from_v2(&format!("{nested} eq true"))
                .unwrap_err()
                .contains("nested")
        );
        assert!(
            filter_from_v2(&"x".repeat(5000))
                .unwrap_err()
                .contains("longer than")
        );
        assert_eq!(
            filter_from_v2("id eq 00000000-0000-4000-8000-00000000000d").unwrap(),
            "id eq 00000000-0000-4000-8000-00000000000d",
            "a bare GUID (a V4 next link) keeps its last digit"
        );
        assert_eq!(key_from_v2("guid'ab'"), "ab");
        assert_eq!(
            date_ms("/Date(1714550400000+0120)/"),
            Some(1_714_550_400_000)
        );
        assert_eq!(date_ms("/Date(-5)/"), Some(-5));
    }
}
