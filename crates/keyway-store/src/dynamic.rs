//! Statements built at run time (the data API's tables): the caller supplies SQL with `?`
//! placeholders, typed values to bind, and the kinds of the columns to read back.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, Store, StoreError};

/// How a column is stored (and read back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Int,
    Float,
    Text,
}

/// A foreign key constraint of a table (see [`Store::foreign_keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub column: String,
    pub constraint: String,
    pub delete_rule: String,
}

/// A value to bind or a value read. Nulls carry their kind: PostgreSQL types parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum DynValue {
    Null(ColumnKind),
    Int(i64),
    Float(f64),
    Text(String),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

pub(crate) fn bind_all<'q>(mut query: AnyQuery<'q>, values: &[DynValue]) -> AnyQuery<'q> {
    for value in values {
        query = match value {
            DynValue::Null(ColumnKind::Int) => query.bind(None::<i64>),
            DynValue::Null(ColumnKind::Float) => query.bind(None::<f64>),
            DynValue::Null(ColumnKind::Text) => query.bind(None::<String>),
            DynValue::Int(i) => query.bind(*i),
            DynValue::Float(f) => query.bind(*f),
            DynValue::Text(t) => query.bind(t.clone()),
        };
    }
    query
}

fn read_row(row: &AnyRow, kinds: &[ColumnKind]) -> Result<Vec<DynValue>, StoreError> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            Ok(match kind {
                ColumnKind::Int => row
                    .try_get::<Option<i64>, _>(i)?
                    .map_or(DynValue::Null(*kind), DynValue::Int),
                ColumnKind::Float => row
                    .try_get::<Option<f64>, _>(i)?
                    .map_or(DynValue::Null(*kind), DynValue::Float),
                ColumnKind::Text => row
                    .try_get::<Option<String>, _>(i)?
                    .map_or(DynValue::Null(*kind), DynValue::Text),
            })
        })
        .collect()
}

impl Store {
    /// Runs a statement; returns the number of rows it changed.
    pub async fn dyn_execute(&self, sql: &str, values: &[DynValue]) -> Result<u64, StoreError> {
        if let Some(group) = self.group_commit() {
            return group.execute(sql.to_string(), values.to_vec()).await;
        }
        let query = bind_all(sqlx::query(self.sql(sql)), values);
        Ok(query.execute(self.writer()).await?.rows_affected())
    }

    /// Runs a query and reads every row as `kinds`.
    pub async fn dyn_fetch(
        &self,
        sql: &str,
        values: &[DynValue],
        kinds: &[ColumnKind],
    ) -> Result<Vec<Vec<DynValue>>, StoreError> {
        let query = bind_all(sqlx::query(self.sql(sql)), values);
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter().map(|row| read_row(row, kinds)).collect()
    }

    /// Runs DDL statements in order (each its own statement; MySQL commits DDL implicitly).
    pub async fn dyn_ddl(&self, statements: &[String]) -> Result<(), StoreError> {
        for statement in statements {
            sqlx::query(self.sql(statement))
                .execute(self.writer())
                .await?;
        }
        Ok(())
    }

    /// The foreign keys of `table`: column, constraint name (empty on SQLite, which keeps
    /// none) and delete rule (`RESTRICT`, `CASCADE`, `SET NULL`, `NO ACTION`).
    pub async fn foreign_keys(&self, table: &str) -> Result<Vec<ForeignKey>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT \"from\", '', on_delete FROM pragma_foreign_key_list(?)",
            Backend::Postgres => {
                "SELECT k.column_name::text, c.constraint_name::text, r.delete_rule::text \
                 FROM information_schema.table_constraints c \
                 JOIN information_schema.key_column_usage k \
                 ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema \
                 JOIN information_schema.referential_constraints r \
                 ON r.constraint_name = c.constraint_name AND r.constraint_schema = c.table_schema \
                 WHERE c.constraint_type = 'FOREIGN KEY' AND c.table_name = ? \
                 AND c.table_schema = current_schema()"
            }
            Backend::Mysql => {
                "SELECT CAST(k.column_name AS CHAR), CAST(k.constraint_name AS CHAR), \
                 CAST(r.delete_rule AS CHAR) FROM information_schema.key_column_usage k \
                 JOIN information_schema.referential_constraints r \
                 ON r.constraint_name = k.constraint_name \
                 AND r.constraint_schema = k.table_schema \
                 WHERE k.table_name = ? AND k.table_schema = DATABASE() \
                 AND k.referenced_table_name IS NOT NULL"
            }
        };
        let rows = sqlx::query(self.sql(sql))
            .bind(table)
            .fetch_all(self.writer())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ForeignKey {
                    column: row.try_get::<String, _>(0)?,
                    constraint: row.try_get::<String, _>(1)?,
                    delete_rule: row.try_get::<String, _>(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The column names of `table` (empty when it does not exist).
    pub async fn table_columns(&self, table: &str) -> Result<Vec<String>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT name FROM pragma_table_info(?)",
            Backend::Postgres => {
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_name = ? AND table_schema = current_schema()"
            }
            Backend::Mysql => {
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_name = ? AND table_schema = DATABASE()"
            }
        };
        let rows = sqlx::query(self.sql(sql))
            .bind(table)
            .fetch_all(self.writer())
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    /// The declared type of `table`'s `column` (as the database names it: `INTEGER`,
    /// `bigint`, `text`, `varchar`…), if the column exists.
    pub async fn column_type(
        &self,
        table: &str,
        column: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT type FROM pragma_table_info(?) WHERE name = ?",
            Backend::Postgres => {
                "SELECT data_type::text FROM information_schema.columns \
                 WHERE table_name = ? AND column_name = ? AND table_schema = current_schema()"
            }
            Backend::Mysql => {
                "SELECT CAST(data_type AS CHAR) FROM information_schema.columns \
                 WHERE table_name = ? AND column_name = ? AND table_schema = DATABASE()"
            }
        };
        let row = sqlx::query(self.sql(sql))
            .bind(table)
            .bind(column)
            .fetch_optional(self.writer())
            .await?;
        row.map(|row| row.try_get::<String, _>(0).map_err(StoreError::from))
            .transpose()
    }
}

