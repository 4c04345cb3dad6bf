//! What a name in a `$filter` refers to, and the SQL that reaches it: the entity's own
//! properties (`name`, `$it/name`), a lambda variable's (`c/name` inside
//! `contacts/any(c: …)`), and paths through to-one navigation properties
//! (`organization/name`, `c/organization/name`).
//!
//! A path or a lambda reads another table in a correlated subquery: an `EXISTS` per lambda, a
//! scalar subquery per to-one step (by primary key). Every table so read gets its own alias
//! (`kw_l0`, `kw_l1`, …), and the filtered entity's own columns are then written with its
//! table's name, so a subquery's columns of the same name never capture them.

use std::cell::Cell;
use std::rc::Rc;

use super::parser::MAX_LAMBDA_DEPTH;
use super::sql::{Dialect, quote};
use super::{Expr, FilterError, Lambda, Operand, Quantifier};
use crate::schema::{Relation, RelationKind};
use crate::table::table_name;
use crate::{Entity, PropertyType};

/// The entities a `$filter` may reach through navigation properties, by canonical name, as
/// the caller may read them (`None`: unreachable, answered as if the navigation property did
/// not exist, like a property the caller cannot read).
pub type Reach<'a> = &'a dyn Fn(&str) -> Option<Entity>;

/// Tables one `$filter` may read besides its own (each lambda and each to-one step is one).
const MAX_REACHED_TABLES: usize = 16;

#[derive(Clone)]
struct Frame {
    entity: Rc<Entity>,
    /// The lambda variable that names it; `None` for the filtered entity itself.
    variable: Option<String>,
    /// Its table's alias inside the lambda's subquery.
    alias: Option<String>,
}

/// The names in scope at one point of a `$filter`: the filtered entity, then the variables of
/// the enclosing lambdas, innermost last.
pub(crate) struct Cx<'a> {
    pub dialect: Dialect,
    frames: Vec<Frame>,
    reach: Reach<'a>,
    reached: &'a Cell<usize>,
    /// Whether the filtered entity's columns are written with its table's name (needed once
    /// the filter has subqueries).
    qualified: bool,
}

/// A property found by its path.
pub(crate) struct Resolved {
    pub sql: String,
    /// The path with canonical names (`c/firstName`), as errors name it.
    pub name: String,
    pub kind: PropertyType,
    /// The entity that declares it, and its canonical name there.
    pub owner: Rc<Entity>,
    pub property: String,
}

/// Whether `expr` reads other tables (a path or a lambda anywhere in it).
fn navigates(expr: &Expr) -> bool {
    any_path(expr, &|path| path.contains('/'), true)
}

/// Whether `operand` reads a property through a relation (`organization/name`).
pub(crate) fn reads_a_path(operand: &Operand) -> bool {
    match operand {
        Operand::Property(p) | Operand::Function(_, p) | Operand::IndexOf(p, _) => p.contains('/'),
        Operand::Arithmetic(a, _, b) => reads_a_path(&a.item) || reads_a_path(&b.item),
        Operand::Literal(_) => false,
    }
}

/// Whether `expr` names `$it` anywhere (inside `$expand`, keyway refuses it: OData's `$it`
/// there is the outer item, not the expanded one).
pub fn mentions_it(expr: &Expr) -> bool {
    any_path(
        expr,
        &|path| path == "$it" || path.starts_with("$it/"),
        false,
    )
}

/// Whether a property path or lambda collection of `expr` passes `test` (a lambda counts as
/// passing when `lambdas` is true).
fn any_path(expr: &Expr, test: &dyn Fn(&str) -> bool, lambdas: bool) -> bool {
    fn operand(o: &Operand, test: &dyn Fn(&str) -> bool) -> bool {
        match o {
            Operand::Property(p) | Operand::Function(_, p) | Operand::IndexOf(p, _) => test(p),
            Operand::Arithmetic(a, _, b) => operand(&a.item, test) || operand(&b.item, test),
            Operand::Literal(_) => false,
        }
    }
    match expr {
        Expr::Or(a, b) | Expr::And(a, b) => {
            any_path(a, test, lambdas) || any_path(b, test, lambdas)
        }
        Expr::Not(e) => any_path(e, test, lambdas),
        Expr::Compare(a, _, b) | Expr::Call(_, a, b) => {
            operand(&a.item, test) || operand(&b.item, test)
        }
        Expr::In(a, _) => operand(&a.item, test),
        Expr::Lambda(lambda) => {
            lambdas
                || test(&lambda.path.item)
                || lambda
                    .predicate
                    .as_deref()
                    .is_some_and(|p| any_path(p, test, lambdas))
        }
    }
}

