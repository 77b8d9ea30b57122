//! AI for bot journeys: one interface for what journeys ask of a model — judge a free-text
//! answer against a plain-language criterion, phrase an API response, run an AI Agent turn —
//! and a local engine that needs no network and no model: deterministic rules that answer the
//! common cases well enough for a journey to run without an LLM configured.

pub mod eval;
pub mod insights;
pub mod knowledge;
pub mod llm;
pub mod nlu;
pub mod provider;

use crate::domain::MessageContent;
use crate::journey::input::{self, Answer};
use crate::journey::model::{DateFormat, Validation};
use crate::journey::tools::AgentTool;
use crate::journey::{AgentNext, AgentTurn, ApiRequest, ApiResponse};
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error("the AI provider is unavailable: {0}")]
    Unavailable(String),
}

/// What an AI Agent turn gets.
#[derive(Clone, Debug)]
pub struct AgentRequest {
    pub system_prompt: String,
    /// The guest's latest message.
    pub message: String,
    /// Earlier messages of the conversation, oldest first, as (`guest`|`bot`, text).
    pub history: Vec<(String, String)>,
    /// Passages of the organisation's knowledge base that match the message, best first.
    pub knowledge: Vec<knowledge::Hit>,
    /// The API definitions the agent may call, run by `runner`, at most `loop_cap` calls in
    /// the turn.
    pub tools: Vec<AgentTool>,
    pub loop_cap: u32,
    pub runner: ToolRunner,
}

impl AgentRequest {
    /// A turn with no tools.
    pub fn new(system_prompt: String, message: String) -> Self {
        Self {
            system_prompt,
            message,
            history: Vec::new(),
            knowledge: Vec::new(),
            tools: Vec::new(),
            loop_cap: 0,
            runner: ToolRunner::none(),
        }
    }
}

type RunTool = dyn Fn(ApiRequest) -> BoxFuture<'static, Result<ApiResponse, String>> + Send + Sync;

/// Makes the HTTP call of an agent's tool call (the journey API steps' guarded client).
#[derive(Clone)]
pub struct ToolRunner(Arc<RunTool>);

impl ToolRunner {
    pub fn new(
        run: impl Fn(ApiRequest) -> BoxFuture<'static, Result<ApiResponse, String>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Self(Arc::new(run))
    }

    /// A runner for turns without tools: every call fails.
    pub fn none() -> Self {
        Self::new(|_| Box::pin(async { Err("no tools are available".to_owned()) }))
    }

    pub async fn run(&self, request: ApiRequest) -> Result<ApiResponse, String> {
        (self.0)(request).await
    }
}

impl std::fmt::Debug for ToolRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ToolRunner")
    }
}

/// The share of a message's terms a knowledge passage must contain for the local agent to
/// answer with it.
pub const LOCAL_ANSWER_COVERAGE: f32 = 0.6;

/// The AI a journey uses.
pub trait Ai: Send + Sync {
    /// Whether `answer` meets `criterion` ("Does this look like an arrival date?").
    fn check(&self, criterion: &str, answer: &str) -> BoxFuture<'_, Result<bool, AiError>>;
    /// Phrases (or picks out of) an API response as `prompt` asks.
    fn post_process(
        &self,
        prompt: &str,
        response: &Value,
    ) -> BoxFuture<'_, Result<String, AiError>>;
    /// One turn of an AI Agent step.
    fn agent_turn(&self, request: AgentRequest) -> BoxFuture<'_, Result<AgentTurn, AiError>>;
    /// The guest's sentiment and a summary of a conversation (oldest line first); `None`
    /// leaves them to the local lexicon and extractive summary (`insights`).
    fn insight(
        &self,
        transcript: &[(insights::Speaker, String)],
    ) -> BoxFuture<'_, Result<Option<ModelInsight>, AiError>>;
}

/// A model's reading of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInsight {
    /// -1000 (most negative) to 1000 (most positive).
    pub sentiment_score: i64,
    pub summary: String,
}

/// The deterministic local engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalAi {
    /// Today, for date criteria; `None` reads dates without a range.
    pub today: Option<chrono::NaiveDate>,
}

/// Words of a criterion about the size of the party.
const PARTY_WORDS: [&str; 7] = [
    "guest",
    "people",
    "adult",
    "party",
    "person",
    "traveller",
    "traveler",
];

