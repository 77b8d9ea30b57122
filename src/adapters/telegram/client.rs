//! The Bot API client: `POST {api_url}/bot<TOKEN>/<method>` with JSON parameters, and the
//! reading of Telegram's envelope, `{"ok": true, "result": …}` or `{"ok": false,
//! "error_code", "description", "parameters": {"retry_after"}}`.
//!
//! Sends are paced per chat (about one message a second, with a short burst), on top of the
//! channel actor's pace per bot, because Telegram answers 429 to a bot that writes one chat
//! faster. Failures are classified for the channel actor:
//!
//! | Answer | Result |
//! |---|---|
//! | 429 | Retryable, after `parameters.retry_after` seconds |
//! | 401 (token revoked), 404 (token unknown) | CredentialsRejected: the channel needs a reconnect |
//! | 403 (the guest blocked the bot, or never started it) | Permanent for this message |
//! | other 4xx | Permanent, with Telegram's description |
//! | 5xx, no answer, a cut-off or unreadable answer | Retryable |

use super::render::Call;
use crate::adapters::{SendError, Sent};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::{json, Value};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Messages one chat gets per second, and how many may go at once before the pace applies.
const PER_CHAT_PER_SECOND: NonZeroU32 = NonZeroU32::MIN;
const PER_CHAT_BURST: NonZeroU32 = match NonZeroU32::new(3) {
    Some(burst) => burst,
    None => NonZeroU32::MIN,
};
/// The longest `retry_after` a later part of a message waits for in place, and how often.
pub const PART_RETRY_MAX_WAIT: Duration = Duration::from_secs(30);
const PART_RETRY_MAX_WAITS: u32 = 3;
/// Chats remembered by the pacer before idle ones are forgotten.
const PACED_CHATS_MAX: usize = 10_000;

#[derive(Clone)]
pub struct TelegramClient {
    http: reqwest::Client,
    api_url: Url,
    /// Keyed by (bot id, chat id).
    per_chat: Arc<DefaultKeyedRateLimiter<(String, String)>>,
}

impl std::fmt::Debug for TelegramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramClient")
            .field("api_url", &self.api_url.as_str())
            .finish_non_exhaustive()
    }
}

/// What `getMe` says of a bot.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct BotInfo {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub username: Option<String>,
}

/// What `getWebhookInfo` says.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct WebhookInfo {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub pending_update_count: i64,
    #[serde(default)]
    pub last_error_message: Option<String>,
}

/// Why a call made while connecting a bot failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BotFailure {
    /// 401 or 404: the token is revoked, mistyped or unknown.
    #[error("Telegram refused the bot token: {0}")]
    Credentials(String),
    /// Telegram could not be reached, failed or throttled us.
    #[error("Telegram is unavailable: {0}")]
    Unavailable(String),
    /// Any other refusal, with Telegram's description.
    #[error("Telegram refused: {0}")]
    Rejected(String),
}

/// A failed call: Telegram's answer, or no answer.
#[derive(Debug)]
enum CallError {
    Transport(String),
    Api {
        code: u16,
        description: String,
        retry_after: Option<Duration>,
    },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

impl TelegramClient {
    pub fn new(http: reqwest::Client, api_url: Url) -> Self {
        let quota = Quota::per_second(PER_CHAT_PER_SECOND).allow_burst(PER_CHAT_BURST);
        Self {
            http,
            api_url,
            per_chat: Arc::new(RateLimiter::keyed(quota)),
        }
    }

    /// `getMe`: who the token belongs to. The bot's id must be the token's prefix.
    pub async fn get_me(&self, token: &super::BotToken) -> Result<BotInfo, BotFailure> {
        let result = self
            .call(token.as_str(), "getMe", &json!({}))
            .await
            .map_err(connect_failure)?;
        let info: BotInfo = serde_json::from_value(result)
            .map_err(|error| BotFailure::Unavailable(format!("getMe answered oddly: {error}")))?;
        if !info.is_bot || info.id.to_string() != token.bot_id() {
            return Err(BotFailure::Credentials(
                "the token does not belong to the bot getMe describes".into(),
            ));
        }
        Ok(info)
    }

