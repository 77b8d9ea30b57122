//! The Cloud API client: sends a rendered message and classifies Graph errors by
//! `error.code` (never by HTTP status alone, which Meta does not apply consistently).

use super::render::render;
use crate::adapters::{SendError, Sent};
use crate::domain::MessageContent;
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// Graph codes worth retrying: unknown/temporary API errors, throttling, pair rate, maintenance.
const RETRYABLE_CODES: [i64; 10] = [
    1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057, 133004,
];

#[derive(Clone, Debug)]
pub struct WhatsappClient {
    http: reqwest::Client,
    graph_url: Url,
    version: String,
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
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
    error_data: Option<serde_json::Value>,
    #[serde(default)]
    fbtrace_id: Option<String>,
}

impl WhatsappClient {
    pub fn new(http: reqwest::Client, graph_url: Url, version: String) -> Self {
        Self {
            http,
            graph_url,
            version,
        }
    }

    pub async fn send(
        &self,
        phone_number_id: &str,
        access_token: &str,
        recipient: &str,
        content: &MessageContent,
        reply_to: Option<&str>,
    ) -> Result<Sent, SendError> {
        let body = render(recipient, content, reply_to)?;
        let url = format!(
            "{}/{}/{}/messages",
            self.graph_url.as_str().trim_end_matches('/'),
            self.version,
            phone_number_id
        );
        let crate::adapters::Answer {
            status,
            retry_after,
            body: bytes,
        } = crate::adapters::post_json(&self.http, url, access_token, &body).await?;
        if (200..300).contains(&status) {
            let parsed: SendResponse =
                serde_json::from_slice(&bytes).map_err(|error| SendError::Retryable {
                    reason: format!("the provider's answer is not a send result: {error}"),
                    retry_after: None,
                })?;
            return parsed
                .messages
                .into_iter()
                .next()
                .map(|message| Sent {
                    provider_message_id: message.id,
                })
                .ok_or_else(|| SendError::Retryable {
                    reason: "the provider's answer has no message id".into(),
                    retry_after: None,
                });
        }
        Err(classify(status, &bytes, retry_after))
    }
}

/// Where a media id's bytes can be fetched, as `GET /{media-id}` says.
#[derive(Clone, Debug, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub file_size: Option<serde_json::Value>,
}

impl WhatsappClient {
    /// Resolves a media id to its short-lived download URL. The URL expires within minutes,
    /// so it is resolved again for every download.
    pub async fn media_info(
        &self,
        media_id: &str,
        access_token: &str,
    ) -> Result<MediaInfo, SendError> {
        let url = format!(
            "{}/{}/{}",
            self.graph_url.as_str().trim_end_matches('/'),
            self.version,
            media_id
        );
        let crate::adapters::Answer {
            status,
            retry_after,
            body,
        } = crate::adapters::get(&self.http, url, access_token).await?;
        if !(200..300).contains(&status) {
            return Err(classify(status, &body, retry_after));
        }
        serde_json::from_slice(&body).map_err(|error| SendError::Retryable {
            reason: format!("the provider's answer is not a media description: {error}"),
            retry_after: None,
        })
    }

    /// Starts downloading media from the URL `media_info` gave, with the channel's token.
    pub async fn download(
        &self,
        url: &str,
        access_token: &str,
    ) -> Result<reqwest::Response, SendError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|error| SendError::Retryable {
                reason: format!("the media host could not be reached: {error}"),
                retry_after: None,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        Err(if status.is_server_error() {
            SendError::Retryable {
                reason: format!("the media host answered {status}"),
                retry_after: None,
            }
        } else {
            SendError::Permanent {
                reason: format!("the media host answered {status}; the link may have expired"),
            }
        })
    }
}

impl WhatsappClient {
    /// Marks a contact's message read: the contact sees blue ticks on it and on every earlier
    /// message.
    pub async fn mark_read(
        &self,
        phone_number_id: &str,
        access_token: &str,
        message_id: &str,
    ) -> Result<(), SendError> {
        self.read_receipt(phone_number_id, access_token, message_id, false)
            .await
    }

    /// Marks a contact's message read and shows them that the business is typing (for up
    /// to 25 seconds, or until the next message).
    pub async fn typing(
        &self,
        phone_number_id: &str,
        access_token: &str,
        message_id: &str,
    ) -> Result<(), SendError> {
        self.read_receipt(phone_number_id, access_token, message_id, true)
            .await
    }

    async fn read_receipt(
        &self,
        phone_number_id: &str,
        access_token: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), SendError> {
        let url = format!(
            "{}/{}/{}/messages",
            self.graph_url.as_str().trim_end_matches('/'),
            self.version,
            phone_number_id
        );
        let mut body = serde_json::json!({
            "messaging_product": "whatsapp", "status": "read", "message_id": message_id,
        });
        if typing {
            body["typing_indicator"] = serde_json::json!({"type": "text"});
        }
        let answer = crate::adapters::post_json(&self.http, url, access_token, &body).await?;
        if (200..300).contains(&answer.status) {
            return Ok(());
        }
        Err(classify(answer.status, &answer.body, answer.retry_after))
    }
}

