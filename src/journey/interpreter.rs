//! The pure interpreter: `(journey, session, input, context) -> (session, effects)`.
//!
//! A session records where a contact is in a journey and what it waits for: a reply, a timer,
//! an event, or the result of work the actor does on its behalf (an HTTP call, an AI call).
//! The interpreter walks steps until one has to wait or the run ends, and returns what the
//! conversation actor must do as [`Effect`]s. Work handed to the actor carries a token (the
//! session's generation when it was asked for); a result or timer whose token no longer matches
//! what the session waits for is stale and changes nothing. The interpreter never reads the
//! clock (`Context::now`), never panics on a journey, valid or not, and a walk is bounded so a
//! cycle of steps that never wait cannot spin.

use super::condition;
use super::input::{self, Answer};
use super::model::{
    label, AiAgentConfig, ApiConfig, ApiRequestConfig, ChoicesConfig, HttpMethod, Journey,
    ListConfig, MediaConfig, PostProcess, Retries, Step, StepKind, TransferTarget,
};
use super::request;
use super::tools::AgentTool;
use super::values::{self, VariableRef};
use crate::domain::{ChoiceItem, ChoiceStyle, ListSection, MediaKind, MessageContent, Millis};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Steps one input may walk before the interpreter stops the session as looping.
pub const MAX_STEPS_PER_INPUT: usize = 100;
/// An API step's timeout when its config names none.
pub const DEFAULT_API_TIMEOUT_SECS: u64 = 30;
/// What the customer is told when an answer is not accepted and the step has no failure
/// message of its own.
pub const DEFAULT_FAILURE_MESSAGE: &str = "Sorry, I didn't catch that.";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The step the session stands on; `None` between runs.
    pub current_step: Option<String>,
    pub waiting: Waiting,
    /// Local variables of this run.
    #[serde(default)]
    pub variables: BTreeMap<String, Value>,
    /// Bumped on every input that changes the session; the token of work asked for.
    pub generation: u64,
}

/// What a session waits for. Tokens are the session's generation when the wait began.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Waiting {
    /// Nothing runs: the next message starts a run from the Start step.
    #[default]
    NewRun,
    /// The contact's next message answers the current input step.
    Reply {
        /// Answers not accepted so far.
        #[serde(default)]
        failures: u32,
        /// The token of the step's timeout timer, if it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timer: Option<u64>,
    },
    /// An AI verdict on a Prompt answer.
    AiCheck {
        token: u64,
        failures: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timer: Option<u64>,
        answer: String,
    },
    /// A Delay step's timer.
    Delay { timer: u64 },
    /// A named event, or the wait's timeout.
    Event {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timer: Option<u64>,
    },
    /// The response of an API step's call.
    Api { token: u64 },
    /// The AI post-processing of an API response.
    PostProcess { token: u64 },
    /// Inside an AI Agent step: the next message goes to the agent; `turn` is the token of a
    /// turn in progress.
    Agent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn: Option<u64>,
    },
}

/// Something that happened to the conversation.
#[derive(Clone, Debug, PartialEq)]
pub enum Input<'a> {
    /// A message from the contact.
    Message(&'a MessageContent),
    /// A timer the session asked for fired.
    Timer { token: u64 },
    /// A named event (`POST /api/v1/conversations/{id}/events`, or `goal:<milestone>`).
    Event {
        name: &'a str,
        payload: Option<&'a Value>,
    },
    /// Work the session asked the actor for is done.
    Completed { token: u64, result: Completion },
}