    /// `setWebhook` with Parley's URL for the channel, its secret and the updates it reads.
    pub async fn set_webhook(
        &self,
        token: &str,
        url: &str,
        secret_token: &str,
    ) -> Result<(), BotFailure> {
        let body = json!({
            "url": url,
            "secret_token": secret_token,
            "allowed_updates": super::ALLOWED_UPDATES,
        });
        self.call(token, "setWebhook", &body)
            .await
            .map(drop)
            .map_err(connect_failure)
    }

    pub async fn webhook_info(&self, token: &str) -> Result<WebhookInfo, BotFailure> {
        let result = self
            .call(token, "getWebhookInfo", &json!({}))
            .await
            .map_err(connect_failure)?;
        serde_json::from_value(result).map_err(|error| {
            BotFailure::Unavailable(format!("getWebhookInfo answered oddly: {error}"))
        })
    }

    /// `deleteWebhook`: Telegram stops posting updates (and keeps them for `getUpdates`).
    pub async fn delete_webhook(&self, token: &str) -> Result<(), BotFailure> {
        self.call(token, "deleteWebhook", &json!({}))
            .await
            .map(drop)
            .map_err(connect_failure)
    }

    /// `answerCallbackQuery`, with no text: the tapped button stops spinning.
    pub async fn answer_callback(&self, token: &str, callback_id: &str) -> Result<(), SendError> {
        self.call(
            token,
            "answerCallbackQuery",
            &json!({"callback_query_id": callback_id}),
        )
        .await
        .map(drop)
        .map_err(send_failure)
    }

    /// `sendChatAction`: shows the chat what the bot is doing (`typing` …) for a few seconds.
    pub async fn chat_action(
        &self,
        token: &str,
        chat_id: &str,
        action: &str,
    ) -> Result<(), SendError> {
        let chat = chat_id
            .parse::<i64>()
            .map_or_else(|_| json!(chat_id), |id| json!(id));
        self.call(
            token,
            "sendChatAction",
            &json!({"chat_id": chat, "action": action}),
        )
        .await
        .map(drop)
        .map_err(send_failure)
    }

    /// `getFile`: the URL a file can be downloaded from, for about an hour. It holds the
    /// token, so it is fetched by Parley and never shown.
    pub async fn file_url(&self, token: &str, file_id: &str) -> Result<String, SendError> {
        let result = self
            .call(token, "getFile", &json!({"file_id": file_id}))
            .await
            .map_err(send_failure)?;
        let path = result
            .get("file_path")
            .and_then(Value::as_str)
            .ok_or_else(|| SendError::Permanent {
                reason: "Telegram has no file path for this file (larger than 20 MB?)".into(),
            })?;
        Ok(format!(
            "{}/file/bot{token}/{path}",
            self.api_url.as_str().trim_end_matches('/')
        ))
    }

