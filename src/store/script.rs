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
    /// Run after every other statement, in the order they were added, whenever they were
    /// added: writes that lock a row shared by the whole organisation (its event sequence)
    /// hold that lock for as short a time as the script allows.
    last: Vec<(&'static str, Vec<Value>)>,
}

impl Script {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a statement whose parameters are `$1..$n`, bound to `values` in order.
    pub fn push(&mut self, sql: &'static str, values: Vec<Value>) {
        self.statements.push((sql, values));
    }

    /// Adds a statement that runs after all the others (see [`Script::last`]).
    pub fn push_last(&mut self, sql: &'static str, values: Vec<Value>) {
        self.last.push((sql, values));
    }

    /// Adds the statements of `other` after these (its last ones after these last ones).
    pub fn append(&mut self, other: Script) {
        self.statements.extend(other.statements);
        self.last.extend(other.last);
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.last.is_empty()
    }

    /// The statements that run first.
    pub(super) fn body(&self) -> &[(&'static str, Vec<Value>)] {
        &self.statements
    }

    /// The statements that run after all the others.
    pub(super) fn tail(&self) -> &[(&'static str, Vec<Value>)] {
        &self.last
    }

    /// Every statement in the order it runs.
    pub(super) fn statements(&self) -> impl Iterator<Item = &(&'static str, Vec<Value>)> {
        self.statements.iter().chain(&self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_statements_run_after_all_others_in_the_order_they_came() {
        let mut script = Script::new();
        script.push("a", vec![]);
        script.push_last("x", vec![]);
        script.push("b", vec![]);
        let mut other = Script::new();
        other.push_last("y", vec![]);
        other.push("c", vec![]);
        script.append(other);
        let order: Vec<&str> = script.statements().map(|(sql, _)| *sql).collect();
        assert_eq!(order, ["a", "b", "c", "x", "y"]);
        assert!(!script.is_empty());
        assert!(Script::new().is_empty());
    }
}
