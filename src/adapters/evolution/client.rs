//! The provider's REST API: `apikey` header auth (the global key to create instances, the
//! instance's token for everything else), instance lifecycle, QR codes and sends. Errors come
//! in the envelope `{"status", "error", "response": {"message": [...]}}`.

use super::Qr;
use crate::adapters::{SendError, Sent};
use serde_json::{json, Value};
use url::Url;

#[derive(Clone, Debug)]
pub struct EvolutionClient {
    http: reqwest::Client,
    base_url: Url,
}

/// What a new instance came with.
#[derive(Clone, Debug)]
pub struct Created {
    pub instance_token: String,
    pub qr: Option<Qr>,
}

/// A contact's file, decrypted by the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaFile {
    pub bytes: Vec<u8>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
}

/// The answer of `connect`: a QR to scan, or the number is already connected.
#[derive(Clone, Debug, PartialEq)]
pub enum Connect {
    Qr(Qr),
    Open,
}

fn reason_of(answer: &crate::adapters::Answer) -> String {
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let message = match body.pointer("/response/message") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    };
    if message.is_empty() {
        format!("HTTP {}", answer.status)
    } else {
        format!("{}: {message}", answer.status)
    }
}

/// Classifies a refused call: a rejected token or a vanished instance needs pairing again; a
/// number not on WhatsApp or a bad message is final; a closed connection and 5xx are passing.
fn classify(answer: &crate::adapters::Answer) -> SendError {
    let reason = reason_of(answer);
    match answer.status {
        401 | 404 => SendError::CredentialsRejected { reason },
        400 if reason.contains("Connection Closed") => SendError::Retryable {
            reason,
            retry_after: answer.retry_after,
        },
        429 | 500..=599 => SendError::Retryable {
            reason,
            retry_after: answer.retry_after,
        },
        _ if reason.contains("\"exists\":false") => SendError::Permanent {
            reason: format!("the number is not on WhatsApp ({reason})"),
        },
        _ => SendError::Permanent { reason },
    }
}

fn qr_of(value: &Value) -> Option<Qr> {
    let code = value.get("code")?.as_str()?.to_owned();
    Some(Qr {
        code,
        base64: value
            .get("base64")
            .and_then(Value::as_str)
            .map(str::to_owned),
        pairing_code: value
            .get("pairingCode")
            .and_then(Value::as_str)
            .map(str::to_owned),
        count: value
            .get("count")
            .and_then(Value::as_u64)
            .and_then(|count| u32::try_from(count).ok()),
    })
}

impl EvolutionClient {
    pub fn new(http: reqwest::Client, base_url: Url) -> Self {
        Self { http, base_url }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.as_str().trim_end_matches('/'))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Result<crate::adapters::Answer, SendError> {
        let mut request = self
            .http
            .request(method, self.url(path))
            .header("apikey", key);
        if let Some(body) = body {
            request = request.json(body);
        }
        crate::adapters::answer_of(request).await
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Result<Value, SendError> {
        let answer = self.call(method, path, key, body).await?;
        if !(200..300).contains(&answer.status) {
            return Err(classify(&answer));
        }
        Ok(serde_json::from_slice(&answer.body).unwrap_or(Value::Null))
    }

    /// Creates an instance that posts its webhooks to `webhook_url` with the secret header,
    /// and starts pairing at once (the answer carries the first QR).
    pub async fn create_instance(
        &self,
        api_key: &str,
        instance: &str,
        number: Option<&str>,
        webhook_url: &str,
        webhook_secret: &str,
    ) -> Result<Created, SendError> {
        let mut body = json!({
            "instanceName": instance,
            "integration": "WHATSAPP-BAILEYS",
            "qrcode": true,
            "webhook": {
                "url": webhook_url,
                "byEvents": false,
                "base64": true,
                "headers": {super::SECRET_HEADER: webhook_secret},
                "events": ["QRCODE_UPDATED", "CONNECTION_UPDATE", "MESSAGES_UPSERT",
                           "MESSAGES_UPDATE", "LOGOUT_INSTANCE"]
            }
        });
        if let Some(number) = number {
            body["number"] = json!(number.trim_start_matches('+'));
        }
        let created = self
            .ok(
                reqwest::Method::POST,
                "/instance/create",
                api_key,
                Some(&body),
            )
            .await?;
        let instance_token = created
            .get("hash")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SendError::Retryable {
                reason: "the provider's answer has no instance token (`hash`)".into(),
                retry_after: None,
            })?;
        Ok(Created {
            instance_token,
            qr: created.get("qrcode").and_then(qr_of),
        })
    }