/// The result of work done by the actor for a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Completion {
    /// The HTTP call of an API step: a status and the body (JSON, or a string if the body is
    /// not JSON), or why no response came.
    Api(Result<ApiResponse, String>),
    /// The AI verdict on a Prompt answer; `Err` when the AI could not be asked.
    AiCheck(Result<bool, String>),
    /// The AI's rewrite of an API response.
    AiText(Result<String, String>),
    /// One turn of an AI Agent step.
    AgentTurn(Result<AgentTurn, String>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentTurn {
    /// What the agent says to the contact, if anything.
    pub reply: Option<String>,
    pub next: AgentNext,
    /// What the response mappings of the tools it called stored, in call order.
    pub variables: Vec<(String, Value)>,
    /// One line per tool call, for the test chat and the logs ("`rooms` answered 200").
    pub calls: Vec<String>,
}

impl AgentTurn {
    /// A turn that called no tool.
    pub fn new(reply: Option<String>, next: AgentNext) -> Self {
        Self {
            reply,
            next,
            variables: Vec::new(),
            calls: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentNext {
    /// Stay in the step for the contact's next message.
    Continue,
    /// The agent is done: follow the `success` edge.
    Done,
    /// A human should take over: follow the `transfer` edge.
    Handoff,
}

/// What the interpreter needs from outside: the time and the variables it does not own.
pub struct Context<'a> {
    pub now: Millis,
    /// Today in the conversation's time zone, for date prompts.
    pub today: chrono::NaiveDate,
    /// System variables by name (`contact_name`, `channel_name` …); `last_input`,
    /// `journey_name`, `today` and `now` are answered by the interpreter itself.
    pub system: &'a dyn Fn(&str) -> Option<String>,
    /// Campaign (organisation-wide) variables by name.
    pub campaign: &'a dyn Fn(&str) -> Option<Value>,
}

/// What the actor must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this content to the contact; `step_id` says which step produced it.
    Send {
        step_id: String,
        content: MessageContent,
    },
    /// Fire `Input::Timer { token }` at `due_at` (durably).
    StartTimer {
        token: u64,
        due_at: Millis,
        step_id: String,
    },
    /// Make the HTTP call and answer with `Completion::Api`.
    CallApi {
        token: u64,
        step_id: String,
        request: ApiRequest,
    },
    /// Ask the AI whether `answer` meets `criterion`; answer with `Completion::AiCheck`.
    AiCheck {
        token: u64,
        step_id: String,
        criterion: String,
        answer: String,
    },
    /// Ask the AI to process `response` with `prompt`; answer with `Completion::AiText`.
    AiPostProcess {
        token: u64,
        step_id: String,
        prompt: String,
        response: Value,
    },
    /// Run one AI Agent turn on `message`; answer with `Completion::AgentTurn`.
    AgentTurn {
        token: u64,
        step_id: String,
        config: AiAgentConfig,
        message: String,
        /// The API definitions the step lists, as the turn's tools.
        tools: Vec<AgentTool>,
    },
    /// Store an organisation-wide variable.
    SetCampaignVariable { name: String, value: Value },
    /// Hand the conversation to a human: a user, a team, or (when `None`, from an AI Agent
    /// hand-off with no transfer edge) whoever is available.
    Transfer {
        step_id: String,
        target: Option<TransferTarget>,
    },
    /// Record a goal milestone with its tracker values.
    Goal {
        step_id: String,
        goal_id: String,
        milestone_id: String,
        trackers: BTreeMap<String, String>,
    },
    /// The run ended; the next message starts a new one.
    Ended { reason: EndReason },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The walk reached a step with no way forward.
    Completed,
    /// An Agent Transfer (or an AI hand-off) gave the conversation to a human.
    Transferred,
    /// The session stood on a step that no longer exists.
    StepMissing,
    /// Steps that never wait formed a cycle; the walk was cut off.
    Looping,
}

/// An HTTP request an API step asks for, fully interpolated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiRequest {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub session: Session,
    pub effects: Vec<Effect>,
}

impl Outcome {
    /// Whether the input changed nothing (a stale timer, a message while the session waits for
    /// something else): there is nothing to store.
    pub fn is_noop(&self) -> bool {
        self.effects.is_empty()
    }
}

/// Handles one input.
pub fn run(journey: &Journey, session: Session, input: &Input<'_>, ctx: &Context<'_>) -> Outcome {
    let mut walk = Walk {
        journey,
        ctx,
        session,
        effects: Vec::new(),
        campaign: BTreeMap::new(),
        pending_message: None,
    };
    let stands_nowhere = walk
        .session
        .current_step
        .as_deref()
        .is_none_or(|id| journey.step(id).is_none());
    if matches!(input, Input::Message(_))
        && walk.session.waiting != Waiting::NewRun
        && stands_nowhere
    {
        // The session stood on a step that is gone (a journey changed under it): the message
        // starts a fresh run rather than being lost.
        walk.session.waiting = Waiting::NewRun;
        walk.session.current_step = None;
    }
    let waiting = walk.session.waiting.clone();
    let stale = |walk: Walk<'_>| Outcome {
        session: walk.session,
        effects: Vec::new(),
    };
    match (waiting, input) {
        (Waiting::NewRun, Input::Message(content)) => {
            // Local variables live for one run: the last run's stay readable until now.
            walk.session.variables.clear();
            walk.begin(Some(content));
            let Some(start) = journey.start() else {
                return walk.end(EndReason::StepMissing);
            };
            let start = start.id.clone();
            walk.go(Some(start))
        }
        (Waiting::Reply { failures, timer }, Input::Message(content)) => {
            walk.begin(Some(content));
            walk.answer(content, failures, timer)
        }
        (
            Waiting::Reply {
                timer: Some(timer), ..
            },
            Input::Timer { token },
        )
        | (
            Waiting::Event {
                timer: Some(timer), ..
            },
            Input::Timer { token },
        )
        | (
            Waiting::AiCheck {
                timer: Some(timer), ..
            },
            Input::Timer { token },
        ) if timer == *token => {
            walk.begin(None);
            walk.follow(label::TIMEOUT)
        }
        (Waiting::Delay { timer }, Input::Timer { token }) if timer == *token => {
            walk.begin(None);
            walk.follow(label::SUCCESS)
        }
        (
            Waiting::Event { name, .. },
            Input::Event {
                name: event,
                payload,
            },
        ) if name == *event => {
            walk.begin(None);
            if let (Some(payload), Some(StepKind::WaitForEvents(config))) =
                (payload, walk.current_kind())
            {
                if let Some(variable) = config.variable.clone() {
                    walk.store(&variable, (*payload).clone());
                }
            }
            walk.follow(label::SUCCESS)
        }
        (
            Waiting::AiCheck {
                token,
                failures,
                timer,
                answer,
            },
            Input::Completed {
                token: done,
                result: Completion::AiCheck(verdict),
            },
        ) if token == *done => {
            walk.begin(None);
            match verdict {
                // An AI that cannot be asked must not trap the contact in retries: the
                // answer is taken as given.
                Ok(true) | Err(_) => {
                    walk.store_answer(Value::String(answer));
                    walk.follow(label::SUCCESS)
                }
                Ok(false) => walk.reject(failures + 1, timer, None),
            }
        }
        (
            Waiting::Api { token },
            Input::Completed {
                token: done,
                result: Completion::Api(response),
            },
        ) if token == *done => {
            walk.begin(None);
            walk.api_done(response)
        }
        (
            Waiting::PostProcess { token },
            Input::Completed {
                token: done,
                result: Completion::AiText(text),
            },
        ) if token == *done => {
            walk.begin(None);
            walk.post_processed(text)
        }
        (Waiting::Agent { turn: None }, Input::Message(content)) => {
            walk.begin(Some(content));
            let step = walk
                .session
                .current_step
                .as_deref()
                .and_then(|id| journey.step(id));
            match step {
                Some(Step {
                    id,
                    kind: StepKind::AiAgent(config),
                    ..
                }) => walk.agent_turn(id, config),
                _ => walk.end(EndReason::StepMissing),
            }
        }
        (
            Waiting::Agent { turn: Some(token) },
            Input::Completed {
                token: done,
                result: Completion::AgentTurn(turn),
            },
        ) if token == *done => {
            walk.begin(None);
            walk.agent_done(turn)
        }
        // A timer, event or result the session no longer waits for, or a message while the
        // session waits for something else (a delay, an HTTP call): nothing changes.
        _ => stale(walk),
    }
}

