//! Group commit for scripts on Postgres.
//!
//! A commit waits for its WAL flush. A few lanes, each with a connection from the pool, take
//! the scripts waiting when they are free and run them in one transaction: the statements of
//! all of them first, then their events (unnumbered, see `store::events`), then one commit, so
//! one flush commits them all.
//!
//! Jobs (closures given the transaction) join the batch too, after the bodies, each in a
//! savepoint: a job that fails is rolled back to its savepoint and answered with its error,
//! and the batch goes on.
//!
//! A batch whose transaction fails is rolled back as a whole, and its scripts run again each in
//! a transaction of its own, so a failing script is refused alone and the others still commit;
//! its jobs, which cannot run twice, are answered with the failure. Nothing is answered before
//! its transaction committed.

use super::script::Script;
use super::tx::Tx;
use super::writer::{Job, Output, Work};
use super::{StoreError, StoreResult};
use futures::FutureExt;
use sqlx::AnyPool;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Most scripts in one transaction.
const MAX_BATCH: usize = 64;
/// Scripts waiting for a lane before callers wait to hand theirs over.
const QUEUE_CAPACITY: usize = 4_096;

struct Submission {
    work: Work,
    done: oneshot::Sender<StoreResult<Output>>,
}

/// The lanes' shared queue.
#[derive(Clone, Debug)]
pub(crate) struct PgBatcher {
    submissions: mpsc::Sender<Submission>,
}

impl PgBatcher {
    /// Starts `lanes` lanes writing through `pool`. They stop when the last `PgBatcher` is
    /// dropped and the queue is empty.
    pub(crate) fn start(pool: &AnyPool, lanes: usize) -> Self {
        let (submissions, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..lanes.max(1) {
            tokio::spawn(lane(pool.clone(), Arc::clone(&receiver)));
        }
        Self { submissions }
    }

    /// Runs `work` and answers its outcome once it is committed.
    pub(crate) async fn submit(&self, work: Work) -> StoreResult<Output> {
        let (done, answer) = oneshot::channel();
        self.submissions
            .send(Submission { work, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn lane(pool: AnyPool, receiver: Arc<Mutex<mpsc::Receiver<Submission>>>) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        let mut scripts = Vec::new();
        let mut jobs = Vec::new();
        for submission in batch {
            match submission.work {
                Work::Script(script) => scripts.push((submission.done, script)),
                Work::Job(job) => jobs.push((submission.done, job)),
            }
        }
        match together(&pool, &scripts, jobs).await {
            Ok(answers) => {
                for (done, _) in scripts {
                    let _ = done.send(Ok(Box::new(())));
                }
                for (done, answer) in answers {
                    let _ = done.send(answer);
                }
            }
            Err(error) => {
                if scripts.len() > 1 {
                    tracing::warn!(error = %error, scripts = scripts.len(), "a batch failed; running its scripts one by one");
                }
                for (done, script) in scripts {
                    let outcome = alone(&pool, &script).await;
                    let _ = done.send(outcome.map(|()| Box::new(()) as Output));
                }
            }
        }
    }
}

/// Runs a batch in one transaction: every script's body, then every job in a savepoint,
/// then every script's last statements, then the commit. Answers the jobs' outcomes once
/// committed; when the transaction fails, the jobs are answered with the failure here and the
/// error is returned for the scripts to run alone.
async fn together(
    pool: &AnyPool,
    scripts: &[(oneshot::Sender<StoreResult<Output>>, Script)],
    jobs: Vec<(oneshot::Sender<StoreResult<Output>>, Job)>,
) -> StoreResult<Vec<(oneshot::Sender<StoreResult<Output>>, StoreResult<Output>)>> {
    let mut answers = Vec::with_capacity(jobs.len());
    let mut pending = jobs.into_iter();
    let result = async {
        let mut tx = Tx::postgres(pool.begin().await?);
        for (_, script) in scripts {
            tx.run_statements(script.body()).await?;
        }
        for (done, job) in pending.by_ref() {
            tx.execute("SAVEPOINT job", vec![]).await?;
            let outcome = AssertUnwindSafe(job(&mut tx))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(StoreError::Corrupt("a write job panicked".into())));
            if outcome.is_err() {
                tx.execute("ROLLBACK TO SAVEPOINT job", vec![]).await?;
            }
            tx.execute("RELEASE SAVEPOINT job", vec![]).await?;
            answers.push((done, outcome));
        }
        for (_, script) in scripts {
            tx.log_events(script.events()).await?;
        }
        tx.commit().await
    }
    .await;
    match result {
        Ok(()) => Ok(answers),
        Err(error) => {
            // A job cannot run twice: those of a failed batch fail with it.
            for (done, outcome) in answers {
                let _ = done.send(match outcome {
                    Ok(_) => Err(StoreError::unavailable_like(&error)),
                    Err(own) => Err(own),
                });
            }
            for (done, _) in pending {
                let _ = done.send(Err(StoreError::unavailable_like(&error)));
            }
            Err(error)
        }
    }
}

async fn alone(pool: &AnyPool, script: &Script) -> StoreResult<()> {
    let mut tx = Tx::postgres(pool.begin().await?);
    tx.run(script).await?;
    tx.commit().await
}