    /// Starts downloading a URL from [`Self::file_url`]; the caller streams the body.
    pub async fn download(&self, url: &str) -> Result<reqwest::Response, SendError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|error| SendError::Retryable {
                reason: format!("Telegram could not be reached: {}", error.without_url()),
                retry_after: None,
            })?;
        match response.status().as_u16() {
            200..=299 => Ok(response),
            // A path Telegram no longer serves is a missing file, not a bad token.
            code @ (400 | 404) => Err(SendError::Permanent {
                reason: format!("{code}: the file is no longer available"),
            }),
            code => Err(classify(code, "the file download failed", None)),
        }
    }

    /// Makes the calls of one rendered message in order, paced for the chat. The message's id
    /// is that of its last part, the one that carries any keyboard.
    ///
    /// Once a part has gone, a throttled later part waits its `retry_after` (up to
    /// [`PART_RETRY_MAX_WAIT`], a few times) and is sent again in place: failing the message
    /// would make its retry send the earlier parts twice.
    pub async fn send(
        &self,
        token: &super::BotToken,
        chat_id: &str,
        calls: &[Call],
    ) -> Result<Sent, SendError> {
        let key = (token.bot_id().to_owned(), chat_id.to_owned());
        if self.per_chat.len() > PACED_CHATS_MAX {
            self.per_chat.retain_recent();
        }
        let mut last = None;
        for call in calls {
            let mut waits = 0;
            let result = loop {
                self.per_chat.until_key_ready(&key).await;
                match self.call(token.as_str(), call.method, &call.body).await {
                    Ok(result) => break result,
                    Err(error) => match send_failure(error) {
                        SendError::Retryable {
                            retry_after: Some(wait),
                            ..
                        } if last.is_some()
                            && wait <= PART_RETRY_MAX_WAIT
                            && waits < PART_RETRY_MAX_WAITS =>
                        {
                            waits += 1;
                            tokio::time::sleep(wait).await;
                        }
                        failure => return Err(failure),
                    },
                }
            };
            last = Some(provider_id(chat_id, call, &result)?);
        }
        last.map(|provider_message_id| Sent {
            provider_message_id,
        })
        .ok_or_else(|| SendError::Permanent {
            reason: "nothing to send".into(),
        })
    }

    async fn call(&self, token: &str, method: &str, body: &Value) -> Result<Value, CallError> {
        let url = format!(
            "{}/bot{token}/{method}",
            self.api_url.as_str().trim_end_matches('/')
        );
        let response = self
            .http
            .post(url)
            .json(body)
            .send()
            .await
            // Without the URL, which holds the token.
            .map_err(|error| CallError::Transport(error.without_url().to_string()))?;
        let status = response.status().as_u16();
        let header_retry = crate::adapters::retry_after(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|error| CallError::Transport(error.without_url().to_string()))?;
        let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|_| CallError::Api {
            code: if status < 300 { 502 } else { status },
            description: format!("HTTP {status} without a Bot API answer"),
            retry_after: header_retry,
        })?;
        if envelope.ok && (200..300).contains(&status) {
            return Ok(envelope.result);
        }
        Err(CallError::Api {
            code: envelope.error_code.unwrap_or(status),
            description: envelope
                .description
                .unwrap_or_else(|| format!("HTTP {status}")),
            retry_after: envelope
                .parameters
                .and_then(|parameters| parameters.retry_after)
                .map(Duration::from_secs)
                .or(header_retry),
        })
    }
}

/// The id Parley keeps for a sent part: `{chat_id}:{message_id}` of the message Telegram
/// made, or, for a reaction (which makes none), `reaction:` and the message reacted to.
fn provider_id(chat_id: &str, call: &Call, result: &Value) -> Result<String, SendError> {
    if let Some(message_id) = result.get("message_id").and_then(Value::as_i64) {
        let chat = result
            .pointer("/chat/id")
            .and_then(Value::as_i64)
            .map_or_else(|| chat_id.to_owned(), |id| id.to_string());
        return Ok(super::parse::message_key_of(&chat, message_id));
    }
    if call.method == "setMessageReaction" && result.as_bool() == Some(true) {
        let target = call.body.get("message_id").cloned().unwrap_or(Value::Null);
        return Ok(format!("reaction:{chat_id}:{target}"));
    }
    Err(SendError::Retryable {
        reason: format!("{} answered without a message", call.method),
        retry_after: None,
    })
}

/// Classifies a failed send (see the module's table).
pub fn classify(code: u16, description: &str, retry_after: Option<Duration>) -> SendError {
    let reason = format!("{code}: {description}");
    match code {
        429 => SendError::Retryable {
            reason,
            retry_after,
        },
        401 | 404 => SendError::CredentialsRejected { reason },
        403 => SendError::Permanent {
            reason: format!("the guest cannot be written to ({reason})"),
        },
        500.. => SendError::Retryable {
            reason,
            retry_after,
        },
        _ => SendError::Permanent { reason },
    }
}