impl LocalAi {
    /// The local verdict on an answer: criteria that name a kind of value (a date, an email,
    /// a phone number, a name, the party's size, a number of nights, a number) are checked
    /// for that kind, dates, parties and nights as the understanding engine reads them in a
    /// sentence; any other criterion takes any answer of two or more characters.
    pub fn judge(&self, criterion: &str, answer: &str) -> bool {
        let criterion = criterion.to_lowercase();
        let text = MessageContent::Text {
            body: answer.to_owned(),
        };
        let accepted = |validation: Validation| {
            matches!(input::check_answer(&validation, &text), Answer::Accepted(_))
        };
        let today = self
            .today
            .unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default());
        if criterion.contains("date") || criterion.contains("day") || criterion.contains("when") {
            // A date alone ("15/03"), or one in a sentence ("arriving tomorrow for 3 nights").
            input::parse_date(answer, DateFormat::Lenient, today).is_some()
                || nlu::understand(answer, today, nlu::Language::English)
                    .entities
                    .stay
                    .is_some()
        } else if criterion.contains("email") {
            accepted(Validation::Email)
        } else if criterion.contains("phone") || criterion.contains("number to call") {
            accepted(Validation::Phone)
        } else if criterion.contains("name") && !criterion.contains("number") {
            let words: Vec<&str> = answer.split_whitespace().collect();
            !words.is_empty()
                && words.len() <= 5
                && words
                    .iter()
                    .all(|word| word.chars().all(|c| c.is_alphabetic() || "-'.".contains(c)))
        } else if PARTY_WORDS.iter().any(|word| criterion.contains(word)) {
            // "2 adults and a child", "just the two of us", or a bare number.
            let entities = nlu::understand(answer, today, nlu::Language::English).entities;
            entities.adults.is_some() || entities.children.is_some() || accepted(Validation::Number)
        } else if criterion.contains("night") || criterion.contains("how long") {
            // "3 nights", "a week", a range of dates, or a bare number.
            let entities = nlu::understand(answer, today, nlu::Language::English).entities;
            entities.nights.is_some() || accepted(Validation::Number)
        } else if criterion.contains("number")
            || criterion.contains("how many")
            || criterion.contains("amount")
        {
            accepted(Validation::Number)
        } else {
            answer.trim().chars().count() >= 2
        }
    }

    /// Picks the facts of `response` whose names the prompt mentions (all scalar facts when it
    /// mentions none) and writes them as `name: value` lines.
    pub fn summarise(&self, prompt: &str, response: &Value) -> String {
        // Words padded with spaces, so `a` does not match inside `summarise`.
        let words: Vec<String> = prompt
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_owned)
            .collect();
        let prompt = format!(" {} ", words.join(" "));
        let mut facts = Vec::new();
        flatten("", response, &mut facts);
        let mentioned: Vec<&(String, String)> = facts
            .iter()
            .filter(|(path, _)| {
                path.rsplit(['.', ']']).next().is_some_and(|leaf| {
                    !leaf.is_empty() && prompt.contains(&format!(" {} ", leaf.replace('_', " ")))
                })
            })
            .collect();
        let chosen: Vec<&(String, String)> = if mentioned.is_empty() {
            facts.iter().take(10).collect()
        } else {
            mentioned
        };
        chosen
            .iter()
            .map(|(path, value)| format!("{}: {value}", path.replace('_', " ")))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The local agent answers what it can be sure of: it hands over when asked for a person,
    /// closes on thanks, answers with a knowledge passage that covers the question, and
    /// otherwise hands over rather than guess.
    pub fn turn(&self, request: &AgentRequest) -> AgentTurn {
        let today = self
            .today
            .unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default());
        match nlu::classify(&request.message, today, nlu::Language::English).confident() {
            Some(nlu::Intent::TalkToHuman) => {
                let reply = "Of course — I'm passing you to a member of our team.";
                return AgentTurn::new(Some(reply.into()), AgentNext::Handoff);
            }
            Some(nlu::Intent::Thanks) => {
                let reply = "You're welcome! Message us any time.";
                return AgentTurn::new(Some(reply.into()), AgentNext::Done);
            }
            _ => {}
        }
        // A knowledge passage that covers the question is the answer.
        if let Some(hit) = request
            .knowledge
            .first()
            .filter(|hit| hit.coverage >= LOCAL_ANSWER_COVERAGE)
        {
            return AgentTurn::new(Some(hit.passage.text.clone()), AgentNext::Continue);
        }
        let reply = "I'm not certain about that, so I'm asking a member of our team to help you.";
        AgentTurn::new(Some(reply.into()), AgentNext::Handoff)
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (name, item) in fields {
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(&path, item, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{index}]"), item, out);
            }
        }
        Value::Null => {}
        scalar => out.push((prefix.to_owned(), crate::journey::values::to_text(scalar))),
    }
}

impl Ai for LocalAi {
    fn check(&self, criterion: &str, answer: &str) -> BoxFuture<'_, Result<bool, AiError>> {
        let verdict = self.judge(criterion, answer);
        Box::pin(async move { Ok(verdict) })
    }

    fn post_process(
        &self,
        prompt: &str,
        response: &Value,
    ) -> BoxFuture<'_, Result<String, AiError>> {
        let text = self.summarise(prompt, response);
        Box::pin(async move { Ok(text) })
    }

    fn agent_turn(&self, request: AgentRequest) -> BoxFuture<'_, Result<AgentTurn, AiError>> {
        let turn = self.turn(&request);
        Box::pin(async move { Ok(turn) })
    }

    fn insight(
        &self,
        _transcript: &[(insights::Speaker, String)],
    ) -> BoxFuture<'_, Result<Option<ModelInsight>, AiError>> {
        Box::pin(async move { Ok(None) })
    }
}

