//! Compiles a [`Filter`] to a parameterised WHERE clause: column names come from the fixed
//! tables below, every value is a bound parameter. `co`/`sw`/`ew` use `LIKE … ESCAPE '!'` with
//! `!`, `%` and `_` escaped (a backslash is an escape in MariaDB's string literals and not in
//! the others', `!` means nothing special in any of the three). SQLite's LIKE folds ASCII case,
//! so there a case-exact check rides along: strings compare case-exactly on every backend,
//! like `users.username` itself (unique and case-sensitive in all three).

use keyway_store::{Backend, DynValue, ScimWhere};

use super::error::{ScimError, ScimType};
use super::filter::{AttrPath, CompValue, CompareOp, Filter};

/// Which resource a filter runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

/// What an attribute is in SQL.
#[derive(Debug, Clone, Copy)]
enum Column {
    Text(&'static str),
    /// Seconds since 1970.
    Time(&'static str),
    /// `active`: true when `disabled_at` is NULL.
    Active,
    /// A value of a related table: `EXISTS (SELECT 1 FROM {from} AND {col} <cmp>)`.
    Related {
        from: &'static str,
        col: &'static str,
    },
}

const USER_GROUPS_OF_USER: &str = "group_members JOIN user_groups \
     ON user_groups.name = group_members.group_name WHERE group_members.user_id = users.user_id";
const MEMBERS_OF_GROUP: &str = "group_members WHERE group_members.group_name = user_groups.name";
const MEMBER_USERS_OF_GROUP: &str = "group_members JOIN users \
     ON users.user_id = group_members.user_id WHERE group_members.group_name = user_groups.name";

fn column(resource: Resource, key: &str) -> Option<Column> {
    Some(match (resource, key) {
        (Resource::User, "id") => Column::Text("users.user_id"),
        (Resource::User, "externalid") => Column::Text("users.external_id"),
        (Resource::User, "username") => Column::Text("users.username"),
        (Resource::User, "name.formatted") => Column::Text("users.name"),
        (Resource::User, "name.familyname") => Column::Text("users.family_name"),
        (Resource::User, "name.givenname") => Column::Text("users.given_name"),
        (Resource::User, "emails" | "emails.value") => Column::Text("users.email"),
        (Resource::User, "active") => Column::Active,
        (Resource::User, "meta.created") => Column::Time("users.created_at"),
        (Resource::User, "meta.lastmodified") => {
            Column::Time("COALESCE(users.updated_at, users.created_at)")
        }
        (Resource::User, "groups" | "groups.value") => Column::Related {
            from: USER_GROUPS_OF_USER,
            col: "user_groups.scim_id",
        },
        (Resource::User, "groups.display") => Column::Related {
            from: USER_GROUPS_OF_USER,
            col: "user_groups.name",
        },
        (Resource::Group, "id") => Column::Text("user_groups.scim_id"),
        (Resource::Group, "externalid") => Column::Text("user_groups.external_id"),
        (Resource::Group, "displayname") => Column::Text("user_groups.name"),
        (Resource::Group, "meta.created") => Column::Time("user_groups.created_at"),
        (Resource::Group, "meta.lastmodified") => {
            Column::Time("COALESCE(user_groups.updated_at, user_groups.created_at)")
        }
        (Resource::Group, "members" | "members.value") => Column::Related {
            from: MEMBERS_OF_GROUP,
            col: "group_members.user_id",
        },
        (Resource::Group, "members.display") => Column::Related {
            from: MEMBER_USERS_OF_GROUP,
            col: "users.username",
        },
        _ => return None,
    })
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidFilter, detail)
}

/// The WHERE clause of `filter` (`1 = 1` for none) and the ORDER BY of `sort`.
pub fn compile(
    resource: Resource,
    backend: Backend,
    filter: Option<&Filter>,
    sort: Option<(&AttrPath, bool)>,
) -> Result<ScimWhere, ScimError> {
    let mut out = ScimWhere::default();
    match filter {
        Some(filter) => emit(resource, backend, filter, &mut out)?,
        None => out.sql.push_str("1 = 1"),
    }
    let (id, default) = match resource {
        Resource::User => ("users.user_id", "users.username"),
        Resource::Group => ("user_groups.scim_id", "user_groups.name"),
    };
    // Code-point order everywhere (PostgreSQL would sort by the database's locale).
    let ordered = |col: &str| match backend {
        Backend::Postgres => format!("{col} COLLATE \"C\""),
        _ => col.to_string(),
    };
    out.order_by = match sort {
        None => format!("{}, {id}", ordered(default)),
        Some((path, descending)) => {
            let col = match column(resource, &path.key()) {
                Some(Column::Text(col)) => ordered(col),
                Some(Column::Time(col)) => col.to_string(),
                _ => {
                    return Err(ScimError::bad(
                        ScimType::InvalidValue,
                        format!("sortBy: {path} cannot be sorted on"),
                    ));
                }
            };
            let dir = if descending { "DESC" } else { "ASC" };
            format!("{col} {dir}, {id} {dir}")
        }
    };
    Ok(out)
}

fn emit(
    resource: Resource,
    backend: Backend,
    filter: &Filter,
    out: &mut ScimWhere,
) -> Result<(), ScimError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            out.sql.push('(');
            emit(resource, backend, a, out)?;
            out.sql.push_str(joiner);
            emit(resource, backend, b, out)?;
            out.sql.push(')');
        }
        Filter::Not(inner) => {
            // NOT over a comparison with a NULL column would be NULL (no row); COALESCE keeps
            // "not (x eq y)" true where x is absent.
            out.sql.push_str("NOT COALESCE((");
            emit(resource, backend, inner, out)?;
            out.sql.push_str("), 1 = 0)");
        }
        Filter::ValuePath { attr, filter } => {
            let inner = rebase(attr, filter)?;
            emit(resource, backend, &inner, out)?;
        }
        Filter::Present(path) => present(resource, path, out)?,
        Filter::Compare { path, op, value } => {
            compare(resource, backend, path, *op, value, out)?;
        }
    }
    Ok(())
}

