//! A fixed sequence of write statements, known before the write starts: most of what a
//! conversation does to the database is one script, which the SQLite writer can run beside
//! other callers' scripts in one transaction (see `writer`), and which `Tx::run` runs on
//! either backend.

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

    /// Adds the statements of `other` after these.
    pub fn append(&mut self, other: Script) {
        self.statements.extend(other.statements);
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    pub(super) fn statements(&self) -> &[(&'static str, Vec<Value>)] {
        &self.statements
    }
}
