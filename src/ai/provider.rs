//! The AI of an organisation that configured an LLM provider: the same `Ai` interface as the
//! local engine, answered by chat completions. Every call, answered or failed, is reported to
//! a usage sink so the organisation's token use is recorded.

use super::insights::{Speaker, SCORE_MAX, SUMMARY_MAX_CHARS};
use super::llm::{ChatMessage, ChatRequest, LlmClient, LlmError, ToolCall, ToolSpec, Usage};
use super::{AgentRequest, Ai, AiError, ModelInsight};
use crate::journey::{AgentNext, AgentTurn};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::sync::Arc;

/// Told of every call: its usage, or that it failed.
pub type UsageSink = Arc<dyn Fn(Result<Usage, &LlmError>) + Send + Sync>;

pub use crate::journey::tools::{FINISH_TOOL, HANDOFF_TOOL};

/// Longest API response, in characters of JSON, put in a post-processing prompt.
const RESPONSE_MAX_CHARS: usize = 12_000;

/// An organisation's LLM.
#[derive(Clone)]
pub struct LlmAi {
    client: LlmClient,
    usage: UsageSink,
}

impl LlmAi {
    pub fn new(client: LlmClient, usage: UsageSink) -> Self {
        Self { client, usage }
    }

    async fn chat(&self, request: &ChatRequest) -> Result<super::llm::ChatResponse, AiError> {
        let answer = self.client.chat(request).await;
        match &answer {
            Ok(response) => (self.usage)(Ok(response.usage)),
            Err(error) => (self.usage)(Err(error)),
        }
        answer.map_err(|error| AiError::Unavailable(format!("{} ({})", error, error.code())))
    }
}

/// The verdict in a model's answer to a yes/no question: its first word.
fn verdict(answer: &str) -> Option<bool> {
    let first: String = answer
        .trim()
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    match first.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

fn agent_tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: HANDOFF_TOOL.into(),
            description: "Hand the guest to a member of the team: call it when the guest asks \
                          for a person or when you cannot help them reliably."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "Why, for the team."}},
                "required": ["reason"]
            }),
        },
        ToolSpec {
            name: FINISH_TOOL.into(),
            description: "End the conversation: call it when the guest needs nothing more.".into(),
            parameters: json!({"type": "object", "properties": {}}),
        },
    ]
}

/// The tool calls of one agent turn so far.
#[derive(Default)]
struct ToolCalls {
    made: u32,
    /// What the called definitions' response mappings stored.
    variables: Vec<(String, Value)>,
    notes: Vec<String>,
}

impl ToolCalls {
    /// Runs one call of the model's: its result for the model, and whether it failed.
    async fn run(&mut self, request: &AgentRequest, call: &ToolCall) -> (String, bool) {
        self.made += 1;
        let Some(tool) = request.tools.iter().find(|tool| tool.name == call.name) else {
            self.notes.push(format!(
                "the agent asked for an unknown tool `{}`",
                call.name
            ));
            return (format!("There is no tool named `{}`.", call.name), true);
        };
        let http = match tool.request(&call.arguments) {
            Ok(http) => http,
            Err(reason) => {
                self.notes
                    .push(format!("`{}` was not called: {reason}", tool.definition));
                return (format!("Not called: {reason}."), true);
            }
        };
        match request.runner.run(http).await {
            Ok(response) => {
                self.notes.push(format!(
                    "`{}` answered {}",
                    tool.definition, response.status
                ));
                self.variables.extend(tool.mapped(&response));
                let failed = !(200..300).contains(&response.status);
                let content = json!({"status": response.status, "body": response.body});
                (cut(content.to_string()), failed)
            }
            Err(error) => {
                self.notes
                    .push(format!("`{}` failed: {error}", tool.definition));
                (format!("The call failed: {error}"), true)
            }
        }
    }
}

/// `text` held to [`RESPONSE_MAX_CHARS`] characters.
fn cut(text: String) -> String {
    if text.chars().count() <= RESPONSE_MAX_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(RESPONSE_MAX_CHARS).collect();
    cut.push_str(" …(cut)");
    cut
}

