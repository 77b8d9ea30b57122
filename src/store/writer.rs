//! Group commit for SQLite. SQLite has one writer at a time and a commit with
//! `synchronous=FULL` costs a disk sync, so write work from every caller is queued to one
//! writer task that runs whatever is waiting in a single transaction — each job inside its own
//! savepoint, so one job's failure rolls back only that job — and commits once. A caller's
//! result is handed back only after that commit: nothing is reported done before it is durable.

use super::StoreError;
use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::{AnyConnection, AnyPool};
use std::any::Any;
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};

/// Jobs committed together at most.
const MAX_BATCH: usize = 512;
/// Jobs waiting before callers feel backpressure.
const QUEUE_CAPACITY: usize = 8_192;

type Output = Box<dyn Any + Send>;
pub(crate) type Job = Box<
    dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Output, StoreError>> + Send,
>;

pub(crate) struct Submission {
    job: Job,
    done: oneshot::Sender<Result<Output, StoreError>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Writer {
    submissions: mpsc::Sender<Submission>,
}

impl Writer {
    /// Starts the writer task on `pool` (a pool of one connection).
    pub(crate) fn start(pool: AnyPool) -> Self {
        let (submissions, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(pool, receiver));
        Self { submissions }
    }

    pub(crate) async fn submit(&self, job: Job) -> Result<Output, StoreError> {
        let (done, result) = oneshot::channel();
        self.submissions
            .send(Submission { job, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        result.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(pool: AnyPool, mut receiver: mpsc::Receiver<Submission>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        commit_batch(&pool, batch).await;
    }
}

async fn commit_batch(pool: &AnyPool, batch: Vec<Submission>) {
    let mut transaction = match pool.begin().await {
        Ok(transaction) => transaction,
        Err(error) => {
            let error = StoreError::from(error);
            tracing::warn!(error = %error, "failed to begin a write batch");
            for submission in batch {
                let _ = submission
                    .done
                    .send(Err(StoreError::unavailable_like(&error)));
            }
            return;
        }
    };
    let mut succeeded = Vec::with_capacity(batch.len());
    for submission in batch {
        let outcome = run_job(&mut transaction, submission.job).await;
        match outcome {
            Ok(output) => succeeded.push((submission.done, output)),
            Err(error) => {
                let _ = submission.done.send(Err(error));
            }
        }
    }
    match transaction.commit().await {
        Ok(()) => {
            for (done, output) in succeeded {
                let _ = done.send(Ok(output));
            }
        }
        Err(error) => {
            let error = StoreError::from(error);
            tracing::error!(error = %error, "failed to commit a write batch");
            for (done, _) in succeeded {
                let _ = done.send(Err(StoreError::unavailable_like(&error)));
            }
        }
    }
}

/// Runs one job inside a savepoint, rolling back to it if the job fails or panics.
async fn run_job(connection: &mut AnyConnection, job: Job) -> Result<Output, StoreError> {
    use sqlx::Executor;
    connection.execute("SAVEPOINT job").await?;
    let outcome = AssertUnwindSafe(job(&mut *connection)).catch_unwind().await;
    let result = match outcome {
        Ok(result) => result,
        Err(_) => Err(StoreError::Corrupt("a write job panicked".into())),
    };
    if result.is_ok() {
        connection.execute("RELEASE job").await?;
    } else {
        connection.execute("ROLLBACK TO job").await?;
        connection.execute("RELEASE job").await?;
    }
    result
}

#[cfg(test)]
mod tests {
    use crate::store::{Store, StoreError};
    use sqlx::{Executor, Row};

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url, 2).await.unwrap();
        store
            .write(|connection| {
                Box::pin(async move {
                    connection
                        .execute("CREATE TABLE t (v BIGINT NOT NULL UNIQUE)")
                        .await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        (store, dir)
    }

    async fn values(store: &Store) -> Vec<i64> {
        let rows = sqlx::query("SELECT v FROM t ORDER BY v")
            .fetch_all(store.reader())
            .await
            .unwrap();
        rows.iter()
            .map(|row| row.try_get::<i64, _>("v").unwrap())
            .collect()
    }

    fn insert(
        store: &Store,
        value: i64,
    ) -> impl std::future::Future<Output = Result<i64, StoreError>> + '_ {
        store.write(move |connection| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (v) VALUES ($1)")
                    .bind(value)
                    .execute(&mut *connection)
                    .await?;
                Ok(value)
            })
        })
    }

    #[tokio::test]
    async fn concurrent_jobs_each_get_their_own_result() {
        let (store, _dir) = store().await;
        let results = futures::future::join_all((0..50).map(|value| insert(&store, value))).await;
        let results: Vec<i64> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(results, (0..50).collect::<Vec<_>>());
        assert_eq!(values(&store).await, (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failing_job_rolls_back_only_itself() {
        let (store, _dir) = store().await;
        let failing = store.write(|connection| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (v) VALUES (100)")
                    .execute(&mut *connection)
                    .await?;
                // Violates the unique constraint: the whole job, including 100, is undone.
                sqlx::query("INSERT INTO t (v) VALUES (1)")
                    .execute(&mut *connection)
                    .await?;
                Ok(())
            })
        });
        let (first, failed, last) = futures::join!(insert(&store, 1), failing, insert(&store, 2));
        assert_eq!(first.unwrap(), 1);
        assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
        assert_eq!(last.unwrap(), 2);
        assert_eq!(values(&store).await, [1, 2]);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_writer_carries_on() {
        let (store, _dir) = store().await;
        let panicking = store.write(|connection| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (v) VALUES (7)")
                    .execute(&mut *connection)
                    .await?;
                panic!("a bug in a job");
                #[expect(unreachable_code, reason = "the job type needs a result after the panic")]
                Ok(())
            })
        });
        let (failed, kept) = futures::join!(panicking, insert(&store, 8));
        assert!(matches!(failed, Err(StoreError::Corrupt(_))));
        assert_eq!(kept.unwrap(), 8);
        assert_eq!(insert(&store, 9).await.unwrap(), 9);
        assert_eq!(values(&store).await, [8, 9]);
    }
}