/// `emails[value co "x"]` is `emails.value co "x"`: keyway keeps one row per user, so a value
/// filter over a multi-valued attribute names the column of its one searchable sub-attribute.
fn rebase(attr: &str, filter: &Filter) -> Result<Filter, ScimError> {
    let path = |p: &AttrPath| -> Result<AttrPath, ScimError> {
        if p.sub.is_some() {
            return Err(invalid(format!(
                "{attr}[{p}]: a sub-attribute path inside [ ]"
            )));
        }
        Ok(AttrPath {
            attr: attr.to_string(),
            sub: Some(p.attr.clone()),
        })
    };
    Ok(match filter {
        Filter::Compare { path: p, op, value } => Filter::Compare {
            path: path(p)?,
            op: *op,
            value: value.clone(),
        },
        Filter::Present(p) => Filter::Present(path(p)?),
        Filter::And(a, b) => Filter::And(Box::new(rebase(attr, a)?), Box::new(rebase(attr, b)?)),
        Filter::Or(a, b) => Filter::Or(Box::new(rebase(attr, a)?), Box::new(rebase(attr, b)?)),
        Filter::Not(a) => Filter::Not(Box::new(rebase(attr, a)?)),
        Filter::ValuePath { .. } => return Err(invalid("value filters do not nest")),
    })
}

fn known(resource: Resource, path: &AttrPath) -> Result<Column, ScimError> {
    column(resource, &path.key()).ok_or_else(|| {
        invalid(format!(
            "{path} cannot be filtered on (docs/scim.md lists the attributes that can)"
        ))
    })
}

fn present(resource: Resource, path: &AttrPath, out: &mut ScimWhere) -> Result<(), ScimError> {
    match known(resource, path)? {
        Column::Text(col) => out
            .sql
            .push_str(&format!("({col} IS NOT NULL AND {col} <> '')")),
        Column::Time(col) => out.sql.push_str(&format!("({col} IS NOT NULL)")),
        Column::Active => out.sql.push_str("(1 = 1)"),
        Column::Related { from, .. } => out.sql.push_str(&format!("EXISTS (SELECT 1 FROM {from})")),
    }
    Ok(())
}

/// `!`, `%` and `_` escaped with `!` for `LIKE … ESCAPE '!'`.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

fn text_value(path: &AttrPath, op: CompareOp, value: &CompValue) -> Result<String, ScimError> {
    match value {
        CompValue::Str(s) => Ok(s.clone()),
        other => Err(invalid(format!(
            "{path} {op:?}: {other:?} is not a string (strings take double quotes)"
        ))),
    }
}

