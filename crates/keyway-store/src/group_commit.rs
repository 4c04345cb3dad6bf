//! Group commit for SQLite's single writer.
//!
//! SQLite runs one write transaction at a time, and each commit appends every page it touched
//! to the WAL. Concurrent single-row writes (data API creates, patches, deletes) therefore
//! queue behind each other and rewrite the same hot index pages once per row. The writer task
//! here takes every statement waiting at the moment, runs them in one transaction, and answers
//! each caller with its own result: the same page is then written to the WAL once per batch.
//!
//! Semantics are those of separate transactions: a statement that fails (a constraint, say) is
//! rolled back alone — SQLite's default ABORT undoes only that statement and keeps the
//! transaction open — and the others commit. If the COMMIT itself fails, nothing of the batch
//! was written and every caller gets an error.

use sqlx::{AnyPool, AssertSqlSafe};
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;
use crate::dynamic::{DynValue, bind_all};
use crate::error::foreign_key_refusal;

/// Statements in one transaction at most: bounds a batch's latency and its WAL growth.
const MAX_BATCH: usize = 128;
/// Callers waiting for the writer at most; more wait on the channel (back-pressure).
const QUEUE: usize = 1024;

struct Write {
    sql: String,
    values: Vec<DynValue>,
    reply: oneshot::Sender<Result<u64, StoreError>>,
}

/// The sending side, held by every clone of the store.
#[derive(Clone, Debug)]
pub(crate) struct GroupCommit {
    sender: mpsc::Sender<Write>,
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Write").field("sql", &self.sql).finish()
    }
}

impl GroupCommit {
    /// Starts the writer task on `writer` (the one-connection pool). It ends when the last
    /// sender is dropped.
    pub(crate) fn start(writer: AnyPool) -> GroupCommit {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, receiver));
        GroupCommit { sender }
    }

    /// Runs one statement (already in SQLite's dialect) in the next batch; rows affected.
    pub(crate) async fn execute(
        &self,
        sql: String,
        values: Vec<DynValue>,
    ) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Database(sqlx::Error::PoolClosed);
        self.sender
            .send(Write { sql, values, reply })
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn run(writer: AnyPool, mut receiver: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write_batch(&writer, &mut batch).await;
    }
}

async fn write_batch(writer: &AnyPool, batch: &mut Vec<Write>) {
    if batch.len() == 1
        && let Some(write) = batch.pop()
    {
        // Alone: its own implicit transaction, no BEGIN/COMMIT round trips.
        let result = bind_all(
            sqlx::query(AssertSqlSafe(write.sql.as_str())),
            &write.values,
        )
        .execute(writer)
        .await
        .map(|done| done.rows_affected())
        .map_err(StoreError::from);
        let _ = write.reply.send(result);
        return;
    }
    let mut connection = match writer.acquire().await {
        Ok(connection) => connection,
        Err(err) => return fail_all(batch, &err.to_string()),
    };
    if let Err(err) = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *connection)
        .await
    {
        return fail_all(batch, &err.to_string());
    }
    let mut results = Vec::with_capacity(batch.len());
    for write in batch.iter() {
        let result = bind_all(
            sqlx::query(AssertSqlSafe(write.sql.as_str())),
            &write.values,
        )
        .execute(&mut *connection)
        .await
        .map(|done| done.rows_affected());
        if let Err(err) = &result
            && !is_constraint(err)
        {
            // Disk full, I/O errors and the like may end the transaction behind our back:
            // then later statements would autocommit alone. Undo the batch, fail it whole.
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            return fail_all(batch, &err.to_string());
        }
        results.push(result);
    }
    if let Err(err) = sqlx::query("COMMIT").execute(&mut *connection).await {
        // Nothing of the batch is durable: say so to everyone, and leave no open transaction.
        let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
        return fail_all(batch, &err.to_string());
    }
    for (write, result) in batch.drain(..).zip(results) {
        let _ = write.reply.send(result.map_err(StoreError::from));
    }
}

/// A constraint violation undoes only its own statement (SQLite's ABORT); the batch goes on.
fn is_constraint(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if db.is_unique_violation() || db.is_check_violation() || foreign_key_refusal(db.as_ref()))
}

fn fail_all(batch: &mut Vec<Write>, why: &str) {
    for write in batch.drain(..) {
        let err = sqlx::Error::Protocol(format!("group commit failed: {why}"));
        let _ = write.reply.send(Err(StoreError::Database(err)));
    }
}

#[cfg(test)]
mod tests {
    use crate::{ColumnKind, DynValue, Store};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_commit_alone_or_together_with_their_own_results() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        store
            .dyn_ddl(&["CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL)".into()])
            .await
            .unwrap();
        // 200 concurrent inserts, ten of which reuse an id: exactly those fail, the rest land.
        let mut tasks = Vec::new();
        for i in 0..200 {
            let store = store.clone();
            let id = if i % 20 == 19 {
                format!("row{}", i - 1)
            } else {
                format!("row{i}")
            };
            tasks.push(tokio::spawn(async move {
                store
                    .dyn_execute(
                        "INSERT INTO t (id, n) VALUES (?, ?)",
                        &[DynValue::Text(id), DynValue::Int(i)],
                    )
                    .await
            }));
        }
        let mut failed = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(rows) => assert_eq!(rows, 1),
                Err(_) => failed += 1,
            }
        }
        assert_eq!(failed, 10);
        let count = store
            .dyn_fetch("SELECT COUNT(*) FROM t", &[], &[ColumnKind::Int])
            .await
            .unwrap();
        assert_eq!(count, vec![vec![DynValue::Int(190)]]);
        // Rows affected are per statement, also inside a batch.
        let updated = store
            .dyn_execute("UPDATE t SET n = 0 WHERE n < ?", &[DynValue::Int(50)])
            .await
            .unwrap();
        assert_eq!(updated, 48);
        store.close().await;
    }
}
