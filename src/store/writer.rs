//! Group commit for SQLite. SQLite has one writer at a time and a durable commit costs a disk
//! sync, so write work from every caller is queued to one writer thread, which owns the one
//! write connection, runs whatever is waiting in a single transaction and commits once. The
//! sync happens beside it, on the syncer thread (see `start_syncer`), and a caller's result is
//! handed back only after the sync: nothing is reported done before it is durable.
//!
//! Work comes in two forms: a *job* is code that talks to the transaction (it needs answers,
//! such as ids from `RETURNING`); a *script* is a list of statements known in advance. A
//! failing piece of work is rolled back alone and refused while the rest commits (see
//! `commit_batch`). Statements run on this thread, against statements
//! prepared once and cached, so a write costs what SQLite takes to do it and no more. Every
//! caller waits for its own write, so batching never reorders the writes of one conversation.

use super::script::Script;
use super::tx::Tx;
use super::StoreError;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Pieces of work committed together at most.
const MAX_BATCH: usize = 512;
/// Pieces of work waiting before callers feel backpressure.
const QUEUE_CAPACITY: usize = 8_192;
/// Prepared statements kept by the writer's connection.
const STATEMENT_CACHE: usize = 256;
/// How often the checkpointer copies committed pages from the WAL into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// WAL pages (~40 MiB) after which the writer checkpoints by itself. Under a continuous write
/// load the checkpointer never finds the WAL fully copied before the next commit, so SQLite
/// never restarts the WAL from its beginning and the file grows; the writer's own checkpoint,
/// which runs right after a commit, copies the few frames the checkpointer has not and lets
/// the WAL restart. This bounds the WAL's size.
const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

pub(crate) type Output = Box<dyn Any + Send>;
pub(crate) type Job =
    Box<dyn for<'c> FnOnce(&'c mut Tx) -> BoxFuture<'c, Result<Output, StoreError>> + Send>;

pub(crate) enum Work {
    Job(Job),
    Script(Script),
}

pub(crate) struct Submission {
    work: Work,
    done: Done,
}

type Answer = oneshot::Sender<Result<Output, StoreError>>;

/// Where the outcome of a piece of work goes.
struct Done {
    /// Answered once the work's commit is durable, or with the error that refused it.
    durable: Answer,
    /// For a caller that acts on its write at once (see `Writer::submit_committed`): answered
    /// with the outcome as soon as the work is committed, before the sync. `durable` then
    /// only says when the sync is done.
    committed: Option<Answer>,
}

impl Done {
    fn new(durable: Answer) -> Self {
        Self {
            durable,
            committed: None,
        }
    }

    /// Gives the caller its outcome, where it waits for it first.
    fn send(self, outcome: Result<Output, StoreError>) {
        let _ = match self.committed {
            Some(committed) => committed.send(outcome),
            None => self.durable.send(outcome),
        };
    }

    /// The work committed with `outcome`: a caller waiting for the commit hears of it now and
    /// waits on for the sync; the answer left to send after the sync is returned. `None` when
    /// the work was refused and its caller has heard so.
    fn committed(
        self,
        outcome: Result<Output, StoreError>,
    ) -> Option<(Done, Result<Output, StoreError>)> {
        match self.committed {
            None => Some((self, outcome)),
            Some(committed) => {
                let synced = outcome.is_ok();
                let _ = committed.send(outcome);
                synced.then(|| (Done::new(self.durable), Ok(Box::new(()) as Output)))
            }
        }
    }
}

/// The sync a committed piece of work waits for (see `Writer::submit_committed`).
pub(crate) struct Synced(oneshot::Receiver<Result<Output, StoreError>>);

