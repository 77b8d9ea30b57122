//! The wording of system notes: what a session waits for, what handed-out work answered, and
//! times as a tester reads them.

use crate::domain::Millis;
use crate::journey::{AgentNext, Completion, Waiting};

pub(super) fn describe_waiting(waiting: &Waiting) -> String {
    match waiting {
        Waiting::NewRun => "a message".into(),
        Waiting::Reply { .. } | Waiting::Agent { turn: None } => "a reply".into(),
        Waiting::AiCheck { .. } => "the AI's verdict on the last answer".into(),
        Waiting::Delay { .. } => "a timer (fire it with fire-timer)".into(),
        Waiting::Event { name, .. } => format!("the event {name}"),
        Waiting::Api { .. } => "an API response".into(),
        Waiting::PostProcess { .. } => "the AI to process an API response".into(),
        Waiting::Agent { turn: Some(_) } => "the AI agent's answer".into(),
    }
}

pub(super) fn completion_note(asked: &str, result: &Completion) -> String {
    match result {
        Completion::Api(Ok(response)) => format!("{asked} → {}", response.status),
        Completion::AiCheck(Ok(true)) => format!("{asked}: accepted"),
        Completion::AiCheck(Ok(false)) => format!("{asked}: rejected"),
        Completion::AiCheck(Err(error)) => {
            format!("{asked} failed ({error}); the answer is taken as given")
        }
        Completion::AiText(Ok(_)) => format!("{asked}: done"),
        Completion::AgentTurn(Ok(turn)) => {
            let next = match turn.next {
                AgentNext::Continue => "continues",
                AgentNext::Done => "done",
                AgentNext::Handoff => "hands off to a human",
            };
            if turn.calls.is_empty() {
                format!("{asked}: {next}")
            } else {
                format!("{asked}: {next} (tools: {})", turn.calls.join("; "))
            }
        }
        Completion::Api(Err(error))
        | Completion::AiText(Err(error))
        | Completion::AgentTurn(Err(error)) => format!("{asked} failed: {error}"),
    }
}

/// An instant as RFC 3339 in UTC, to the second.
pub(super) fn timestamp(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| at.to_string())
}

/// A duration in milliseconds, in the largest whole unit that fits.
pub(super) fn seconds(millis: Millis) -> String {
    let seconds = millis.max(0) / 1_000;
    match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
