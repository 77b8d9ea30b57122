//! Chat with a large language model over HTTP, tool calling included: one provider-neutral
//! request and answer, spoken as OpenAI's Chat Completions ([`openai`]; also llama.cpp and vLLM
//! servers) or Anthropic's Messages ([`anthropic`]).
//!
//! [`LlmClient::chat`] retries what may pass — throttling (429), overload (529), server errors
//! (500, 502, 503, 504), timeouts and lost connections — with exponential backoff and full
//! jitter, or after the provider's `Retry-After`. Everything else comes back at once as an
//! [`LlmError`] whose `code()` is stable. The JSON mapping, the error classification and the
//! backoff are plain functions, so each is tested without a network.

pub mod anthropic;
pub mod openai;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How long one attempt may take, from connecting to the last byte of the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Output tokens a request may use when it does not say.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// The ceiling of the first retry's wait, doubled for each retry after it.
const RETRY_BASE: Duration = Duration::from_millis(500);
/// The highest ceiling of a computed wait.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(20);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Statuses worth another attempt; 529 is Anthropic's "overloaded".
const RETRYABLE_STATUSES: [u16; 6] = [429, 500, 502, 503, 504, 529];
/// Characters of a body quoted in an error when it is not the provider's error JSON.
const QUOTED_BODY_CHARS: usize = 200;

/// Which API a model is spoken to with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// OpenAI's Chat Completions, also served by llama.cpp and vLLM.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic's Messages.
    Anthropic,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        }
    }

    /// The provider's public API, as [`LlmConfig::base_url`] expects it.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Self::OpenAi => "https://api.openai.com/v1",
            Self::Anthropic => "https://api.anthropic.com",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown LLM provider `{0}`: use `openai` or `anthropic`")]
pub struct UnknownProvider(String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "openai" => Ok(Self::OpenAi),
            "anthropic" => Ok(Self::Anthropic),
            other => Err(UnknownProvider(other.to_owned())),
        }
    }
}

/// Where and how to reach one model.
#[derive(Clone, Debug)]
pub struct LlmConfig {
    pub provider: Provider,
    /// The API's root, without the endpoint: `https://api.openai.com/v1` or a llama.cpp or vLLM
    /// server's `http://host:port/v1`, to which `/chat/completions` is appended; or
    /// `https://api.anthropic.com`, to which `/v1/messages` is appended. A trailing slash is
    /// ignored.
    pub base_url: String,
    pub api_key: SecretString,
    pub model: String,
    /// How long one attempt may take ([`DEFAULT_TIMEOUT`]: 30 s); each retry gets as long again.
    pub timeout: Duration,
    /// Retries after a temporary failure ([`DEFAULT_MAX_RETRIES`]: 3); 0 never retries.
    pub max_retries: u32,
    /// Output tokens when a request does not say ([`DEFAULT_MAX_TOKENS`]: 1024).
    pub max_tokens: u32,
}

impl LlmConfig {
    /// The provider's public API with the default timeout, retries and output tokens.
    pub fn new(provider: Provider, api_key: SecretString, model: impl Into<String>) -> Self {
        Self {
            provider,
            base_url: provider.default_base_url().to_owned(),
            api_key,
            model: model.into(),
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

/// One request for the model's next turn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// Instructions for the whole conversation; empty sends none.
    pub system: String,
    /// The conversation so far, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The tools the model may call; empty offers none.
    pub tools: Vec<ToolSpec>,
    /// Overrides [`LlmConfig::max_tokens`].
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChatMessage {
    User(String),
    /// A turn of the model's, sent back as it came (see [`ChatResponse::to_message`]).
    Assistant {
        text: Option<String>,
        tool_calls: Vec<ToolCall>,
    },
    /// What running a tool call gave; `is_error` tells the model the call failed.
    ToolResult {
        call_id: String,
        content: String,
        is_error: bool,
    },
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// A JSON Schema object for the arguments.
    pub parameters: Value,
}

/// A call the model asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The provider's id for the call, which the tool result must quote.
    pub id: String,
    pub name: String,
    /// The arguments, always a JSON object.
    pub arguments: Value,
}

/// The model's turn.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatResponse {
    /// The text of the turn, if it has any.
    pub text: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub stop: StopReason,
}

impl ChatResponse {
    /// The turn as a message to send back, before the results of its tool calls.
    pub fn to_message(&self) -> ChatMessage {
        ChatMessage::Assistant {
            text: self.text.clone(),
            tool_calls: self.tool_calls.clone(),
        }
    }
}

/// Tokens the provider counted for one request (zero when it does not say).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The model finished its turn.
    EndTurn,
    /// The model waits for the results of its tool calls.
    ToolUse,
    /// The answer was cut at the output token limit.
    MaxTokens,
    /// Any other reason, as the provider named it.
    Other(String),
}

