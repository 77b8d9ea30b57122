//! One test run: the journey snapshot, its session and the transcript. Pure, like the harness
//! of `journey::interpreter_tests` it grew from: an input goes in, the interpreter runs, and
//! every effect becomes a transcript entry; what needs the outside world (a timer, an HTTP or
//! AI call, a goal event to store) is handed back to the hub in [`Applied`].

use super::notes::{completion_note, describe_waiting, seconds, timestamp};
use crate::domain::{MessageContent, Millis};
use crate::journey::model::TransferTarget;
use crate::journey::{self, Completion, Effect, Input, Journey, Session, Waiting};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// What `channel_name` reads in a test run.
pub const CHANNEL_NAME: &str = "Test chat";
/// What `channel_kind` reads in a test run.
pub const CHANNEL_KIND: &str = "test";
/// The guest's name when the tester gives none.
pub const DEFAULT_GUEST_NAME: &str = "Test guest";
/// Goal events fed back into one input's run (`goal:<milestone>`), at most: a goal step that
/// waits for its own milestone must not loop.
const MAX_GOAL_ECHOES: usize = 10;

/// Who speaks in a transcript entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Guest,
    Bot,
    /// A note on something that is not a message: a timer, a call, a goal, the end of a run.
    System,
}

/// One line of a test chat. Bot messages always name the step that produced them.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TranscriptEntry {
    /// 1 for the first entry of the session, then one more per entry.
    pub seq: u64,
    /// When the entry was made, in milliseconds since the epoch (the server's clock).
    pub at: Millis,
    pub from: Speaker,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where the session stands, for the tester's debugging pane.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TestState {
    pub current_step: Option<String>,
    /// The name of `current_step` in the journey snapshot.
    pub current_step_name: Option<String>,
    /// What the session waits for: `{"for": "new_run" | "reply" | "delay" | …, …}`.
    #[schema(value_type = Object)]
    pub waiting: Waiting,
    /// The run's local variables.
    #[schema(value_type = Object)]
    pub variables: BTreeMap<String, Value>,
}

/// The test guest the system variables describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guest {
    pub name: String,
    pub phone: Option<String>,
}

impl Default for Guest {
    fn default() -> Self {
        Self {
            name: DEFAULT_GUEST_NAME.into(),
            phone: None,
        }
    }
}

/// An input to a test run, owned so it can come from a handler, a socket or a task.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum TestInput {
    Message(MessageContent),
    Event {
        name: String,
        payload: Option<Value>,
    },
    /// The tester fires the pending timer now.
    FireTimer,
    /// A timer task found the timer with this token due.
    TimerDue(u64),
    /// Work handed out (an HTTP or AI call) is done.
    Completed {
        token: u64,
        result: Completion,
    },
}

/// A timer the session waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PendingTimer {
    pub token: u64,
    pub due_at: Millis,
}

/// Work the hub runs outside the run, then answers with `TestInput::Completed`.
#[derive(Clone, Debug)]
pub(super) enum Work {
    Api {
        token: u64,
        request: journey::ApiRequest,
    },
    AiCheck {
        token: u64,
        criterion: String,
        answer: String,
    },
    AiPostProcess {
        token: u64,
        prompt: String,
        response: Value,
    },
    AgentTurn {
        token: u64,
        config: crate::journey::model::AiAgentConfig,
        message: String,
        tools: Vec<crate::journey::tools::AgentTool>,
    },
}

/// A milestone a Goal step reached, for the hub to record as a test goal event.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct GoalHit {
    pub goal_id: String,
    pub milestone_id: String,
    pub trackers: BTreeMap<String, String>,
}

/// What one input did.
#[derive(Debug, Default)]
pub(super) struct Applied {
    /// New transcript entries, oldest first; empty when the input changed nothing the tester
    /// needs to see (a stale timer or result).
    pub entries: Vec<TranscriptEntry>,
    /// `Some` when the pending timer changed: the timer to wait for now, if any.
    pub timer: Option<Option<PendingTimer>>,
    pub work: Vec<Work>,
    pub goals: Vec<GoalHit>,
}

/// Why an input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// `FireTimer` while no timer is pending.
    NoPendingTimer,
}

