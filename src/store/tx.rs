//! A write transaction, the one interface write work uses on both backends.
//!
//! On SQLite the transaction lives on the writer thread's own connection and every statement
//! runs right there, prepared once and cached: no hop to another thread per statement, which
//! is what the single serial write path of an embedded database can least afford. On Postgres
//! it is an ordinary sqlx transaction. The methods are `async` for Postgres' sake; on SQLite
//! they never wait.
//!
//! Statements use `$n` parameters, bound to `values[n - 1]`, on both backends.

use super::events::LoggedEvents;
use super::script::{Script, Value};
use super::{Backend, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::Any;

pub struct Tx {
    inner: Inner,
}

enum Inner {
    /// The writer's connection, inside a transaction the writer began.
    Sqlite(rusqlite::Connection),
    Postgres(sqlx::Transaction<'static, Any>),
}

impl Tx {
    pub(super) fn sqlite(connection: rusqlite::Connection) -> Self {
        Self {
            inner: Inner::Sqlite(connection),
        }
    }

    pub(super) fn postgres(transaction: sqlx::Transaction<'static, Any>) -> Self {
        Self {
            inner: Inner::Postgres(transaction),
        }
    }

    /// Commits a Postgres transaction (SQLite's writer commits its batches itself).
    pub(super) async fn commit(self) -> StoreResult<()> {
        match self.inner {
            Inner::Postgres(transaction) => Ok(transaction.commit().await?),
            Inner::Sqlite(_) => Ok(()),
        }
    }

    /// The SQLite connection, for the writer's transaction control.
    pub(super) fn sqlite_connection(&mut self) -> Option<&mut rusqlite::Connection> {
        match &mut self.inner {
            Inner::Sqlite(connection) => Some(connection),
            Inner::Postgres(_) => None,
        }
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&mut self, sql: &str, values: Vec<Value>) -> StoreResult<u64> {
        match &mut self.inner {
            Inner::Sqlite(connection) => sqlite_execute(connection, sql, &values),
            Inner::Postgres(transaction) => Ok(bind(sqlx::query(sql), values)
                .execute(&mut **transaction)
                .await?
                .rows_affected()),
        }
    }

    /// Runs a statement and returns every row it produced (`SELECT`, or `RETURNING`).
    pub async fn fetch_all(&mut self, sql: &str, values: Vec<Value>) -> StoreResult<Vec<Row>> {
        match &mut self.inner {
            Inner::Sqlite(connection) => sqlite_fetch(connection, sql, &values),
            Inner::Postgres(transaction) => Ok(bind(sqlx::query(sql), values)
                .fetch_all(&mut **transaction)
                .await?
                .into_iter()
                .map(Row::Any)
                .collect()),
        }
    }

    pub async fn fetch_optional(
        &mut self,
        sql: &str,
        values: Vec<Value>,
    ) -> StoreResult<Option<Row>> {
        Ok(self.fetch_all(sql, values).await?.into_iter().next())
    }

    /// The first row; `NotFound` when there is none.
    pub async fn fetch_one(&mut self, sql: &str, values: Vec<Value>) -> StoreResult<Row> {
        self.fetch_optional(sql, values)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Runs every statement of a script, then writes its events; the first failure stops it
    /// and is returned.
    pub async fn run(&mut self, script: &Script) -> StoreResult<()> {
        self.run_statements(script.body()).await?;
        self.log_events(script.events()).await
    }

    /// Writes logged events in the backend's way (see `store::events`).
    pub(super) async fn log_events(&mut self, events: &[LoggedEvents]) -> StoreResult<()> {
        let backend = match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        };
        for logged in events {
            self.run_statements(&logged.statements(backend)).await?;
        }
        Ok(())
    }

    /// Runs statements in order; the first failure stops them and is returned.
    pub(super) async fn run_statements<'s>(
        &mut self,
        statements: impl IntoIterator<Item = &'s (&'static str, Vec<Value>)>,
    ) -> StoreResult<()> {
        for (sql, values) in statements {
            match &mut self.inner {
                Inner::Sqlite(connection) => {
                    sqlite_execute(connection, sql, values)?;
                }
                Inner::Postgres(_) => {
                    self.execute(sql, values.to_vec()).await?;
                }
            }
        }
        Ok(())
    }
}