/// What the provider said about a failed request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderDetail {
    /// The provider's error type (`rate_limit_error`, `invalid_request_error`), when it gave one.
    pub kind: Option<String>,
    /// The provider's message, or the start of the body when it sent no error JSON.
    pub message: String,
}

impl fmt::Display for ProviderDetail {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Some(kind) => write!(formatter, "{kind}: {}", self.message),
            None => formatter.write_str(&self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM provider did not answer within {timeout:?} (attempts: {attempts})")]
    Timeout { timeout: Duration, attempts: u32 },
    /// No connection could be made, or it broke before the answer was read.
    #[error("the LLM provider could not be reached (attempts: {attempts}): {reason}")]
    Unreachable { reason: String, attempts: u32 },
    #[error("the LLM provider is throttling requests (attempts: {attempts}): {detail}")]
    RateLimited {
        detail: ProviderDetail,
        /// The provider's last `Retry-After`.
        retry_after: Option<Duration>,
        attempts: u32,
    },
    #[error("the LLM provider failed with HTTP {status} (attempts: {attempts}): {detail}")]
    ServerError {
        status: u16,
        detail: ProviderDetail,
        retry_after: Option<Duration>,
        attempts: u32,
    },
    /// The key was refused (401, 403), or cannot be sent at all (`status` is `None`).
    #[error("the LLM provider refused the API key{}: {detail}", .status.map(|status| format!(" (HTTP {status})")).unwrap_or_default())]
    Unauthorized {
        status: Option<u16>,
        detail: ProviderDetail,
    },
    /// Any other 4xx: the request must change before it can succeed.
    #[error("the LLM provider rejected the request (HTTP {status}): {detail}")]
    Rejected { status: u16, detail: ProviderDetail },
    #[error("the LLM provider's answer is unreadable: {0}")]
    BadResponse(String),
}

impl LlmError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "llm_timeout",
            Self::Unreachable { .. } => "llm_unreachable",
            Self::RateLimited { .. } => "llm_rate_limited",
            Self::ServerError { .. } => "llm_server_error",
            Self::Unauthorized { .. } => "llm_unauthorized",
            Self::Rejected { .. } => "llm_rejected",
            Self::BadResponse(_) => "llm_bad_response",
        }
    }

    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Unreachable { .. } | Self::RateLimited { .. } => true,
            Self::ServerError { status, .. } => RETRYABLE_STATUSES.contains(status),
            Self::Unauthorized { .. } | Self::Rejected { .. } | Self::BadResponse(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::ServerError { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// A key with characters HTTP headers cannot carry never leaves Parley.
    fn unsendable_key() -> Self {
        Self::Unauthorized {
            status: None,
            detail: ProviderDetail {
                kind: None,
                message: "the API key has characters an HTTP header cannot carry".into(),
            },
        }
    }
}

/// A client for one configured model. Clones share the connection pool and the configuration.
#[derive(Clone, Debug)]
pub struct LlmClient {
    http: reqwest::Client,
    config: Arc<LlmConfig>,
}

impl LlmClient {
    /// `http` may be shared with other clients: each attempt sets its own timeout.
    pub fn new(http: reqwest::Client, config: LlmConfig) -> Self {
        Self {
            http,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// Asks for the model's next turn, retrying temporary failures (see the module docs).
    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let provider = self.config.provider;
        let body = match provider {
            Provider::OpenAi => openai::request_body(&self.config, request),
            Provider::Anthropic => anthropic::request_body(&self.config, request),
        };
        let headers = self.headers()?;
        let mut attempt = 1;
        loop {
            let error = match self.attempt(&headers, &body, attempt).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            if !error.is_retryable() || attempt > self.config.max_retries {
                return Err(error);
            }
            let jitter = rand::thread_rng().gen::<f64>();
            let delay = retry_delay(attempt, error.retry_after(), jitter);
            tracing::info!(
                provider = %provider,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                code = error.code(),
                error = %error,
                "llm request failed, will retry"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The provider's authentication and version headers, marked sensitive.
    fn headers(&self) -> Result<HeaderMap, LlmError> {
        let key = self.config.api_key.expose_secret();
        let mut headers = HeaderMap::new();
        let (name, value) = match self.config.provider {
            Provider::OpenAi => ("authorization", format!("Bearer {key}")),
            Provider::Anthropic => {
                headers.insert(
                    "anthropic-version",
                    HeaderValue::from_static(anthropic::API_VERSION),
                );
                ("x-api-key", key.to_owned())
            }
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| LlmError::unsendable_key())?;
        value.set_sensitive(true);
        headers.insert(name, value);
        Ok(headers)
    }

    async fn attempt(
        &self,
        headers: &HeaderMap,
        body: &Value,
        attempt: u32,
    ) -> Result<ChatResponse, LlmError> {
        let config = &self.config;
        let url = match config.provider {
            Provider::OpenAi => openai::endpoint(&config.base_url),
            Provider::Anthropic => anthropic::endpoint(&config.base_url),
        };
        let transport = |error: reqwest::Error| transport_error(&error, config.timeout, attempt);
        let response = self
            .http
            .post(url)
            .headers(headers.clone())
            .json(body)
            .timeout(config.timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            return Err(classify(status, &bytes, retry_after, attempt));
        }
        match config.provider {
            Provider::OpenAi => openai::parse_response(&bytes),
            Provider::Anthropic => anthropic::parse_response(&bytes),
        }
    }
}

fn transport_error(error: &reqwest::Error, timeout: Duration, attempts: u32) -> LlmError {
    if error.is_timeout() {
        return LlmError::Timeout { timeout, attempts };
    }
    // reqwest's own text is terse ("error sending request"); the causes say what happened.
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    LlmError::Unreachable { reason, attempts }
}

/// The error a non-2xx answer means, by status: the providers apply them consistently.
pub fn classify(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    attempts: u32,
) -> LlmError {
    let detail = provider_detail(body);
    match status {
        401 | 403 => LlmError::Unauthorized {
            status: Some(status),
            detail,
        },
        429 => LlmError::RateLimited {
            detail,
            retry_after,
            attempts,
        },
        400..=499 => LlmError::Rejected { status, detail },
        500..=599 => LlmError::ServerError {
            status,
            detail,
            retry_after,
            attempts,
        },
        _ => LlmError::BadResponse(format!("unexpected HTTP {status}: {detail}")),
    }
}

/// The provider's error type and message. OpenAI and Anthropic nest them under `error`
/// (`{"error": {"type", "message"}}`); vLLM puts them at the top level.
pub fn provider_detail(body: &[u8]) -> ProviderDetail {
    let quoted = || {
        String::from_utf8_lossy(body)
            .trim()
            .chars()
            .take(QUOTED_BODY_CHARS)
            .collect::<String>()
    };
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return ProviderDetail {
            kind: None,
            message: quoted(),
        };
    };
    let error = match json.get("error") {
        Some(error @ Value::Object(_)) => error,
        Some(Value::String(message)) => {
            return ProviderDetail {
                kind: None,
                message: message.clone(),
            }
        }
        _ => &json,
    };
    let text = |field: &str| error.get(field).and_then(Value::as_str).map(str::to_owned);
    ProviderDetail {
        kind: text("type").or_else(|| text("code")),
        message: text("message").unwrap_or_else(quoted),
    }
}

/// How long the provider asks to wait: `retry-after-ms` (OpenAI) before `Retry-After` in
/// seconds. The HTTP-date form of `Retry-After` is not used by these providers.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok()
    };
    let wait = number("retry-after-ms")
        .map(|millis| millis / 1000.0)
        .or_else(|| number("retry-after"))?;
    Duration::try_from_secs_f64(wait).ok()
}

/// The wait before retry number `retry` (counting from 1). The provider's `Retry-After` is
/// taken as given, up to 60 s. Without one the wait is full jitter: `jitter` (in `0..1`) of a
/// ceiling that starts at 500 ms and doubles per retry up to 20 s, so clients that failed
/// together do not retry together.
pub fn retry_delay(retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(MAX_RETRY_AFTER);
    }
    let exponent = retry.saturating_sub(1).min(20);
    let ceiling = RETRY_BASE
        .saturating_mul(1 << exponent)
        .min(MAX_RETRY_DELAY);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0))
}