pub(super) struct TestRun {
    journey: Arc<Journey>,
    session: Session,
    guest: Guest,
    /// Campaign variables as they were when the session started, with this run's writes on
    /// top: a test never changes the organisation's values.
    campaign: BTreeMap<String, Value>,
    transcript: Vec<TranscriptEntry>,
    timer: Option<PendingTimer>,
    /// Work in flight by token, described for the note its result gets.
    work: BTreeMap<u64, String>,
    /// The organisation's time zone, as it was when the session started.
    time_zone: chrono_tz::Tz,
}

impl TestRun {
    pub(super) fn new(
        journey: Arc<Journey>,
        guest: Guest,
        campaign: BTreeMap<String, Value>,
    ) -> Self {
        Self {
            journey,
            session: Session::default(),
            guest,
            campaign,
            transcript: Vec::new(),
            timer: None,
            work: BTreeMap::new(),
            time_zone: chrono_tz::Tz::UTC,
        }
    }

    /// Reads dates in `time_zone` (UTC by default).
    pub(super) fn with_time_zone(mut self, time_zone: chrono_tz::Tz) -> Self {
        self.time_zone = time_zone;
        self
    }

    pub(super) fn transcript(&self) -> &[TranscriptEntry] {
        &self.transcript
    }

    pub(super) fn state(&self) -> TestState {
        let current_step = self.session.current_step.clone();
        TestState {
            current_step_name: current_step
                .as_deref()
                .and_then(|id| self.journey.step(id))
                .map(|step| step.name.clone()),
            current_step,
            waiting: self.session.waiting.clone(),
            variables: self.session.variables.clone(),
        }
    }

    /// Adds a system note outside any input (a goal event that could not be stored).
    pub(super) fn note(&mut self, now: Millis, note: String) -> TranscriptEntry {
        let mut turn = Turn::new(self.transcript.len(), now);
        turn.system(None, note);
        let entry = turn.entries.remove(0);
        self.transcript.push(entry.clone());
        entry
    }

    /// Handles one input at `now`.
    pub(super) fn apply(&mut self, input: TestInput, now: Millis) -> Result<Applied, Refusal> {
        let mut turn = Turn::new(self.transcript.len(), now);
        let timer_before = self.timer;
        match input {
            TestInput::Message(content) => {
                turn.push(Speaker::Guest, None, Some(content.clone()), None);
                let outcome = self.run(&Input::Message(&content), now);
                if outcome.is_noop() {
                    let waits = describe_waiting(&self.session.waiting);
                    turn.system(
                        None,
                        format!("The journey waits for {waits}; this message changes nothing"),
                    );
                }
                self.effects(&mut turn, outcome.effects, now);
            }
            TestInput::Event { name, payload } => {
                let note = match &payload {
                    Some(payload) => format!("Event {name} arrived with {payload}"),
                    None => format!("Event {name} arrived"),
                };
                turn.system(None, note);
                let input = Input::Event {
                    name: &name,
                    payload: payload.as_ref(),
                };
                let outcome = self.run(&input, now);
                if outcome.is_noop() {
                    turn.system(None, format!("Nothing waits for the event {name}"));
                }
                self.effects(&mut turn, outcome.effects, now);
            }
            TestInput::FireTimer => {
                let Some(timer) = self.timer else {
                    return Err(Refusal::NoPendingTimer);
                };
                turn.system(
                    None,
                    format!(
                        "Timer fired by the tester (it was due {})",
                        timestamp(timer.due_at)
                    ),
                );
                self.fire(&mut turn, timer.token, now);
            }
            TestInput::TimerDue(token) => {
                if self.timer.as_ref().map(|timer| timer.token) != Some(token) {
                    return Ok(Applied::default());
                }
                turn.system(None, "Timer fired".to_owned());
                self.fire(&mut turn, token, now);
            }
            TestInput::Completed { token, result } => {
                let Some(asked) = self.work.remove(&token) else {
                    return Ok(Applied::default());
                };
                turn.system(None, completion_note(&asked, &result));
                let outcome = self.run(&Input::Completed { token, result }, now);
                self.effects(&mut turn, outcome.effects, now);
            }
        }
        self.echo_goals(&mut turn, now);
        let waited = waited_timer(&self.session.waiting);
        if self.timer.as_ref().map(|timer| timer.token) != waited {
            self.timer = None;
        }
        self.transcript.extend(turn.entries.iter().cloned());
        Ok(Applied {
            entries: turn.entries,
            timer: (self.timer != timer_before).then_some(self.timer),
            work: turn.work,
            goals: turn.goals,
        })
    }