fn send_failure(error: CallError) -> SendError {
    match error {
        CallError::Transport(reason) => SendError::Retryable {
            reason: format!("Telegram could not be reached: {reason}"),
            retry_after: None,
        },
        CallError::Api {
            code,
            description,
            retry_after,
        } => classify(code, &description, retry_after),
    }
}

fn connect_failure(error: CallError) -> BotFailure {
    match error {
        CallError::Transport(reason) => BotFailure::Unavailable(reason),
        CallError::Api {
            code: 401 | 404,
            description,
            ..
        } => BotFailure::Credentials(description),
        CallError::Api {
            code, description, ..
        } if code == 429 || code >= 500 => {
            BotFailure::Unavailable(format!("{code}: {description}"))
        }
        CallError::Api {
            code, description, ..
        } => BotFailure::Rejected(format!("{code}: {description}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(code: u16, description: &str, retry_after: Option<u64>, expected: &SendError) {
        assert_eq!(
            &classify(code, description, retry_after.map(Duration::from_secs)),
            expected
        );
    }

    #[test]
    fn failures_are_classified_by_telegrams_error_code() {
        check(
            429,
            "Too Many Requests: retry after 17",
            Some(17),
            &SendError::Retryable {
                reason: "429: Too Many Requests: retry after 17".into(),
                retry_after: Some(Duration::from_secs(17)),
            },
        );
        check(
            401,
            "Unauthorized",
            None,
            &SendError::CredentialsRejected {
                reason: "401: Unauthorized".into(),
            },
        );
        check(
            403,
            "Forbidden: bot was blocked by the user",
            None,
            &SendError::Permanent {
                reason:
                    "the guest cannot be written to (403: Forbidden: bot was blocked by the user)"
                        .into(),
            },
        );
        check(
            400,
            "Bad Request: chat not found",
            None,
            &SendError::Permanent {
                reason: "400: Bad Request: chat not found".into(),
            },
        );
        check(
            502,
            "Bad Gateway",
            None,
            &SendError::Retryable {
                reason: "502: Bad Gateway".into(),
                retry_after: None,
            },
        );
    }

    #[test]
    fn connecting_tells_a_bad_token_from_an_outage() {
        let api = |code: u16| CallError::Api {
            code,
            description: "x".into(),
            retry_after: None,
        };
        assert!(matches!(
            connect_failure(api(401)),
            BotFailure::Credentials(_)
        ));
        assert!(matches!(
            connect_failure(api(404)),
            BotFailure::Credentials(_)
        ));
        assert!(matches!(
            connect_failure(api(500)),
            BotFailure::Unavailable(_)
        ));
        assert!(matches!(
            connect_failure(api(429)),
            BotFailure::Unavailable(_)
        ));
        assert!(matches!(connect_failure(api(400)), BotFailure::Rejected(_)));
        assert!(matches!(
            connect_failure(CallError::Transport("refused".into())),
            BotFailure::Unavailable(_)
        ));
    }

    #[test]
    fn a_sent_message_is_named_by_its_chat_and_id() {
        let call = Call {
            method: "sendMessage",
            body: json!({"chat_id": 5, "text": "x"}),
        };
        let result = json!({"message_id": 58, "chat": {"id": 5}, "date": 1});
        assert_eq!(provider_id("5", &call, &result).unwrap(), "5:58");
        let reaction = Call {
            method: "setMessageReaction",
            body: json!({"chat_id": 5, "message_id": 57}),
        };
        assert_eq!(
            provider_id("5", &reaction, &json!(true)).unwrap(),
            "reaction:5:57"
        );
        assert!(provider_id("5", &call, &json!(true)).is_err());
    }
}