/// The agent turn an answer makes: a hand-off or finish tool call decides where the journey
/// goes; any text is the reply.
fn turn_of(text: Option<String>, tools_called: &[String]) -> AgentTurn {
    let next = if tools_called.iter().any(|name| name == HANDOFF_TOOL) {
        AgentNext::Handoff
    } else if tools_called.iter().any(|name| name == FINISH_TOOL) {
        AgentNext::Done
    } else {
        AgentNext::Continue
    };
    AgentTurn::new(text, next)
}

impl Ai for LlmAi {
    fn check(&self, criterion: &str, answer: &str) -> BoxFuture<'_, Result<bool, AiError>> {
        let request = ChatRequest {
            system: "You check a hotel guest's answer against a criterion. Reply with YES if \
                     the answer meets it and NO if it does not, and nothing else."
                .into(),
            messages: vec![ChatMessage::User(format!(
                "Criterion: {criterion}\nAnswer: {answer}"
            ))],
            max_tokens: Some(5),
            temperature: Some(0.0),
            ..ChatRequest::default()
        };
        Box::pin(async move {
            let response = self.chat(&request).await?;
            let text = response.text.unwrap_or_default();
            verdict(&text).ok_or_else(|| {
                AiError::Unavailable(format!("the model answered neither yes nor no: {text:?}"))
            })
        })
    }

    fn post_process(
        &self,
        prompt: &str,
        response: &Value,
    ) -> BoxFuture<'_, Result<String, AiError>> {
        let json = cut(response.to_string());
        let request = ChatRequest {
            system: "You write one short message to a hotel guest from an API response, as the \
                     instruction asks. Use only facts in the response. Answer with the message \
                     only."
                .into(),
            messages: vec![ChatMessage::User(format!(
                "Instruction: {prompt}\nAPI response (JSON): {json}"
            ))],
            temperature: Some(0.2),
            ..ChatRequest::default()
        };
        Box::pin(async move {
            let response = self.chat(&request).await?;
            response
                .text
                .map(|text| text.trim().to_owned())
                .filter(|text| !text.is_empty())
                .ok_or_else(|| AiError::Unavailable("the model answered with no text".into()))
        })
    }

    fn agent_turn(&self, request: AgentRequest) -> BoxFuture<'_, Result<AgentTurn, AiError>> {
        let mut messages: Vec<ChatMessage> = request
            .history
            .iter()
            .map(|(speaker, text)| match speaker.as_str() {
                "guest" => ChatMessage::User(text.clone()),
                _ => ChatMessage::Assistant {
                    text: Some(text.clone()),
                    tool_calls: Vec::new(),
                },
            })
            .collect();
        messages.push(ChatMessage::User(request.message.clone()));
        let mut system = format!(
            "{}\n\nWhen the guest asks for a person, or you cannot help reliably, call \
             `{HANDOFF_TOOL}`. When the guest needs nothing more, call `{FINISH_TOOL}`.",
            request.system_prompt
        );
        if !request.tools.is_empty() {
            system.push_str(
                "\n\nUse the other tools to look up or change what the guest asks about \
                 (availability, prices, bookings); never invent what a tool would tell you.",
            );
        }
        if !request.knowledge.is_empty() {
            system.push_str(
                "\n\nWhat the property says about this (answer from it when it applies):",
            );
            for hit in &request.knowledge {
                system.push_str(&format!("\n- {}: {}", hit.passage.title, hit.passage.text));
            }
        }
        let mut tools = agent_tools();
        tools.extend(request.tools.iter().map(|tool| ToolSpec {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters: tool.schema(),
        }));
        Box::pin(async move {
            let mut chat = ChatRequest {
                system,
                messages,
                tools,
                ..ChatRequest::default()
            };
            let mut calls = ToolCalls::default();
            let mut capped = false;
            loop {
                let response = self.chat(&chat).await?;
                let called: Vec<String> = response
                    .tool_calls
                    .iter()
                    .map(|call| call.name.clone())
                    .collect();
                let signals = called
                    .iter()
                    .any(|name| name == HANDOFF_TOOL || name == FINISH_TOOL);
                if called.is_empty() || signals {
                    let mut turn = turn_of(response.text, &called);
                    turn.variables = calls.variables;
                    turn.calls = calls.notes;
                    return Ok(turn);
                }
                if capped {
                    return Err(AiError::Unavailable(format!(
                        "the agent went on calling tools after its cap of {} calls",
                        request.loop_cap
                    )));
                }
                chat.messages.push(response.to_message());
                for call in &response.tool_calls {
                    let (content, is_error) = if calls.made >= request.loop_cap {
                        capped = true;
                        let content = format!(
                            "Not run: this turn's limit of {} tool calls is reached. Answer \
                             the guest with what you know, or hand over.",
                            request.loop_cap
                        );
                        (content, true)
                    } else {
                        calls.run(&request, call).await
                    };
                    chat.messages.push(ChatMessage::ToolResult {
                        call_id: call.id.clone(),
                        content,
                        is_error,
                    });
                }
            }
        })
    }

    fn insight(
        &self,
        transcript: &[(Speaker, String)],
    ) -> BoxFuture<'_, Result<Option<ModelInsight>, AiError>> {
        let lines: Vec<String> = transcript
            .iter()
            .map(|(speaker, text)| format!("{}: {text}", speaker.label()))
            .collect();
        let request = ChatRequest {
            system: format!(
                "You read a conversation between a hotel guest and the hotel. Answer with JSON \
                 only: {{\"sentiment_score\": an integer from -{SCORE_MAX} (very unhappy) to \
                 {SCORE_MAX} (delighted) for the guest's mood, \"summary\": what the guest \
                 wanted and what was answered, at most three sentences and \
                 {SUMMARY_MAX_CHARS} characters}}."
            ),
            messages: vec![ChatMessage::User(lines.join("\n"))],
            temperature: Some(0.0),
            ..ChatRequest::default()
        };
        Box::pin(async move {
            let response = self.chat(&request).await?;
            let text = response.text.unwrap_or_default();
            parse_insight(&text).map(Some).ok_or_else(|| {
                AiError::Unavailable(format!(
                    "the model's insight is not the JSON asked for: {text:?}"
                ))
            })
        })
    }
}