/// The AI of an organisation whose settings cannot be opened: every call fails with why.
pub struct Unavailable(pub String);

impl Ai for Unavailable {
    fn check(
        &self,
        _criterion: &str,
        _answer: &str,
    ) -> futures::future::BoxFuture<'_, Result<bool, crate::ai::AiError>> {
        let error = crate::ai::AiError::Unavailable(self.0.clone());
        Box::pin(async move { Err(error) })
    }

    fn post_process(
        &self,
        _prompt: &str,
        _response: &serde_json::Value,
    ) -> futures::future::BoxFuture<'_, Result<String, crate::ai::AiError>> {
        let error = crate::ai::AiError::Unavailable(self.0.clone());
        Box::pin(async move { Err(error) })
    }

    fn agent_turn(
        &self,
        _request: crate::ai::AgentRequest,
    ) -> futures::future::BoxFuture<'_, Result<crate::journey::AgentTurn, crate::ai::AiError>> {
        let error = crate::ai::AiError::Unavailable(self.0.clone());
        Box::pin(async move { Err(error) })
    }

    fn insight(
        &self,
        _transcript: &[(insights::Speaker, String)],
    ) -> futures::future::BoxFuture<'_, Result<Option<ModelInsight>, crate::ai::AiError>> {
        let error = crate::ai::AiError::Unavailable(self.0.clone());
        Box::pin(async move { Err(error) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn criteria_that_name_a_kind_check_for_it() {
        let ai = LocalAi {
            today: chrono::NaiveDate::from_ymd_opt(2027, 3, 10),
        };
        let table = [
            ("Does this look like an arrival date?", "15/03/2027", true),
            ("Does this look like an arrival date?", "soon-ish", false),
            (
                "Does this look like an arrival date?",
                "we arrive tomorrow for 3 nights",
                true,
            ),
            ("When are you coming?", "March 15 to 18", true),
            ("When are you coming?", "not sure yet", false),
            ("Is this an email address?", "ana@example.com", true),
            ("Is this an email address?", "ana at example", false),
            ("A phone number we can call", "+351 912 345 678", true),
            ("How many guests?", "4", true),
            ("How many guests?", "a few", false),
            ("How many guests?", "2 adults and a child", true),
            ("How many guests?", "just the two of us", true),
            ("How many people are travelling?", "no idea", false),
            ("How many nights?", "3 nights", true),
            ("How many nights?", "from March 15 to 18", true),
            ("How many nights?", "a while", false),
            ("The guest's full name", "Ana Maria Silva", true),
            ("The guest's full name", "call me at 555", false),
            ("Anything about their stay", "ok", true),
            ("Anything about their stay", "k", false),
        ];
        for (criterion, answer, expected) in table {
            assert_eq!(
                ai.judge(criterion, answer),
                expected,
                "{criterion} / {answer}"
            );
        }
    }

    #[test]
    fn summaries_keep_the_facts_the_prompt_names() {
        let ai = LocalAi::default();
        let response =
            json!({"rate": {"nightly_price": 120, "currency": "EUR"}, "rooms": [{"name": "Sea"}]});
        assert_eq!(
            ai.summarise("Tell the guest the nightly price", &response),
            "rate.nightly price: 120"
        );
        assert_eq!(
            ai.summarise("Summarise", &json!({"a": 1, "b": [true, null]})),
            "a: 1\nb[0]: true"
        );
    }

    #[test]
    fn the_local_agent_hands_over_unless_it_is_sure() {
        let ai = LocalAi::default();
        let turn = |message: &str| {
            ai.turn(&AgentRequest::new(String::new(), message.into()))
                .next
        };
        assert_eq!(turn("Can I speak to a real person?"), AgentNext::Handoff);
        assert_eq!(turn("Thanks, that's all"), AgentNext::Done);
        assert_eq!(turn("Is the pool heated?"), AgentNext::Handoff);
    }

    #[test]
    fn the_local_agent_answers_from_a_passage_that_covers_the_question() {
        let ai = LocalAi::default();
        let index = knowledge::KnowledgeIndex::build(&[knowledge::Document {
            source: None,
            id: "pool".into(),
            title: "Swimming pool".into(),
            body: "The outdoor pool is heated to 28 °C from April to October.".into(),
        }]);
        let turn = |message: &str| {
            ai.turn(&AgentRequest {
                knowledge: index.search(message, 3),
                ..AgentRequest::new(String::new(), message.into())
            })
        };
        let answer = turn("Is the pool heated?");
        assert_eq!(answer.next, AgentNext::Continue);
        assert_eq!(
            answer.reply.as_deref(),
            Some("The outdoor pool is heated to 28 °C from April to October.")
        );
        // One word in common out of several is not an answer.
        assert_eq!(
            turn("Is there a kids pool with a slide and a lifeguard?").next,
            AgentNext::Handoff
        );
    }
}
