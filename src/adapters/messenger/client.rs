//! The Send API client for Messenger and Instagram: posts a rendered body and classifies Graph
//! errors by `error.code` and `error_subcode` (never by HTTP status alone, which Meta does not
//! apply consistently).
//!
//! Messenger sends go to `{graph_url}/{version}/me/messages` with the Page access token, which
//! names the Page. Instagram sends go to `{graph_url}/{version}/{account_id}/messages`: with a
//! Page token on `graph.facebook.com` (the Messenger API for Instagram, which Parley's
//! channels use) `account_id` is the linked Page's id; with an Instagram Login token on
//! `graph.instagram.com` it would be the Instagram account's id.

use super::render::{render_sender_action, SenderAction};
use super::Platform;
use crate::adapters::{SendError, Sent};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// Graph codes worth retrying: unknown and temporary errors (1, 2), throttling (4 app, 17 user,
/// 32 page, 613 custom) and Messenger's temporary send failure (1200).
const RETRYABLE_CODES: [i64; 7] = [1, 2, 4, 17, 32, 613, 1200];
/// Code 10's subcodes for a message sent outside the messaging window: Messenger's, which
/// Instagram uses too, and Instagram's own. Both are taken as the window on both platforms:
/// mistaking a closed window for dead credentials would take the channel offline.
const WINDOW_SUBCODES: [i64; 2] = [2_018_278, 2_534_022];
/// Code 10: the app may not message this person (not reviewed, and they have no app role).
const APP_CANNOT_MESSAGE_SUBCODE: i64 = 2_018_108;
/// Code 10: the Page is temporarily restricted from sending.
const PAGE_RESTRICTED_SUBCODE: i64 = 1_893_063;
/// Code 100: no person with this id for this Page or account.
const NO_MATCHING_USER_SUBCODE: i64 = 2_018_001;

#[derive(Clone, Debug)]
pub struct MessengerClient {
    http: reqwest::Client,
    graph_url: Url,
    version: String,
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    is_transient: bool,
    #[serde(default)]
    fbtrace_id: Option<String>,
}

impl MessengerClient {
    pub fn new(http: reqwest::Client, graph_url: Url, version: String) -> Self {
        Self {
            http,
            graph_url,
            version,
        }
    }

    /// Sends a body from [`super::render::render`] for the Page or Instagram account
    /// `account_id`.
    ///
    /// A reaction is a sender action, answered with `recipient_id` only; it is then given the
    /// id `react:{message_id}` (or `unreact:…`), which no delivery status will ever name.
    pub async fn send(
        &self,
        platform: Platform,
        account_id: &str,
        access_token: &str,
        body: &Value,
    ) -> Result<Sent, SendError> {
        let bytes = self.post(platform, account_id, access_token, body).await?;
        let parsed: SendResponse =
            serde_json::from_slice(&bytes).map_err(|error| SendError::Retryable {
                reason: format!("the provider's answer is not a send result: {error}"),
                retry_after: None,
            })?;
        if let Some(message_id) = parsed.message_id {
            return Ok(Sent {
                provider_message_id: message_id,
            });
        }
        let action = body.get("sender_action").and_then(Value::as_str);
        let target = body
            .get("payload")
            .and_then(|payload| payload.get("message_id"))
            .and_then(Value::as_str);
        match (action, target) {
            (Some(action), Some(target)) => Ok(Sent {
                provider_message_id: format!("{action}:{target}"),
            }),
            _ => Err(SendError::Retryable {
                reason: "the provider's answer has no message id".into(),
                retry_after: None,
            }),
        }
    }

    /// Shows typing, stops it, or marks the contact's messages as seen.
    pub async fn send_sender_action(
        &self,
        platform: Platform,
        account_id: &str,
        access_token: &str,
        recipient: &str,
        action: SenderAction,
    ) -> Result<(), SendError> {
        let body = render_sender_action(recipient, action);
        self.post(platform, account_id, access_token, &body)
            .await
            .map(drop)
    }

