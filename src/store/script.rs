//! A fixed sequence of write statements, known before the write starts: most of what a
//! conversation does to the database is one script, which the SQLite writer can run beside
//! other callers' scripts in one transaction (see `writer`), and which `Tx::run` runs on
//! either backend.

use super::events::LoggedEvents;

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
    /// Events the script appends to its organisation's log, written after every other
    /// statement in the form the backend needs (see [`LoggedEvents`]).
    events: Vec<LoggedEvents>,
}

impl Script {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a statement whose parameters are `$1..$n`, bound to `values` in order.
    pub fn push(&mut self, sql: &'static str, values: Vec<Value>) {
        self.statements.push((sql, values));
    }

    /// Adds events to log, after every statement of the script whenever they were added.
    pub fn log(&mut self, events: LoggedEvents) {
        self.events.push(events);
    }

    /// Adds the statements of `other` after these (its events after these events).
    pub fn append(&mut self, other: Script) {
        self.statements.extend(other.statements);
        self.events.extend(other.events);
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.events.is_empty()
    }

    /// The statements, in order.
    pub(super) fn body(&self) -> &[(&'static str, Vec<Value>)] {
        &self.statements
    }

    /// The events to log, in order.
    pub(super) fn events(&self) -> &[LoggedEvents] {
        &self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_keeps_statements_and_events_in_the_order_they_came() {
        let event = |kind| {
            LoggedEvents::new(
                crate::domain::OrgId::new(),
                vec![crate::store::events::NewEvent {
                    kind,
                    conversation_id: None,
                    data: serde_json::json!({}),
                }],
                0,
            )
        };
        let mut script = Script::new();
        script.push("a", vec![]);
        script.log(event("x"));
        script.push("b", vec![]);
        let mut other = Script::new();
        other.log(event("y"));
        other.push("c", vec![]);
        script.append(other);
        let order: Vec<&str> = script.body().iter().map(|(sql, _)| *sql).collect();
        assert_eq!(order, ["a", "b", "c"]);
        let kinds: Vec<&str> = script
            .events()
            .iter()
            .map(LoggedEvents::first_kind)
            .collect();
        assert_eq!(kinds, ["x", "y"]);
        assert!(!script.is_empty());
        assert!(Script::new().is_empty());
        let mut only_events = Script::new();
        only_events.log(event("z"));
        assert!(!only_events.is_empty());
    }
}