    fn fire(&mut self, turn: &mut Turn, token: u64, now: Millis) {
        self.timer = None;
        let outcome = self.run(&Input::Timer { token }, now);
        self.effects(turn, outcome.effects, now);
    }

    /// Goal milestones reached are events other waits may be for, as the conversation actor
    /// delivers them (`goal:<milestone id>`).
    fn echo_goals(&mut self, turn: &mut Turn, now: Millis) {
        let mut echoes = 0;
        while let Some(milestone) = turn.echoes.pop_front() {
            if echoes == MAX_GOAL_ECHOES {
                break;
            }
            echoes += 1;
            let name = format!("goal:{milestone}");
            let outcome = self.run(
                &Input::Event {
                    name: &name,
                    payload: None,
                },
                now,
            );
            self.effects(turn, outcome.effects, now);
        }
    }

    fn run(&mut self, input: &Input<'_>, now: Millis) -> journey::Outcome {
        let guest = &self.guest;
        let today = crate::clock::local_date(now, self.time_zone);
        let message_text = match input {
            Input::Message(content) => content.text_for_matching(),
            _ => None,
        };
        let understanding = std::cell::OnceCell::new();
        let understood = || {
            understanding.get_or_init(|| {
                message_text.map(|text| {
                    crate::ai::nlu::understand(text, today, crate::ai::nlu::Language::English)
                })
            })
        };
        let system = |name: &str| match name {
            name if name.starts_with("ai_") => understood().as_ref()?.variable(name),
            "contact_name" => Some(guest.name.clone()),
            "contact_phone" => guest.phone.clone(),
            "channel_name" => Some(CHANNEL_NAME.to_owned()),
            "channel_kind" => Some(CHANNEL_KIND.to_owned()),
            _ => None,
        };
        let campaign_values = &self.campaign;
        let campaign = |name: &str| campaign_values.get(name).cloned();
        let ctx = journey::Context {
            now,
            today,
            system: &system,
            campaign: &campaign,
        };
        let outcome = journey::run(&self.journey, self.session.clone(), input, &ctx);
        self.session = outcome.session.clone();
        outcome
    }

