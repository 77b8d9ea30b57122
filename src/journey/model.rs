//! The journey graph as it is stored and exchanged over the API: steps (nodes with a kind, a
//! name, a canvas position and a config), directed connections between them, the journey's
//! declared variables and its named API definitions (the API Manager).
//!
//! The wire form of a step is `{"id", "name", "position", "kind", "config"}`; every config
//! refuses unknown fields, so a typo in a partner's payload is an error rather than a silently
//! ignored setting.

use crate::domain::Header;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The id of the step every journey starts from.
pub const START_STEP_ID: &str = "start";

/// Edge labels with a meaning to the interpreter. Choice steps also use each choice's id and
/// Condition steps each branch's id.
pub mod label {
    /// The step did its work (an API call answered 2xx, a prompt got a valid answer, an event
    /// arrived). An unlabelled edge means the same.
    pub const SUCCESS: &str = "success";
    /// Retries ran out, an API call failed, an AI call failed.
    pub const FAILURE: &str = "failure";
    /// A prompt got no answer in time, or a wait for an event timed out.
    pub const TIMEOUT: &str = "timeout";
    /// No condition branch matched.
    pub const FALLBACK: &str = "fallback";
    /// The AI Agent step decided a human should take over.
    pub const TRANSFER: &str = "transfer";
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    pub name: String,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// Local and campaign variables the journey declares (system variables are built in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<VariableDef>,
    /// Named API calls that API steps refer to by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_definitions: Vec<ApiDefinition>,
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

/// What a step does; the 21 kinds of the builder's palette. The config of each kind sits
/// under `config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "snake_case")]
pub enum StepKind {
    // Entry
    /// Where every session begins; it has no config.
    Start,
    // Message steps: send and continue.
    Text(TextConfig),
    Image(MediaConfig),
    Video(MediaConfig),
    Audio(MediaConfig),
    Document(MediaConfig),
    Location(LocationConfig),
    CtaUrl(CtaUrlConfig),
    Template(TemplateConfig),
    // Input steps: send a prompt and wait for the reply.
    Reply(ChoicesConfig),
    QuickReply(ChoicesConfig),
    List(ListConfig),
    Prompt(PromptConfig),
    PromptDate(PromptDateConfig),
    // Logic steps: route or pause without sending.
    Condition(ConditionConfig),
    Delay(DelayConfig),
    WaitForEvents(WaitConfig),
    // Action steps.
    Api(ApiConfig),
    AiAgent(AiAgentConfig),
    AgentTransfer(TransferConfig),
    Goal(GoalConfig),
}

impl StepKind {
    /// The wire name of the kind, as in `"kind": "prompt_date"`.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Start => "start",
            StepKind::Text(_) => "text",
            StepKind::Image(_) => "image",
            StepKind::Video(_) => "video",
            StepKind::Audio(_) => "audio",
            StepKind::Document(_) => "document",
            StepKind::Location(_) => "location",
            StepKind::CtaUrl(_) => "cta_url",
            StepKind::Template(_) => "template",
            StepKind::Reply(_) => "reply",
            StepKind::QuickReply(_) => "quick_reply",
            StepKind::List(_) => "list",
            StepKind::Prompt(_) => "prompt",
            StepKind::PromptDate(_) => "prompt_date",
            StepKind::Condition(_) => "condition",
            StepKind::Delay(_) => "delay",
            StepKind::WaitForEvents(_) => "wait_for_events",
            StepKind::Api(_) => "api",
            StepKind::AiAgent(_) => "ai_agent",
            StepKind::AgentTransfer(_) => "agent_transfer",
            StepKind::Goal(_) => "goal",
        }
    }
}

/// Sends a text message (up to 4,096 characters, WhatsApp formatting allowed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    pub text: String,
    /// Stores the text as sent, for later steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

/// Image, video, audio or document: a public URL and, except for audio, a caption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The file name a document is shown with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationConfig {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// One button that opens a URL, with an optional header and footer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtaUrlConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    pub button_text: String,
    pub url: String,
}

/// An approved WhatsApp template and its body parameters (interpolated).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    pub name: String,
    pub language: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
}

/// A tappable option of a Reply, Quick Reply or List step. The id is the button payload and
/// the label of the edge taken when it is chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub id: String,
    pub title: String,
    /// A List row's second line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Typed words that count as choosing this option.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synonyms: Vec<String>,
}

