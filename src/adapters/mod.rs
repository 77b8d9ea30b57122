//! One module per provider: webhook verification and parsing, rendering of channel-neutral
//! content for the channel, and the provider's HTTP client with its error classification.

pub mod email;
pub mod evolution;
pub mod messenger;
pub mod meta;
#[cfg(test)]
mod render_table;
pub mod telegram;
pub mod twilio;
pub mod webchat;
pub mod whatsapp_cloud;

use std::time::Duration;

/// Why a webhook was refused. Each maps to a stable error code at the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the signature header is missing")]
    MissingSignature,
    #[error("the signature does not match the body")]
    BadSignature,
    #[error("the payload is not valid: {0}")]
    MalformedPayload(String),
}

/// The result of one send attempt that did not succeed, classified for the channel actor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again: 5xx, throttling, timeouts. `retry_after` is the provider's wish.
    #[error("temporary failure: {reason}")]
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The credentials are dead (expired, revoked, permission removed): the channel needs a
    /// reconnect and retrying would only repeat the failure.
    #[error("credentials rejected: {reason}")]
    CredentialsRejected { reason: String },
    /// The provider will never accept this message as it is.
    #[error("rejected: {reason}")]
    Permanent { reason: String },
}

/// A send the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for the message; delivery statuses refer to it.
    pub provider_message_id: String,
}

/// A provider's answer to a send: its HTTP status, its `Retry-After`, and its body.
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: bytes::Bytes,
}

/// Posts a JSON body with a bearer token. A provider that cannot be reached, or whose answer
/// is cut off, is a retryable failure; any answer that arrives whole is the caller's to read.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: String,
    access_token: &str,
    body: &serde_json::Value,
) -> Result<Answer, SendError> {
    answer_of(http.post(url).bearer_auth(access_token).json(body)).await
}

/// Gets a provider resource with a bearer token, with the same reading of the answer.
pub(crate) async fn get(
    http: &reqwest::Client,
    url: String,
    access_token: &str,
) -> Result<Answer, SendError> {
    answer_of(http.get(url).bearer_auth(access_token)).await
}

pub(crate) async fn answer_of(request: reqwest::RequestBuilder) -> Result<Answer, SendError> {
    let response = request.send().await.map_err(|error| SendError::Retryable {
        reason: format!("the provider could not be reached: {error}"),
        retry_after: None,
    })?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = response
        .bytes()
        .await
        .map_err(|error| SendError::Retryable {
            reason: format!("the provider's answer was cut off: {error}"),
            retry_after,
        })?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Graph).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
