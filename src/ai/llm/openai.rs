//! OpenAI's Chat Completions, as OpenAI, llama.cpp's server and vLLM serve it:
//! `POST {base}/chat/completions` with `Authorization: Bearer <key>`. The system prompt is the
//! first message; tool calls carry their arguments as a JSON *string*; each tool result is a
//! `tool` message quoting the call's id.

use super::{
    decimal, join, ChatMessage, ChatRequest, ChatResponse, LlmConfig, LlmError, StopReason,
    ToolCall, Usage,
};
use serde::Deserialize;
use serde_json::{json, Value};

const PATH: &str = "/chat/completions";

/// The completions URL under `base_url` (`https://api.openai.com/v1`).
pub fn endpoint(base_url: &str) -> String {
    join(base_url, PATH)
}

/// The request body. Chat Completions has no error flag on a tool result, so a failed call's
/// result is sent as `Error: <content>` for the model to see.
pub fn request_body(config: &LlmConfig, request: &ChatRequest) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    messages.extend(request.messages.iter().map(message));
    let mut body = json!({
        "model": config.model,
        "messages": messages,
        "max_tokens": request.max_tokens.unwrap_or(config.max_tokens),
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    }
                })
            })
            .collect();
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = decimal(temperature);
    }
    body
}

fn message(message: &ChatMessage) -> Value {
    match message {
        ChatMessage::User(text) => json!({"role": "user", "content": text}),
        ChatMessage::Assistant { text, tool_calls } => {
            let mut wire = json!({"role": "assistant", "content": text});
            if !tool_calls.is_empty() {
                wire["tool_calls"] = tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments.to_string()},
                        })
                    })
                    .collect();
            }
            wire
        }
        ChatMessage::ToolResult {
            call_id,
            content,
            is_error,
        } => {
            let content = if *is_error {
                format!("Error: {content}")
            } else {
                content.clone()
            };
            json!({"role": "tool", "tool_call_id": call_id, "content": content})
        }
    }
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    /// JSON text, as the model wrote it: it may not parse.
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct CompletionUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// Reads a 2xx answer: the first choice, its tool calls (whose arguments must be a JSON
/// object; empty arguments read as `{}`) and the usage (zeros when absent). Empty text reads
/// as none; a missing `finish_reason` is taken from whether the model called tools.
pub fn parse_response(body: &[u8]) -> Result<ChatResponse, LlmError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|error| LlmError::BadResponse(format!("not a chat completion: {error}")))?;
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(LlmError::BadResponse(
            "the completion has no choices".into(),
        ));
    };
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(tool_call)
        .collect::<Result<Vec<_>, _>>()?;
    let stop = match choice.finish_reason.as_deref() {
        Some("stop") => StopReason::EndTurn,
        Some("tool_calls") => StopReason::ToolUse,
        Some("length") => StopReason::MaxTokens,
        Some(other) => StopReason::Other(other.to_owned()),
        None if tool_calls.is_empty() => StopReason::EndTurn,
        None => StopReason::ToolUse,
    };
    let usage = completion.usage.map_or_else(Usage::default, |usage| Usage {
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
    });
    Ok(ChatResponse {
        text: choice.message.content.filter(|text| !text.is_empty()),
        tool_calls,
        usage,
        stop,
    })
}

