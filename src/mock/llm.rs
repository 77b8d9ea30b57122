//! A mock of two LLM chat APIs on one loopback port: OpenAI's Chat Completions
//! (`POST /v1/chat/completions`) and Anthropic's Messages (`POST /v1/messages`). Like the real
//! APIs it checks the key (401), validates the body (400 `invalid_request_error`, tool results
//! included) and answers in the protocol's own shapes and error envelopes. Answers come from a
//! script — text, tool calls with ids in each protocol's style, error statuses with
//! `Retry-After`, delays, raw bodies — and usage counts whitespace-separated words. Every
//! request is recorded, with the status it was answered with.

use crate::ai::llm::Provider;
use actix_web::dev::ServerHandle;
use actix_web::http::header::{self, HeaderName};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The answer to a valid request when the script is empty.
pub const DEFAULT_REPLY: &str = "This is the mock model answering.";

/// A scripted answer, taken in order by the requests that pass the key check.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A text answer, cut to the request's `max_tokens` words (stop reason `length` or
    /// `max_tokens`).
    Text(String),
    /// A call of one tool, with an id the mock invents (`call_…` or `toolu_…`).
    ToolCall { name: String, arguments: Value },
    /// An error in the protocol's envelope, whatever the body: 429 throttled, 500 server
    /// error, 529 overloaded, and so on.
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Waits this long, then answers with the next reply.
    Delay(Duration),
    /// This status and JSON body as they are, whatever the request.
    Raw { status: u16, body: String },
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub at: Instant,
    pub protocol: Provider,
    /// The key sent: `Authorization: Bearer` for OpenAI, `x-api-key` for Anthropic.
    pub api_key: Option<String>,
    pub anthropic_version: Option<String>,
    pub content_type: Option<String>,
    /// The body, or `Null` when it is not JSON.
    pub body: Value,
    /// The status the mock answered (or, during a delay, will answer) with.
    pub status: u16,
}

#[derive(Default)]
struct State {
    keys: Mutex<HashSet<String>>,
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<ReceivedRequest>>,
    changed: Notify,
    next_id: AtomicU64,
}

pub struct MockLlm {
    url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl MockLlm {
    /// Starts the mock on a free loopback port, inside the current actix system. No key is
    /// accepted until [`MockLlm::add_key`].
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(State::default());
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(chat_completions))
                .route("/v1/messages", web::post().to(messages))
        })
        .listen(listener)?
        .workers(1)
        .shutdown_timeout(1)
        .disable_signals()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(Self { url, state, handle })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The base URL an OpenAI client takes: `{url}/v1`.
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.url)
    }

    /// The base URL an Anthropic client takes: `{url}`.
    pub fn anthropic_base_url(&self) -> String {
        self.url.clone()
    }

    /// Accepts `key` from now on, in either protocol.
    pub fn add_key(&self, key: &str) {
        lock(&self.state.keys).insert(key.to_owned());
    }

    /// Queues replies for the next requests, in order; afterwards the default text answers.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state.replies).extend(replies);
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.state.received).clone()
    }

    /// Waits until at least `count` requests arrived, or `timeout` passed; returns them all.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.requests();
            }
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        // The stop command is sent at once; nobody needs to await its completion here.
        drop(self.handle.stop(false));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the mock answers one request with.
struct Answer {
    status: u16,
    body: String,
    retry_after_secs: Option<u64>,
}

impl Answer {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            retry_after_secs: None,
        }
    }

    fn response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = HttpResponse::build(status);
        response.content_type("application/json");
        if let Some(seconds) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.body(self.body)
    }
}

/// The headers the mock looks at.
struct Headers {
    api_key: Option<String>,
    anthropic_version: Option<String>,
    content_type: Option<String>,
}

impl Headers {
    fn read(protocol: Provider, request: &HttpRequest) -> Self {
        let text = |name: HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let api_key = match protocol {
            Provider::OpenAi => text(header::AUTHORIZATION)
                .and_then(|value| value.strip_prefix("Bearer ").map(str::to_owned)),
            Provider::Anthropic => text(HeaderName::from_static("x-api-key")),
        };
        Self {
            api_key,
            anthropic_version: text(HeaderName::from_static("anthropic-version")),
            content_type: text(header::CONTENT_TYPE),
        }
    }
}

async fn chat_completions(
    state: web::Data<State>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    serve(&state, Provider::OpenAi, &request, &body).await
}

async fn messages(state: web::Data<State>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    serve(&state, Provider::Anthropic, &request, &body).await
}