impl Synced {
    /// Returns once the commit is durable, or with the error that kept it from being so.
    pub(crate) async fn wait(self) -> Result<(), StoreError> {
        self.0.await.map_err(|_| StoreError::Closed)?.map(|_| ())
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Writer {
    submissions: mpsc::Sender<Submission>,
    durability: Arc<Durability>,
}

/// How far the writer's commits have gone, and how far the syncer has made them durable.
/// Commits are numbered from 1; a batch's number is taken before its `COMMIT` runs, so a
/// reader that saw a commit's data finds at least that number in `committed`.
#[derive(Debug)]
struct Durability {
    committed: AtomicU64,
    synced: watch::Sender<u64>,
}

/// A committed batch on its way to the syncer, with the answers that wait for its sync.
struct Committed {
    number: u64,
    answers: Vec<(Done, Result<Output, StoreError>)>,
}

impl Writer {
    /// Opens the write connection to the database file at `path` and starts the writer on a
    /// thread of its own: it is the one serial path of every write, so it must not wait
    /// behind other tasks.
    pub(crate) fn start(path: &Path) -> Result<Self, StoreError> {
        let connection = open(path)?;
        let checkpoints = start_checkpointer(path)?;
        let durability = Arc::new(Durability {
            committed: AtomicU64::new(0),
            synced: watch::channel(0).0,
        });
        let syncs = start_syncer(wal_path(path), Arc::clone(&durability))?;
        let (submissions, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|error| StoreError::Unavailable(Box::new(error)))?;
        let writer_durability = Arc::clone(&durability);
        std::thread::Builder::new()
            .name("parley-writer".into())
            .spawn(move || {
                runtime.block_on(run(
                    Tx::sqlite(connection),
                    receiver,
                    &writer_durability,
                    &syncs,
                ));
                // The syncer and the checkpointer stop with the writer.
                drop(syncs);
                drop(checkpoints);
            })
            .map_err(|error| StoreError::Unavailable(Box::new(error)))?;
        Ok(Self {
            submissions,
            durability,
        })
    }

    /// Waits until every write committed so far is durable. A reader that is about to act
    /// outside the database on what it read (send a reply, tell a console) calls this after
    /// its read: what it saw may have been committed a moment ago and not be synced yet.
    pub(crate) async fn durable(&self) {
        let target = self.durability.committed.load(Ordering::Acquire);
        let mut synced = self.durability.synced.subscribe();
        // An error means the writer has stopped: nothing will become more durable.
        let _ = synced.wait_for(|synced| *synced >= target).await;
    }

    pub(crate) async fn submit(&self, work: Work) -> Result<Output, StoreError> {
        let (done, result) = oneshot::channel();
        self.submissions
            .send(Submission {
                work,
                done: Done::new(done),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// Like `submit`, but answers as soon as the work is committed, with the sync still to
    /// come: the caller may start work that the commit makes possible (others' reads see it
    /// already) and waits on `Synced` before it tells anyone outside that the write is done.
    /// Anything that reaches the outside through a later write is durable after this one:
    /// the WAL is synced in the order it was written.
    pub(crate) async fn submit_committed(
        &self,
        work: Work,
    ) -> Result<(Output, Synced), StoreError> {
        let (durable, synced) = oneshot::channel();
        let (committed, result) = oneshot::channel();
        self.submissions
            .send(Submission {
                work,
                done: Done {
                    durable,
                    committed: Some(committed),
                },
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        let output = result.await.map_err(|_| StoreError::Closed)??;
        Ok((output, Synced(synced)))
    }
}

/// Starts the checkpointer: a thread with a connection of its own that copies committed pages
/// from the WAL into the database file every `CHECKPOINT_INTERVAL`. A checkpoint writes and
/// syncs the database file; done by the writer at commit, as SQLite does by default, it would
/// stall every write behind it. A passive checkpoint runs beside the writer instead. It stops
/// when the returned sender is dropped.
fn start_checkpointer(path: &Path) -> Result<std::sync::mpsc::Sender<()>, StoreError> {
    use std::sync::mpsc::RecvTimeoutError;
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("parley-checkpoint".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL) {
                if let Err(error) =
                    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::warn!(error = %error, "a WAL checkpoint failed");
                }
            }
        })
        .map_err(|error| StoreError::Unavailable(Box::new(error)))?;
    Ok(stop)
}

/// The WAL file of the database at `path`.
fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Starts the syncer: a thread that makes committed batches durable and only then answers
/// their callers. The writer commits with `synchronous=NORMAL`, which in WAL mode writes a
/// commit's frames to the WAL without syncing it; the syncer syncs the WAL file once for
/// every batch committed meanwhile. The writer goes on with the next batch while the disk
/// syncs, instead of waiting for it: the sync, the slowest part of a commit, leaves the one
/// serial write path. Nothing is reported done before it is on disk, as with `FULL`.
fn start_syncer(
    wal: PathBuf,
    durability: Arc<Durability>,
) -> Result<std::sync::mpsc::Sender<Committed>, StoreError> {
    let (sender, receiver) = std::sync::mpsc::channel::<Committed>();
    std::thread::Builder::new()
        .name("parley-syncer".into())
        .spawn(move || {
            let mut file: Option<std::fs::File> = None;
            while let Ok(first) = receiver.recv() {
                let mut committed = vec![first];
                committed.extend(receiver.try_iter());
                let number = committed
                    .iter()
                    .map(|batch| batch.number)
                    .max()
                    .unwrap_or(0);
                let outcome = sync(&wal, &mut file);
                if let Err(error) = &outcome {
                    tracing::error!(error = %error, wal = %wal.display(), "failed to sync the WAL");
                }
                if outcome.is_ok() {
                    durability.synced.send_replace(number);
                }
                for batch in committed {
                    for (done, answer) in batch.answers {
                        done.send(match (&outcome, answer) {
                            (Ok(()), answer) => answer,
                            (Err(error), Ok(_)) => Err(StoreError::unavailable_like(error)),
                            (Err(_), Err(own)) => Err(own),
                        });
                    }
                }
            }
        })
        .map_err(|error| StoreError::Unavailable(Box::new(error)))?;
    Ok(sender)
}

/// Syncs the WAL file, opening it the first time (it exists once the database is in WAL mode
/// and has been written). The file keeps its inode for as long as the writer's connection is
/// open: SQLite restarts a WAL by writing over it, and removes it only at the last close.
fn sync(wal: &Path, file: &mut Option<std::fs::File>) -> Result<(), StoreError> {
    let handle = match file {
        Some(handle) => handle,
        None => file.insert(
            std::fs::OpenOptions::new()
                .write(true)
                .open(wal)
                .map_err(|error| StoreError::Unavailable(Box::new(error)))?,
        ),
    };
    handle
        .sync_data()
        .map_err(|error| StoreError::Unavailable(Box::new(error)))
}

fn open(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let connection = rusqlite::Connection::open(path)?;
    // WAL lets readers run beside the writer. NORMAL commits without syncing the WAL: the
    // syncer syncs it before any caller hears of the commit (see `start_syncer`), so an
    // acknowledged webhook survives a power cut, not only a process crash. SQLite still syncs
    // the WAL before a checkpoint copies it into the database file.
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "the database refused WAL mode (it is in {mode} mode)"
        )));
    }
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // Jobs run in savepoints, and statements that may fail halfway in statement journals;
    // their undo copies of pages are kept in a sub-journal: in memory, they cost a copy
    // instead of a write to a temporary file.
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    // The pages of the hot tables and indexes stay in the writer's own cache (16 MiB); other
    // pages come from the operating system's cache. A larger cache measured slower: SQLite
    // does work in proportion to the cache at every commit.
    connection.pragma_update(None, "cache_size", -16_384)?;
    connection.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

async fn run(
    mut tx: Tx,
    mut receiver: mpsc::Receiver<Submission>,
    durability: &Durability,
    syncs: &std::sync::mpsc::Sender<Committed>,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Numbered before the commit: a reader may see its data as soon as it commits.
        let number = durability.committed.fetch_add(1, Ordering::AcqRel) + 1;
        let answers = commit_batch(&mut tx, batch)
            .await
            .into_iter()
            .filter_map(|(done, outcome)| done.committed(outcome))
            .collect();
        // A batch that failed was answered already; its number still goes to the syncer,
        // which then counts it synced with the batches around it.
        if syncs.send(Committed { number, answers }).is_err() {
            tracing::error!("the WAL syncer has stopped");
        }
    }
}