/// `{base}{path}` with at most one slash between them.
fn join(base_url: &str, path: &str) -> String {
    format!("{}{path}", base_url.trim_end_matches('/'))
}

/// A temperature as the decimal it was written as: `0.2_f32` widened directly is
/// 0.20000000298023224.
fn decimal(value: f32) -> Value {
    value
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A client pointed at the mock, for the protocol modules' tests.

    use super::*;
    use crate::mock::llm::MockLlm;

    pub(crate) const KEY: &str = "test-key";

    /// How long a test waits for the mock.
    pub(crate) const WAIT: Duration = Duration::from_secs(10);

    /// A mock of both APIs that accepts [`KEY`].
    pub(crate) fn started_mock() -> MockLlm {
        let mock = MockLlm::start().unwrap();
        mock.add_key(KEY);
        mock
    }

    /// One question from the guest, with a system prompt.
    pub(crate) fn ask(text: &str) -> ChatRequest {
        ChatRequest {
            system: "You are the front desk.".into(),
            messages: vec![ChatMessage::User(text.into())],
            ..ChatRequest::default()
        }
    }

    pub(crate) fn client(
        provider: Provider,
        mock: &MockLlm,
        key: &str,
        timeout: Duration,
        max_retries: u32,
    ) -> LlmClient {
        let base_url = match provider {
            Provider::OpenAi => mock.openai_base_url(),
            Provider::Anthropic => mock.anthropic_base_url(),
        };
        LlmClient::new(
            reqwest::Client::new(),
            LlmConfig {
                base_url,
                timeout,
                max_retries,
                ..LlmConfig::new(provider, SecretString::from(key), "test-model")
            },
        )
    }

    pub(crate) fn lookup_booking() -> ToolSpec {
        ToolSpec {
            name: "lookup_booking".into(),
            description: "Finds a booking by its reference".into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {"reference": {"type": "string"}},
                "required": ["reference"]
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_parse_and_serialise_by_their_names() {
        for provider in [Provider::OpenAi, Provider::Anthropic] {
            assert_eq!(provider.as_str().parse::<Provider>(), Ok(provider));
            assert_eq!(
                serde_json::to_value(provider).unwrap(),
                Value::from(provider.as_str())
            );
        }
        assert_eq!(
            serde_json::from_str::<Provider>("\"openai\"").unwrap(),
            Provider::OpenAi
        );
        assert!("open_ai".parse::<Provider>().is_err());
    }

    #[test]
    fn endpoints_tolerate_a_trailing_slash() {
        assert_eq!(
            openai::endpoint("http://127.0.0.1:8080/v1/"),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
        assert_eq!(
            anthropic::endpoint("https://api.anthropic.com"),
            "https://api.anthropic.com/v1/messages"
        );
    }

    #[test]
    fn the_ceiling_doubles_per_retry_up_to_twenty_seconds() {
        let ceilings: Vec<_> = [1, 2, 3, 4, 6, 7, 40]
            .into_iter()
            .map(|retry| retry_delay(retry, None, 1.0))
            .collect();
        let expected = [500, 1_000, 2_000, 4_000, 16_000, 20_000, 20_000];
        assert_eq!(ceilings, expected.map(Duration::from_millis));
    }

    #[test]
    fn full_jitter_picks_anywhere_below_the_ceiling() {
        assert_eq!(retry_delay(3, None, 0.0), Duration::ZERO);
        assert_eq!(retry_delay(3, None, 0.25), Duration::from_millis(500));
        assert_eq!(retry_delay(3, None, 7.0), Duration::from_secs(2));
    }

    #[test]
    fn retry_after_is_taken_as_given_up_to_a_minute() {
        let given = Some(Duration::from_secs(1));
        assert_eq!(retry_delay(5, given, 0.9), Duration::from_secs(1));
        let long = Some(Duration::from_secs(3_600));
        assert_eq!(retry_delay(1, long, 0.0), Duration::from_secs(60));
    }

    #[track_caller]
    fn check_retry_after(headers: &[(&'static str, &'static str)], expected: Option<Duration>) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        assert_eq!(retry_after(&map), expected, "{headers:?}");
    }

    #[test]
    fn retry_after_headers_are_read_in_seconds_or_milliseconds() {
        check_retry_after(&[("retry-after", "2")], Some(Duration::from_secs(2)));
        check_retry_after(
            &[("retry-after", " 0.5 ")],
            Some(Duration::from_millis(500)),
        );
        check_retry_after(
            &[("retry-after", "2"), ("retry-after-ms", "250")],
            Some(Duration::from_millis(250)),
        );
        check_retry_after(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], None);
        check_retry_after(&[("retry-after", "-1")], None);
        check_retry_after(&[], None);
    }

    #[test]
    fn statuses_map_to_codes_and_retries() {
        let cases = [
            (400, "llm_rejected", false),
            (401, "llm_unauthorized", false),
            (403, "llm_unauthorized", false),
            (404, "llm_rejected", false),
            (413, "llm_rejected", false),
            (429, "llm_rate_limited", true),
            (500, "llm_server_error", true),
            (501, "llm_server_error", false),
            (502, "llm_server_error", true),
            (503, "llm_server_error", true),
            (504, "llm_server_error", true),
            (529, "llm_server_error", true),
            (302, "llm_bad_response", false),
        ];
        for (status, code, retryable) in cases {
            let error = classify(status, b"", None, 1);
            assert_eq!(
                (error.code(), error.is_retryable()),
                (code, retryable),
                "{status}"
            );
        }
    }

    #[track_caller]
    fn check_detail(body: &str, kind: Option<&str>, message: &str) {
        let expected = ProviderDetail {
            kind: kind.map(str::to_owned),
            message: message.to_owned(),
        };
        assert_eq!(provider_detail(body.as_bytes()), expected, "{body}");
    }

    #[test]
    fn the_providers_error_type_and_message_are_kept() {
        check_detail(
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            Some("invalid_request_error"),
            "Incorrect API key provided",
        );
        check_detail(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            Some("overloaded_error"),
            "Overloaded",
        );
        check_detail(
            r#"{"object":"error","message":"model not found","type":"NotFoundError","code":404}"#,
            Some("NotFoundError"),
            "model not found",
        );
        check_detail(
            r#"{"error":{"message":"bad","type":null,"code":"rate_limit_exceeded"}}"#,
            Some("rate_limit_exceeded"),
            "bad",
        );
        check_detail(
            "<html>Bad Gateway</html>\n",
            None,
            "<html>Bad Gateway</html>",
        );
    }

    #[test]
    fn errors_say_what_the_provider_said() {
        let error = classify(
            429,
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            Some(Duration::from_secs(1)),
            4,
        );
        assert_eq!(
            error.to_string(),
            "the LLM provider is throttling requests (attempts: 4): rate_limit_error: slow down"
        );
        assert_eq!(
            LlmError::unsendable_key().to_string(),
            "the LLM provider refused the API key: the API key has characters an HTTP header cannot carry"
        );
    }

    #[test]
    fn temperatures_keep_their_written_decimals() {
        assert_eq!(decimal(0.2), serde_json::json!(0.2));
        assert_eq!(decimal(1.0), serde_json::json!(1.0));
    }
}