/// Reads a model's insight answer: a JSON object (possibly inside other text) with
/// `sentiment_score` and `summary`; the score is held to ±[`SCORE_MAX`] and the summary to
/// [`SUMMARY_MAX_CHARS`].
fn parse_insight(answer: &str) -> Option<ModelInsight> {
    let start = answer.find('{')?;
    let end = answer.rfind('}')?;
    let value: Value = serde_json::from_str(answer.get(start..=end)?).ok()?;
    let score = value.get("sentiment_score")?.as_f64()?;
    let summary: String = value
        .get("summary")?
        .as_str()?
        .trim()
        .chars()
        .take(SUMMARY_MAX_CHARS)
        .collect();
    // Held to ±1000 first: the cast cannot overflow.
    #[allow(clippy::cast_possible_truncation)]
    let sentiment_score = score.clamp(-(SCORE_MAX as f64), SCORE_MAX as f64).round() as i64;
    Some(ModelInsight {
        sentiment_score,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::llm::{testing, Provider};
    use crate::journey::tools::AgentTool;
    use crate::mock::llm::{MockLlm, Reply};
    use std::sync::Mutex;

    fn ai_for(mock: &MockLlm, provider: Provider) -> (LlmAi, Arc<Mutex<Vec<String>>>) {
        mock.add_key(testing::KEY);
        let client = testing::client(provider, mock, testing::KEY, testing::WAIT, 0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = Arc::clone(&seen);
        let sink: UsageSink = Arc::new(move |usage: Result<Usage, &LlmError>| {
            let line = match usage {
                Ok(usage) => format!("{}+{}", usage.input_tokens, usage.output_tokens),
                Err(error) => error.code().to_owned(),
            };
            sink_seen.lock().expect("the usage log").push(line);
        });
        (LlmAi::new(client, sink), seen)
    }

    #[test]
    fn insights_are_read_from_the_json_in_the_answer() {
        let insight = parse_insight(
            "Here you go: {\"sentiment_score\": -1500, \"summary\": \" The guest complained. \"}",
        )
        .expect("an insight");
        assert_eq!(insight.sentiment_score, -1000);
        assert_eq!(insight.summary, "The guest complained.");
        assert_eq!(
            parse_insight("{\"sentiment_score\": 420.4, \"summary\": \"ok\"}")
                .map(|insight| insight.sentiment_score),
            Some(420)
        );
        assert_eq!(parse_insight("{\"summary\": \"no score\"}"), None);
        assert_eq!(parse_insight("not json"), None);
    }

    #[test]
    fn verdicts_are_read_from_the_first_word() {
        assert_eq!(verdict("YES"), Some(true));
        assert_eq!(verdict(" no."), Some(false));
        assert_eq!(verdict("Yes, it is a date"), Some(true));
        assert_eq!(verdict("yesterday"), None);
        assert_eq!(verdict("maybe"), None);
    }

    #[actix_web::test]
    async fn checks_post_processing_and_agent_turns_go_through_the_provider() {
        for provider in [Provider::OpenAi, Provider::Anthropic] {
            let mock = MockLlm::start().expect("the mock starts");
            let (ai, usage) = ai_for(&mock, provider);
            mock.script([
                Reply::Text("YES".into()),
                Reply::Text("The sea room is 120 EUR a night.".into()),
                Reply::ToolCall {
                    name: HANDOFF_TOOL.into(),
                    arguments: json!({"reason": "wants a discount"}),
                },
                Reply::Text("We open the pool at 9.".into()),
            ]);
            assert!(ai
                .check("Is this a date?", "15 March")
                .await
                .expect("a verdict"));
            let text = ai
                .post_process("Tell the price", &json!({"price": 120}))
                .await
                .expect("a text");
            assert_eq!(text, "The sea room is 120 EUR a night.");
            let request = |message: &str| AgentRequest {
                history: vec![
                    ("guest".into(), "hi".into()),
                    ("bot".into(), "Hello!".into()),
                ],
                ..AgentRequest::new("You are the concierge of Casa Azul.".into(), message.into())
            };
            let handoff = ai
                .agent_turn(request("can I get a discount"))
                .await
                .expect("a turn");
            assert_eq!(handoff.next, AgentNext::Handoff);
            let answer = ai
                .agent_turn(request("when is the pool open"))
                .await
                .expect("a turn");
            assert_eq!(answer.next, AgentNext::Continue);
            assert_eq!(answer.reply.as_deref(), Some("We open the pool at 9."));
            let requests = mock.requests();
            assert_eq!(requests.len(), 4, "{provider}");
            assert!(requests.iter().all(|request| request.status == 200));
            assert_eq!(usage.lock().expect("the usage log").len(), 4);
            mock.stop().await;
        }
    }

    /// A rates API as an agent's tool, and a runner that answers it (and records each call)
    /// the way the journey's HTTP client would.
    fn rates_tool() -> (AgentRequest, Arc<Mutex<Vec<String>>>) {
        use crate::journey::model::ApiDefinition;
        let definition: ApiDefinition = serde_json::from_value(json!({
            "name": "Rates", "method": "GET",
            "url": "https://pms.example/rates?from={{check_in}}&nights={{nights}}",
            "mapping": [{"variable": "price", "path": "$.price"}]
        }))
        .expect("a definition");
        let tool = AgentTool::new(&definition, |_| None);
        let urls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&urls);
        let runner = crate::ai::ToolRunner::new(move |request| {
            seen.lock().expect("the call log").push(request.url.clone());
            let status = if request.url.contains("from=2027") {
                200
            } else {
                422
            };
            Box::pin(async move {
                Ok(crate::journey::ApiResponse {
                    status,
                    body: json!({"price": 120, "currency": "EUR"}),
                })
            })
        });
        let request = AgentRequest {
            tools: vec![tool],
            loop_cap: 3,
            runner,
            ..AgentRequest::new(
                "Sell rooms.".into(),
                "A room from 15 March, 2 nights?".into(),
            )
        };
        (request, urls)
    }

    #[actix_web::test]
    async fn an_agent_calls_its_tools_and_answers_from_their_results() {
        for provider in [Provider::OpenAi, Provider::Anthropic] {
            let mock = MockLlm::start().expect("the mock starts");
            let (ai, usage) = ai_for(&mock, provider);
            let (request, urls) = rates_tool();
            mock.script([
                // A wrong argument first: the model is told why and tries again.
                Reply::ToolCall {
                    name: "Rates".into(),
                    arguments: json!({"nights": 2}),
                },
                Reply::ToolCall {
                    name: "Rates".into(),
                    arguments: json!({"check_in": "15/03", "nights": 2}),
                },
                Reply::ToolCall {
                    name: "Rates".into(),
                    arguments: json!({"check_in": "2027-03-15", "nights": 2}),
                },
                Reply::Text("It is 120 EUR a night.".into()),
            ]);
            let turn = ai.agent_turn(request).await.expect("a turn");
            assert_eq!(turn.next, AgentNext::Continue, "{provider}");
            assert_eq!(turn.reply.as_deref(), Some("It is 120 EUR a night."));
            assert_eq!(turn.variables, [("price".to_owned(), json!(120))]);
            assert_eq!(
                turn.calls,
                [
                    "`Rates` was not called: `check_in` is required",
                    "`Rates` answered 422",
                    "`Rates` answered 200"
                ]
            );
            assert_eq!(
                *urls.lock().expect("the call log"),
                [
                    "https://pms.example/rates?from=15%2F03&nights=2",
                    "https://pms.example/rates?from=2027-03-15&nights=2"
                ]
            );
            // The model saw the tool with its schema, and every result it asked for.
            let requests = mock.requests();
            assert_eq!(requests.len(), 4, "{provider}");
            let body = requests[3].body.to_string();
            assert!(
                body.contains("Not called: `check_in` is required."),
                "{body}"
            );
            assert!(body.contains(r#"\"status\":422"#), "{body}");
            assert!(body.contains(r#"\"price\":120"#), "{body}");
            let first = requests[0].body.to_string();
            assert!(
                first.contains(r#""required":["check_in","nights"]"#),
                "{first}"
            );
            assert_eq!(usage.lock().expect("the usage log").len(), 4);
            mock.stop().await;
        }
    }

    #[actix_web::test]
    async fn an_agent_that_reaches_its_loop_cap_is_told_and_then_stopped() {
        let mock = MockLlm::start().expect("the mock starts");
        let (ai, _) = ai_for(&mock, Provider::Anthropic);
        let call = || Reply::ToolCall {
            name: "Rates".into(),
            arguments: json!({"check_in": "2027-03-15", "nights": 2}),
        };
        // Cap 3: the fourth call is not run, and the model answers with what it has.
        let (request, urls) = rates_tool();
        mock.script([
            call(),
            call(),
            call(),
            call(),
            Reply::Text("120 EUR.".into()),
        ]);
        let turn = ai.agent_turn(request).await.expect("a turn");
        assert_eq!(turn.reply.as_deref(), Some("120 EUR."));
        assert_eq!(urls.lock().expect("the call log").len(), 3);
        let last = mock.requests()[4].body.to_string();
        assert!(last.contains("limit of 3 tool calls is reached"), "{last}");
        // A model that goes on calling after being told fails the turn.
        let (request, urls) = rates_tool();
        mock.script([call(), call(), call(), call(), call()]);
        let error = ai.agent_turn(request).await.expect_err("the cap holds");
        assert!(error.to_string().contains("cap of 3 calls"), "{error}");
        assert_eq!(urls.lock().expect("the call log").len(), 3);
        mock.stop().await;
    }

    #[actix_web::test]
    async fn a_failing_provider_is_unavailable_and_its_failure_is_counted() {
        let mock = MockLlm::start().expect("the mock starts");
        let (ai, usage) = ai_for(&mock, Provider::OpenAi);
        mock.script([Reply::Status {
            status: 500,
            retry_after_secs: None,
        }]);
        let error = ai
            .check("Is this a date?", "soon")
            .await
            .expect_err("a failure");
        assert!(error.to_string().contains("llm_server_error"), "{error}");
        assert_eq!(*usage.lock().expect("the usage log"), ["llm_server_error"]);
        mock.script([Reply::Text("perhaps".into())]);
        assert!(ai.check("Is this a date?", "soon").await.is_err());
        mock.stop().await;
    }
}