fn compare(
    resource: Resource,
    backend: Backend,
    path: &AttrPath,
    op: CompareOp,
    value: &CompValue,
    out: &mut ScimWhere,
) -> Result<(), ScimError> {
    let column = known(resource, path)?;
    if *value == CompValue::Null {
        // RFC 7644 §3.4.2.2: "eq null" is "not present".
        let negate = match op {
            CompareOp::Eq => true,
            CompareOp::Ne => false,
            _ => {
                return Err(invalid(format!(
                    "{path}: null compares only with eq and ne"
                )));
            }
        };
        if negate {
            out.sql.push_str("NOT ");
        }
        return present(resource, path, out);
    }
    match column {
        Column::Active => {
            let CompValue::Bool(wanted) = value else {
                return Err(invalid(format!("{path} is true or false")));
            };
            let wanted = match op {
                CompareOp::Eq => *wanted,
                CompareOp::Ne => !*wanted,
                _ => return Err(invalid(format!("{path} compares only with eq and ne"))),
            };
            out.sql.push_str(if wanted {
                "(users.disabled_at IS NULL)"
            } else {
                "(users.disabled_at IS NOT NULL)"
            });
        }
        Column::Time(col) => {
            let CompValue::Str(text) = value else {
                return Err(invalid(format!("{path} takes a date-time string")));
            };
            let stamp = keyway_kernel::rfc3339::parse_date_time(text).map_err(|e| {
                invalid(format!(
                    "{path}: {text:?} is not an RFC 3339 date-time: {e}"
                ))
            })?;
            let secs = stamp.unix_ms.div_euclid(1000);
            let sql_op = match op {
                CompareOp::Eq => "=",
                CompareOp::Ne => "<>",
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
                CompareOp::Lt => "<",
                CompareOp::Le => "<=",
                _ => {
                    return Err(invalid(format!(
                        "{path}: {op:?} does not apply to a date-time"
                    )));
                }
            };
            out.sql.push_str(&format!("({col} {sql_op} ?)"));
            out.values.push(DynValue::Int(secs));
        }
        Column::Text(col) => {
            let text = text_value(path, op, value)?;
            text_compare(backend, col, op, text, out);
        }
        Column::Related { from, col } => {
            let text = text_value(path, op, value)?;
            // "ne" over a set: no related value equals it.
            let (prefix, op) = match op {
                CompareOp::Ne => ("NOT ", CompareOp::Eq),
                other => ("", other),
            };
            out.sql
                .push_str(&format!("{prefix}EXISTS (SELECT 1 FROM {from} AND "));
            text_compare(backend, col, op, text, out);
            out.sql.push(')');
        }
    }
    Ok(())
}

