//! The journey graph as it is stored and exchanged over the API: steps (nodes with a kind, a
//! name, a canvas position and a config) and directed connections between them.

use serde::{Deserialize, Serialize};

/// The id of the step every journey starts from.
pub const START_STEP_ID: &str = "start";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    pub name: String,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub connections: Vec<Connection>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub position: Position,
    #[serde(flatten)]
    pub kind: StepKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub x: f64,
    pub y: f64,
}

/// What a step does. The config of each kind sits under `config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "snake_case")]
pub enum StepKind {
    /// Where every session begins; it has no config.
    Start,
    /// Sends a text message (up to 4,096 characters, WhatsApp formatting allowed).
    Text { text: String },
}

/// A directed edge. `label` names the branch (`success`, `timeout`, a button id …); plain
/// sequencing edges have none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Journey {
    /// The built-in journey every organisation answers with until it builds its own:
    /// Start, then one Text step with the organisation's greeting.
    pub fn greeting(text: &str) -> Self {
        Self {
            name: "Greeting".into(),
            steps: vec![
                Step {
                    id: START_STEP_ID.into(),
                    name: "Start".into(),
                    position: Position { x: 0.0, y: 0.0 },
                    kind: StepKind::Start,
                },
                Step {
                    id: "greeting".into(),
                    name: "Greeting".into(),
                    position: Position { x: 0.0, y: 160.0 },
                    kind: StepKind::Text { text: text.into() },
                },
            ],
            connections: vec![Connection {
                from: START_STEP_ID.into(),
                to: "greeting".into(),
                label: None,
            }],
        }
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }

    pub fn start(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|step| matches!(step.kind, StepKind::Start))
    }

    /// The unlabelled edge leaving a step, if any.
    pub fn next_after(&self, step_id: &str) -> Option<&Step> {
        self.connections
            .iter()
            .find(|edge| edge.from == step_id && edge.label.is_none())
            .and_then(|edge| self.step(&edge.to))
    }

    /// The text of the greeting step of a built-in greeting journey.
    pub fn greeting_text(&self) -> Option<&str> {
        self.steps.iter().find_map(|step| match &step.kind {
            StepKind::Text { text } => Some(text.as_str()),
            StepKind::Start => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_names_kind_and_config() {
        let journey = Journey::greeting("Hello");
        let json = serde_json::to_value(&journey).unwrap();
        assert_eq!(json["steps"][0]["kind"], "start");
        assert_eq!(json["steps"][1]["kind"], "text");
        assert_eq!(json["steps"][1]["config"]["text"], "Hello");
        let back: Journey = serde_json::from_value(json).unwrap();
        assert_eq!(back, journey);
    }

    #[test]
    fn the_greeting_follows_start() {
        let journey = Journey::greeting("Hello");
        let next = journey.next_after(START_STEP_ID).unwrap();
        assert_eq!(next.id, "greeting");
        assert_eq!(journey.greeting_text(), Some("Hello"));
    }
}
