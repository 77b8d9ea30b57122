//! Deploy-time validation: every problem of a journey at once, each with the step it is on.

use super::model::{Journey, StepKind};
use serde::Serialize;

/// Maximum length of a Text step, in characters (WhatsApp's text body limit).
pub const TEXT_MAX_CHARS: usize = 4_096;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidationProblem {
    /// A stable code, e.g. `text_too_long`.
    pub code: &'static str,
    /// The step the problem is on, when it is on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    pub message: String,
}

impl ValidationProblem {
    fn new(code: &'static str, step_id: Option<&str>, message: String) -> Self {
        Self {
            code,
            step_id: step_id.map(str::to_owned),
            message,
        }
    }
}

pub fn validate(journey: &Journey) -> Vec<ValidationProblem> {
    let mut problems = Vec::new();
    let starts = journey
        .steps
        .iter()
        .filter(|step| matches!(step.kind, StepKind::Start))
        .count();
    if starts != 1 {
        problems.push(ValidationProblem::new(
            "start_step_count",
            None,
            format!("a journey needs exactly one Start step, this one has {starts}"),
        ));
    }
    if journey.steps.len() < 2 {
        problems.push(ValidationProblem::new(
            "no_other_steps",
            None,
            "add at least one step after Start".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for step in &journey.steps {
        if !seen.insert(step.id.as_str()) {
            problems.push(ValidationProblem::new(
                "duplicate_step_id",
                Some(&step.id),
                format!("step id `{}` is used twice", step.id),
            ));
        }
        if let StepKind::Text { text } = &step.kind {
            let length = text.chars().count();
            if text.trim().is_empty() {
                problems.push(ValidationProblem::new(
                    "text_empty",
                    Some(&step.id),
                    "a Text step needs a message".into(),
                ));
            } else if length > TEXT_MAX_CHARS {
                problems.push(ValidationProblem::new(
                    "text_too_long",
                    Some(&step.id),
                    format!("the text has {length} characters; the limit is {TEXT_MAX_CHARS}"),
                ));
            }
        }
    }
    for edge in &journey.connections {
        for end in [&edge.from, &edge.to] {
            if journey.step(end).is_none() {
                problems.push(ValidationProblem::new(
                    "connection_to_missing_step",
                    Some(&edge.from),
                    format!("a connection points at step `{end}`, which does not exist"),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(journey: &Journey, expected_codes: &[&str]) {
        let codes: Vec<_> = validate(journey).iter().map(|p| p.code).collect();
        assert_eq!(codes, expected_codes);
    }

    #[test]
    fn the_greeting_journey_is_valid() {
        check(&Journey::greeting("Hi"), &[]);
    }

    #[test]
    fn text_at_the_limit_passes_and_one_more_character_fails() {
        check(&Journey::greeting(&"a".repeat(TEXT_MAX_CHARS)), &[]);
        check(
            &Journey::greeting(&"a".repeat(TEXT_MAX_CHARS + 1)),
            &["text_too_long"],
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut journey = Journey::greeting("  ");
        journey.connections[0].to = "missing".into();
        check(&journey, &["text_empty", "connection_to_missing_step"]);
    }

    #[test]
    fn a_journey_with_only_start_is_rejected() {
        let mut journey = Journey::greeting("Hi");
        journey.steps.truncate(1);
        journey.connections.clear();
        check(&journey, &["no_other_steps"]);
    }
}