/// How often an input step asks again after an answer it cannot accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Retries {
    /// 0 to 5 more attempts.
    Count(u32),
    /// `"unlimited"`: ask until the answer is acceptable.
    Unlimited(UnlimitedTag),
}

impl Default for Retries {
    fn default() -> Self {
        Retries::Count(0)
    }
}

impl Retries {
    pub const UNLIMITED: Retries = Retries::Unlimited(UnlimitedTag::Unlimited);

    /// Whether an attempt with this many failures before it may still be retried.
    pub fn allows(&self, failures: u32) -> bool {
        match self {
            Retries::Count(count) => failures <= *count,
            Retries::Unlimited(_) => true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlimitedTag {
    Unlimited,
}

/// Reply buttons (1–3) or Quick Reply (1–10).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoicesConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub retries: Retries,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Stores the chosen option's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSectionConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub rows: Vec<Choice>,
}

/// A menu: up to 10 sections of up to 10 rows each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    /// The label of the button that opens the list.
    pub button_text: String,
    pub sections: Vec<ListSectionConfig>,
    #[serde(default)]
    pub retries: Retries,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

impl ListConfig {
    /// Every row in display order, numbered from 1 across sections.
    pub fn rows(&self) -> impl Iterator<Item = &Choice> {
        self.sections.iter().flat_map(|section| section.rows.iter())
    }
}

/// How a Prompt checks the answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Validation {
    /// Any non-empty reply.
    #[default]
    None,
    Regex {
        pattern: String,
    },
    Phone,
    Email,
    Number,
    /// AI decides whether the reply meets a plain-language criterion.
    Ai {
        criterion: String,
    },
}

/// A free-text question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptConfig {
    pub question: String,
    #[serde(default)]
    pub validation: Validation,
    #[serde(default)]
    pub retries: Retries,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// 10 seconds to 60 minutes; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

/// How a Prompt Date reads the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DateFormat {
    #[serde(rename = "mm/dd/yyyy")]
    MonthDayYear,
    #[serde(rename = "dd/mm/yyyy")]
    DayMonthYear,
    #[serde(rename = "yyyy-mm-dd")]
    IsoDashes,
    #[serde(rename = "yyyy/mm/dd")]
    IsoSlashes,
    /// Any of the above, month names ("15 March 2027", "Mar 15"), and relative words
    /// ("today", "tomorrow", "next friday").
    #[default]
    #[serde(rename = "lenient")]
    Lenient,
}