    /// Turns the effects of one run into entries and hand-outs.
    fn effects(&mut self, turn: &mut Turn, effects: Vec<Effect>, now: Millis) {
        for effect in effects {
            match effect {
                Effect::Send { step_id, content } => {
                    let step = self.step_ref(&step_id);
                    turn.push(Speaker::Bot, Some(step), Some(content), None);
                }
                Effect::StartTimer {
                    token,
                    due_at,
                    step_id,
                } => {
                    self.timer = Some(PendingTimer { token, due_at });
                    let step = self.step_ref(&step_id);
                    let wait = seconds(due_at.saturating_sub(now));
                    turn.system(
                        Some(step),
                        format!("Timer set for {} (in {wait})", timestamp(due_at)),
                    );
                }
                Effect::CallApi {
                    token,
                    step_id,
                    request,
                } => {
                    let asked = format!("API call {} {}", request.method.as_str(), request.url);
                    turn.system(Some(self.step_ref(&step_id)), format!("{asked} sent"));
                    self.work.insert(token, asked);
                    turn.work.push(Work::Api { token, request });
                }
                Effect::AiCheck {
                    token,
                    step_id,
                    criterion,
                    answer,
                } => {
                    let asked = format!("AI check of {answer:?} against {criterion:?}");
                    turn.system(Some(self.step_ref(&step_id)), asked.clone());
                    self.work.insert(token, asked);
                    turn.work.push(Work::AiCheck {
                        token,
                        criterion,
                        answer,
                    });
                }
                Effect::AiPostProcess {
                    token,
                    step_id,
                    prompt,
                    response,
                } => {
                    let asked = "AI post-processing of the API response".to_owned();
                    turn.system(Some(self.step_ref(&step_id)), asked.clone());
                    self.work.insert(token, asked);
                    turn.work.push(Work::AiPostProcess {
                        token,
                        prompt,
                        response,
                    });
                }
                Effect::AgentTurn {
                    token,
                    step_id,
                    config,
                    message,
                    tools,
                } => {
                    let asked = format!("AI agent turn on {message:?}");
                    turn.system(Some(self.step_ref(&step_id)), asked.clone());
                    self.work.insert(token, asked);
                    turn.work.push(Work::AgentTurn {
                        token,
                        config,
                        message,
                        tools,
                    });
                }
                Effect::SetCampaignVariable { name, value } => {
                    turn.system(
                        None,
                        format!(
                            "Campaign variable {name} set to {value} (in this test session only)"
                        ),
                    );
                    self.campaign.insert(name, value);
                }
                Effect::Transfer { step_id, target } => {
                    let to = match &target {
                        Some(TransferTarget::User { user_id }) => format!("user {user_id}"),
                        Some(TransferTarget::Team { team_id }) => format!("team {team_id}"),
                        None => "the team".to_owned(),
                    };
                    turn.system(
                        Some(self.step_ref(&step_id)),
                        format!("Handed to {to} — the run ends here"),
                    );
                }
                Effect::Goal {
                    step_id,
                    goal_id,
                    milestone_id,
                    trackers,
                } => {
                    let mut note = format!("Goal {goal_id}/{milestone_id} recorded");
                    if !trackers.is_empty() {
                        let values: Vec<String> = trackers
                            .iter()
                            .map(|(name, value)| format!("{name}: {value}"))
                            .collect();
                        note.push_str(&format!(" ({})", values.join(", ")));
                    }
                    turn.system(Some(self.step_ref(&step_id)), note);
                    turn.echoes.push_back(milestone_id.clone());
                    turn.goals.push(GoalHit {
                        goal_id,
                        milestone_id,
                        trackers,
                    });
                }
                Effect::Ended { reason } => {
                    let reason = serde_json::to_value(reason)
                        .ok()
                        .and_then(|value| value.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    turn.system(None, format!("Run ended: {reason}"));
                }
            }
        }
    }

    /// A step's id with its name in the snapshot.
    fn step_ref(&self, step_id: &str) -> StepRef {
        StepRef {
            id: step_id.to_owned(),
            name: self.journey.step(step_id).map(|step| step.name.clone()),
        }
    }
}

struct StepRef {
    id: String,
    name: Option<String>,
}

/// The entries and hand-outs of one input, as they are made.
struct Turn {
    next_seq: u64,
    now: Millis,
    entries: Vec<TranscriptEntry>,
    work: Vec<Work>,
    goals: Vec<GoalHit>,
    /// Milestones reached, to deliver as `goal:<milestone>` events.
    echoes: VecDeque<String>,
}

impl Turn {
    fn new(entries_so_far: usize, now: Millis) -> Self {
        Self {
            next_seq: u64::try_from(entries_so_far).unwrap_or(u64::MAX) + 1,
            now,
            entries: Vec::new(),
            work: Vec::new(),
            goals: Vec::new(),
            echoes: VecDeque::new(),
        }
    }

    fn push(
        &mut self,
        from: Speaker,
        step: Option<StepRef>,
        content: Option<MessageContent>,
        note: Option<String>,
    ) {
        let (step_id, step_name) = match step {
            Some(step) => (Some(step.id), step.name),
            None => (None, None),
        };
        self.entries.push(TranscriptEntry {
            seq: self.next_seq,
            at: self.now,
            from,
            step_id,
            step_name,
            content,
            note,
        });
        self.next_seq += 1;
    }

    fn system(&mut self, step: Option<StepRef>, note: String) {
        self.push(Speaker::System, step, None, Some(note));
    }
}

/// The timer token a session waits for, if any.
fn waited_timer(waiting: &Waiting) -> Option<u64> {
    match waiting {
        Waiting::Delay { timer } => Some(*timer),
        Waiting::Reply { timer, .. }
        | Waiting::AiCheck { timer, .. }
        | Waiting::Event { timer, .. } => *timer,
        Waiting::NewRun
        | Waiting::Api { .. }
        | Waiting::PostProcess { .. }
        | Waiting::Agent { .. } => None,
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
