//! A fixed sequence of write statements. On SQLite the whole sequence is sent as one
//! multi-statement query — one round trip to SQLite's worker thread instead of one per
//! statement, which matters because every write goes through the single writer — with each
//! statement's `$n` parameters renumbered into one shared argument list (sqlx binds `$n` by
//! absolute position across the statements of a query). On Postgres, whose extended protocol
//! takes one statement per query, the statements run one after the other.

use super::StoreResult;
use sqlx::AnyConnection;

/// A bound value.
#[derive(Clone, Debug)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(Some(text))
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(Some(text.to_owned()))
    }
}

impl From<Option<String>> for Value {
    fn from(text: Option<String>) -> Self {
        Value::Text(text)
    }
}

impl From<Option<&str>> for Value {
    fn from(text: Option<&str>) -> Self {
        Value::Text(text.map(str::to_owned))
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Int(Some(number))
    }
}

impl From<Option<i64>> for Value {
    fn from(number: Option<i64>) -> Self {
        Value::Int(number)
    }
}

/// The identity of a script's statements: the address and length of each SQL text.
pub type Shape = Vec<(usize, usize)>;

#[derive(Clone, Default)]
pub struct Script {
    statements: Vec<(&'static str, Vec<Value>)>,
}

impl Script {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a statement whose parameters are `$1..$n`, bound to `values` in order.
    pub fn push(&mut self, sql: &'static str, values: Vec<Value>) {
        self.statements.push((sql, values));
    }

    /// Joins scripts of the same shape into one that stays cacheable: the same number of
    /// scripts of one shape always gives the same text.
    pub fn concat(scripts: impl IntoIterator<Item = Script>) -> Script {
        let mut joined = Script::new();
        for script in scripts {
            joined.statements.extend(script.statements);
        }
        joined
    }

    /// Identifies the statements of a script (not their values): scripts with equal shapes have
    /// the same SQL text.
    pub fn shape(&self) -> Shape {
        self.statements
            .iter()
            .map(|(sql, _)| (sql.as_ptr() as usize, sql.len()))
            .collect()
    }

    /// Runs every statement; the first failure stops the script and is returned.
    pub async fn run(self, connection: &mut AnyConnection) -> StoreResult<()> {
        if self.statements.is_empty() {
            return Ok(());
        }
        if connection.backend_name() == "SQLite" {
            let mut sql = String::new();
            let mut all_values = Vec::new();
            for (statement, values) in self.statements {
                sql.push_str(&renumber(statement, all_values.len()));
                sql.push_str(";\n");
                all_values.extend(values);
            }
            bind(sqlx::query(&sql), all_values)
                .execute(&mut *connection)
                .await?;
        } else {
            for (statement, values) in self.statements {
                bind(sqlx::query(statement), values)
                    .execute(&mut *connection)
                    .await?;
            }
        }
        Ok(())
    }
}

fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: Vec<Value>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    values.into_iter().fold(query, |query, value| match value {
        Value::Text(text) => query.bind(text),
        Value::Int(number) => query.bind(number),
    })
}

/// Shifts every `$n` placeholder of `sql` by `offset`. The statements given to a script contain
/// no `$` outside placeholders.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        out.push(ch);
        if ch != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(digit) = chars.peek().filter(|c| c.is_ascii_digit()) {
            digits.push(*digit);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(number) => out.push_str(&(number + offset).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_shifted_past_earlier_statements() {
        assert_eq!(
            renumber("UPDATE t SET a = $1 WHERE b = $2 AND c = $10", 3),
            "UPDATE t SET a = $4 WHERE b = $5 AND c = $13"
        );
        assert_eq!(renumber("SELECT 1", 5), "SELECT 1");
    }

    #[tokio::test]
    async fn a_script_runs_every_statement_with_its_own_values_in_one_query() {
        use sqlx::{Connection, Executor, Row};
        sqlx::any::install_default_drivers();
        let mut connection = sqlx::AnyConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        connection
            .execute("CREATE TABLE t (k TEXT, v BIGINT)")
            .await
            .unwrap();
        let mut script = Script::new();
        script.push(
            "INSERT INTO t (k, v) VALUES ($1, $2)",
            vec!["a".into(), 1.into()],
        );
        script.push(
            "INSERT INTO t (k, v) VALUES ($1, $2)",
            vec!["b".into(), Value::Int(None)],
        );
        script.push(
            "UPDATE t SET v = $2 WHERE k = $1",
            vec!["a".into(), 7.into()],
        );
        script.run(&mut connection).await.unwrap();
        let rows = sqlx::query("SELECT k, v FROM t ORDER BY k")
            .fetch_all(&mut connection)
            .await
            .unwrap();
        let pairs: Vec<(String, Option<i64>)> = rows
            .iter()
            .map(|row| (row.get("k"), row.get("v")))
            .collect();
        assert_eq!(pairs, [("a".to_owned(), Some(7)), ("b".to_owned(), None)]);
    }

    #[tokio::test]
    async fn a_failing_statement_fails_the_script() {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let mut connection = sqlx::AnyConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        connection
            .execute("CREATE TABLE t (k TEXT UNIQUE)")
            .await
            .unwrap();
        let mut script = Script::new();
        script.push("INSERT INTO t (k) VALUES ($1)", vec!["a".into()]);
        script.push("INSERT INTO t (k) VALUES ($1)", vec!["a".into()]);
        assert!(script.run(&mut connection).await.is_err());
    }
}