struct Walk<'j> {
    journey: &'j Journey,
    ctx: &'j Context<'j>,
    session: Session,
    effects: Vec<Effect>,
    /// Campaign variables written during this input, read back by later steps.
    campaign: BTreeMap<String, Value>,
    /// The text of the message that triggered this input while no input step has consumed
    /// it; an AI Agent step reached in the same walk answers it.
    pending_message: Option<String>,
}

impl Walk<'_> {
    /// Starts handling an input that changes the session.
    fn begin(&mut self, message: Option<&MessageContent>) {
        self.session.generation += 1;
        if let Some(text) = message.and_then(MessageContent::text_for_matching) {
            self.session
                .variables
                .insert("last_input".into(), Value::String(text.to_owned()));
            self.pending_message = Some(text.to_owned());
        }
    }

    fn token(&self) -> u64 {
        self.session.generation
    }

    fn current_step(&self) -> Option<&Step> {
        self.session
            .current_step
            .as_deref()
            .and_then(|id| self.journey.step(id))
    }

    fn current_kind(&self) -> Option<&StepKind> {
        self.current_step().map(|step| &step.kind)
    }

    /// Leaves the current step by the edge with `label` (see [`Journey::target`]), or ends the
    /// run when there is none.
    fn follow(self, label: &str) -> Outcome {
        let Some(current) = self.session.current_step.as_deref() else {
            return self.end(EndReason::StepMissing);
        };
        if self.journey.step(current).is_none() {
            return self.end(EndReason::StepMissing);
        }
        let next = self
            .journey
            .target(current, Some(label))
            .map(|step| step.id.clone());
        self.go(next)
    }

    /// Walks from `cursor` until a step waits or the run ends.
    fn go(mut self, mut cursor: Option<String>) -> Outcome {
        for _ in 0..MAX_STEPS_PER_INPUT {
            let Some(step_id) = cursor.take() else {
                return self.end(EndReason::Completed);
            };
            let journey = self.journey;
            let Some(step) = journey.step(&step_id) else {
                return self.end(EndReason::StepMissing);
            };
            self.session.current_step = Some(step.id.clone());
            match self.enter(step) {
                Next::Edge(label) => {
                    cursor = journey.target(&step.id, label).map(|next| next.id.clone());
                }
                Next::Goto(next) => cursor = next,
                Next::Wait(waiting) => {
                    self.session.waiting = waiting;
                    return self.finish();
                }
                Next::End(reason) => return self.end(reason),
            }
        }
        self.end(EndReason::Looping)
    }

    /// Carries out a step the walk arrives at.
    fn enter(&mut self, step: &Step) -> Next {
        let id = &step.id;
        match &step.kind {
            StepKind::Start => Next::Edge(None),
            StepKind::Text(config) => {
                let body = self.render(&config.text);
                if let Some(variable) = &config.variable {
                    self.store(variable, Value::String(body.clone()));
                }
                self.send(id, MessageContent::Text { body });
                Next::Edge(None)
            }
            StepKind::Image(config) => self.media(id, MediaKind::Image, config),
            StepKind::Video(config) => self.media(id, MediaKind::Video, config),
            StepKind::Audio(config) => self.media(id, MediaKind::Audio, config),
            StepKind::Document(config) => self.media(id, MediaKind::Document, config),
            StepKind::Location(config) => {
                let content = MessageContent::Location {
                    latitude: config.latitude,
                    longitude: config.longitude,
                    name: self.render_opt(config.name.as_deref()),
                    address: self.render_opt(config.address.as_deref()),
                };
                self.send(id, content);
                Next::Edge(None)
            }
            StepKind::CtaUrl(config) => {
                let content = MessageContent::CtaUrl {
                    header: config
                        .header
                        .as_ref()
                        .map(|header| self.render_header(header)),
                    body: self.render(&config.body),
                    footer: self.render_opt(config.footer.as_deref()),
                    button_text: self.render(&config.button_text),
                    url: self.render(&config.url),
                };
                self.send(id, content);
                Next::Edge(None)
            }
            StepKind::Template(config) => {
                let parameters = config
                    .parameters
                    .iter()
                    .map(|parameter| self.render(parameter))
                    .collect();
                let content = MessageContent::Template {
                    name: config.name.clone(),
                    language: config.language.clone(),
                    parameters,
                    parameter_names: Vec::new(),
                    header: None,
                    buttons: Vec::new(),
                };
                self.send(id, content);
                Next::Edge(None)
            }
            StepKind::Reply(config) => self.ask_choices(id, ChoiceStyle::Buttons, config),
            StepKind::QuickReply(config) => self.ask_choices(id, ChoiceStyle::QuickReplies, config),
            StepKind::List(config) => {
                let content = self.list_content(config);
                self.send(id, content);
                self.wait_reply(id, config.timeout_secs)
            }
            StepKind::Prompt(config) => {
                let question = self.render(&config.question);
                self.send(id, MessageContent::Text { body: question });
                self.wait_reply(id, config.timeout_secs)
            }
            StepKind::PromptDate(config) => {
                let question = self.render(&config.question);
                self.send(id, MessageContent::Text { body: question });
                self.wait_reply(id, config.timeout_secs)
            }
            StepKind::Condition(config) => {
                for branch in &config.branches {
                    let results = branch.rules.iter().map(|rule| {
                        let actual = self.lookup_text(&rule.variable);
                        let expected = rule.value.as_deref().map(|value| self.render(value));
                        condition::rule_holds(rule, actual.as_deref(), expected.as_deref())
                    });
                    if condition::branch_holds(branch.combine, results) {
                        // A matching branch with no edge ends the run, as an unconnected
                        // output does on the canvas.
                        return Next::Goto(
                            self.journey
                                .target(id, Some(&branch.id))
                                .map(|next| next.id.clone()),
                        );
                    }
                }
                let fallback = self
                    .journey
                    .target(id, Some(label::FALLBACK))
                    .or_else(|| self.journey.next_after(id));
                Next::Goto(fallback.map(|next| next.id.clone()))
            }
            StepKind::Delay(config) => {
                let timer = self.start_timer(id, config.seconds);
                Next::Wait(Waiting::Delay { timer })
            }
            StepKind::WaitForEvents(config) => {
                let timer = config
                    .timeout_secs
                    .map(|seconds| self.start_timer(id, seconds));
                Next::Wait(Waiting::Event {
                    name: config.event.clone(),
                    timer,
                })
            }
            StepKind::Api(config) => self.call_api(id, config),
            StepKind::AiAgent(config) => match self.pending_message.take() {
                Some(_) => {
                    let outcome = self.agent_request(id, config);
                    Next::Wait(outcome)
                }
                None => Next::Wait(Waiting::Agent { turn: None }),
            },
            StepKind::AgentTransfer(config) => {
                if let Some(message) = &config.message {
                    let body = self.render(message);
                    self.send(id, MessageContent::Text { body });
                }
                self.effects.push(Effect::Transfer {
                    step_id: id.clone(),
                    target: Some(config.target.clone()),
                });
                Next::End(EndReason::Transferred)
            }
            StepKind::Goal(config) => {
                let trackers = config
                    .trackers
                    .iter()
                    .map(|(name, value)| (name.clone(), self.render(value)))
                    .collect();
                self.effects.push(Effect::Goal {
                    step_id: id.clone(),
                    goal_id: config.goal_id.clone(),
                    milestone_id: config.milestone_id.clone(),
                    trackers,
                });
                Next::Edge(None)
            }
        }
    }

    fn media(&mut self, id: &str, media_kind: MediaKind, config: &MediaConfig) -> Next {
        let content = MessageContent::Media {
            media_kind,
            media_id: None,
            url: Some(self.render(&config.url)),
            mime_type: None,
            caption: match media_kind {
                MediaKind::Audio => None,
                _ => self.render_opt(config.caption.as_deref()),
            },
            filename: match media_kind {
                MediaKind::Document => self.render_opt(config.filename.as_deref()),
                _ => None,
            },
            voice: false,
        };
        self.send(id, content);
        Next::Edge(None)
    }

    fn ask_choices(&mut self, id: &str, style: ChoiceStyle, config: &ChoicesConfig) -> Next {
        let content = self.choices_content(style, config);
        self.send(id, content);
        self.wait_reply(id, config.timeout_secs)
    }

    fn choices_content(&self, style: ChoiceStyle, config: &ChoicesConfig) -> MessageContent {
        MessageContent::Choices {
            style,
            header: config
                .header
                .as_ref()
                .map(|header| self.render_header(header)),
            body: self.render(&config.body),
            footer: self.render_opt(config.footer.as_deref()),
            choices: config
                .choices
                .iter()
                .map(|choice| self.choice_item(choice))
                .collect(),
        }
    }

    fn list_content(&self, config: &ListConfig) -> MessageContent {
        MessageContent::List {
            header: self.render_opt(config.header.as_deref()),
            body: self.render(&config.body),
            footer: self.render_opt(config.footer.as_deref()),
            button: self.render(&config.button_text),
            sections: config
                .sections
                .iter()
                .map(|section| ListSection {
                    title: self.render_opt(section.title.as_deref()),
                    rows: section
                        .rows
                        .iter()
                        .map(|row| self.choice_item(row))
                        .collect(),
                })
                .collect(),
        }
    }

    fn choice_item(&self, choice: &super::model::Choice) -> ChoiceItem {
        ChoiceItem {
            id: choice.id.clone(),
            title: self.render(&choice.title),
            description: self.render_opt(choice.description.as_deref()),
        }
    }

    fn wait_reply(&mut self, id: &str, timeout_secs: Option<u64>) -> Next {
        // The message that led here is not the answer to this question.
        self.pending_message = None;
        let timer = timeout_secs.map(|seconds| self.start_timer(id, seconds));
        Next::Wait(Waiting::Reply { failures: 0, timer })
    }

    fn start_timer(&mut self, id: &str, seconds: u64) -> u64 {
        let token = self.token();
        let delay = Millis::try_from(seconds.saturating_mul(1_000)).unwrap_or(Millis::MAX);
        self.effects.push(Effect::StartTimer {
            token,
            due_at: self.ctx.now.saturating_add(delay),
            step_id: id.to_owned(),
        });
        token
    }

    /// The contact's message answers the current input step.
    fn answer(mut self, content: &MessageContent, failures: u32, timer: Option<u64>) -> Outcome {
        self.pending_message = None;
        let journey = self.journey;
        let Some(step) = self
            .session
            .current_step
            .as_deref()
            .and_then(|id| journey.step(id))
        else {
            return self.end(EndReason::StepMissing);
        };
        match &step.kind {
            StepKind::Reply(config) | StepKind::QuickReply(config) => {
                let choices: Vec<_> = config.choices.iter().collect();
                self.choose(
                    &step.id,
                    &choices,
                    config.variable.as_deref(),
                    content,
                    failures,
                    timer,
                )
            }
            StepKind::List(config) => {
                let rows: Vec<_> = config.rows().collect();
                self.choose(
                    &step.id,
                    &rows,
                    config.variable.as_deref(),
                    content,
                    failures,
                    timer,
                )
            }
            StepKind::Prompt(config) => match input::check_answer(&config.validation, content) {
                Answer::Accepted(value) => {
                    self.store_answer(value);
                    self.follow(label::SUCCESS)
                }
                Answer::Rejected(rejection) => {
                    self.reject(failures + 1, timer, Some(rejection.to_string()))
                }
                Answer::NeedsAi { criterion } => {
                    let answer = content.text_for_matching().unwrap_or_default().to_owned();
                    let token = self.token();
                    self.effects.push(Effect::AiCheck {
                        token,
                        step_id: step.id.clone(),
                        criterion: self.render(&criterion),
                        answer: answer.clone(),
                    });
                    self.session.waiting = Waiting::AiCheck {
                        token,
                        failures,
                        timer,
                        answer,
                    };
                    self.finish()
                }
            },
            StepKind::PromptDate(config) => {
                let text = content.text_for_matching().unwrap_or_default();
                let today = self.ctx.today;
                let checked = match input::parse_date(text, config.format, today) {
                    None => Err(input::DateRejection::Unparseable),
                    Some(date) => {
                        input::check_date(date, &config.range, &config.excluded_weekdays, today)
                            .map(|()| date)
                    }
                };
                match checked {
                    Ok(date) => {
                        self.store_answer(Value::String(date.format("%Y-%m-%d").to_string()));
                        self.follow(label::SUCCESS)
                    }
                    Err(rejection) => self.reject(failures + 1, timer, Some(rejection.to_string())),
                }
            }
            // The session waited for a reply on a step that no longer asks (the journey
            // changed under it): carry on from there.
            _ => self.follow(label::SUCCESS),
        }
    }

    fn choose(
        mut self,
        step_id: &str,
        choices: &[&super::model::Choice],
        variable: Option<&str>,
        content: &MessageContent,
        failures: u32,
        timer: Option<u64>,
    ) -> Outcome {
        // Typed answers are matched against what the contact saw: titles and synonyms with
        // their placeholders filled in.
        let templated = choices.iter().any(|choice| {
            choice.title.contains("{{") || choice.synonyms.iter().any(|word| word.contains("{{"))
        });
        let chosen = if templated {
            let rendered: Vec<super::model::Choice> = choices
                .iter()
                .map(|choice| super::model::Choice {
                    title: self.render(&choice.title),
                    synonyms: choice
                        .synonyms
                        .iter()
                        .map(|word| self.render(word))
                        .collect(),
                    ..(*choice).clone()
                })
                .collect();
            let refs: Vec<&super::model::Choice> = rendered.iter().collect();
            input::match_choice(&refs, content).map(|choice| choice.id.clone())
        } else {
            input::match_choice(choices, content).map(|choice| choice.id.clone())
        };
        let Some(chosen) = chosen else {
            return self.reject(failures + 1, timer, None);
        };
        if let Some(variable) = variable {
            self.store(variable, Value::String(chosen.clone()));
        }
        let next = self
            .journey
            .target(step_id, Some(&chosen))
            .or_else(|| self.journey.next_after(step_id))
            .map(|step| step.id.clone());
        self.go(next)
    }

    /// An answer was not accepted: ask again while retries last, else take the `failure`
    /// edge (or end the run when there is none).
    fn reject(mut self, failures: u32, timer: Option<u64>, reason: Option<String>) -> Outcome {
        let journey = self.journey;
        let Some(step) = self
            .session
            .current_step
            .as_deref()
            .and_then(|id| journey.step(id))
        else {
            return self.end(EndReason::StepMissing);
        };
        let (retries, failure_message) = input_rules(&step.kind);
        if !retries.allows(failures) {
            return self.follow(label::FAILURE);
        }
        let message = match (failure_message, reason) {
            (Some(message), _) => self.render(message),
            (None, Some(reason)) => format!("{DEFAULT_FAILURE_MESSAGE} {reason}"),
            (None, None) => DEFAULT_FAILURE_MESSAGE.to_owned(),
        };
        self.send(&step.id, MessageContent::Text { body: message });
        // Ask again, so the buttons or the question are at hand.
        let again = match &step.kind {
            StepKind::Reply(config) => Some(self.choices_content(ChoiceStyle::Buttons, config)),
            StepKind::QuickReply(config) => {
                Some(self.choices_content(ChoiceStyle::QuickReplies, config))
            }
            StepKind::List(config) => Some(self.list_content(config)),
            StepKind::Prompt(config) => Some(MessageContent::Text {
                body: self.render(&config.question),
            }),
            StepKind::PromptDate(config) => Some(MessageContent::Text {
                body: self.render(&config.question),
            }),
            _ => None,
        };
        if let Some(again) = again {
            self.send(&step.id, again);
        }
        self.session.waiting = Waiting::Reply { failures, timer };
        self.finish()
    }

    /// Stores an input step's accepted answer in the step's variable, if it names one.
    fn store_answer(&mut self, value: Value) {
        let variable = match self.current_kind() {
            Some(StepKind::Prompt(config)) => config.variable.clone(),
            Some(StepKind::PromptDate(config)) => config.variable.clone(),
            _ => None,
        };
        if let Some(variable) = variable {
            self.store(&variable, value);
        }
    }

    fn call_api(&mut self, id: &str, config: &ApiConfig) -> Next {
        let request = match (&config.request, &config.definition) {
            (Some(request), _) => Some(request),
            (None, Some(name)) => self
                .journey
                .api_definition(name)
                .map(|definition| &definition.request),
            (None, None) => None,
        };
        let Some(request) = request else {
            // Deploy validation refuses this; a journey that slipped through fails the step.
            return Next::Edge(Some(label::FAILURE));
        };
        let request = self.api_request(request);
        let token = self.token();
        self.effects.push(Effect::CallApi {
            token,
            step_id: id.to_owned(),
            request,
        });
        Next::Wait(Waiting::Api { token })
    }

    fn api_request(&self, config: &ApiRequestConfig) -> ApiRequest {
        request::build(config, &mut |name, out| self.write_variable(name, out))
    }

    fn api_done(mut self, response: &Result<ApiResponse, String>) -> Outcome {
        let journey = self.journey;
        let Some(Step {
            kind: StepKind::Api(config),
            ..
        }) = self
            .session
            .current_step
            .as_deref()
            .and_then(|id| journey.step(id))
        else {
            return self.end(EndReason::StepMissing);
        };
        let request = config.request.as_ref().or_else(|| {
            config
                .definition
                .as_deref()
                .and_then(|name| journey.api_definition(name))
                .map(|definition| &definition.request)
        });
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                self.session
                    .variables
                    .insert("api_error".into(), Value::String(error.clone()));
                return self.follow(label::FAILURE);
            }
        };
        self.session
            .variables
            .insert("api_status".into(), Value::from(response.status));
        if !(200..300).contains(&response.status) {
            return self.follow(label::FAILURE);
        }
        for mapping in request
            .map(|request| request.mapping.as_slice())
            .unwrap_or_default()
        {
            // A value this response lacks must not linger from an earlier call.
            let value = values::json_path(&response.body, &mapping.path)
                .cloned()
                .unwrap_or(Value::Null);
            self.store(&mapping.variable, value);
        }
        match &config.post_process {
            Some(PostProcess { prompt, .. }) => {
                let token = self.token();
                let step_id = self.session.current_step.clone().unwrap_or_default();
                self.effects.push(Effect::AiPostProcess {
                    token,
                    step_id,
                    prompt: self.render(prompt),
                    response: response.body.clone(),
                });
                self.session.waiting = Waiting::PostProcess { token };
                self.finish()
            }
            None => self.follow(label::SUCCESS),
        }
    }

    fn post_processed(mut self, text: &Result<String, String>) -> Outcome {
        let variable = match self.current_kind() {
            Some(StepKind::Api(ApiConfig {
                post_process: Some(post),
                ..
            })) => post.variable.clone(),
            _ => return self.end(EndReason::StepMissing),
        };
        match text {
            Ok(text) => {
                self.store(&variable, Value::String(text.clone()));
                self.follow(label::SUCCESS)
            }
            Err(error) => {
                self.session
                    .variables
                    .insert("api_error".into(), Value::String(error.clone()));
                self.follow(label::FAILURE)
            }
        }
    }

    fn agent_request(&mut self, id: &str, config: &AiAgentConfig) -> Waiting {
        let token = self.token();
        let message = self
            .session
            .variables
            .get("last_input")
            .map(values::to_text)
            .unwrap_or_default();
        let tools: Vec<AgentTool> = config
            .tools
            .iter()
            .filter_map(|name| self.journey.api_definition(name))
            .map(|definition| AgentTool::new(definition, |name| self.lookup_text(name)))
            .collect();
        self.effects.push(Effect::AgentTurn {
            token,
            step_id: id.to_owned(),
            config: config.clone(),
            message,
            tools,
        });
        Waiting::Agent { turn: Some(token) }
    }

    fn agent_turn(mut self, step_id: &str, config: &AiAgentConfig) -> Outcome {
        self.session.waiting = self.agent_request(step_id, config);
        self.finish()
    }

    fn agent_done(mut self, turn: &Result<AgentTurn, String>) -> Outcome {
        let Some(step_id) = self.current_step().map(|step| step.id.clone()) else {
            return self.end(EndReason::StepMissing);
        };
        let turn = match turn {
            Ok(turn) => turn,
            Err(_)
                if self
                    .journey
                    .target(&step_id, Some(label::FAILURE))
                    .is_some() =>
            {
                return self.follow(label::FAILURE)
            }
            // With no failure edge the contact may simply try again.
            Err(_) => {
                self.session.waiting = Waiting::Agent { turn: None };
                return self.finish();
            }
        };
        for (variable, value) in &turn.variables {
            self.store(variable, value.clone());
        }
        if let Some(reply) = &turn.reply {
            self.send(
                &step_id,
                MessageContent::Text {
                    body: reply.clone(),
                },
            );
        }
        match turn.next {
            AgentNext::Continue => {
                self.session.waiting = Waiting::Agent { turn: None };
                self.finish()
            }
            AgentNext::Done => self.follow(label::SUCCESS),
            AgentNext::Handoff => {
                if self
                    .journey
                    .target(&step_id, Some(label::TRANSFER))
                    .is_some()
                {
                    self.follow(label::TRANSFER)
                } else {
                    self.effects.push(Effect::Transfer {
                        step_id,
                        target: None,
                    });
                    self.end(EndReason::Transferred)
                }
            }
        }
    }

    fn send(&mut self, step_id: &str, content: MessageContent) {
        self.effects.push(Effect::Send {
            step_id: step_id.to_owned(),
            content,
        });
    }

    /// Stores a value where a step's `variable` field points; system variables are read-only
    /// and are left alone (deploy validation refuses them).
    fn store(&mut self, variable: &str, value: Value) {
        let target = VariableRef::writable(variable);
        let declared = match target {
            Some(VariableRef::Local(name) | VariableRef::Campaign(name)) => self
                .journey
                .variables
                .iter()
                .find(|declared| declared.name == name)
                .map(|declared| declared.value_type),
            _ => None,
        };
        let value = match declared {
            Some(value_type) if !value.is_null() => {
                values::coerce(value, value_type, self.ctx.today)
            }
            _ => value,
        };
        match target {
            // `null` unsets a local variable (a missing value in an API response).
            Some(VariableRef::Local(name)) if value.is_null() => {
                self.session.variables.remove(name);
            }
            Some(VariableRef::Local(name)) => {
                self.session.variables.insert(name.to_owned(), value);
            }
            Some(VariableRef::Campaign(name)) => {
                self.campaign.insert(name.to_owned(), value.clone());
                self.effects.push(Effect::SetCampaignVariable {
                    name: name.to_owned(),
                    value,
                });
            }
            _ => {}
        }
    }

    /// Appends the value of a variable reference to `out`; `false` when it is not set.
    fn write_variable(&self, reference: &str, out: &mut String) -> bool {
        let system = |name: &str, out: &mut String| -> bool {
            match name {
                "last_input" => match self.session.variables.get("last_input") {
                    Some(value) => {
                        values::push_text(out, value);
                        true
                    }
                    None => false,
                },
                "journey_name" => {
                    out.push_str(&self.journey.name);
                    true
                }
                "today" => {
                    out.push_str(&self.ctx.today.format("%Y-%m-%d").to_string());
                    true
                }
                "now" => {
                    out.push_str(&self.ctx.now.to_string());
                    true
                }
                "user_name" => match (self.ctx.system)("contact_name") {
                    Some(value) => {
                        out.push_str(&value);
                        true
                    }
                    None => false,
                },
                other => match (self.ctx.system)(other) {
                    Some(value) => {
                        out.push_str(&value);
                        true
                    }
                    None => false,
                },
            }
        };
        let local = |name: &str, out: &mut String| -> bool {
            let value = self.session.variables.get(name).or_else(|| {
                self.journey
                    .variables
                    .iter()
                    .find(|variable| variable.name == name)
                    .and_then(|variable| variable.default.as_ref())
            });
            match value {
                Some(value) => {
                    values::push_text(out, value);
                    true
                }
                None => false,
            }
        };
        match VariableRef::parse(reference) {
            VariableRef::System(name) => system(name, out),
            VariableRef::Local(name) => local(name, out),
            VariableRef::Campaign(name) => {
                let value = self
                    .campaign
                    .get(name)
                    .cloned()
                    .or_else(|| (self.ctx.campaign)(name))
                    .or_else(|| {
                        self.journey
                            .variables
                            .iter()
                            .find(|variable| variable.name == name)
                            .and_then(|variable| variable.default.clone())
                    });
                match value {
                    Some(value) => {
                        values::push_text(out, &value);
                        true
                    }
                    None => false,
                }
            }
            VariableRef::Bare(name) => local(name, out) || system(name, out),
        }
    }

    fn lookup_text(&self, reference: &str) -> Option<String> {
        let mut out = String::new();
        self.write_variable(reference, &mut out).then_some(out)
    }

    /// Interpolates a text field.
    fn render(&self, template: &str) -> String {
        request::render(template, &mut |name, out| self.write_variable(name, out))
    }

    fn render_opt(&self, template: Option<&str>) -> Option<String> {
        template.map(|template| self.render(template))
    }

    fn render_header(&self, header: &crate::domain::Header) -> crate::domain::Header {
        use crate::domain::Header;
        match header {
            Header::Text { text } => Header::Text {
                text: self.render(text),
            },
            Header::Image { url } => Header::Image {
                url: self.render(url),
            },
            Header::Video { url } => Header::Video {
                url: self.render(url),
            },
            Header::Document { url } => Header::Document {
                url: self.render(url),
            },
        }
    }

    fn finish(self) -> Outcome {
        Outcome {
            session: self.session,
            effects: self.effects,
        }
    }

    fn end(mut self, reason: EndReason) -> Outcome {
        self.session.current_step = None;
        self.session.waiting = Waiting::NewRun;
        self.effects.push(Effect::Ended { reason });
        self.finish()
    }
}

/// Where the walk goes after a step.
enum Next {
    /// Take the edge with this label (`None`: the unlabelled or `success` edge).
    Edge(Option<&'static str>),
    /// Go to this step (`None`: the run ends).
    Goto(Option<String>),
    Wait(Waiting),
    End(EndReason),
}

/// The retry rules of an input step.
fn input_rules(kind: &StepKind) -> (Retries, Option<&String>) {
    match kind {
        StepKind::Reply(config) | StepKind::QuickReply(config) => {
            (config.retries, config.failure_message.as_ref())
        }
        StepKind::List(config) => (config.retries, config.failure_message.as_ref()),
        StepKind::Prompt(config) => (config.retries, config.failure_message.as_ref()),
        StepKind::PromptDate(config) => (config.retries, config.failure_message.as_ref()),
        _ => (Retries::Count(0), None),
    }
}

#[cfg(test)]
#[path = "interpreter_tests.rs"]
mod tests;
