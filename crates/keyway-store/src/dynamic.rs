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

fn read(row: &AnyRow, kinds: &[ColumnKind]) -> Result<Vec<DynValue>, StoreError> {
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
        rows.iter().map(|row| read(row, kinds)).collect()
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
}
