//! The pure interpreter: `(journey, session, input, variables) -> (session, effects)`.
//!
//! A session records where a contact is in a journey and what it waits for. The interpreter
//! walks steps until one has to wait (for a reply, a timer or an event) or the journey ends, and
//! returns what the conversation actor must do as [`Effect`]s. It never panics on any journey
//! that passed validation, and a walk is bounded so a cycle cannot spin forever.

use super::interpolate::interpolate;
use super::model::{Journey, StepKind};
use crate::domain::MessageContent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Steps one input may walk before the interpreter stops the session as looping.
pub const MAX_STEPS_PER_INPUT: usize = 100;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The step the session stands on; `None` before the first input.
    pub current_step: Option<String>,
    pub waiting: Waiting,
    /// Local variables of this run.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Bumped on every change; timers carry the generation that set them, so a timer set by an
    /// older state is ignored.
    pub generation: u64,
}

/// What a session waits for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Waiting {
    /// Nothing has run yet, or the last run reached the end: the next message starts over.
    #[default]
    NewRun,
    /// The contact's next message answers the current step.
    Reply,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Input<'a> {
    /// A message from the contact; `text` is what can be matched (typed text, a button title).
    Message { text: Option<&'a str> },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this content to the contact; `step_id` says which step produced it.
    Send {
        step_id: String,
        content: MessageContent,
    },
    /// The run reached a step with no way forward.
    Ended,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub session: Session,
    pub effects: Vec<Effect>,
}

/// Handles one input. `variables` resolves system and campaign variables for interpolation
/// (`contact.name`, …); the session's local variables are looked up as `local.<name>`.
pub fn run(
    journey: &Journey,
    session: Session,
    input: &Input<'_>,
    variables: &dyn Fn(&str) -> Option<String>,
) -> Outcome {
    let mut session = session;
    session.generation += 1;
    let mut effects = Vec::new();
    let Input::Message { text } = input;
    if let Some(text) = text {
        session
            .variables
            .insert("last_input".into(), (*text).to_owned());
    }
    let mut cursor = match session.waiting {
        Waiting::NewRun => journey.start().map(|step| step.id.clone()),
        Waiting::Reply => session.current_step.clone(),
    };
    for _ in 0..MAX_STEPS_PER_INPUT {
        let Some(step) = cursor.as_deref().and_then(|id| journey.step(id)) else {
            return finish(session, effects);
        };
        session.current_step = Some(step.id.clone());
        match &step.kind {
            StepKind::Start => {}
            StepKind::Text { text } => {
                let local = &session.variables;
                let resolved = |name: &str| -> Option<String> {
                    match name.strip_prefix("local.") {
                        Some(local_name) => local.get(local_name).cloned(),
                        None => variables(name),
                    }
                };
                let owned: BTreeMap<String, String> = placeholders(text)
                    .filter_map(|name| resolved(name).map(|value| (name.to_owned(), value)))
                    .collect();
                let body = interpolate(text, |name| owned.get(name).map(String::as_str));
                effects.push(Effect::Send {
                    step_id: step.id.clone(),
                    content: MessageContent::Text { body },
                });
            }
        }
        cursor = journey.next_after(&step.id).map(|next| next.id.clone());
    }
    // The walk did not reach a wait or an end within the budget: a cycle of steps that never
    // wait. End the run rather than spin.
    finish(session, effects)
}

fn finish(mut session: Session, mut effects: Vec<Effect>) -> Outcome {
    session.current_step = None;
    session.waiting = Waiting::NewRun;
    effects.push(Effect::Ended);
    Outcome { session, effects }
}

/// The names inside `{{ }}` of a template.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split("{{")
        .skip(1)
        .filter_map(|part| part.split_once("}}").map(|(name, _)| name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::model::{Connection, Position, Step};

    fn no_variables(_: &str) -> Option<String> {
        None
    }

    fn transcript(outcome: &Outcome) -> Vec<String> {
        outcome
            .effects
            .iter()
            .map(|effect| match effect {
                Effect::Send {
                    step_id,
                    content: MessageContent::Text { body },
                } => format!("[{step_id}] {body}"),
                Effect::Send { step_id, content } => format!("[{step_id}] {content:?}"),
                Effect::Ended => "(ended)".into(),
            })
            .collect()
    }

    #[test]
    fn the_greeting_answers_the_first_message_and_ends() {
        let journey = Journey::greeting("Welcome to Casa Azul, {{contact.name}}!");
        let variables = |name: &str| (name == "contact.name").then(|| "Ana".to_owned());
        let outcome = run(
            &journey,
            Session::default(),
            &Input::Message { text: Some("hi") },
            &variables,
        );
        assert_eq!(
            transcript(&outcome),
            ["[greeting] Welcome to Casa Azul, Ana!", "(ended)"]
        );
        assert_eq!(outcome.session.waiting, Waiting::NewRun);
        assert_eq!(outcome.session.generation, 1);
        assert_eq!(outcome.session.variables["last_input"], "hi");
    }

    #[test]
    fn a_finished_run_starts_over_on_the_next_message() {
        let journey = Journey::greeting("Hello");
        let first = run(
            &journey,
            Session::default(),
            &Input::Message { text: None },
            &no_variables,
        );
        let second = run(
            &journey,
            first.session,
            &Input::Message { text: None },
            &no_variables,
        );
        assert_eq!(transcript(&second), ["[greeting] Hello", "(ended)"]);
        assert_eq!(second.session.generation, 2);
    }

    #[test]
    fn a_cycle_of_steps_that_never_wait_is_cut_off() {
        let mut journey = Journey::greeting("again");
        journey.connections.push(Connection {
            from: "greeting".into(),
            to: "greeting".into(),
            label: None,
        });
        let outcome = run(
            &journey,
            Session::default(),
            &Input::Message { text: None },
            &no_variables,
        );
        assert_eq!(outcome.effects.len(), MAX_STEPS_PER_INPUT);
        assert_eq!(outcome.effects.last(), Some(&Effect::Ended));
    }

    #[test]
    fn a_session_on_a_deleted_step_ends_instead_of_failing() {
        let journey = Journey {
            name: "j".into(),
            steps: vec![Step {
                id: "start".into(),
                name: "Start".into(),
                position: Position::default(),
                kind: StepKind::Start,
            }],
            connections: vec![],
        };
        let session = Session {
            current_step: Some("gone".into()),
            waiting: Waiting::Reply,
            ..Session::default()
        };
        let outcome = run(
            &journey,
            session,
            &Input::Message { text: None },
            &no_variables,
        );
        assert_eq!(transcript(&outcome), ["(ended)"]);
    }
}