/// Decides, records, waits if the script says so, and answers. The record comes first, so a
/// client that gives up during a delay still leaves its request behind.
async fn serve(
    state: &State,
    protocol: Provider,
    request: &HttpRequest,
    body: &[u8],
) -> HttpResponse {
    let headers = Headers::read(protocol, request);
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let (delay, answer) = decide(state, protocol, &headers, parsed.as_ref());
    lock(&state.received).push(ReceivedRequest {
        at: Instant::now(),
        protocol,
        api_key: headers.api_key,
        anthropic_version: headers.anthropic_version,
        content_type: headers.content_type,
        body: parsed.unwrap_or(Value::Null),
        status: answer.status,
    });
    state.changed.notify_waiters();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    answer.response()
}

/// The delay and the answer for one request: the key, then scripted delays and failures,
/// then the body's validity, then the scripted (or default) reply.
fn decide(
    state: &State,
    protocol: Provider,
    headers: &Headers,
    body: Option<&Value>,
) -> (Duration, Answer) {
    if let Some(refused) = check_key(state, protocol, headers.api_key.as_deref()) {
        return (Duration::ZERO, refused);
    }
    let mut replies = lock(&state.replies);
    let mut delay = Duration::ZERO;
    while let Some(&Reply::Delay(wait)) = replies.front() {
        delay += wait;
        replies.pop_front();
    }
    match replies.front() {
        Some(Reply::Status {
            status,
            retry_after_secs,
        }) => {
            let mut answer = scripted_error(protocol, *status);
            answer.retry_after_secs = *retry_after_secs;
            replies.pop_front();
            return (delay, answer);
        }
        Some(Reply::Raw { status, body }) => {
            let answer = Answer {
                status: *status,
                body: body.clone(),
                retry_after_secs: None,
            };
            replies.pop_front();
            return (delay, answer);
        }
        _ => {}
    }
    let checked = match protocol {
        Provider::OpenAi => openai::validate(body),
        Provider::Anthropic => anthropic::validate(headers, body),
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(message) => return (delay, invalid_request(protocol, &message)),
    };
    let reply = replies
        .pop_front()
        .unwrap_or_else(|| Reply::Text(DEFAULT_REPLY.into()));
    drop(replies);
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    (delay, render(protocol, id, &checked, reply))
}

fn check_key(state: &State, protocol: Provider, key: Option<&str>) -> Option<Answer> {
    if key.is_some_and(|key| lock(&state.keys).contains(key)) {
        return None;
    }
    Some(match (protocol, key) {
        (Provider::OpenAi, None) => openai::error(
            401,
            "invalid_request_error",
            None,
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        ),
        (Provider::OpenAi, Some(key)) => openai::error(
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
            &format!("Incorrect API key provided: {}.", mask(key)),
        ),
        (Provider::Anthropic, None) => {
            anthropic::error(401, "authentication_error", "x-api-key header is required")
        }
        (Provider::Anthropic, Some(_)) => {
            anthropic::error(401, "authentication_error", "invalid x-api-key")
        }
    })
}

/// A key as OpenAI quotes a wrong one: only its last four characters.
fn mask(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("***{tail}")
}

fn invalid_request(protocol: Provider, message: &str) -> Answer {
    match protocol {
        Provider::OpenAi => openai::error(400, "invalid_request_error", None, message),
        Provider::Anthropic => anthropic::error(400, "invalid_request_error", message),
    }
}

fn scripted_error(protocol: Provider, status: u16) -> Answer {
    match protocol {
        Provider::OpenAi => {
            let (kind, code, message) = match status {
                400 => ("invalid_request_error", None, "Invalid request."),
                401 => (
                    "invalid_request_error",
                    Some("invalid_api_key"),
                    "Incorrect API key provided.",
                ),
                403 => (
                    "invalid_request_error",
                    Some("unsupported_country_region_territory"),
                    "Country, region, or territory not supported.",
                ),
                404 => (
                    "invalid_request_error",
                    Some("model_not_found"),
                    "The model does not exist or you do not have access to it.",
                ),
                429 => (
                    "requests",
                    Some("rate_limit_exceeded"),
                    "Rate limit reached for requests. Please try again later.",
                ),
                503 | 529 => (
                    "server_error",
                    None,
                    "The engine is currently overloaded, please try again later.",
                ),
                500..=599 => (
                    "server_error",
                    None,
                    "The server had an error while processing your request. Sorry about that!",
                ),
                _ => (
                    "invalid_request_error",
                    None,
                    "The request was not accepted.",
                ),
            };
            openai::error(status, kind, code, message)
        }
        Provider::Anthropic => {
            let (kind, message) = match status {
                400 => ("invalid_request_error", "Invalid request."),
                401 => ("authentication_error", "invalid x-api-key"),
                403 => (
                    "permission_error",
                    "Your API key does not have permission to use the specified resource.",
                ),
                404 => (
                    "not_found_error",
                    "The requested resource could not be found.",
                ),
                413 => (
                    "request_too_large",
                    "Request exceeds the maximum allowed number of bytes.",
                ),
                429 => (
                    "rate_limit_error",
                    "Number of requests has exceeded your rate limit.",
                ),
                529 => ("overloaded_error", "Overloaded"),
                500..=599 => ("api_error", "Internal server error"),
                _ => ("invalid_request_error", "The request was not accepted."),
            };
            anthropic::error(status, kind, message)
        }
    }
}