impl<'a> Cx<'a> {
    pub(super) fn new(
        entity: &Entity,
        dialect: Dialect,
        reach: Reach<'a>,
        reached: &'a Cell<usize>,
        expr: &Expr,
    ) -> Cx<'a> {
        Cx {
            dialect,
            frames: vec![Frame {
                entity: Rc::new(entity.clone()),
                variable: None,
                alias: None,
            }],
            reach,
            reached,
            qualified: navigates(expr),
        }
    }

    /// The filtered entity.
    pub(super) fn entity(&self) -> &Entity {
        &self.frames[0].entity
    }

    fn quote(&self, name: &str) -> String {
        quote(self.dialect, name)
    }

    /// A new alias for one more table read, within [`MAX_REACHED_TABLES`].
    fn alias(&self, position: usize) -> Result<String, FilterError> {
        let n = self.reached.get();
        if n == MAX_REACHED_TABLES {
            return Err(FilterError::at(
                position,
                format!(
                    "the filter reads through more than {MAX_REACHED_TABLES} navigation \
                     properties (paths and any/all)"
                ),
            ));
        }
        self.reached.set(n + 1);
        Ok(format!("kw_l{n}"))
    }

    /// `column` of the entity in frame `frame`.
    fn column(&self, frame: usize, column: &str) -> String {
        let col = self.quote(column);
        match &self.frames[frame].alias {
            Some(alias) => format!("{alias}.{col}"),
            None if self.qualified => {
                format!(
                    "{}.{col}",
                    self.quote(&table_name(&self.frames[frame].entity))
                )
            }
            None => col,
        }
    }

    /// The frame a path starts from and the names after it: `$it/…` and `variable/…` name
    /// their frame; any other path starts at the filtered entity.
    fn start<'p>(
        &self,
        segments: &'p [&'p str],
        position: usize,
    ) -> Result<(usize, &'p [&'p str]), FilterError> {
        let first = segments[0];
        if segments.len() == 1 {
            if self.variable(first).is_some() {
                return Err(FilterError::at(
                    position,
                    format!("{first} is a lambda variable: write {first}/property"),
                ));
            }
            return Ok((0, segments));
        }
        if first == "$it" {
            return Ok((0, &segments[1..]));
        }
        Ok(match self.variable(first) {
            Some(frame) => (frame, &segments[1..]),
            None => (0, segments),
        })
    }

    fn variable(&self, name: &str) -> Option<usize> {
        self.frames
            .iter()
            .position(|f| f.variable.as_deref() == Some(name))
    }

    /// The readable target of `entity`'s navigation property `name`.
    fn navigate(
        &self,
        entity: &Entity,
        name: &str,
        position: usize,
    ) -> Result<(Relation, Entity), FilterError> {
        let missing = || {
            let error = FilterError::at(
                position,
                format!("{} has no navigation property {name:?}", entity.name),
            );
            if entity.property(name).is_some() {
                error.with_hint(format!("{name} is a property, not a navigation property"))
            } else {
                error
            }
        };
        let relation = entity.relation(name).ok_or_else(missing)?;
        let target = (self.reach)(&relation.target).ok_or_else(missing)?;
        if let RelationKind::ToMany { key, .. } = &relation.kind
            && target.property(key).is_none()
        {
            // The reverse of a key the caller cannot read is hidden with it.
            return Err(missing());
        }
        Ok((relation.clone(), target))
    }

    /// Follows the to-one steps of `hops` from frame `frame`: the entity reached, the SQL of
    /// its id (`None`: the frame itself), and the canonical names walked.
    fn walk(
        &self,
        frame: usize,
        hops: &[&str],
        position: usize,
        names: &mut Vec<String>,
    ) -> Result<(Rc<Entity>, Option<String>), FilterError> {
        let mut entity = Rc::clone(&self.frames[frame].entity);
        let mut id: Option<String> = None;
        for hop in hops {
            let (relation, target) = self.navigate(&entity, hop, position)?;
            let RelationKind::ToOne { key, .. } = &relation.kind else {
                return Err(FilterError::at(
                    position,
                    format!(
                        "{} is a collection of {}: write {}/any(x: x/…) or {}/all(x: x/…)",
                        relation.name, relation.target, relation.name, relation.name
                    ),
                ));
            };
            id = Some(self.member(frame, id.as_deref(), &entity, key, position)?);
            names.push(relation.name.clone());
            entity = Rc::new(target);
        }
        Ok((entity, id))
    }

    /// `column` of `entity`, which is frame `frame`'s own (`id` = `None`) or was reached
    /// through a path whose id is the SQL `id`.
    fn member(
        &self,
        frame: usize,
        id: Option<&str>,
        entity: &Entity,
        column: &str,
        position: usize,
    ) -> Result<String, FilterError> {
        let Some(id) = id else {
            return Ok(self.column(frame, column));
        };
        let alias = self.alias(position)?;
        Ok(format!(
            "(SELECT {alias}.{} FROM {} AS {alias} WHERE {alias}.{} = {id})",
            self.quote(column),
            self.quote(&table_name(entity)),
            self.quote("id"),
        ))
    }

    /// Resolves a property path (case-insensitively). `other` is the type of what it is
    /// compared with, if known: an unknown name there is most likely a value written without
    /// its quotes, and the error says so.
    pub(super) fn resolve(
        &self,
        path: &str,
        position: usize,
        other: Option<PropertyType>,
    ) -> Result<Resolved, FilterError> {
        let segments: Vec<&str> = path.split('/').collect();
        let (frame, rest) = self.start(&segments, position)?;
        let mut names: Vec<String> = segments[..segments.len() - rest.len()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (hops, last) = rest.split_at(rest.len() - 1);
        let (entity, id) = self.walk(frame, hops, position, &mut names)?;
        let last = last[0];
        let (property, kind) = if last.eq_ignore_ascii_case("id") {
            ("id".to_string(), entity.id_kind())
        } else if let Some(p) = entity.property(last) {
            (p.name.clone(), p.kind)
        } else {
            // The hint names a navigation property only if the caller may follow it.
            let reachable = self.navigate(&entity, last, position).is_ok();
            return Err(unknown_property(
                &entity, last, position, other, &segments, reachable,
            ));
        };
        let sql = self.member(frame, id.as_deref(), &entity, &property, position)?;
        names.push(property.clone());
        Ok(Resolved {
            sql,
            name: names.join("/"),
            kind,
            owner: entity,
            property,
        })
    }

    /// Opens `lambda`: the SQL up to its condition (`(EXISTS (SELECT 1 FROM … WHERE key = id`)
    /// and the scope its condition is compiled in.
    pub(super) fn lambda(&self, lambda: &Lambda) -> Result<(String, Cx<'a>), FilterError> {
        let position = lambda.path.position;
        let segments: Vec<&str> = lambda.path.item.split('/').collect();
        let (frame, rest) = if segments.len() == 1 {
            (0, &segments[..])
        } else {
            self.start(&segments, position)?
        };
        let (hops, last) = rest.split_at(rest.len() - 1);
        let mut names = Vec::new();
        let (entity, id) = self.walk(frame, hops, position, &mut names)?;
        let (relation, target) = self.navigate(&entity, last[0], position)?;
        let RelationKind::ToMany { key, .. } = &relation.kind else {
            return Err(FilterError::at(
                position,
                format!(
                    "{} is a single {}: {} applies to collections (write {}/property eq …)",
                    relation.name, relation.target, lambda.quantifier, relation.name
                ),
            ));
        };
        if self.frames.len() > MAX_LAMBDA_DEPTH {
            return Err(FilterError::at(
                position,
                format!("any/all nest deeper than {MAX_LAMBDA_DEPTH} levels"),
            ));
        }
        // Nested, a lambda goes down from the innermost item: one reaching back up (through a
        // to-one step, `$it` or an outer variable) would read its rows once per pair of items.
        // A lambda goes down: over a collection of the filtered item, or (nested) of the
        // innermost variable. One reached through a to-one step (`item/lines/all(…)` from a
        // Line), `$it` or an outer variable would read its rows once per pair of items: the
        // cost grows with the square of a parent's children.
        let innermost = self.frames.len() - 1;
        if !hops.is_empty() {
            return Err(FilterError::at(
                position,
                format!(
                    "any/all range over a collection of the filtered item or of a lambda \
                     variable, not through a to-one step ({}): the database would read those \
                     rows once per pair of items",
                    lambda.path.item
                ),
            ));
        }
        if innermost > 0 && frame != innermost {
            let variable = self.frames[innermost].variable.as_deref().unwrap_or("x");
            return Err(FilterError::at(
                position,
                format!(
                    "inside another any/all, a lambda ranges over a collection of the innermost \
                     variable ({variable}/…/any(…)), with no to-one step on the way"
                ),
            ));
        }
        let owner_id = self.member(frame, id.as_deref(), &entity, "id", position)?;
        let alias = self.alias(position)?;
        let open = format!(
            "({}EXISTS (SELECT 1 FROM {} AS {alias} WHERE {alias}.{} = {owner_id}",
            if lambda.quantifier == Quantifier::All {
                "NOT "
            } else {
                ""
            },
            self.quote(&table_name(&target)),
            self.quote(key),
        );
        let mut frames = self.frames.clone();
        frames.push(Frame {
            entity: Rc::new(target),
            variable: lambda.variable.as_ref().map(|v| v.item.clone()),
            alias: Some(alias),
        });
        Ok((
            open,
            Cx {
                dialect: self.dialect,
                frames,
                reach: self.reach,
                reached: self.reached,
                qualified: true,
            },
        ))
    }
}

/// `entity` has no property `name`, with a hint where the intent is guessable.
fn unknown_property(
    entity: &Entity,
    name: &str,
    position: usize,
    other: Option<PropertyType>,
    segments: &[&str],
    reachable: bool,
) -> FilterError {
    let error = FilterError::at(
        position,
        format!("{} has no property {name:?}", entity.name),
    );
    let lowercase = name.to_ascii_lowercase();
    if segments.len() > 1 {
        return error;
    }
    match other {
        _ if matches!(lowercase.as_str(), "null" | "true" | "false") => {
            error.with_hint(format!("{lowercase} is written in lowercase"))
        }
        Some(PropertyType::String | PropertyType::Enum) => {
            error.with_hint(format!("a text value needs quotes: '{name}'"))
        }
        _ if reachable => error.with_hint(format!(
            "{name} is a navigation property: compare one of its properties ({name}/…), or \
             use {name}/any(…)"
        )),
        _ => error,
    }
}