/// Runs a transaction-control statement on the writer's connection, prepared once.
fn control(tx: &mut Tx, sql: &str) -> Result<(), StoreError> {
    let connection = tx
        .sqlite_connection()
        .expect("the writer's transaction is on SQLite");
    connection.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Whether the connection is still inside the batch's transaction. SQLite rolls a whole
/// transaction back by itself after some errors (a full disk, an I/O error); the batch must
/// then fail as a whole rather than let later work run outside any transaction.
fn in_transaction(tx: &mut Tx) -> bool {
    tx.sqlite_connection()
        .is_some_and(|connection| !connection.is_autocommit())
}

/// A failure of the batch as a whole: the transaction is rolled back and every caller not
/// answered yet gets the error.
struct BatchFailed(StoreError);

impl From<StoreError> for BatchFailed {
    fn from(error: StoreError) -> Self {
        BatchFailed(error)
    }
}

/// Runs one batch in one transaction. Scripts run first, together and with no savepoint:
/// they rarely fail, and a savepoint copies every page it changes into a sub-journal. If one
/// fails, the transaction is rolled back and begun again, and the scripts run one by one, each
/// in a savepoint, so that only the failing one is refused. Jobs run then, each in its own
/// savepoint: a job cannot be run twice.
///
/// Answers the work of a committed batch, to be sent once it is synced; the work of a batch
/// that failed is answered right away, and the list is empty.
async fn commit_batch(
    tx: &mut Tx,
    batch: Vec<Submission>,
) -> Vec<(Done, Result<Output, StoreError>)> {
    let mut answered: Vec<(Done, Result<Output, StoreError>)> = Vec::with_capacity(batch.len());
    let mut waiting: Vec<Done> = Vec::new();
    let result = run_batch(tx, batch, &mut answered, &mut waiting).await;
    let failure = match result {
        Ok(()) => match control(tx, "COMMIT") {
            Ok(()) => None,
            Err(error) => {
                tracing::error!(error = %error, "failed to commit a write batch");
                Some(error)
            }
        },
        Err(BatchFailed(error)) => {
            tracing::error!(error = %error, "a write batch failed");
            Some(error)
        }
    };
    match failure {
        None => answered,
        Some(error) => {
            if in_transaction(tx) {
                let _ = control(tx, "ROLLBACK");
            }
            // Work refused on its own merits keeps its own error; everything else failed
            // with the batch.
            for (done, outcome) in answered {
                done.send(match outcome {
                    Ok(_) => Err(StoreError::unavailable_like(&error)),
                    Err(own) => Err(own),
                });
            }
            for done in waiting {
                done.send(Err(StoreError::unavailable_like(&error)));
            }
            Vec::new()
        }
    }
}

async fn run_batch(
    tx: &mut Tx,
    batch: Vec<Submission>,
    answered: &mut Vec<(Done, Result<Output, StoreError>)>,
    waiting: &mut Vec<Done>,
) -> Result<(), BatchFailed> {
    let mut jobs = Vec::new();
    let mut scripts = Vec::new();
    for submission in batch {
        match submission.work {
            Work::Job(job) => jobs.push((submission.done, job)),
            Work::Script(script) => scripts.push((submission.done, script)),
        }
    }
    let give_up =
        |waiting: &mut Vec<Done>, jobs: Vec<(Done, Job)>, scripts: Vec<(Done, Script)>| {
            waiting.extend(jobs.into_iter().map(|(done, _)| done));
            waiting.extend(scripts.into_iter().map(|(done, _)| done));
        };
    if let Err(error) = control(tx, "BEGIN IMMEDIATE") {
        give_up(waiting, jobs, scripts);
        return Err(BatchFailed(error));
    }
    // Scripts first, straight in the transaction: without a savepoint around them SQLite
    // copies none of the pages they change into a sub-journal.
    let mut failed = None;
    for (_, script) in &scripts {
        if let Err(error) = tx.run(script).await {
            failed = Some(error);
            break;
        }
    }
    if !in_transaction(tx) {
        give_up(waiting, jobs, scripts);
        return Err(BatchFailed(failed.unwrap_or_else(|| {
            StoreError::Corrupt("the write batch's transaction ended early".into())
        })));
    }
    match failed {
        None => answered.extend(
            scripts
                .into_iter()
                .map(|(done, _)| (done, Ok(Box::new(()) as Output))),
        ),
        Some(error) => {
            // Nothing else ran yet: start the transaction again and run the scripts one by
            // one, each in a savepoint, so that only the failing one is refused.
            tracing::warn!(error = %error, scripts = scripts.len(), "a script of a batch failed; running them one by one");
            let restart = control(tx, "ROLLBACK").and_then(|()| control(tx, "BEGIN IMMEDIATE"));
            if let Err(error) = restart {
                give_up(waiting, jobs, scripts);
                return Err(BatchFailed(error));
            }
            let mut pending = scripts.into_iter();
            while let Some((done, script)) = pending.next() {
                match isolated(tx, Work::Script(script)).await {
                    Ok(outcome) => answered.push((done, outcome)),
                    Err(error) => {
                        waiting.push(done);
                        give_up(waiting, jobs, pending.collect());
                        return Err(error);
                    }
                }
            }
        }
    }
    // Jobs then, each in a savepoint of its own: a job cannot run twice.
    let mut pending = jobs.into_iter();
    while let Some((done, job)) = pending.next() {
        match isolated(tx, Work::Job(job)).await {
            Ok(outcome) => answered.push((done, outcome)),
            Err(error) => {
                waiting.push(done);
                waiting.extend(pending.map(|(done, _)| done));
                return Err(error);
            }
        }
    }
    Ok(())
}

/// Runs one piece of work in its own savepoint. `Ok` carries the work's own outcome; `Err` is
/// a failure of the batch as a whole.
async fn isolated(tx: &mut Tx, work: Work) -> Result<Result<Output, StoreError>, BatchFailed> {
    control(tx, "SAVEPOINT work")?;
    let outcome = perform(tx, work).await;
    if !in_transaction(tx) {
        return Err(BatchFailed(outcome.err().unwrap_or_else(|| {
            StoreError::Corrupt("the write batch's transaction ended early".into())
        })));
    }
    if outcome.is_err() {
        control(tx, "ROLLBACK TO work")?;
    }
    control(tx, "RELEASE work")?;
    Ok(outcome)
}

/// Runs one piece of work, turning a panic into an error.
async fn perform(tx: &mut Tx, work: Work) -> Result<Output, StoreError> {
    match work {
        Work::Job(job) => AssertUnwindSafe(job(tx))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(StoreError::Corrupt("a write job panicked".into()))),
        Work::Script(script) => tx.run(&script).await.map(|()| Box::new(()) as Output),
    }
}