/// What a valid request tells the answer.
struct Checked {
    model: String,
    max_tokens: Option<u64>,
    /// Words of the system prompt and the messages: the mock's input tokens.
    input_words: u64,
}

fn words(text: &str) -> u64 {
    u64::try_from(text.split_whitespace().count()).unwrap_or(u64::MAX)
}

fn render(protocol: Provider, id: u64, checked: &Checked, reply: Reply) -> Answer {
    let (text, call, cut) = match reply {
        Reply::Text(text) => {
            let limit = checked
                .max_tokens
                .and_then(|limit| usize::try_from(limit).ok())
                .unwrap_or(usize::MAX);
            if text.split_whitespace().count() > limit {
                let kept: Vec<&str> = text.split_whitespace().take(limit).collect();
                (Some(kept.join(" ")), None, true)
            } else {
                (Some(text), None, false)
            }
        }
        Reply::ToolCall { name, arguments } => (None, Some((name, arguments)), false),
        // Not reached: `decide` takes these replies before it validates the body.
        Reply::Status { .. } | Reply::Delay(_) | Reply::Raw { .. } => {
            (Some(DEFAULT_REPLY.to_owned()), None, false)
        }
    };
    let output_words = match (&text, &call) {
        (Some(text), _) => words(text),
        (None, Some((_, arguments))) => words(&arguments.to_string()),
        (None, None) => 0,
    };
    let body = match protocol {
        Provider::OpenAi => openai::answer(id, checked, text.as_deref(), call, cut, output_words),
        Provider::Anthropic => {
            anthropic::answer(id, checked, text.as_deref(), call, cut, output_words)
        }
    };
    Answer::json(200, &body)
}

/// Tool names both APIs accept: `^[a-zA-Z0-9_-]{1,64}$`.
fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A field that, when present, must be a number in `range`.
fn check_number(
    body: &Value,
    field: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Result<(), String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(value) => match value.as_f64() {
            Some(number) if range.contains(&number) => Ok(()),
            _ => Err(format!(
                "{field}: Input should be a number between {} and {}",
                range.start(),
                range.end()
            )),
        },
    }
}

mod openai {
    //! Chat Completions: validation in OpenAI's words, and its answer and error shapes.

    use super::{check_number, valid_tool_name, words, Answer, Checked};
    use serde_json::{json, Value};

    pub(super) fn error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Answer {
        Answer::json(
            status,
            &json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        )
    }

    const NOT_JSON: &str = "We could not parse the JSON body of your request. The OpenAI API \
        expects a JSON payload.";
    const NO_MESSAGES: &str = "Invalid 'messages': empty array. Expected an array with minimum \
        length 1, but got an empty array instead.";
    const NOT_A_RESPONSE: &str = "Invalid parameter: messages with role 'tool' must be a \
        response to a preceding message with 'tool_calls'.";
    const NO_TOOLS: &str = "Invalid 'tools': empty array. Expected an array with minimum length \
        1, but got an empty array instead.";