fn text_compare(backend: Backend, col: &str, op: CompareOp, text: String, out: &mut ScimWhere) {
    // Order comparisons by code point everywhere (PostgreSQL would use the locale's order).
    let ordered = |sql_op: &str| match backend {
        Backend::Postgres => format!("({col} COLLATE \"C\" {sql_op} ?)"),
        _ => format!("({col} {sql_op} ?)"),
    };
    let (sql, values) = match op {
        CompareOp::Eq => (format!("({col} = ?)"), vec![text]),
        CompareOp::Ne => (format!("({col} IS NULL OR {col} <> ?)"), vec![text]),
        CompareOp::Gt => (ordered(">"), vec![text]),
        CompareOp::Ge => (ordered(">="), vec![text]),
        CompareOp::Lt => (ordered("<"), vec![text]),
        CompareOp::Le => (ordered("<="), vec![text]),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew if text.is_empty() => {
            (format!("({col} IS NOT NULL)"), vec![])
        }
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let escaped = like_escape(&text);
            let pattern = match op {
                CompareOp::Co => format!("%{escaped}%"),
                CompareOp::Sw => format!("{escaped}%"),
                _ => format!("%{escaped}"),
            };
            match backend {
                Backend::Sqlite => {
                    let exact = match op {
                        CompareOp::Co => format!("instr({col}, ?) > 0"),
                        CompareOp::Sw => format!("substr({col}, 1, length(?)) = ?"),
                        _ => format!("substr({col}, -length(?)) = ?"),
                    };
                    let mut values = vec![pattern, text.clone()];
                    if op != CompareOp::Co {
                        values.push(text);
                    }
                    (format!("({col} LIKE ? ESCAPE '!' AND {exact})"), values)
                }
                _ => (format!("({col} LIKE ? ESCAPE '!')"), vec![pattern]),
            }
        }
    };
    out.sql.push_str(&sql);
    out.values.extend(values.into_iter().map(DynValue::Text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::attrs::{GROUP_SCHEMA, USER_SCHEMA};
    use crate::scim::filter::parse_filter;

    fn sql(resource: Resource, backend: Backend, f: &str) -> Result<ScimWhere, ScimError> {
        let urn = match resource {
            Resource::User => USER_SCHEMA,
            Resource::Group => GROUP_SCHEMA,
        };
        compile(resource, backend, Some(&parse_filter(f, urn)?), None)
    }

    #[test]
    fn values_are_bound_never_pasted() {
        let hostile = r#"userName eq "x' OR '1'='1" or name.givenName co "%_!\\""#;
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
            let w = sql(Resource::User, backend, hostile).unwrap();
            assert!(!w.sql.contains("1'='1"), "{}", w.sql);
            assert!(!w.sql.contains('%'), "{}", w.sql);
            assert_eq!(
                w.values[0],
                DynValue::Text("x' OR '1'='1".into()),
                "{backend:?}"
            );
            assert_eq!(w.values[1], DynValue::Text("%!%!_!!\\%".into()));
        }
    }

    #[test]
    fn user_name_eq_is_one_indexed_comparison() {
        let w = sql(Resource::User, Backend::Sqlite, r#"USERNAME eq "ada""#).unwrap();
        assert_eq!(w.sql, "(users.username = ?)");
        assert_eq!(w.order_by, "users.username, users.user_id");
    }

    #[test]
    fn sqlite_like_is_made_case_exact() {
        let w = sql(Resource::User, Backend::Sqlite, r#"userName sw "Ad""#).unwrap();
        assert!(w.sql.contains("LIKE ? ESCAPE '!' AND substr"), "{}", w.sql);
        let w = sql(Resource::User, Backend::Postgres, r#"userName ew "a""#).unwrap();
        assert_eq!(w.sql, "(users.username LIKE ? ESCAPE '!')");
        assert_eq!(w.values, [DynValue::Text("%a".into())]);
    }

    #[test]
    fn typed_attributes() {
        let w = sql(
            Resource::User,
            Backend::Mysql,
            "active eq false and not (emails pr)",
        )
        .unwrap();
        assert!(w.sql.contains("disabled_at IS NOT NULL"), "{}", w.sql);
        let w = sql(
            Resource::User,
            Backend::Sqlite,
            r#"meta.lastModified gt "2026-01-01T00:00:00Z""#,
        )
        .unwrap();
        assert_eq!(w.values, [DynValue::Int(1_767_225_600)]);
        let w = sql(
            Resource::Group,
            Backend::Sqlite,
            r#"members[value eq "u1"]"#,
        )
        .unwrap();
        assert!(
            w.sql.starts_with("EXISTS (SELECT 1 FROM group_members"),
            "{}",
            w.sql
        );
        for bad in [
            r#"active eq "yes""#,
            "active gt true",
            r#"password eq "x""#,
            r#"meta.created gt "yesterday""#,
            r#"name eq "x""#,
            r#"emails[type eq "work"]"#,
            "userName eq 1",
            "userName co null",
        ] {
            let err = sql(Resource::User, Backend::Sqlite, bad).unwrap_err();
            assert_eq!(err.scim_type(), Some(ScimType::InvalidFilter), "{bad}");
        }
    }

    #[test]
    fn sorting_is_whitelisted() {
        let path = AttrPath {
            attr: "meta".into(),
            sub: Some("created".into()),
        };
        let w = compile(Resource::Group, Backend::Sqlite, None, Some((&path, true))).unwrap();
        assert_eq!(
            w.order_by,
            "user_groups.created_at DESC, user_groups.scim_id DESC"
        );
        let path = AttrPath {
            attr: "members".into(),
            sub: None,
        };
        assert!(compile(Resource::Group, Backend::Sqlite, None, Some((&path, false))).is_err());
    }
}
