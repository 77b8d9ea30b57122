//! Anthropic's Messages: `POST {base}/v1/messages` with `x-api-key` and `anthropic-version`.
//! The system prompt is a field of its own, `max_tokens` is required, and messages are lists of
//! content blocks whose roles alternate: tool calls are `tool_use` blocks of the assistant and
//! their results are `tool_result` blocks of the next user message.

use super::{
    decimal, join, ChatMessage, ChatRequest, ChatResponse, LlmConfig, LlmError, StopReason,
    ToolCall, Usage,
};
use serde::Deserialize;
use serde_json::{json, Value};

const PATH: &str = "/v1/messages";
/// The API version Parley speaks, sent as `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";

/// The messages URL under `base_url` (`https://api.anthropic.com`).
pub fn endpoint(base_url: &str) -> String {
    join(base_url, PATH)
}

pub fn request_body(config: &LlmConfig, request: &ChatRequest) -> Value {
    let mut body = json!({
        "model": config.model,
        "max_tokens": request.max_tokens.unwrap_or(config.max_tokens),
        "messages": messages(&request.messages),
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                })
            })
            .collect();
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = decimal(temperature);
    }
    body
}

/// The conversation as Anthropic's turns. The API wants roles to alternate, so consecutive
/// messages of one role become one message: the results of one round of tool calls travel
/// together in one user message, ahead of any text the user adds. Empty text is left out, as
/// the API refuses empty text blocks.
pub fn messages(messages: &[ChatMessage]) -> Vec<Value> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in messages {
        let (role, blocks): (&'static str, Vec<Value>) = match message {
            ChatMessage::User(text) => ("user", vec![json!({"type": "text", "text": text})]),
            ChatMessage::Assistant { text, tool_calls } => {
                let text = text
                    .iter()
                    .filter(|text| !text.is_empty())
                    .map(|text| json!({"type": "text", "text": text}));
                let calls = tool_calls.iter().map(|call| {
                    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
                });
                ("assistant", text.chain(calls).collect())
            }
            ChatMessage::ToolResult {
                call_id,
                content,
                is_error,
            } => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": call_id,
                    "content": content,
                    "is_error": is_error,
                })],
            ),
        };
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