    pub(super) fn validate(body: Option<&Value>) -> Result<Checked, String> {
        let Some(body) = body.filter(|body| body.is_object()) else {
            return Err(NOT_JSON.into());
        };
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .filter(|model| !model.is_empty())
            .ok_or("you must provide a model parameter")?;
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or_else(|| missing("messages"))?;
        if messages.is_empty() {
            return Err(NO_MESSAGES.into());
        }
        let input_words = check_messages(messages)?;
        check_tools(body)?;
        let max_tokens = match body.get("max_tokens") {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.as_u64().filter(|limit| *limit >= 1).ok_or(
                "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1.",
            )?),
        };
        check_number(body, "temperature", 0.0..=2.0)?;
        Ok(Checked {
            model: model.to_owned(),
            max_tokens,
            input_words,
        })
    }

    fn missing(parameter: &str) -> String {
        format!("Missing required parameter: '{parameter}'.")
    }

    /// Checks the roles and that tool messages answer, exactly, the calls of the assistant
    /// message before them; counts the words.
    fn check_messages(messages: &[Value]) -> Result<u64, String> {
        let mut input_words = 0;
        // The calls of the latest assistant message, and those not answered yet.
        let mut answerable: Vec<&str> = Vec::new();
        let mut unanswered: Vec<&str> = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            let role = message.get("role").and_then(Value::as_str).unwrap_or("");
            if role != "tool" && !unanswered.is_empty() {
                return Err(unanswered_calls(&unanswered));
            }
            let content = message.get("content").unwrap_or(&Value::Null);
            input_words += content_words(content);
            match role {
                "system" | "developer" | "user" if content.is_null() => {
                    return Err(missing(&format!("messages[{index}].content")));
                }
                "system" | "developer" | "user" => answerable.clear(),
                "assistant" => {
                    let (calls, arguments_words) = tool_calls(index, message)?;
                    if content.is_null() && calls.is_empty() {
                        return Err(format!(
                            "Invalid value for 'messages[{index}].content': expected a string, \
                             got null."
                        ));
                    }
                    input_words += arguments_words;
                    answerable.clone_from(&calls);
                    unanswered = calls;
                }
                "tool" => {
                    let id = message
                        .get("tool_call_id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| missing(&format!("messages[{index}].tool_call_id")))?;
                    if !answerable.contains(&id) {
                        return Err(NOT_A_RESPONSE.into());
                    }
                    unanswered.retain(|call| *call != id);
                }
                other => {
                    return Err(format!(
                        "Invalid value: '{other}'. Supported values are: 'system', 'assistant', \
                         'user', 'tool', and 'developer'."
                    ))
                }
            }
        }
        if !unanswered.is_empty() {
            return Err(unanswered_calls(&unanswered));
        }
        Ok(input_words)
    }

    /// The ids of an assistant message's tool calls, and the words of their arguments.
    fn tool_calls(index: usize, message: &Value) -> Result<(Vec<&str>, u64), String> {
        let calls = message
            .get("tool_calls")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let mut ids = Vec::with_capacity(calls.len());
        let mut arguments_words = 0;
        for (position, call) in calls.iter().enumerate() {
            let at = format!("messages[{index}].tool_calls[{position}]");
            let text = |pointer: &str| call.pointer(pointer).and_then(Value::as_str);
            let id = text("/id").ok_or_else(|| missing(&format!("{at}.id")))?;
            if text("/type") != Some("function") {
                return Err(format!(
                    "Invalid value for '{at}.type': expected 'function'."
                ));
            }
            text("/function/name").ok_or_else(|| missing(&format!("{at}.function.name")))?;
            let arguments = text("/function/arguments").ok_or_else(|| {
                format!("Invalid type for '{at}.function.arguments': expected a string.")
            })?;
            arguments_words += words(arguments);
            ids.push(id);
        }
        Ok((ids, arguments_words))
    }

    fn unanswered_calls(ids: &[&str]) -> String {
        format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding \
             to each 'tool_call_id'. The following tool_call_ids did not have response \
             messages: {}",
            ids.join(", ")
        )
    }

    /// Words of a message's content: a string, or text parts.
    fn content_words(content: &Value) -> u64 {
        match content {
            Value::String(text) => words(text),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .map(words)
                .sum(),
            _ => 0,
        }
    }

    fn check_tools(body: &Value) -> Result<(), String> {
        let Some(tools) = body.get("tools") else {
            return Ok(());
        };
        let tools = tools
            .as_array()
            .ok_or("Invalid type for 'tools': expected an array.")?;
        if tools.is_empty() {
            return Err(NO_TOOLS.into());
        }
        for (index, tool) in tools.iter().enumerate() {
            if tool.get("type").and_then(Value::as_str) != Some("function") {
                return Err(format!(
                    "Invalid value for 'tools[{index}].type': expected 'function'."
                ));
            }
            let name = tool
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !valid_tool_name(name) {
                return Err(format!(
                    "Invalid 'tools[{index}].function.name': string does not match pattern. \
                     Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
                ));
            }
            if tool
                .pointer("/function/parameters")
                .is_some_and(|parameters| !parameters.is_object())
            {
                return Err(format!(
                    "Invalid type for 'tools[{index}].function.parameters': expected an object."
                ));
            }
        }
        Ok(())
    }

    pub(super) fn answer(
        id: u64,
        checked: &Checked,
        text: Option<&str>,
        call: Option<(String, Value)>,
        cut: bool,
        output_words: u64,
    ) -> Value {
        let mut message = json!({"role": "assistant", "content": text, "refusal": null});
        let finish_reason = match call {
            Some((name, arguments)) => {
                message["tool_calls"] = json!([{
                    "id": format!("call_MOCK{id:020}"),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments.to_string()},
                }]);
                "tool_calls"
            }
            None if cut => "length",
            None => "stop",
        };
        json!({
            "id": format!("chatcmpl-MOCK{id:020}"),
            "object": "chat.completion",
            "created": 0,
            "model": checked.model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
            "usage": {
                "prompt_tokens": checked.input_words,
                "completion_tokens": output_words,
                "total_tokens": checked.input_words + output_words,
            },
        })
    }
}