/// One statement of an all-or-nothing unit: SQL, values, and the number of rows it must
/// change (an optimistic-concurrency `UPDATE … WHERE version = ?` must change exactly one).
#[derive(Debug, Clone)]
pub struct DynStatement {
    pub sql: String,
    pub values: Vec<DynValue>,
    pub expect_rows: Option<u64>,
}

/// Why a unit was rolled back: which statement, and what happened to it.
#[derive(Debug)]
pub struct UnitFailed {
    /// The index of the statement that failed.
    pub index: usize,
    pub cause: UnitCause,
}

#[derive(Debug)]
pub enum UnitCause {
    /// The statement changed another number of rows than expected.
    Rows {
        expected: u64,
        changed: u64,
    },
    Store(StoreError),
}

impl Store {
    /// Runs `statements` in one transaction: all of them commit, or none.
    pub async fn dyn_unit(&self, statements: &[DynStatement]) -> Result<Vec<u64>, UnitFailed> {
        Ok(self.dyn_unit_reading(statements, None).await?.0)
    }

    /// Runs `statements` and then the query `read` (SQL, values, kinds) in one transaction,
    /// so the query sees what the statements wrote and nothing written since (a counter
    /// moved on and read back is this caller's alone).
    pub async fn dyn_unit_then_fetch(
        &self,
        statements: &[DynStatement],
        read: (&str, &[DynValue], &[ColumnKind]),
    ) -> Result<Vec<Vec<DynValue>>, UnitFailed> {
        Ok(self.dyn_unit_reading(statements, Some(read)).await?.1)
    }

    async fn dyn_unit_reading(
        &self,
        statements: &[DynStatement],
        read: Option<(&str, &[DynValue], &[ColumnKind])>,
    ) -> Result<(Vec<u64>, Vec<Vec<DynValue>>), UnitFailed> {
        let before = |cause: StoreError| UnitFailed {
            index: 0,
            cause: UnitCause::Store(cause),
        };
        // On SQLite the writer pool is the one writing connection: the group-commit batches
        // wait for this transaction, as they wait for each other.
        let mut tx = self.writer().begin().await.map_err(|e| before(e.into()))?;
        let mut changed = Vec::with_capacity(statements.len());
        for (index, statement) in statements.iter().enumerate() {
            let query = bind_all(sqlx::query(self.sql(&statement.sql)), &statement.values);
            let failed = |cause| UnitFailed { index, cause };
            let rows = match query.execute(&mut *tx).await {
                Ok(done) => done.rows_affected(),
                Err(e) => return Err(failed(UnitCause::Store(e.into()))),
            };
            if let Some(expected) = statement.expect_rows
                && rows != expected
            {
                return Err(failed(UnitCause::Rows {
                    expected,
                    changed: rows,
                }));
            }
            changed.push(rows);
        }
        let after = |cause: StoreError| UnitFailed {
            index: statements.len(),
            cause: UnitCause::Store(cause),
        };
        let mut rows = Vec::new();
        if let Some((sql, values, kinds)) = read {
            let query = bind_all(sqlx::query(self.sql(sql)), values);
            for row in query
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| after(e.into()))?
            {
                rows.push(read_row(&row, kinds).map_err(after)?);
            }
        }
        // Dropping the transaction unfinished (any return above) rolls it back.
        tx.commit().await.map_err(|e| after(e.into()))?;
        Ok((changed, rows))
    }
}