/// Maps a failed answer to what the channel actor should do.
pub fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> SendError {
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
    let details = error
        .error_data
        .as_ref()
        .and_then(|data| data.get("details"))
        .and_then(|details| details.as_str())
        .map(|details| format!(" ({details})"))
        .unwrap_or_default();
    let subcode = error
        .error_subcode
        .map(|subcode| format!("/{subcode}"))
        .unwrap_or_default();
    let trace = error
        .fbtrace_id
        .map(|trace| format!(" [fbtrace_id {trace}]"))
        .unwrap_or_default();
    let reason = format!("{}{subcode}: {}{details}{trace}", error.code, error.message);
    match error.code {
        0 | 190 | 10 | 200..=299 => SendError::CredentialsRejected { reason },
        code if RETRYABLE_CODES.contains(&code) => SendError::Retryable {
            reason,
            retry_after,
        },
        _ if status >= 500 => SendError::Retryable {
            reason,
            retry_after,
        },
        _ => SendError::Permanent { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_error(code: i64) -> Vec<u8> {
        format!(r#"{{"error":{{"message":"(#{code}) x","type":"OAuthException","code":{code},"fbtrace_id":"T"}}}}"#)
            .into_bytes()
    }

    #[test]
    fn graph_errors_are_classified_by_code() {
        let cases = [
            (401, 190, "credentials"),
            (400, 190, "credentials"),
            (403, 10, "credentials"),
            (403, 200, "credentials"),
            (429, 130429, "retry"),
            (400, 131056, "retry"),
            (500, 131000, "retry"),
            (503, 2, "retry"),
            (400, 131047, "permanent"),
            (400, 131009, "permanent"),
            (400, 100, "permanent"),
        ];
        for (status, code, expected) in cases {
            let got = match classify(status, &graph_error(code), None) {
                SendError::Retryable { .. } => "retry",
                SendError::CredentialsRejected { .. } => "credentials",
                SendError::Permanent { .. } => "permanent",
            };
            assert_eq!(got, expected, "HTTP {status} code {code}");
        }
    }

    #[test]
    fn answers_without_a_graph_error_fall_back_to_the_status() {
        assert!(matches!(
            classify(502, b"<html>", None),
            SendError::Retryable { .. }
        ));
        assert!(matches!(classify(429, b"", Some(Duration::from_secs(2))),
            SendError::Retryable { retry_after: Some(wait), .. } if wait == Duration::from_secs(2)));
        assert!(matches!(
            classify(404, b"", None),
            SendError::Permanent { .. }
        ));
    }

    #[test]
    fn the_reason_keeps_code_details_and_trace() {
        let body = br#"{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"MOCKtrace1"}}"#;
        let SendError::CredentialsRejected { reason } = classify(401, body, None) else {
            panic!("expected credentials rejected");
        };
        assert_eq!(
            reason,
            "190/463: Error validating access token: Session has expired [fbtrace_id MOCKtrace1]"
        );
    }
}

/// What WhatsApp accepts as an upload: the media kind a MIME type is sent as, and its largest
/// size in bytes. `None` for a type WhatsApp does not take.
pub fn upload_limits(mime_type: &str) -> Option<(crate::domain::MediaKind, usize)> {
    use crate::domain::MediaKind;
    const MB: usize = 1024 * 1024;
    let mime_type = mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Some(match mime_type.as_str() {
        "image/jpeg" | "image/png" => (MediaKind::Image, 5 * MB),
        "image/webp" => (MediaKind::Sticker, 500 * 1024),
        "video/mp4" | "video/3gpp" | "video/3gp" => (MediaKind::Video, 16 * MB),
        "audio/aac" | "audio/mp4" | "audio/mpeg" | "audio/amr" | "audio/ogg" => {
            (MediaKind::Audio, 16 * MB)
        }
        "text/plain"
        | "application/pdf"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            (MediaKind::Document, 100 * MB)
        }
        _ => return None,
    })
}

#[derive(Deserialize)]
struct Uploaded {
    id: String,
}

impl WhatsappClient {
    /// Uploads a file for the number to send, answering its media id (valid for 30 days).
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        access_token: &str,
        mime_type: &str,
        filename: &str,
        bytes: bytes::Bytes,
    ) -> Result<String, SendError> {
        let url = format!(
            "{}/{}/{}/media",
            self.graph_url.as_str().trim_end_matches('/'),
            self.version,
            phone_number_id
        );
        let file = reqwest::multipart::Part::stream(bytes)
            .file_name(filename.to_owned())
            .mime_str(mime_type)
            .map_err(|error| SendError::Permanent {
                reason: format!("`{mime_type}` is not a MIME type: {error}"),
            })?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_owned())
            .part("file", file);
        let request = self
            .http
            .post(url)
            .bearer_auth(access_token)
            .multipart(form);
        let crate::adapters::Answer {
            status,
            retry_after,
            body,
        } = crate::adapters::answer_of(request).await?;
        if !(200..300).contains(&status) {
            return Err(classify(status, &body, retry_after));
        }
        let uploaded: Uploaded =
            serde_json::from_slice(&body).map_err(|error| SendError::Retryable {
                reason: format!("the provider's answer is not an upload result: {error}"),
                retry_after: None,
            })?;
        Ok(uploaded.id)
    }
}

#[cfg(test)]
mod upload_tests {
    use super::upload_limits;
    use crate::domain::MediaKind;

    #[test]
    fn uploads_are_sent_as_the_kind_their_type_belongs_to_within_its_size() {
        assert_eq!(
            upload_limits("image/jpeg"),
            Some((MediaKind::Image, 5 * 1024 * 1024))
        );
        assert_eq!(
            upload_limits("Application/PDF; name=x.pdf").map(|(kind, _)| kind),
            Some(MediaKind::Document)
        );
        assert_eq!(
            upload_limits("audio/ogg").map(|(_, max)| max),
            Some(16 * 1024 * 1024)
        );
        assert_eq!(upload_limits("image/gif"), None);
        assert_eq!(upload_limits("application/zip"), None);
    }
}