mod anthropic {
    //! Messages: validation in Anthropic's words, and its answer and error shapes.

    use super::{check_number, valid_tool_name, words, Answer, Checked, Headers};
    use serde_json::{json, Value};

    pub(super) fn error(status: u16, kind: &str, message: &str) -> Answer {
        Answer::json(
            status,
            &json!({"type": "error", "error": {"type": kind, "message": message}}),
        )
    }

    pub(super) fn validate(headers: &Headers, body: Option<&Value>) -> Result<Checked, String> {
        if headers.anthropic_version.is_none() {
            return Err("anthropic-version: header is required".into());
        }
        let Some(body) = body.filter(|body| body.is_object()) else {
            return Err("There was an issue with the request body: it is not a JSON object".into());
        };
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .filter(|model| !model.is_empty())
            .ok_or("model: Field required")?;
        let max_tokens = match body.get("max_tokens") {
            None | Some(Value::Null) => return Err("max_tokens: Field required".into()),
            Some(value) => value
                .as_u64()
                .filter(|limit| *limit >= 1)
                .ok_or("max_tokens: Input should be greater than or equal to 1")?,
        };
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or("messages: Field required")?;
        if messages.is_empty() {
            return Err("messages: at least one message is required".into());
        }
        let mut input_words = system_words(body.get("system"))?;
        let mut previous_role = "";
        // The tool_use ids of the previous message, which this one must answer.
        let mut open_calls: Vec<String> = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            let role = message.get("role").and_then(Value::as_str).unwrap_or("");
            if role != "user" && role != "assistant" {
                return Err(format!(
                    "messages.{index}.role: Input should be 'user' or 'assistant'"
                ));
            }
            if index == 0 && role != "user" {
                return Err("messages: first message must use the \"user\" role".into());
            }
            if role == previous_role {
                return Err(format!(
                    "messages: roles must alternate between \"user\" and \"assistant\", but \
                     found multiple \"{role}\" roles in a row"
                ));
            }
            previous_role = role;
            let turn = check_content(index, role, message.get("content"), &open_calls)?;
            let missing: Vec<String> = open_calls
                .into_iter()
                .filter(|id| !turn.answered.contains(id))
                .collect();
            if !missing.is_empty() {
                return Err(unanswered_calls(index - 1, &missing));
            }
            input_words += turn.words;
            open_calls = turn.calls;
        }
        if !open_calls.is_empty() {
            return Err(unanswered_calls(messages.len() - 1, &open_calls));
        }
        check_tools(body)?;
        check_number(body, "temperature", 0.0..=1.0)?;
        Ok(Checked {
            model: model.to_owned(),
            max_tokens: Some(max_tokens),
            input_words,
        })
    }

    /// What one message holds of interest.
    #[derive(Default)]
    struct Turn {
        /// Its `tool_use` ids.
        calls: Vec<String>,
        /// The ids its `tool_result` blocks answer.
        answered: Vec<String>,
        words: u64,
    }

    /// Checks a message's content: a non-empty string, or non-empty blocks where `tool_use`
    /// belongs to the assistant and `tool_result` answers one of `open_calls`.
    fn check_content(
        index: usize,
        role: &str,
        content: Option<&Value>,
        open_calls: &[String],
    ) -> Result<Turn, String> {
        let blocks = match content {
            Some(Value::String(text)) if !text.is_empty() => {
                return Ok(Turn {
                    words: words(text),
                    ..Turn::default()
                })
            }
            Some(Value::Array(blocks)) if !blocks.is_empty() => blocks,
            Some(Value::String(_) | Value::Array(_)) => {
                return Err(format!(
                    "messages.{index}: all messages must have non-empty content except for \
                     the optional final assistant message"
                ))
            }
            _ => return Err(format!("messages.{index}.content: Field required")),
        };
        let mut turn = Turn::default();
        for (position, block) in blocks.iter().enumerate() {
            let at = format!("messages.{index}.content.{position}");
            let text = |field: &str| block.get(field).and_then(Value::as_str);
            match text("type").unwrap_or("") {
                "text" => {
                    let text = text("text").unwrap_or("");
                    if text.is_empty() {
                        return Err("messages: text content blocks must be non-empty".into());
                    }
                    turn.words += words(text);
                }
                "tool_use" if role == "assistant" => {
                    let required = |field: &str| format!("{at}.tool_use.{field}: Field required");
                    let id = text("id").ok_or_else(|| required("id"))?;
                    text("name").ok_or_else(|| required("name"))?;
                    let input = block.get("input").filter(|input| input.is_object());
                    let input = input.ok_or_else(|| {
                        format!("{at}.tool_use.input: Input should be a valid dictionary")
                    })?;
                    turn.words += words(&input.to_string());
                    turn.calls.push(id.to_owned());
                }
                "tool_result" if role == "user" => {
                    let id = text("tool_use_id")
                        .ok_or_else(|| format!("{at}.tool_result.tool_use_id: Field required"))?;
                    if !open_calls.iter().any(|call| call == id) {
                        return Err(format!(
                            "{at}: unexpected `tool_use_id` found in `tool_result` blocks: \
                             {id}. Each `tool_result` block must have a corresponding \
                             `tool_use` block in the previous message."
                        ));
                    }
                    turn.words += tool_result_words(block.get("content"));
                    turn.answered.push(id.to_owned());
                }
                "image" | "document" => {}
                other => {
                    return Err(format!(
                        "{at}.type: a \"{role}\" message cannot hold `{other}` blocks"
                    ))
                }
            }
        }
        Ok(turn)
    }

    fn unanswered_calls(index: usize, ids: &[String]) -> String {
        format!(
            "messages.{index}: `tool_use` ids were found without `tool_result` blocks \
             immediately after: {}. Each `tool_use` block must have a corresponding \
             `tool_result` block in the next message.",
            ids.join(", ")
        )
    }

    fn system_words(system: Option<&Value>) -> Result<u64, String> {
        match system {
            None | Some(Value::Null) => Ok(0),
            Some(Value::String(text)) => Ok(words(text)),
            Some(Value::Array(blocks)) => Ok(blocks
                .iter()
                .filter_map(|block| block.get("text").and_then(Value::as_str))
                .map(words)
                .sum()),
            Some(_) => Err("system: Input should be a valid string".into()),
        }
    }

    fn tool_result_words(content: Option<&Value>) -> u64 {
        match content {
            Some(Value::String(text)) => words(text),
            Some(Value::Array(blocks)) => blocks
                .iter()
                .filter_map(|block| block.get("text").and_then(Value::as_str))
                .map(words)
                .sum(),
            _ => 0,
        }
    }

    fn check_tools(body: &Value) -> Result<(), String> {
        let Some(tools) = body.get("tools") else {
            return Ok(());
        };
        let tools = tools
            .as_array()
            .ok_or("tools: Input should be a valid list")?;
        for (index, tool) in tools.iter().enumerate() {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
            if !valid_tool_name(name) {
                return Err(format!(
                    "tools.{index}.custom.name: String should match pattern \
                     '^[a-zA-Z0-9_-]{{1,64}}$'"
                ));
            }
            if !tool.get("input_schema").is_some_and(Value::is_object) {
                return Err(format!("tools.{index}.custom.input_schema: Field required"));
            }
        }
        Ok(())
    }

    pub(super) fn answer(
        id: u64,
        checked: &Checked,
        text: Option<&str>,
        call: Option<(String, Value)>,
        cut: bool,
        output_words: u64,
    ) -> Value {
        let (content, stop_reason) = match (text, call) {
            (_, Some((name, input))) => (
                json!([{"type": "tool_use", "id": format!("toolu_MOCK{id:020}"), "name": name, "input": input}]),
                "tool_use",
            ),
            (text, None) => (
                json!([{"type": "text", "text": text.unwrap_or_default()}]),
                if cut { "max_tokens" } else { "end_turn" },
            ),
        };
        json!({
            "id": format!("msg_MOCK{id:020}"),
            "type": "message",
            "role": "assistant",
            "model": checked.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {"input_tokens": checked.input_words, "output_tokens": output_words},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "mock-key";
    const WAIT: Duration = Duration::from_secs(10);

    fn started() -> MockLlm {
        let mock = MockLlm::start().unwrap();
        mock.add_key(KEY);
        mock
    }

    /// Posts `body` with `key` in the protocol's header; returns the status and the JSON answer.
    async fn post(
        mock: &MockLlm,
        protocol: Provider,
        key: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let http = reqwest::Client::new();
        let request = match protocol {
            Provider::OpenAi => {
                let request = http.post(format!("{}/chat/completions", mock.openai_base_url()));
                match key {
                    Some(key) => request.bearer_auth(key),
                    None => request,
                }
            }
            Provider::Anthropic => {
                let request = http
                    .post(format!("{}/v1/messages", mock.anthropic_base_url()))
                    .header("anthropic-version", "2023-06-01");
                match key {
                    Some(key) => request.header("x-api-key", key),
                    None => request,
                }
            }
        };
        let response = request.json(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[actix_web::test]
    async fn a_missing_or_wrong_key_is_answered_401_in_each_protocols_envelope() {
        let mock = started();
        let body =
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]});
        let cases = [
            (
                Provider::OpenAi,
                None,
                json!({"error": {"message": "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "type": "invalid_request_error", "param": null, "code": null}}),
            ),
            (
                Provider::OpenAi,
                Some("sk-wrong-9876"),
                json!({"error": {"message": "Incorrect API key provided: ***9876.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
            ),
            (
                Provider::Anthropic,
                None,
                json!({"type": "error", "error": {"type": "authentication_error", "message": "x-api-key header is required"}}),
            ),
            (
                Provider::Anthropic,
                Some("wrong"),
                json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
            ),
        ];
        for (protocol, key, expected) in cases {
            assert_eq!(
                post(&mock, protocol, key, &body).await,
                (401, expected),
                "{protocol} {key:?}"
            );
        }
        let statuses: Vec<u16> = mock
            .requests()
            .iter()
            .map(|request| request.status)
            .collect();
        assert_eq!(statuses, [401; 4]);
    }

    #[track_caller]
    fn expect_invalid(answer: (u16, Value), fragment: &str, case: &str) {
        let (status, body) = answer;
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        assert_eq!(
            (status, body.pointer("/error/type").and_then(Value::as_str)),
            (400, Some("invalid_request_error")),
            "{case}: {body}"
        );
        assert!(message.contains(fragment), "{case}: {message}");
    }

    #[actix_web::test]
    async fn openai_requests_are_validated_like_the_real_api() {
        let mock = started();
        let user = json!({"role": "user", "content": "Hi"});
        let asked = json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "ping", "arguments": "{}"}}
        ]});
        let cases = [
            (
                "no model",
                json!({"messages": [user]}),
                "you must provide a model parameter",
            ),
            (
                "no messages",
                json!({"model": "m", "messages": []}),
                "Invalid 'messages': empty array",
            ),
            (
                "unknown role",
                json!({"model": "m", "messages": [{"role": "bot", "content": "x"}]}),
                "Invalid value: 'bot'",
            ),
            (
                "empty assistant",
                json!({"model": "m", "messages": [user, {"role": "assistant", "content": null}]}),
                "expected a string, got null",
            ),
            (
                "stray tool result",
                json!({"model": "m", "messages": [user, {"role": "tool", "tool_call_id": "call_9", "content": "x"}]}),
                "must be a response to a preceding message with 'tool_calls'",
            ),
            (
                "wrong call id",
                json!({"model": "m", "messages": [user, asked, {"role": "tool", "tool_call_id": "call_2", "content": "x"}]}),
                "must be a response to a preceding message",
            ),
            (
                "unanswered call",
                json!({"model": "m", "messages": [user, asked, {"role": "user", "content": "?"}]}),
                "did not have response messages: call_1",
            ),
            (
                "empty tools",
                json!({"model": "m", "messages": [user], "tools": []}),
                "Invalid 'tools': empty array",
            ),
            (
                "bad tool name",
                json!({"model": "m", "messages": [user], "tools": [{"type": "function", "function": {"name": "a b"}}]}),
                "tools[0].function.name",
            ),
            (
                "zero max_tokens",
                json!({"model": "m", "messages": [user], "max_tokens": 0}),
                "Invalid 'max_tokens'",
            ),
            (
                "hot temperature",
                json!({"model": "m", "messages": [user], "temperature": 3}),
                "temperature",
            ),
        ];
        for (case, body, fragment) in cases {
            expect_invalid(
                post(&mock, Provider::OpenAi, Some(KEY), &body).await,
                fragment,
                case,
            );
        }
        let answered = json!({"model": "m", "messages": [user, asked, {"role": "tool", "tool_call_id": "call_1", "content": "pong"}]});
        assert_eq!(
            post(&mock, Provider::OpenAi, Some(KEY), &answered).await.0,
            200
        );
    }

    #[actix_web::test]
    async fn anthropic_requests_are_validated_like_the_real_api() {
        let mock = started();
        let user = json!({"role": "user", "content": "Hi"});
        let asked = json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "ping", "input": {}}
        ]});
        let result = |id: &str| json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "pong"}]});
        let cases = [
            ("no model", json!({"max_tokens": 5, "messages": [user]}), "model: Field required"),
            ("no max_tokens", json!({"model": "m", "messages": [user]}), "max_tokens: Field required"),
            ("no messages", json!({"model": "m", "max_tokens": 5, "messages": []}), "at least one message is required"),
            ("assistant first", json!({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": "Hi"}]}), "first message must use the \"user\" role"),
            ("two users", json!({"model": "m", "max_tokens": 5, "messages": [user, user]}), "roles must alternate"),
            ("system role", json!({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}), "Input should be 'user' or 'assistant'"),
            ("empty text", json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}), "text content blocks must be non-empty"),
            ("wrong result id", json!({"model": "m", "max_tokens": 5, "messages": [user, asked, result("toolu_2")]}), "unexpected `tool_use_id` found in `tool_result` blocks: toolu_2"),
            ("stray result", json!({"model": "m", "max_tokens": 5, "messages": [result("toolu_1")]}), "unexpected `tool_use_id`"),
            ("unanswered call", json!({"model": "m", "max_tokens": 5, "messages": [user, asked, {"role": "user", "content": "?"}]}), "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1"),
            ("tool without schema", json!({"model": "m", "max_tokens": 5, "messages": [user], "tools": [{"name": "ping"}]}), "input_schema: Field required"),
            ("hot temperature", json!({"model": "m", "max_tokens": 5, "messages": [user], "temperature": 1.5}), "temperature"),
        ];
        for (case, body, fragment) in cases {
            expect_invalid(
                post(&mock, Provider::Anthropic, Some(KEY), &body).await,
                fragment,
                case,
            );
        }
        let answered =
            json!({"model": "m", "max_tokens": 5, "messages": [user, asked, result("toolu_1")]});
        assert_eq!(
            post(&mock, Provider::Anthropic, Some(KEY), &answered)
                .await
                .0,
            200
        );
        let unversioned = reqwest::Client::new()
            .post(format!("{}/v1/messages", mock.url()))
            .header("x-api-key", KEY)
            .json(&answered)
            .send()
            .await
            .unwrap();
        assert_eq!(unversioned.status().as_u16(), 400);
    }

    #[actix_web::test]
    async fn an_empty_script_answers_the_default_text_and_long_text_stops_at_max_tokens() {
        let mock = started();
        mock.script([Reply::Text("one two three four five".into())]);
        let body = json!({"model": "m", "max_tokens": 3, "messages": [{"role": "user", "content": "count to five"}]});

        let (_, cut) = post(&mock, Provider::Anthropic, Some(KEY), &body).await;
        let (_, default) = post(&mock, Provider::OpenAi, Some(KEY), &body).await;

        assert_eq!(
            cut["content"],
            json!([{"type": "text", "text": "one two three"}])
        );
        assert_eq!(cut["stop_reason"], "max_tokens");
        assert_eq!(cut["usage"], json!({"input_tokens": 3, "output_tokens": 3}));
        // The default answer has six words: three fit.
        assert_eq!(default["choices"][0]["message"]["content"], "This is the");
        assert_eq!(default["choices"][0]["finish_reason"], "length");
    }

    #[actix_web::test]
    async fn scripted_failures_use_each_protocols_envelope_and_retry_after() {
        let mock = started();
        let body =
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]});
        mock.script([
            Reply::Status {
                status: 429,
                retry_after_secs: Some(7),
            },
            Reply::Status {
                status: 529,
                retry_after_secs: None,
            },
        ]);
        let http = reqwest::Client::new();

        let throttled = http
            .post(format!("{}/chat/completions", mock.openai_base_url()))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, overloaded) = post(&mock, Provider::Anthropic, Some(KEY), &body).await;

        assert_eq!(throttled.status().as_u16(), 429);
        assert_eq!(throttled.headers()["retry-after"], "7");
        let throttled: Value = throttled.json().await.unwrap();
        assert_eq!(throttled["error"]["code"], "rate_limit_exceeded");
        assert_eq!(
            (status, overloaded),
            (
                529,
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            )
        );
        assert_eq!(mock.wait_for_requests(2, WAIT).await.len(), 2);
    }
}