#[derive(Deserialize)]
struct Message {
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<MessageUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// Thinking and other blocks Parley does not use.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    /// Input read from or written to the prompt cache, counted apart from `input_tokens`.
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

/// Reads a 2xx answer: text blocks joined (they are pieces of one text), `tool_use` blocks
/// (whose input must be a JSON object), the stop reason and the usage, cached input included.
pub fn parse_response(body: &[u8]) -> Result<ChatResponse, LlmError> {
    let message: Message = serde_json::from_slice(body)
        .map_err(|error| LlmError::BadResponse(format!("not a message: {error}")))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in message.content {
        match block {
            Block::Text { text: piece } => text.push_str(&piece),
            Block::ToolUse { id, name, input } if input.is_object() => tool_calls.push(ToolCall {
                id,
                name,
                arguments: input,
            }),
            Block::ToolUse { id, name, .. } => {
                return Err(LlmError::BadResponse(format!(
                    "the input of tool call {id} ({name}) is not a JSON object"
                )))
            }
            Block::Other => {}
        }
    }
    let stop = match message.stop_reason.as_deref() {
        Some("end_turn") => StopReason::EndTurn,
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") => StopReason::MaxTokens,
        Some(other) => StopReason::Other(other.to_owned()),
        None if tool_calls.is_empty() => StopReason::EndTurn,
        None => StopReason::ToolUse,
    };
    let usage = message.usage.map_or_else(Usage::default, |usage| Usage {
        input_tokens: usage.input_tokens
            + usage.cache_creation_input_tokens.unwrap_or(0)
            + usage.cache_read_input_tokens.unwrap_or(0),
        output_tokens: usage.output_tokens,
    });
    Ok(ChatResponse {
        text: (!text.is_empty()).then_some(text),
        tool_calls,
        usage,
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, client, lookup_booking, started_mock, KEY, WAIT};
    use super::super::{LlmConfig, Provider};
    use super::*;
    use crate::mock::llm::Reply;
    use secrecy::SecretString;
    use std::time::Duration;

    fn config() -> LlmConfig {
        LlmConfig::new(Provider::Anthropic, SecretString::from(KEY), "claude-test")
    }

    fn call(id: &str, reference: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "lookup_booking".into(),
            arguments: json!({"reference": reference}),
        }
    }

    fn result(call_id: &str, content: &str, is_error: bool) -> ChatMessage {
        ChatMessage::ToolResult {
            call_id: call_id.into(),
            content: content.into(),
            is_error,
        }
    }

    #[test]
    fn a_conversation_with_tools_maps_to_messages_json() {
        let request = ChatRequest {
            system: "You are the front desk.".into(),
            messages: vec![
                ChatMessage::User("Is ABC123 confirmed?".into()),
                ChatMessage::Assistant {
                    text: Some("Let me look.".into()),
                    tool_calls: vec![call("toolu_1", "ABC123")],
                },
                result("toolu_1", "confirmed", false),
            ],
            tools: vec![lookup_booking()],
            max_tokens: None,
            temperature: Some(0.7),
        };
        let expected = json!({
            "model": "claude-test",
            "max_tokens": 1024,
            "system": "You are the front desk.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Is ABC123 confirmed?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup_booking", "input": {"reference": "ABC123"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "confirmed", "is_error": false}
                ]}
            ],
            "tools": [{
                "name": "lookup_booking",
                "description": "Finds a booking by its reference",
                "input_schema": lookup_booking().parameters
            }],
            "temperature": 0.7
        });
        assert_eq!(request_body(&config(), &request), expected);
    }

    #[test]
    fn consecutive_tool_results_merge_into_one_user_message() {
        let conversation = [
            ChatMessage::User("Check ABC and XYZ".into()),
            ChatMessage::Assistant {
                text: Some(String::new()),
                tool_calls: vec![call("toolu_1", "ABC"), call("toolu_2", "XYZ")],
            },
            result("toolu_1", "confirmed", false),
            result("toolu_2", "no such booking", true),
            ChatMessage::User("And breakfast?".into()),
        ];
        let roles_and_blocks: Vec<(String, Vec<String>)> = messages(&conversation)
            .iter()
            .map(|message| {
                let blocks = message["content"].as_array().unwrap();
                let kinds = blocks
                    .iter()
                    .map(|block| block["type"].as_str().unwrap().to_owned());
                (
                    message["role"].as_str().unwrap().to_owned(),
                    kinds.collect(),
                )
            })
            .collect();
        let expected = [
            ("user", vec!["text"]),
            ("assistant", vec!["tool_use", "tool_use"]),
            ("user", vec!["tool_result", "tool_result", "text"]),
        ]
        .map(|(role, kinds)| {
            (
                role.to_owned(),
                kinds.into_iter().map(String::from).collect(),
            )
        });
        assert_eq!(roles_and_blocks, expected);
        let merged = &messages(&conversation)[2]["content"];
        assert_eq!(merged[1]["tool_use_id"], "toolu_2");
        assert_eq!(merged[1]["is_error"], true);
    }

    #[track_caller]
    fn check(answer: &Value, expected: &Result<ChatResponse, &str>) {
        let parsed = parse_response(answer.to_string().as_bytes()).map_err(|error| error.code());
        assert_eq!(&parsed, expected, "{answer}");
    }

    fn answer(content: &Value, stop_reason: &str) -> Value {
        json!({
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {"input_tokens": 20, "output_tokens": 4, "cache_read_input_tokens": 100}
        })
    }

    #[test]
    fn answers_map_from_messages_json() {
        let usage = Usage {
            input_tokens: 120,
            output_tokens: 4,
        };
        check(
            &answer(
                &json!([{"type": "text", "text": "Yes, "}, {"type": "text", "text": "it is."}]),
                "end_turn",
            ),
            &Ok(ChatResponse {
                text: Some("Yes, it is.".into()),
                tool_calls: Vec::new(),
                usage,
                stop: StopReason::EndTurn,
            }),
        );
        check(
            &answer(
                &json!([
                    {"type": "thinking", "thinking": "…", "signature": "s"},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup_booking", "input": {"reference": "ABC"}}
                ]),
                "tool_use",
            ),
            &Ok(ChatResponse {
                text: None,
                tool_calls: vec![call("toolu_1", "ABC")],
                usage,
                stop: StopReason::ToolUse,
            }),
        );
        for (stop_reason, stop) in [
            ("max_tokens", StopReason::MaxTokens),
            ("stop_sequence", StopReason::Other("stop_sequence".into())),
        ] {
            check(
                &answer(&json!([{"type": "text", "text": "Ye"}]), stop_reason),
                &Ok(ChatResponse {
                    text: Some("Ye".into()),
                    tool_calls: Vec::new(),
                    usage,
                    stop,
                }),
            );
        }
    }

    #[test]
    fn unreadable_answers_are_bad_responses() {
        let tool_use = |input: Value| {
            answer(
                &json!([{"type": "tool_use", "id": "toolu_1", "name": "lookup_booking", "input": input}]),
                "tool_use",
            )
        };
        check(
            &tool_use(json!("{\"reference\": \"AB")),
            &Err("llm_bad_response"),
        );
        check(&json!({"type": "message"}), &Err("llm_bad_response"));
    }

    #[actix_web::test]
    async fn a_text_answer_comes_back_with_its_usage() {
        let mock = started_mock();
        mock.script([Reply::Text("Breakfast is served from seven.".into())]);
        let llm = client(Provider::Anthropic, &mock, KEY, WAIT, 0);

        let response = llm.chat(&ask("When is breakfast?")).await.unwrap();

        assert_eq!(
            response,
            ChatResponse {
                text: Some("Breakfast is served from seven.".into()),
                tool_calls: Vec::new(),
                // The mock counts words: five of the system prompt, three of the question.
                usage: Usage {
                    input_tokens: 8,
                    output_tokens: 5
                },
                stop: StopReason::EndTurn,
            }
        );
        let received = mock.requests();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].api_key.as_deref(), Some(KEY));
        assert_eq!(received[0].anthropic_version.as_deref(), Some(API_VERSION));
        assert_eq!(received[0].body["max_tokens"], 1024);
    }

    #[actix_web::test]
    async fn a_tool_call_round_trip_sends_a_well_formed_follow_up() {
        let mock = started_mock();
        mock.script([
            Reply::ToolCall {
                name: "lookup_booking".into(),
                arguments: json!({"reference": "ABC123"}),
            },
            Reply::Text("Your booking is confirmed.".into()),
        ]);
        let llm = client(Provider::Anthropic, &mock, KEY, WAIT, 0);
        let mut request = ChatRequest {
            tools: vec![lookup_booking()],
            ..ask("Is ABC123 confirmed?")
        };

        let first = llm.chat(&request).await.unwrap();
        assert_eq!(first.stop, StopReason::ToolUse);
        let tool_call = first.tool_calls[0].clone();
        assert!(tool_call.id.starts_with("toolu_"), "{}", tool_call.id);
        assert_eq!(tool_call.arguments, json!({"reference": "ABC123"}));
        request.messages.push(first.to_message());
        request
            .messages
            .push(result(&tool_call.id, "confirmed", false));
        let second = llm.chat(&request).await.unwrap();

        assert_eq!(second.text.as_deref(), Some("Your booking is confirmed."));
        assert_eq!(second.stop, StopReason::EndTurn);
        let received = mock.requests();
        assert_eq!(received.len(), 2);
        assert_eq!(received[1].status, 200);
        let messages = &received[1].body["messages"];
        assert_eq!(
            messages[1],
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": tool_call.id,
                "name": "lookup_booking", "input": {"reference": "ABC123"}}]})
        );
        assert_eq!(
            messages[2],
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_call.id,
                "content": "confirmed", "is_error": false}]})
        );
    }

    #[actix_web::test]
    async fn server_errors_and_throttling_are_retried_honouring_retry_after() {
        let mock = started_mock();
        mock.script([
            Reply::Status {
                status: 500,
                retry_after_secs: None,
            },
            Reply::Status {
                status: 429,
                retry_after_secs: Some(1),
            },
            Reply::Text("Done.".into()),
        ]);
        let llm = client(Provider::Anthropic, &mock, KEY, WAIT, 3);

        let response = llm.chat(&ask("Hello")).await.unwrap();

        assert_eq!(response.text.as_deref(), Some("Done."));
        let received = mock.requests();
        let statuses: Vec<u16> = received.iter().map(|request| request.status).collect();
        assert_eq!(statuses, [500, 429, 200]);
        assert!(received[2].at - received[1].at >= Duration::from_secs(1));
    }

    #[actix_web::test]
    async fn overload_that_outlasts_the_retries_is_a_server_error() {
        let mock = started_mock();
        let overloaded = Reply::Status {
            status: 529,
            retry_after_secs: None,
        };
        mock.script([overloaded.clone(), overloaded]);
        let llm = client(Provider::Anthropic, &mock, KEY, WAIT, 1);

        let error = llm.chat(&ask("Hello")).await.unwrap_err();

        assert_eq!(error.code(), "llm_server_error");
        assert!(
            error
                .to_string()
                .contains("HTTP 529 (attempts: 2): overloaded_error"),
            "{error}"
        );
        assert_eq!(mock.requests().len(), 2);
    }

    #[actix_web::test]
    async fn a_wrong_key_fails_at_once_as_unauthorized() {
        let mock = started_mock();
        let llm = client(Provider::Anthropic, &mock, "wrong-key", WAIT, 3);

        let error = llm.chat(&ask("Hello")).await.unwrap_err();

        assert_eq!(error.code(), "llm_unauthorized");
        assert!(
            error
                .to_string()
                .contains("(HTTP 401): authentication_error: invalid x-api-key"),
            "{error}"
        );
        assert_eq!(mock.requests().len(), 1);
    }

    #[actix_web::test]
    async fn an_answer_slower_than_the_timeout_fails_as_a_timeout() {
        let mock = started_mock();
        mock.script([Reply::Delay(Duration::from_secs(5))]);
        let llm = client(
            Provider::Anthropic,
            &mock,
            KEY,
            Duration::from_millis(300),
            0,
        );

        let error = llm.chat(&ask("Hello")).await.unwrap_err();

        assert_eq!(error.code(), "llm_timeout");
        assert_eq!(mock.wait_for_requests(1, WAIT).await.len(), 1);
    }

    #[actix_web::test]
    async fn malformed_tool_input_is_a_bad_response() {
        let mock = started_mock();
        let body = answer(
            &json!([{"type": "tool_use", "id": "toolu_1", "name": "lookup_booking", "input": "{\"ref"}]),
            "tool_use",
        );
        mock.script([Reply::Raw {
            status: 200,
            body: body.to_string(),
        }]);
        let llm = client(Provider::Anthropic, &mock, KEY, WAIT, 3);

        let error = llm.chat(&ask("Hello")).await.unwrap_err();

        assert_eq!(error.code(), "llm_bad_response");
        assert_eq!(mock.requests().len(), 1);
    }

    #[actix_web::test]
    async fn a_tool_result_for_an_unknown_call_is_rejected_with_the_providers_message() {
        let mock = started_mock();
        let llm = client(Provider::Anthropic, &mock, KEY, WAIT, 3);
        let request = ChatRequest {
            messages: vec![
                ChatMessage::User("Is ABC123 confirmed?".into()),
                ChatMessage::Assistant {
                    text: None,
                    tool_calls: vec![call("toolu_1", "ABC123")],
                },
                result("toolu_2", "confirmed", false),
            ],
            tools: vec![lookup_booking()],
            ..ChatRequest::default()
        };

        let error = llm.chat(&request).await.unwrap_err();

        assert_eq!(error.code(), "llm_rejected");
        assert!(
            error
                .to_string()
                .contains("invalid_request_error: messages.2.content.0: unexpected `tool_use_id`"),
            "{error}"
        );
        assert_eq!(mock.requests().len(), 1);
    }
}
