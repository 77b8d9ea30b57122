//! Group commit for SQLite. SQLite has one writer at a time and a commit with
//! `synchronous=FULL` costs a disk sync, so write work from every caller is queued to one
//! writer thread that runs whatever is waiting in a single transaction and commits once. A
//! caller's result is handed back only after that commit: nothing is reported done before it
//! is durable.
//!
//! Work comes in two forms. A *job* is code that talks to the connection (it needs answers,
//! such as ids from `RETURNING`); jobs run one after another, each in its own savepoint. A
//! *script* is a list of statements known in advance (see `script`); all scripts of a batch run
//! as one multi-statement query — a single round trip to SQLite's worker thread, which is what
//! every statement costs most — inside one savepoint. If that fails, the scripts are run again
//! one by one, each in a savepoint, so only the failing one is refused. Every caller waits for
//! its own write, so batching never reorders the writes of one conversation.

use super::script::{Script, Shape};
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

pub(crate) enum Work {
    Job(Job),
    Script(Script),
}

pub(crate) struct Submission {
    work: Work,
    done: oneshot::Sender<Result<Output, StoreError>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Writer {
    submissions: mpsc::Sender<Submission>,
}

impl Writer {
    /// Starts the writer on `pool` (a pool of one connection), on a thread of its own: the
    /// writer is the one serial path of every write, so its statement round trips must not
    /// wait behind other tasks.
    pub(crate) fn start(pool: AnyPool) -> std::io::Result<Self> {
        let (submissions, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("parley-writer".into())
            .spawn(move || runtime.block_on(run(pool, receiver)))?;
        Ok(Self { submissions })
    }

    pub(crate) async fn submit(&self, work: Work) -> Result<Output, StoreError> {
        let (done, result) = oneshot::channel();
        self.submissions
            .send(Submission { work, done })
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
    let mut jobs = Vec::new();
    let mut scripts = Vec::new();
    for submission in batch {
        match submission.work {
            Work::Job(job) => jobs.push((submission.done, job)),
            Work::Script(script) => scripts.push((submission.done, script)),
        }
    }
    let mut outcomes: Vec<Outcome> = Vec::new();
    if jobs.len() == 1 && scripts.is_empty() {
        // A job alone in its batch needs no savepoint: the transaction is its own.
        let (done, job) = jobs.pop().expect("the batch has one job");
        let outcome = run_guarded(&mut transaction, job).await;
        if outcome.is_err() {
            let _ = transaction.rollback().await;
            let _ = done.send(outcome);
            return;
        }
        outcomes.push((done, outcome));
    } else {
        let results = match run_isolated(&mut transaction, jobs).await {
            Ok(job_outcomes) => {
                outcomes = job_outcomes;
                run_scripts(&mut transaction, scripts).await
            }
            Err((error, dones)) => Err((
                error,
                dones
                    .into_iter()
                    .chain(scripts.into_iter().map(|(done, _)| done))
                    .collect(),
            )),
        };
        match results {
            Ok(script_outcomes) => outcomes.extend(script_outcomes),
            Err((error, dones)) => {
                tracing::error!(error = %error, "a write batch failed between its parts");
                let _ = transaction.rollback().await;
                for done in dones
                    .into_iter()
                    .chain(outcomes.into_iter().map(|(done, _)| done))
                {
                    let _ = done.send(Err(StoreError::unavailable_like(&error)));
                }
                return;
            }
        }
    }
    let mut succeeded = Vec::with_capacity(outcomes.len());
    for (done, outcome) in outcomes {
        match outcome {
            Ok(output) => succeeded.push((done, output)),
            Err(error) => {
                let _ = done.send(Err(error));
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

type Done = oneshot::Sender<Result<Output, StoreError>>;
type Outcome = (Done, Result<Output, StoreError>);

/// Runs the scripts of a batch inside one savepoint. Scripts of the same shape are joined
/// in chunks of 32, 16, 8, 4, 2 or 1, so each chunk is one round trip and its text — and so
/// its prepared form in SQLite's statement cache — recurs from batch to batch. If any chunk
/// fails, everything is rolled back to the savepoint and the scripts run again one by one, so
/// that only the failing one is refused.
async fn run_scripts(
    connection: &mut AnyConnection,
    scripts: Vec<(Done, Script)>,
) -> Result<Vec<Outcome>, (StoreError, Vec<Done>)> {
    use sqlx::Executor;
    if scripts.is_empty() {
        return Ok(Vec::new());
    }
    let dones_of = |scripts: Vec<(Done, Script)>| {
        scripts
            .into_iter()
            .map(|(done, _)| done)
            .collect::<Vec<_>>()
    };
    if let Err(error) = connection.execute("SAVEPOINT scripts").await {
        return Err((StoreError::from(error), dones_of(scripts)));
    }
    // Scripts by shape, as indexes into `scripts`.
    let mut groups: Vec<(Shape, Vec<usize>)> = Vec::new();
    for (index, (_, script)) in scripts.iter().enumerate() {
        let shape = script.shape();
        match groups.iter_mut().find(|(known, _)| *known == shape) {
            Some((_, members)) => members.push(index),
            None => groups.push((shape, vec![index])),
        }
    }
    let mut failure = None;
    'groups: for (_, members) in &groups {
        let mut rest: &[usize] = members;
        while !rest.is_empty() {
            let size = [32, 16, 8, 4, 2, 1]
                .into_iter()
                .find(|size| *size <= rest.len())
                .expect("1 fits any non-empty rest");
            let (chunk, remainder) = rest.split_at(size);
            rest = remainder;
            let joined = Script::concat(chunk.iter().map(|&index| scripts[index].1.clone()));
            if let Err(error) = joined.run(connection).await {
                failure = Some(error);
                break 'groups;
            }
        }
    }
    let Some(error) = failure else {
        if let Err(error) = connection.execute("RELEASE scripts").await {
            return Err((StoreError::from(error), dones_of(scripts)));
        }
        return Ok(scripts
            .into_iter()
            .map(|(done, _)| (done, Ok(Box::new(()) as Output)))
            .collect());
    };
    tracing::warn!(error = %error, scripts = scripts.len(), "a batch of scripts failed; running them one by one");
    if let Err(error) = connection
        .execute("ROLLBACK TO scripts; RELEASE scripts")
        .await
    {
        return Err((StoreError::from(error), dones_of(scripts)));
    }
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(scripts.len());
    let mut pending = scripts.into_iter();
    while let Some((done, script)) = pending.next() {
        let attempt = async {
            connection.execute("SAVEPOINT job").await?;
            match script.run(connection).await {
                Ok(()) => {
                    connection.execute("RELEASE job").await?;
                    Ok(Ok(()))
                }
                Err(error) => {
                    connection.execute("ROLLBACK TO job; RELEASE job").await?;
                    Ok::<_, sqlx::Error>(Err(error))
                }
            }
        };
        match attempt.await {
            Ok(result) => outcomes.push((done, result.map(|()| Box::new(()) as Output))),
            Err(error) => {
                let dones = outcomes
                    .into_iter()
                    .map(|(done, _)| done)
                    .chain(std::iter::once(done))
                    .chain(pending.map(|(done, _)| done))
                    .collect();
                return Err((StoreError::from(error), dones));
            }
        }
    }
    Ok(outcomes)
}

/// Runs a job, turning a panic into an error.
async fn run_guarded(connection: &mut AnyConnection, job: Job) -> Result<Output, StoreError> {
    AssertUnwindSafe(job(connection))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(StoreError::Corrupt("a write job panicked".into())))
}

/// Runs each job of a batch inside its own savepoint, so a failing job is rolled back alone.
/// The release of one savepoint and the start of the next share a round trip.
async fn run_isolated(
    connection: &mut AnyConnection,
    jobs: Vec<(Done, Job)>,
) -> Result<Vec<Outcome>, (StoreError, Vec<Done>)> {
    use sqlx::Executor;
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(jobs.len());
    if jobs.is_empty() {
        return Ok(outcomes);
    }
    let mut pending = jobs.into_iter();
    let fail =
        |error: sqlx::Error, outcomes: Vec<Outcome>, pending: std::vec::IntoIter<(Done, Job)>| {
            let dones = outcomes
                .into_iter()
                .map(|(done, _)| done)
                .chain(pending.map(|(done, _)| done))
                .collect();
            (StoreError::from(error), dones)
        };
    if let Err(error) = connection.execute("SAVEPOINT job").await {
        return Err(fail(error, outcomes, pending));
    }
    while let Some((done, job)) = pending.next() {
        let outcome = run_guarded(connection, job).await;
        let next = if outcome.is_ok() {
            if pending.len() > 0 {
                "RELEASE job; SAVEPOINT job"
            } else {
                "RELEASE job"
            }
        } else if pending.len() > 0 {
            "ROLLBACK TO job; RELEASE job; SAVEPOINT job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        outcomes.push((done, outcome));
        if let Err(error) = connection.execute(next).await {
            return Err(fail(error, outcomes, pending));
        }
    }
    Ok(outcomes)
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

    fn insert_script(value: i64) -> crate::store::script::Script {
        let mut script = crate::store::script::Script::new();
        script.push("INSERT INTO t (v) VALUES ($1)", vec![value.into()]);
        script.push("INSERT INTO t (v) VALUES ($1)", vec![(value + 1000).into()]);
        script
    }

    #[tokio::test]
    async fn scripts_of_one_batch_commit_together_and_a_failing_one_is_refused_alone() {
        let (store, _dir) = store().await;
        let colliding = {
            // Its second statement collides with the first script's: only this script fails.
            let mut script = crate::store::script::Script::new();
            script.push("INSERT INTO t (v) VALUES ($1)", vec![5.into()]);
            script.push("INSERT INTO t (v) VALUES ($1)", vec![1001.into()]);
            script
        };
        let (first, duplicate, last, job) = futures::join!(
            store.write_script(insert_script(1)),
            store.write_script(colliding),
            store.write_script(insert_script(2)),
            insert(&store, 3),
        );
        first.unwrap();
        assert!(
            matches!(duplicate, Err(StoreError::Conflict(_))),
            "{duplicate:?}"
        );
        last.unwrap();
        assert_eq!(job.unwrap(), 3);
        assert_eq!(values(&store).await, [1, 2, 3, 1001, 1002]);
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
                #[expect(
                    unreachable_code,
                    reason = "the job type needs a result after the panic"
                )]
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
