//! Persistence: sqlx repositories over SQLite (embedded default) and Postgres, behind one
//! [`Store`]. This is the only module that contains SQL.
//!
//! Both backends run the same portable statements (`$n` parameters, BIGINT columns,
//! `ON CONFLICT … RETURNING`); each has its own migrations folder. Reads go through sqlx's
//! `Any` driver. Writes go through [`Tx`]: on Postgres an sqlx transaction; on SQLite the one
//! connection of the group-commit writer (`writer`), so write transactions never contend for
//! the database lock, while reads use a pool of their own (WAL lets them run beside the
//! writer).

pub mod ai;
pub mod ai_agents;
pub mod canned;
mod channels;
pub mod conversations;
pub mod email;
pub mod events;
pub mod files;
pub mod goals;
pub mod inbound;
pub mod inbox;
pub mod insights;
pub mod journeys;
pub mod knowledge;
pub mod notes;
pub mod notifications;
mod orgs;
pub mod outbox;
mod pg_batch;
mod records;
pub mod script;
pub mod sessions;
pub mod templates;
pub mod timers;
mod tx;
mod writer;

pub use channels::{
    ChangedChannel, ChannelConnection, ChannelRefresh, ChannelStats, NewChannel, Setup,
};
pub use conversations::{ConversationQuery, DeliveryUpdate, NewMessage};
pub use inbound::NewInbound;
pub use journeys::{
    ChannelJourney, JourneyChange, JourneyRecord, JourneyVersionRecord, NewJourney, StoredJourney,
    StoredSession,
};
pub use orgs::{Bootstrap, NewUser, Principal, UserRecord};
pub use records::*;
pub use tx::{Columns, Row, Tx};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database cannot be reached or is overloaded: callers answer 503, never lose data.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// A stored value did not parse back into its domain type.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] BoxError),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// The error every member of a failed batch gets: the batch, not the caller's work, failed.
    fn unavailable_like(error: &StoreError) -> StoreError {
        match error {
            StoreError::Unavailable(_) | StoreError::Closed => StoreError::Closed,
            other => StoreError::Corrupt(format!("the write batch failed: {other}")),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(Box::new(error))
            }
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            other => StoreError::Database(Box::new(other)),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match error {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(failure, ref message)
                if failure.code == ErrorCode::ConstraintViolation
                    && matches!(
                        failure.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
            {
                StoreError::Conflict(message.clone().unwrap_or_else(|| failure.to_string()))
            }
            rusqlite::Error::SqliteFailure(failure, _)
                if matches!(
                    failure.code,
                    ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::DiskFull
                        | ErrorCode::CannotOpen
                        | ErrorCode::OutOfMemory
                ) =>
            {
                StoreError::Unavailable(Box::new(error))
            }
            other => StoreError::Database(Box::new(other)),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    read: AnyPool,
    /// Postgres' pool for writes; on SQLite, the connection migrations run on.
    write: AnyPool,
    /// SQLite's group-commit writer.
    writer: Option<writer::Writer>,
    /// Postgres' group commit.
    batcher: Option<pg_batch::PgBatcher>,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a caller waits for a connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Postgres transactions that commit batches of scripts at once (`pg_batch`). More measured
/// worse: two nodes at 600 webhooks/s answered with a reply p99 of 423–662 ms with four lanes
/// each, 211–384 ms with two (`scripts/load-two-nodes … --warm-up 3`): fewer, larger batches
/// make fewer WAL flushes on a small machine.
const PG_BATCH_LANES: usize = 2;

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let options = AnyConnectOptions::from_str(url)?;
        if url.starts_with("sqlite:") {
            let path = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .get_filename()
                .to_owned();
            // The writer, the checkpointer and the readers are separate connections to one
            // file; an in-memory database would give each its own empty database.
            if url.contains(":memory:") || url.contains("mode=memory") {
                return Err(StoreError::Database(
                    "an in-memory SQLite database is not supported: give a file path".into(),
                ));
            }
            let pool = |size: u32| {
                AnyPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    // A local file cannot drop a connection: skip the ping before each use.
                    .test_before_acquire(false)
                    .after_connect(|connection, _| {
                        Box::pin(async move { configure_sqlite(connection).await })
                    })
                    .connect_with(options.clone())
            };
            let write = pool(1).await?;
            let read = pool(max_connections.max(1)).await?;
            Ok(Self {
                read,
                writer: Some(writer::Writer::start(&path)?),
                batcher: None,
                write,
                backend: Backend::Sqlite,
            })
        } else {
            let pool = AnyPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            Ok(Self {
                read: pool.clone(),
                batcher: Some(pg_batch::PgBatcher::start(&pool, PG_BATCH_LANES)),
                write: pool,
                writer: None,
                backend: Backend::Postgres,
            })
        }
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.write).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.write).await?,
        }
        Ok(())
    }

    /// The identity of the nodes sharing this database, made on first use: nodes that share it
    /// coordinate through Redis under a namespace named after it.
    pub async fn cluster_id(&self) -> StoreResult<String> {
        let candidate = uuid::Uuid::now_v7().simple().to_string();
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO cluster (singleton, id) VALUES (1, $1) ON CONFLICT (singleton) DO NOTHING",
                    vec![candidate.into()],
                )
                .await?;
                let row = tx
                    .fetch_optional("SELECT id FROM cluster WHERE singleton = 1", vec![])
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("the cluster row is missing".into()))?;
                row.text("id")
            })
        })
        .await
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut connection = self.read.acquire().await?;
        connection.ping().await?;
        Ok(())
    }

    /// Runs `work` in a write transaction and returns its result once committed. On SQLite the
    /// work of many callers shares one commit (see `writer`); an error rolls back this work
    /// only.
    pub async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Tx) -> futures::future::BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        match (&self.writer, &self.batcher) {
            (Some(writer), _) => Ok(unboxed(writer.submit(writer::Work::Job(job(work))).await?)),
            (None, Some(batcher)) => {
                Ok(unboxed(batcher.submit(writer::Work::Job(job(work))).await?))
            }
            (None, None) => self.write_apart(work).await,
        }
    }

    /// Like `write`, but on Postgres in a transaction of its own rather than in a batch of
    /// others' work. For writes that may wait on another transaction's row locks (an insert
    /// that meets a key another transaction inserted and has not committed): in a shared batch
    /// they would wait while holding what others in the batch locked, and two nodes' batches
    /// could deadlock. And for jobs of many round trips: in a batch, everything else in it
    /// would wait for them. On SQLite, the same as `write`.
    pub(crate) async fn write_alone<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Tx) -> futures::future::BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        match &self.writer {
            Some(_) => self.write(work).await,
            None => self.write_apart(work).await,
        }
    }

    /// Runs `work` in a Postgres transaction of its own.
    async fn write_apart<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: for<'c> FnOnce(&'c mut Tx) -> futures::future::BoxFuture<'c, StoreResult<T>>,
    {
        let mut tx = Tx::postgres(self.write.begin().await?);
        let value = work(&mut tx).await?;
        tx.commit().await?;
        Ok(value)
    }

    /// Like `write`, but returns as soon as the work is committed, with the sync still to come
    /// on SQLite (see `writer::Writer::submit_committed`): the caller may act inside Parley on
    /// what it wrote at once, and waits on `Durable` before it tells anyone outside.
    pub(crate) async fn write_committed<T, F>(&self, work: F) -> StoreResult<(T, Durable)>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Tx) -> futures::future::BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        let Some(writer) = &self.writer else {
            // On Postgres a commit is durable by the time it is visible.
            return Ok((self.write_alone(work).await?, Durable(None)));
        };
        let (output, synced) = writer
            .submit_committed(writer::Work::Job(job(work)))
            .await?;
        Ok((unboxed(output), Durable(Some(synced))))
    }

    /// Runs a script of writes and returns once it is committed. Scripts of many callers
    /// share one commit (SQLite's `writer`, Postgres' `pg_batch`).
    pub async fn write_script(&self, script: script::Script) -> StoreResult<()> {
        match (&self.writer, &self.batcher) {
            (Some(writer), _) => writer
                .submit(writer::Work::Script(script))
                .await
                .map(|_| ()),
            (None, Some(batcher)) => batcher
                .submit(writer::Work::Script(script))
                .await
                .map(|_| ()),
            (None, None) => {
                let mut tx = Tx::postgres(self.write.begin().await?);
                tx.run(&script).await?;
                tx.commit().await
            }
        }
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Waits until every write committed so far is durable. A read that something outside the
    /// database acts on (a send to a provider, an event to a console) calls this before
    /// answering: on SQLite a commit is visible a moment before the syncer has synced it (see
    /// `writer`), and a power cut in that moment would take back what was read. On Postgres
    /// a commit is durable by the time it is visible.
    pub(crate) async fn durable(&self) {
        if let Some(writer) = &self.writer {
            writer.durable().await;
        }
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// A caller's work as the writer and the batcher take it: its result boxed.
fn job<T, F>(work: F) -> writer::Job
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut Tx) -> futures::future::BoxFuture<'c, StoreResult<T>>
        + Send
        + 'static,
{
    Box::new(move |tx| {
        Box::pin(async move {
            let value = work(tx).await?;
            Ok(Box::new(value) as writer::Output)
        })
    })
}

/// The result of work made by `job`, unboxed.
fn unboxed<T: 'static>(output: writer::Output) -> T {
    *output
        .downcast::<T>()
        .expect("a write job returns the type its caller asked for")
}

/// The durability of a write that `Store::write_committed` returned before it was synced.
#[must_use = "a write is not durable until `wait` says so"]
pub(crate) struct Durable(Option<writer::Synced>);

impl Durable {
    /// Returns once the write is durable, or with the error that kept it from being so.
    pub(crate) async fn wait(self) -> StoreResult<()> {
        match self.0 {
            Some(synced) => synced.wait().await,
            None => Ok(()),
        }
    }
}

async fn configure_sqlite(connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // WAL lets readers run beside the writer; FULL syncs the WAL at every commit so an
    // acknowledged webhook survives a power cut, not only a process crash. Group commit keeps
    // the number of syncs low.
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA busy_timeout = 5000",
        "PRAGMA foreign_keys = ON",
    ] {
        connection.execute(pragma).await?;
    }
    Ok(())
}