pub(super) fn bind<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    values: Vec<Value>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    values.into_iter().fold(query, |query, value| match value {
        Value::Text(text) => query.bind(text),
        Value::Int(number) => query.bind(number),
    })
}

/// Prepares (or takes from the cache) `sql` and binds each `$n` to `values[n - 1]`. SQLite
/// numbers parameters by first appearance, not by their digits, so each is bound by name.
fn sqlite_prepare<'c>(
    connection: &'c rusqlite::Connection,
    sql: &str,
    values: &[Value],
) -> StoreResult<rusqlite::CachedStatement<'c>> {
    let mut statement = connection.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let position = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|digits| digits.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("parameter {index} of a statement is not `$n`"))
            })?;
        let value = values.get(position).ok_or_else(|| {
            StoreError::Corrupt(format!("no value for parameter ${}", position + 1))
        })?;
        match value {
            Value::Text(text) => statement.raw_bind_parameter(index, text)?,
            Value::Int(number) => statement.raw_bind_parameter(index, number)?,
        }
    }
    Ok(statement)
}

fn sqlite_execute(
    connection: &rusqlite::Connection,
    sql: &str,
    values: &[Value],
) -> StoreResult<u64> {
    {
        let mut statement = sqlite_prepare(connection, sql, values)?;
        let mut rows = statement.raw_query();
        while rows.next()?.is_some() {}
    }
    Ok(connection.changes())
}

fn sqlite_fetch(
    connection: &rusqlite::Connection,
    sql: &str,
    values: &[Value],
) -> StoreResult<Vec<Row>> {
    let mut statement = sqlite_prepare(connection, sql, values)?;
    let columns: std::sync::Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|index| row.get::<_, rusqlite::types::Value>(index))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Row::Sqlite(SqliteRow {
            columns: std::sync::Arc::clone(&columns),
            values,
        }));
    }
    Ok(out)
}

/// A row read inside a write transaction.
pub enum Row {
    Sqlite(SqliteRow),
    Any(AnyRow),
}

pub struct SqliteRow {
    columns: std::sync::Arc<[String]>,
    values: Vec<rusqlite::types::Value>,
}

impl SqliteRow {
    fn value(&self, column: &str) -> StoreResult<&rusqlite::types::Value> {
        self.columns
            .iter()
            .position(|name| name == column)
            .map(|index| &self.values[index])
            .ok_or_else(|| StoreError::Corrupt(format!("no column `{column}` in the row")))
    }
}

/// Typed access to the columns of a row, whichever backend produced it.
pub trait Columns {
    /// A text column; `None` when NULL.
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    /// An integer column; `None` when NULL.
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;

    fn text(&self, column: &str) -> StoreResult<String> {
        self.opt_text(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
    }

    fn int(&self, column: &str) -> StoreResult<i64> {
        self.opt_int(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
    }
}

impl Columns for AnyRow {
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::Row::try_get(self, column)?)
    }

    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
}

impl Columns for Row {
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        use rusqlite::types::Value as V;
        match self {
            Row::Any(row) => row.opt_text(column),
            Row::Sqlite(row) => match row.value(column)? {
                V::Null => Ok(None),
                V::Text(text) => Ok(Some(text.clone())),
                other => Err(StoreError::Corrupt(format!(
                    "{column}: expected text, found {:?}",
                    other.data_type()
                ))),
            },
        }
    }

    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        use rusqlite::types::Value as V;
        match self {
            Row::Any(row) => row.opt_int(column),
            Row::Sqlite(row) => match row.value(column)? {
                V::Null => Ok(None),
                V::Integer(number) => Ok(Some(*number)),
                other => Err(StoreError::Corrupt(format!(
                    "{column}: expected an integer, found {:?}",
                    other.data_type()
                ))),
            },
        }
    }
}