#[cfg(test)]
mod tests {
    use crate::store::script::Script;
    use crate::store::{Columns, Store, StoreError};
    use sqlx::Row;

    pub(crate) async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url, 2).await.unwrap();
        store
            .write(|tx| {
                Box::pin(tx.execute(
                    "CREATE TABLE t (v BIGINT NOT NULL UNIQUE, note TEXT)",
                    vec![],
                ))
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
        store.write(move |tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO t (v) VALUES ($1)", vec![value.into()])
                    .await?;
                Ok(value)
            })
        })
    }

    #[tokio::test]
    async fn an_in_memory_database_is_refused_with_a_clear_error() {
        for url in ["sqlite::memory:", "sqlite://t.db?mode=memory"] {
            let error = Store::connect(url, 1).await.expect_err("refused");
            assert!(error.to_string().contains("in-memory"), "{url}: {error}");
        }
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
        let failing = store.write(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO t (v) VALUES (100)", vec![]).await?;
                // Violates the unique constraint: the whole job, including 100, is undone.
                tx.execute("INSERT INTO t (v) VALUES (1)", vec![]).await?;
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
    async fn a_failing_job_alone_in_its_batch_leaves_nothing_behind() {
        let (store, _dir) = store().await;
        insert(&store, 1).await.unwrap();
        let failed = store
            .write(|tx| {
                Box::pin(async move {
                    tx.execute("INSERT INTO t (v) VALUES (5)", vec![]).await?;
                    tx.execute("INSERT INTO t (v) VALUES (1)", vec![]).await?;
                    Ok(())
                })
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
        assert_eq!(insert(&store, 2).await.unwrap(), 2);
        assert_eq!(values(&store).await, [1, 2]);
    }

    fn insert_script(value: i64) -> Script {
        let mut script = Script::new();
        script.push("INSERT INTO t (v) VALUES ($1)", vec![value.into()]);
        script.push("INSERT INTO t (v) VALUES ($1)", vec![(value + 1000).into()]);
        script
    }

    #[tokio::test]
    async fn scripts_of_one_batch_commit_together_and_a_failing_one_is_refused_alone() {
        let (store, _dir) = store().await;
        let colliding = {
            // Its second statement collides with the first script's: only this script fails.
            let mut script = Script::new();
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
    async fn a_write_is_answered_only_once_the_wal_is_synced() {
        let (store, _dir) = store().await;
        let writer = store.writer.as_ref().expect("a SQLite store has a writer");
        for round in 0..10 {
            let values = (0..20).map(|value| round * 100 + value);
            let results =
                futures::future::join_all(values.map(|value| insert(&store, value))).await;
            assert!(results.iter().all(Result::is_ok), "{results:?}");
            // Every write above was committed with a number at most `committed`; each was
            // answered, so the syncer had synced its batch first.
            let committed = writer
                .durability
                .committed
                .load(std::sync::atomic::Ordering::SeqCst);
            assert!(committed > 0);
            assert!(*writer.durability.synced.borrow() >= committed);
        }
        tokio::time::timeout(std::time::Duration::from_secs(5), store.durable())
            .await
            .expect("a reader waiting for durability is let through");
    }

    #[tokio::test]
    async fn a_write_answered_at_commit_is_visible_at_once_and_durable_once_waited_for() {
        let (store, _dir) = store().await;
        let writer = store.writer.as_ref().expect("a SQLite store has a writer");
        for value in 0..10 {
            let (answer, durable) = store
                .write_committed(move |tx| {
                    Box::pin(async move {
                        tx.execute("INSERT INTO t (v) VALUES ($1)", vec![value.into()])
                            .await?;
                        Ok(value * 2)
                    })
                })
                .await
                .unwrap();
            assert_eq!(answer, value * 2);
            // Committed: readers see it before anyone waits for the sync.
            assert!(values(&store).await.contains(&value));
            let committed = writer
                .durability
                .committed
                .load(std::sync::atomic::Ordering::SeqCst);
            tokio::time::timeout(std::time::Duration::from_secs(5), durable.wait())
                .await
                .expect("the sync comes")
                .unwrap();
            // Nothing else writes here: `committed` is this write's batch, now synced.
            assert!(*writer.durability.synced.borrow() >= committed);
        }
        assert_eq!(values(&store).await, (0..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_refused_write_answered_at_commit_reports_its_own_error_and_leaves_nothing() {
        let (store, _dir) = store().await;
        insert(&store, 1).await.unwrap();
        let refused = store.write_committed(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO t (v) VALUES (5)", vec![]).await?;
                tx.execute("INSERT INTO t (v) VALUES (1)", vec![]).await?;
                Ok(())
            })
        });
        let (refused, kept) = futures::join!(refused, insert(&store, 2));
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{:?}",
            refused.map(|_| ())
        );
        assert_eq!(kept.unwrap(), 2);
        assert_eq!(values(&store).await, [1, 2]);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_writer_carries_on() {
        let (store, _dir) = store().await;
        let panicking = store.write(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO t (v) VALUES (7)", vec![]).await?;
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

    #[tokio::test]
    async fn parameters_bind_by_their_number_not_their_order_of_appearance() {
        let (store, _dir) = store().await;
        let mut script = Script::new();
        script.push(
            "INSERT INTO t (v, note) VALUES ($1, $2)",
            vec![1.into(), "one".into()],
        );
        script.push(
            "INSERT INTO t (v, note) VALUES ($1, $2)",
            vec![2.into(), crate::store::script::Value::Text(None)],
        );
        // `$2` appears before `$1`, and `$1` twice.
        script.push(
            "UPDATE t SET note = $2 || '-' || $1 WHERE v = $1",
            vec![2.into(), "two".into()],
        );
        store.write_script(script).await.unwrap();
        let rows = store
            .write(|tx| {
                Box::pin(async move {
                    let rows = tx
                        .fetch_all(
                            "SELECT v, note FROM t WHERE v >= $1 ORDER BY v",
                            vec![1.into()],
                        )
                        .await?;
                    rows.iter()
                        .map(|row| Ok((row.int("v")?, row.opt_text("note")?)))
                        .collect::<Result<Vec<_>, StoreError>>()
                })
            })
            .await
            .unwrap();
        assert_eq!(
            rows,
            [(1, Some("one".to_owned())), (2, Some("two-2".to_owned()))]
        );
    }

    #[tokio::test]
    async fn returning_rows_and_changed_counts_come_back_from_a_job() {
        let (store, _dir) = store().await;
        let (returned, changed, missing) = store
            .write(|tx| {
                Box::pin(async move {
                    let returned = tx
                        .fetch_one(
                            "INSERT INTO t (v) VALUES ($1) ON CONFLICT (v) DO NOTHING RETURNING v",
                            vec![41.into()],
                        )
                        .await?
                        .int("v")?;
                    let changed = tx
                        .execute("UPDATE t SET note = $1 WHERE v >= 0", vec!["x".into()])
                        .await?;
                    let missing = tx
                        .fetch_one("SELECT v FROM t WHERE v = $1", vec![0.into()])
                        .await;
                    Ok((
                        returned,
                        changed,
                        matches!(missing, Err(StoreError::NotFound)),
                    ))
                })
            })
            .await
            .unwrap();
        assert_eq!((returned, changed, missing), (41, 1, true));
    }
}