fn tool_call(call: WireToolCall) -> Result<ToolCall, LlmError> {
    let WireToolCall { id, function } = call;
    let arguments = if function.arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(&function.arguments).map_err(|error| {
            LlmError::BadResponse(format!(
                "the arguments of tool call {id} ({}) are not JSON: {error}",
                function.name
            ))
        })?
    };
    if !arguments.is_object() {
        return Err(LlmError::BadResponse(format!(
            "the arguments of tool call {id} ({}) are not a JSON object",
            function.name
        )));
    }
    Ok(ToolCall {
        id,
        name: function.name,
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, client, lookup_booking, started_mock, KEY, WAIT};
    use super::super::{LlmConfig, Provider, ToolSpec};
    use super::*;
    use crate::mock::llm::Reply;
    use secrecy::SecretString;
    use std::time::Duration;

    fn config() -> LlmConfig {
        LlmConfig::new(Provider::OpenAi, SecretString::from(KEY), "gpt-test")
    }

    fn booking_call() -> ToolCall {
        ToolCall {
            id: "call_1".into(),
            name: "lookup_booking".into(),
            arguments: json!({"reference": "ABC123"}),
        }
    }

    #[test]
    fn a_conversation_with_tools_maps_to_chat_completions_json() {
        let request = ChatRequest {
            system: "You are the front desk.".into(),
            messages: vec![
                ChatMessage::User("Is ABC123 confirmed?".into()),
                ChatMessage::Assistant {
                    text: None,
                    tool_calls: vec![booking_call()],
                },
                ChatMessage::ToolResult {
                    call_id: "call_1".into(),
                    content: "not found".into(),
                    is_error: true,
                },
                ChatMessage::Assistant {
                    text: Some("I cannot find it.".into()),
                    tool_calls: Vec::new(),
                },
            ],
            tools: vec![lookup_booking()],
            max_tokens: Some(200),
            temperature: Some(0.2),
        };
        let expected = json!({
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "You are the front desk."},
                {"role": "user", "content": "Is ABC123 confirmed?"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_booking", "arguments": "{\"reference\":\"ABC123\"}"}
                }]},
                {"role": "tool", "tool_call_id": "call_1", "content": "Error: not found"},
                {"role": "assistant", "content": "I cannot find it."}
            ],
            "tools": [{"type": "function", "function": {
                "name": "lookup_booking",
                "description": "Finds a booking by its reference",
                "parameters": lookup_booking().parameters
            }}],
            "max_tokens": 200,
            "temperature": 0.2
        });
        assert_eq!(request_body(&config(), &request), expected);
    }

    #[test]
    fn a_request_without_system_or_tools_leaves_them_out() {
        let request = ChatRequest {
            messages: vec![ChatMessage::User("Hi".into())],
            ..ChatRequest::default()
        };
        let expected = json!({
            "model": "gpt-test",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 1024
        });
        assert_eq!(request_body(&config(), &request), expected);
    }

    #[track_caller]
    fn check(answer: &Value, expected: &Result<ChatResponse, &str>) {
        let parsed = parse_response(answer.to_string().as_bytes()).map_err(|error| error.code());
        assert_eq!(&parsed, expected, "{answer}");
    }

    fn answer(message: &Value, finish_reason: &Value) -> Value {
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        })
    }

    #[test]
    fn answers_map_from_chat_completions_json() {
        let usage = Usage {
            input_tokens: 12,
            output_tokens: 3,
        };
        let text = |text: &str, stop: StopReason| ChatResponse {
            text: Some(text.into()),
            tool_calls: Vec::new(),
            usage,
            stop,
        };
        check(
            &answer(
                &json!({"role": "assistant", "content": "Yes."}),
                &json!("stop"),
            ),
            &Ok(text("Yes.", StopReason::EndTurn)),
        );
        check(
            &answer(
                &json!({"role": "assistant", "content": "Ye"}),
                &json!("length"),
            ),
            &Ok(text("Ye", StopReason::MaxTokens)),
        );
        check(
            &answer(
                &json!({"role": "assistant", "content": "No."}),
                &json!("content_filter"),
            ),
            &Ok(text("No.", StopReason::Other("content_filter".into()))),
        );
        let call = json!({"id": "call_1", "type": "function",
            "function": {"name": "lookup_booking", "arguments": "{\"reference\":\"ABC123\"}"}});
        let called = ChatResponse {
            text: None,
            tool_calls: vec![booking_call()],
            usage,
            stop: StopReason::ToolUse,
        };
        check(
            &answer(
                &json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                &json!("tool_calls"),
            ),
            &Ok(called.clone()),
        );
        check(
            &answer(
                &json!({"role": "assistant", "content": "", "tool_calls": [call]}),
                &Value::Null,
            ),
            &Ok(called),
        );
    }

    #[test]
    fn missing_usage_counts_zero_and_empty_arguments_are_an_empty_object() {
        let answer = json!({"choices": [{"message": {"content": null, "tool_calls": [
            {"id": "call_2", "type": "function", "function": {"name": "ping", "arguments": ""}}
        ]}, "finish_reason": "tool_calls"}]});
        let parsed = parse_response(answer.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.usage, Usage::default());
        assert_eq!(parsed.tool_calls[0].arguments, json!({}));
    }

    #[test]
    fn unreadable_answers_are_bad_responses() {
        let call = |arguments: &str| {
            answer(
                &json!({"content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "lookup_booking", "arguments": arguments}}]}),
                &json!("tool_calls"),
            )
        };
        check(&call("{\"reference\": \"ABC"), &Err("llm_bad_response"));
        check(&call("[\"ABC123\"]"), &Err("llm_bad_response"));
        check(&json!({"choices": []}), &Err("llm_bad_response"));
        check(&json!({"object": "list"}), &Err("llm_bad_response"));
    }

    #[actix_web::test]
    async fn a_text_answer_comes_back_with_its_usage() {
        let mock = started_mock();
        mock.script([Reply::Text("Breakfast is served from seven.".into())]);
        let llm = client(Provider::OpenAi, &mock, KEY, WAIT, 0);

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
        assert_eq!(
            received[0].content_type.as_deref(),
            Some("application/json")
        );
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
        let llm = client(Provider::OpenAi, &mock, KEY, WAIT, 0);
        let mut request = ChatRequest {
            tools: vec![lookup_booking()],
            ..ask("Is ABC123 confirmed?")
        };

        let first = llm.chat(&request).await.unwrap();
        assert_eq!(first.stop, StopReason::ToolUse);
        let call = first.tool_calls[0].clone();
        assert!(call.id.starts_with("call_"), "{}", call.id);
        assert_eq!(call.arguments, json!({"reference": "ABC123"}));
        request.messages.push(first.to_message());
        request.messages.push(ChatMessage::ToolResult {
            call_id: call.id.clone(),
            content: r#"{"status":"confirmed"}"#.into(),
            is_error: false,
        });
        let second = llm.chat(&request).await.unwrap();

        assert_eq!(second.text.as_deref(), Some("Your booking is confirmed."));
        assert_eq!(second.stop, StopReason::EndTurn);
        let received = mock.requests();
        assert_eq!(received.len(), 2);
        assert_eq!(received[1].status, 200);
        let messages = &received[1].body["messages"];
        assert_eq!(messages[2]["role"], "assistant");
        assert_eq!(messages[2]["tool_calls"][0]["id"], call.id.as_str());
        let arguments = messages[2]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(arguments).unwrap(),
            call.arguments
        );
        assert_eq!(
            messages[3],
            json!({"role": "tool", "tool_call_id": call.id, "content": "{\"status\":\"confirmed\"}"})
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
        let llm = client(Provider::OpenAi, &mock, KEY, WAIT, 3);

        let response = llm.chat(&ask("Hello")).await.unwrap();

        assert_eq!(response.text.as_deref(), Some("Done."));
        let received = mock.requests();
        let statuses: Vec<u16> = received.iter().map(|request| request.status).collect();
        assert_eq!(statuses, [500, 429, 200]);
        assert!(received[2].at - received[1].at >= Duration::from_secs(1));
    }

    #[actix_web::test]
    async fn a_wrong_key_fails_at_once_as_unauthorized() {
        let mock = started_mock();
        let llm = client(Provider::OpenAi, &mock, "sk-wrong-key-1234", WAIT, 3);

        let error = llm.chat(&ask("Hello")).await.unwrap_err();

        assert_eq!(error.code(), "llm_unauthorized");
        assert!(error.to_string().contains("Incorrect API key"), "{error}");
        assert!(!error.to_string().contains("sk-wrong-key"), "{error}");
        assert_eq!(mock.requests().len(), 1);
    }

    #[actix_web::test]
    async fn a_key_a_header_cannot_carry_is_not_sent() {
        let mock = started_mock();
        let llm = client(Provider::OpenAi, &mock, "line\nbreak", WAIT, 3);

        let error = llm.chat(&ask("Hello")).await.unwrap_err();

        assert_eq!(error.code(), "llm_unauthorized");
        assert!(mock.requests().is_empty());
    }

    #[actix_web::test]
    async fn an_answer_slower_than_the_timeout_fails_as_a_timeout() {
        let mock = started_mock();
        mock.script([Reply::Delay(Duration::from_secs(5))]);
        let llm = client(Provider::OpenAi, &mock, KEY, Duration::from_millis(300), 0);

        let error = llm.chat(&ask("Hello")).await.unwrap_err();

        assert_eq!(error.code(), "llm_timeout");
        assert_eq!(mock.wait_for_requests(1, WAIT).await.len(), 1);
    }

    #[actix_web::test]
    async fn malformed_tool_arguments_are_a_bad_response() {
        let mock = started_mock();
        let body = answer(
            &json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                "type": "function", "function": {"name": "lookup_booking", "arguments": "{\"ref"}}]}),
            &json!("tool_calls"),
        );
        mock.script([Reply::Raw {
            status: 200,
            body: body.to_string(),
        }]);
        let llm = client(Provider::OpenAi, &mock, KEY, WAIT, 3);

        let error = llm.chat(&ask("Hello")).await.unwrap_err();

        assert_eq!(error.code(), "llm_bad_response");
        assert_eq!(mock.requests().len(), 1);
    }

    #[actix_web::test]
    async fn a_rejected_request_carries_the_providers_message() {
        let mock = started_mock();
        let llm = client(Provider::OpenAi, &mock, KEY, WAIT, 3);
        let request = ChatRequest {
            messages: vec![
                ChatMessage::User("Hi".into()),
                ChatMessage::ToolResult {
                    call_id: "call_unknown".into(),
                    content: "{}".into(),
                    is_error: false,
                },
            ],
            tools: vec![ToolSpec {
                name: "ping".into(),
                description: String::new(),
                parameters: json!({"type": "object"}),
            }],
            ..ChatRequest::default()
        };

        let error = llm.chat(&request).await.unwrap_err();

        assert_eq!(error.code(), "llm_rejected");
        assert!(
            error.to_string().contains("invalid_request_error: Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls'"),
            "{error}"
        );
        assert_eq!(mock.requests().len(), 1);
    }
}