    /// The current QR code, starting a new pairing attempt if the last one ended.
    pub async fn connect(&self, instance: &str, token: &str) -> Result<Connect, SendError> {
        let answer = self
            .ok(
                reqwest::Method::GET,
                &format!("/instance/connect/{instance}"),
                token,
                None,
            )
            .await?;
        if let Some(qr) = qr_of(&answer) {
            return Ok(Connect::Qr(qr));
        }
        match answer.pointer("/instance/state").and_then(Value::as_str) {
            Some("open") => Ok(Connect::Open),
            other => Err(SendError::Retryable {
                reason: format!("the provider gave no QR code (state {other:?})"),
                retry_after: None,
            }),
        }
    }

    /// Logs the number out and removes the instance.
    pub async fn remove(&self, instance: &str, token: &str) -> Result<(), SendError> {
        // Logging out an instance that never paired is refused; removing it is what matters.
        let _ = self
            .call(
                reqwest::Method::DELETE,
                &format!("/instance/logout/{instance}"),
                token,
                None,
            )
            .await;
        match self
            .ok(
                reqwest::Method::DELETE,
                &format!("/instance/delete/{instance}"),
                token,
                None,
            )
            .await
        {
            // Already gone is what was asked.
            Ok(_) | Err(SendError::CredentialsRejected { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// The decrypted file of a contact's media message, by its message id
    /// (`getBase64FromMediaMessage`): the bytes, their type and the file's name.
    pub async fn media(
        &self,
        instance: &str,
        token: &str,
        message_id: &str,
    ) -> Result<MediaFile, SendError> {
        let answer = self
            .ok(
                reqwest::Method::POST,
                &format!("/chat/getBase64FromMediaMessage/{instance}"),
                token,
                Some(&json!({"message": {"key": {"id": message_id}}, "convertToMp4": false})),
            )
            .await?;
        let encoded = answer
            .get("base64")
            .and_then(Value::as_str)
            .ok_or_else(|| SendError::Permanent {
                reason: "the provider's answer carries no file".into(),
            })?;
        // Some versions answer a data URL rather than bare base64.
        let encoded = encoded
            .split_once(";base64,")
            .map_or(encoded, |(_, data)| data);
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|error| SendError::Permanent {
                reason: format!("the provider's file is not base64: {error}"),
            })?;
        let field = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        Ok(MediaFile {
            bytes,
            mime_type: field("mimetype"),
            filename: field("fileName"),
        })
    }

    /// Sends a rendered message (`render::Outbound`) and answers its message id.
    pub async fn send(
        &self,
        instance: &str,
        token: &str,
        outbound: &super::render::Outbound,
    ) -> Result<Sent, SendError> {
        let answer = self
            .ok(
                reqwest::Method::POST,
                &format!("/message/{}/{instance}", outbound.endpoint),
                token,
                Some(&outbound.body),
            )
            .await?;
        let id = answer
            .pointer("/key/id")
            .and_then(Value::as_str)
            .ok_or_else(|| SendError::Retryable {
                reason: "the provider's answer has no message id".into(),
                retry_after: None,
            })?;
        Ok(Sent {
            provider_message_id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> crate::adapters::Answer {
        crate::adapters::Answer {
            status,
            retry_after: None,
            body: bytes::Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn refusals_are_classified_from_the_envelope() {
        let missing = answer(
            404,
            r#"{"status":404,"error":"Not Found","response":{"message":["The \"x\" instance does not exist"]}}"#,
        );
        assert!(matches!(
            classify(&missing),
            SendError::CredentialsRejected { .. }
        ));
        let not_on_whatsapp = answer(
            400,
            r#"{"status":400,"error":"Bad Request","response":{"message":[{"jid":"5511@s.whatsapp.net","exists":false,"number":"5511"}]}}"#,
        );
        match classify(&not_on_whatsapp) {
            SendError::Permanent { reason } => assert!(
                reason.starts_with("the number is not on WhatsApp"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
        let closed = answer(
            400,
            r#"{"status":400,"error":"Bad Request","response":{"message":["Connection Closed"]}}"#,
        );
        assert!(matches!(classify(&closed), SendError::Retryable { .. }));
        let blank = answer(
            400,
            r#"{"status":400,"error":"Bad Request","response":{"message":["Text is required"]}}"#,
        );
        assert_eq!(
            classify(&blank),
            SendError::Permanent {
                reason: "400: Text is required".into()
            }
        );
    }
}