/// Which dates a Prompt Date accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DateRange {
    #[default]
    All,
    /// Today or earlier.
    Past,
    /// Today or later.
    Future,
    /// Between two dates, both included; an absent end is open.
    Custom {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<chrono::NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<chrono::NaiveDate>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub fn of(date: chrono::NaiveDate) -> Self {
        use chrono::Datelike;
        match date.weekday() {
            chrono::Weekday::Mon => Weekday::Monday,
            chrono::Weekday::Tue => Weekday::Tuesday,
            chrono::Weekday::Wed => Weekday::Wednesday,
            chrono::Weekday::Thu => Weekday::Thursday,
            chrono::Weekday::Fri => Weekday::Friday,
            chrono::Weekday::Sat => Weekday::Saturday,
            chrono::Weekday::Sun => Weekday::Sunday,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptDateConfig {
    pub question: String,
    #[serde(default)]
    pub format: DateFormat,
    #[serde(default)]
    pub range: DateRange,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_weekdays: Vec<Weekday>,
    #[serde(default)]
    pub retries: Retries,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Stores the date as `yyyy-mm-dd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

/// Routes to the first branch whose rules hold, else to the `fallback` edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    pub branches: Vec<ConditionBranch>,
}

/// One output of a Condition step: its rules joined with AND (`all`) or OR (`any`). The
/// branch's id labels its edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionBranch {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "match")]
    pub combine: Combine,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// AND: every rule holds.
    #[default]
    All,
    /// OR: at least one rule holds.
    Any,
}

/// `variable operator value`, e.g. `local.party_size greater_than 4`. The value is
/// interpolated; numbers compare as numbers when both sides are numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub variable: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Text comparisons ignore case unless this is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub case_sensitive: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Equals,
    NotEquals,
    GreaterThan,
    LessThan,
    Contains,
    StartsWith,
    EndsWith,
    MatchesRegex,
    Exists,
    NotExists,
}

/// Pauses the run; any duration of at least one second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayConfig {
    pub seconds: u64,
}

/// Pauses until a named event arrives (`POST /api/v1/conversations/{id}/events`, or a goal
/// hit, delivered as `goal:<milestone id>`), or until the optional timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitConfig {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Stores the event's payload (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
    Put,
    Delete,
}

impl HttpMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// Takes a value out of a JSON response into a variable. `path` is a JSON path of the form
/// `$.a.b[0].c` (the leading `$.` is optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseMapping {
    pub variable: String,
    pub path: String,
}

/// An HTTP request of an API step. URL, header values and body are interpolated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRequestConfig {
    #[serde(default)]
    pub method: HttpMethod,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON object (its string values interpolated) or a string (interpolated as a whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapping: Vec<ResponseMapping>,
    /// Default 30 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// A named request of the journey's API Manager.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiDefinition {
    pub name: String,
    /// What the call does, for an AI Agent that has it as a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What an AI Agent fills in when it calls the definition as a tool: each is the local
    /// variable of that name in the request's placeholders. Empty: every local-variable
    /// placeholder of the request is a text parameter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ToolParameter>,
    #[serde(flatten)]
    pub request: ApiRequestConfig,
}

/// A value an AI Agent supplies when it calls an API definition as a tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolParameter {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: ParameterKind,
    /// Whether the agent must give it; a parameter the session already holds a value for
    /// never is (the session's value is used when the agent gives none).
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// The JSON Schema type of a tool parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterKind {
    #[default]
    String,
    Number,
    Integer,
    Boolean,
}

impl ParameterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterKind::String => "string",
            ParameterKind::Number => "number",
            ParameterKind::Integer => "integer",
            ParameterKind::Boolean => "boolean",
        }
    }
}

/// Runs the raw response through AI with a prompt before it is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostProcess {
    pub prompt: String,
    pub variable: String,
}

/// Calls an external system: a named definition or an inline request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ApiRequestConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_process: Option<PostProcess>,
}

/// A conversational AI turn with a persona, knowledge and tools. The session stays on the step
/// until the agent gives a final answer (then the `success` edge) or signals a hand-off (the
/// `transfer` edge).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiAgentConfig {
    /// The persona configured in AI Agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default)]
    pub system_prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Most tool calls per turn; default 50.
    #[serde(default = "default_loop_cap")]
    pub loop_cap: u32,
}

fn default_loop_cap() -> u32 {
    50
}

/// Who an Agent Transfer hands the conversation to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransferTarget {
    User { user_id: String },
    Team { team_id: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferConfig {
    pub target: TransferTarget,
    /// A short note sent to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Records a milestone of a goal, with tracker values (interpolated).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalConfig {
    /// The goal's id, or its name (deploy records the id in the version).
    pub goal_id: String,
    /// The milestone's id, or its name within the goal.
    pub milestone_id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trackers: BTreeMap<String, String>,
}

/// Where a variable lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableScope {
    /// One run of the journey.
    #[default]
    Local,
    /// The organisation, shared across journeys.
    Campaign,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableType {
    #[default]
    String,
    Number,
    Date,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDef {
    pub name: String,
    #[serde(default)]
    pub scope: VariableScope,
    #[serde(default, rename = "type")]
    pub value_type: VariableType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
}

/// A directed edge. `label` names the branch (`success`, `timeout`, a choice id …); plain
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
                    kind: StepKind::Text(TextConfig {
                        text: text.into(),
                        variable: None,
                    }),
                },
            ],
            connections: vec![Connection {
                from: START_STEP_ID.into(),
                to: "greeting".into(),
                label: None,
            }],
            variables: Vec::new(),
            api_definitions: Vec::new(),
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
        self.target(step_id, None)
    }

    /// Where the edge leaving `step_id` with `label` leads. `None` asks for the unlabelled
    /// edge; `success` falls back to the unlabelled edge, and the unlabelled edge to `success`.
    pub fn target(&self, step_id: &str, label: Option<&str>) -> Option<&Step> {
        let find = |wanted: Option<&str>| {
            self.connections
                .iter()
                .find(|edge| edge.from == step_id && edge.label.as_deref() == wanted)
        };
        let edge = match label {
            None | Some(label::SUCCESS) => find(None).or_else(|| find(Some(label::SUCCESS))),
            Some(other) => find(Some(other)),
        }?;
        self.step(&edge.to)
    }

    /// The named API definition.
    pub fn api_definition(&self, name: &str) -> Option<&ApiDefinition> {
        self.api_definitions
            .iter()
            .find(|definition| definition.name == name)
    }

    /// The text of the greeting step of a built-in greeting journey.
    pub fn greeting_text(&self) -> Option<&str> {
        self.steps.iter().find_map(|step| match &step.kind {
            StepKind::Text(config) => Some(config.text.as_str()),
            _ => None,
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

    #[test]
    fn retries_read_a_number_or_unlimited() {
        let count: Retries = serde_json::from_str("3").unwrap();
        assert_eq!(count, Retries::Count(3));
        let unlimited: Retries = serde_json::from_str("\"unlimited\"").unwrap();
        assert_eq!(unlimited, Retries::UNLIMITED);
        assert_eq!(serde_json::to_string(&unlimited).unwrap(), "\"unlimited\"");
        assert!(serde_json::from_str::<Retries>("\"forever\"").is_err());
        assert!(Retries::Count(1).allows(1));
        assert!(!Retries::Count(1).allows(2));
    }

    #[test]
    fn every_kind_round_trips_through_its_wire_name() {
        let step = |kind: &str, config: serde_json::Value| serde_json::json!({"id": "s", "name": "S", "kind": kind, "config": config});
        let samples = [
            step("start", serde_json::Value::Null),
            step("text", serde_json::json!({"text": "Hi"})),
            step(
                "image",
                serde_json::json!({"url": "https://x/a.png", "caption": "A"}),
            ),
            step(
                "location",
                serde_json::json!({"latitude": 1.5, "longitude": 2.5}),
            ),
            step(
                "cta_url",
                serde_json::json!({"body": "b", "button_text": "Go", "url": "https://x"}),
            ),
            step(
                "reply",
                serde_json::json!({"body": "b", "choices": [{"id": "y", "title": "Yes"}]}),
            ),
            step(
                "prompt",
                serde_json::json!({"question": "q", "validation": {"mode": "regex", "pattern": "^a"},
                                   "retries": "unlimited", "timeout_secs": 60}),
            ),
            step(
                "prompt_date",
                serde_json::json!({"question": "q", "format": "dd/mm/yyyy",
                                   "range": {"type": "future"}, "excluded_weekdays": ["sunday"]}),
            ),
            step(
                "condition",
                serde_json::json!({"branches": [{"id": "big", "match": "any",
                    "rules": [{"variable": "local.n", "operator": "greater_than", "value": "4"}]}]}),
            ),
            step("delay", serde_json::json!({"seconds": 86400})),
            step("wait_for_events", serde_json::json!({"event": "paid"})),
            step(
                "api",
                serde_json::json!({"request": {"method": "POST", "url": "https://x",
                    "mapping": [{"variable": "price", "path": "$.price"}]}}),
            ),
            step("ai_agent", serde_json::json!({"system_prompt": "Be kind"})),
            step(
                "agent_transfer",
                serde_json::json!({"target": {"type": "team", "team_id": "t1"}}),
            ),
            step(
                "goal",
                serde_json::json!({"goal_id": "g", "milestone_id": "m"}),
            ),
        ];
        for sample in samples {
            let parsed: Step = serde_json::from_value(sample.clone())
                .unwrap_or_else(|error| panic!("{sample}: {error}"));
            assert_eq!(parsed.kind.name(), sample["kind"]);
            let again = serde_json::to_value(&parsed).unwrap();
            let back: Step = serde_json::from_value(again).unwrap();
            assert_eq!(back, parsed);
        }
        if let Ok(Step {
            kind: StepKind::AiAgent(config),
            ..
        }) = serde_json::from_value::<Step>(step("ai_agent", serde_json::json!({})))
        {
            assert_eq!(config.loop_cap, 50);
        } else {
            panic!("an empty AI Agent config takes the defaults");
        }
    }

    #[test]
    fn unknown_config_fields_are_refused() {
        let typo = serde_json::json!({"id": "s", "name": "S", "kind": "text",
                                      "config": {"txt": "Hi"}});
        assert!(serde_json::from_value::<Step>(typo).is_err());
    }

    #[test]
    fn success_and_unlabelled_edges_stand_for_each_other() {
        let mut journey = Journey::greeting("Hi");
        assert_eq!(
            journey
                .target(START_STEP_ID, Some(label::SUCCESS))
                .map(|s| s.id.as_str()),
            Some("greeting")
        );
        journey.connections[0].label = Some(label::SUCCESS.into());
        assert_eq!(
            journey.next_after(START_STEP_ID).map(|s| s.id.as_str()),
            Some("greeting")
        );
        assert!(journey
            .target(START_STEP_ID, Some(label::FAILURE))
            .is_none());
    }
}