    /// Posts `body` and returns the answer of a success, or the classified failure.
    async fn post(
        &self,
        platform: Platform,
        account_id: &str,
        access_token: &str,
        body: &Value,
    ) -> Result<bytes::Bytes, SendError> {
        let node = match platform {
            Platform::Messenger => "me",
            Platform::Instagram => account_id,
        };
        let url = format!(
            "{}/{}/{node}/messages",
            self.graph_url.as_str().trim_end_matches('/'),
            self.version,
        );
        let crate::adapters::Answer {
            status,
            retry_after,
            body: bytes,
        } = crate::adapters::post_json(&self.http, url, access_token, body).await?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        Err(classify(platform, status, &bytes, retry_after))
    }
}

/// Maps a failed answer to what the channel actor should do.
///
/// | `code` / `error_subcode` | Result |
/// |---|---|
/// | 10 / 2018278 or 10 / 2534022 | Permanent: outside the 24-hour window |
/// | 10 / 2018108 | Permanent: the app may not message this person |
/// | 10 / 1893063 | Permanent: the Page is restricted from sending for now |
/// | 0, 102, 190 (any subcode), 10 (other), 200–299 | CredentialsRejected |
/// | 1, 2, 4, 17, 32, 613, 1200, or `is_transient` | Retryable |
/// | 551 (e.g. 1545041) | Permanent: the person is not available |
/// | 100 / 2018001 | Permanent: no such person for this account |
/// | any other code | Retryable on HTTP 5xx, else Permanent |
/// | no Graph error | Retryable on HTTP 5xx, 429 or 408, else Permanent |
pub fn classify(
    platform: Platform,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> SendError {
    let Ok(ErrorEnvelope { error }) = serde_json::from_slice::<ErrorEnvelope>(body) else {
        let reason = format!("HTTP {status} without a Graph error");
        return if status >= 500 || status == 429 || status == 408 {
            SendError::Retryable {
                reason,
                retry_after,
            }
        } else {
            SendError::Permanent { reason }
        };
    };
    let subcode = error
        .error_subcode
        .map(|subcode| format!("/{subcode}"))
        .unwrap_or_default();
    let trace = error
        .fbtrace_id
        .as_ref()
        .map(|trace| format!(" [fbtrace_id {trace}]"))
        .unwrap_or_default();
    let graph = format!("{}{subcode}: {}{trace}", error.code, error.message);
    let permanent = |why: &str| SendError::Permanent {
        reason: format!("{why} ({graph})"),
    };
    match (error.code, error.error_subcode) {
        (10, Some(subcode)) if WINDOW_SUBCODES.contains(&subcode) => permanent(&format!(
            "outside the 24-hour messaging window of {platform}: the contact last wrote more \
             than 24 hours ago (or, for a human agent's tagged reply, more than 7 days ago)"
        )),
        (10, Some(APP_CANNOT_MESSAGE_SUBCODE)) => permanent(&format!(
            "the app may not message this person on {platform} (it has not passed App Review \
             and they have no role on it)"
        )),
        (10, Some(PAGE_RESTRICTED_SUBCODE)) => {
            permanent("the Page is temporarily restricted from sending messages")
        }
        (0 | 102 | 190 | 10 | 200..=299, _) => SendError::CredentialsRejected { reason: graph },
        (code, _) if error.is_transient || RETRYABLE_CODES.contains(&code) => {
            SendError::Retryable {
                reason: graph,
                retry_after,
            }
        }
        (551, _) => permanent(&format!(
            "this person isn't available on {platform} right now"
        )),
        (100, Some(NO_MATCHING_USER_SUBCODE)) => {
            permanent(&format!("no {platform} user matches the recipient id"))
        }
        _ if status >= 500 => SendError::Retryable {
            reason: graph,
            retry_after,
        },
        _ => SendError::Permanent { reason: graph },
    }
}

#[cfg(test)]
mod tests;
