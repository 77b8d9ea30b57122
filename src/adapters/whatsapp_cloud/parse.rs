//! WhatsApp webhook notifications into [`InboundEvent`]s: every message type, reply context,
//! and delivery statuses, across batches of many entries and changes.

use crate::adapters::WebhookError;
use crate::domain::{
    DeliveryStatus, InboundEvent, InboundMessage, MediaKind, MessageContent, Millis, StatusUpdate,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// What one notification holds for the channel whose phone number it was sent to.
#[derive(Debug, Default, PartialEq)]
pub struct Notification {
    pub events: Vec<InboundEvent>,
    /// Changes addressed to another phone number id, ignored.
    pub foreign_changes: usize,
}

#[derive(Deserialize)]
struct Envelope {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    status: String,
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default)]
    recipient_id: Option<String>,
    #[serde(default)]
    recipient_user_id: Option<String>,
    #[serde(default)]
    errors: Vec<ProviderError>,
}

#[derive(Deserialize)]
struct ProviderError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_data: Option<Value>,
}

impl ProviderError {
    /// "131047 Re-engagement message: Message failed to send because more than 24 hours …"
    fn describe(&self) -> String {
        let mut text = String::new();
        if let Some(code) = self.code {
            text.push_str(&code.to_string());
        }
        if let Some(title) = self.title.as_ref().or(self.message.as_ref()) {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(title);
        }
        let details = self.error_data.as_ref().and_then(|data| match data {
            Value::Object(map) => map
                .get("details")
                .and_then(Value::as_str)
                .map(str::to_owned),
            Value::String(details) => Some(details.clone()),
            _ => None,
        });
        if let Some(details) = details {
            text.push_str(": ");
            text.push_str(&details);
        }
        text
    }
}

/// Parses a notification for the channel with `phone_number_id`.
pub fn parse(body: &[u8], phone_number_id: &str) -> Result<Notification, WebhookError> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|error| WebhookError::MalformedPayload(error.to_string()))?;
    if envelope.object != "whatsapp_business_account" {
        return Err(WebhookError::MalformedPayload(format!(
            "object is `{}`, expected `whatsapp_business_account`",
            envelope.object
        )));
    }
    let mut notification = Notification::default();
    for change in envelope.entry.into_iter().flat_map(|entry| entry.changes) {
        if change.field != "messages" {
            continue;
        }
        let value: ChangeValue = serde_json::from_value(change.value)
            .map_err(|error| WebhookError::MalformedPayload(error.to_string()))?;
        match &value.metadata {
            Some(metadata) if metadata.phone_number_id == phone_number_id => {}
            _ => {
                notification.foreign_changes += 1;
                continue;
            }
        }
        let names: HashMap<&str, &str> = value
            .contacts
            .iter()
            .filter_map(|contact| {
                let id = contact.wa_id.as_deref().or(contact.user_id.as_deref())?;
                let name = contact.profile.as_ref()?.name.as_deref()?;
                Some((id, name))
            })
            .collect();
        for message in &value.messages {
            notification
                .events
                .push(InboundEvent::Message(parse_message(message, &names)?));
        }
        for status in &value.statuses {
            if let Some(update) = parse_status(status) {
                notification.events.push(InboundEvent::Status(update));
            }
        }
    }
    Ok(notification)
}

fn parse_message(
    message: &Value,
    names: &HashMap<&str, &str>,
) -> Result<InboundMessage, WebhookError> {
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let provider_message_id = text(message, "id")
        .ok_or_else(|| WebhookError::MalformedPayload("a message has no `id`".into()))?;
    let phone = text(message, "from");
    let contact_external_id = phone
        .clone()
        .or_else(|| text(message, "from_user_id"))
        .ok_or_else(|| {
            WebhookError::MalformedPayload(format!("message {provider_message_id} has no sender"))
        })?;
    let kind = message
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unsupported");
    let body = message.get(kind).unwrap_or(&Value::Null);
    let content = match kind {
        "text" => MessageContent::Text {
            body: text(body, "body").unwrap_or_default(),
        },
        "image" | "video" | "audio" | "document" | "sticker" => MessageContent::Media {
            media_kind: kind
                .parse::<MediaKind>()
                .map_err(WebhookError::MalformedPayload)?,
            media_id: text(body, "id"),
            url: text(body, "url"),
            mime_type: text(body, "mime_type"),
            caption: text(body, "caption"),
            filename: text(body, "filename"),
            voice: body.get("voice").and_then(Value::as_bool).unwrap_or(false),
        },
        "location" => MessageContent::Location {
            latitude: coordinate(body.get("latitude"))?,
            longitude: coordinate(body.get("longitude"))?,
            name: text(body, "name"),
            address: text(body, "address"),
        },
        "interactive" => parse_interactive(body),
        "button" => MessageContent::TemplateButton {
            payload: text(body, "payload")
                .or_else(|| text(body, "text"))
                .unwrap_or_default(),
            text: text(body, "text").unwrap_or_default(),
        },
        "reaction" => MessageContent::Reaction {
            target_provider_message_id: text(body, "message_id").unwrap_or_default(),
            emoji: text(body, "emoji").filter(|emoji| !emoji.is_empty()),
        },
        "contacts" => MessageContent::Contacts {
            contacts: body.clone(),
        },
        "system" => MessageContent::System {
            body: text(body, "body").unwrap_or_default(),
        },
        other => {
            let detail = message
                .get("unsupported")
                .and_then(|unsupported| text(unsupported, "type"))
                .or_else(|| {
                    message
                        .get("errors")
                        .and_then(|errors| errors.get(0))
                        .and_then(|error| text(error, "title"))
                })
                .unwrap_or_else(|| other.to_owned());
            MessageContent::Unsupported { detail }
        }
    };
    Ok(InboundMessage {
        contact_name: names
            .get(contact_external_id.as_str())
            .map(|name| (*name).to_owned()),
        contact_phone: phone.map(|digits| format!("+{digits}")),
        provider_timestamp: message.get("timestamp").and_then(unix_seconds_to_millis),
        reply_to_provider_message_id: message
            .get("context")
            .and_then(|context| text(context, "id")),
        provider_message_id,
        contact_external_id,
        content,
    })
}

fn parse_interactive(body: &Value) -> MessageContent {
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let kind = body.get("type").and_then(Value::as_str).unwrap_or_default();
    match body.get(kind) {
        Some(reply) if kind == "button_reply" || kind == "list_reply" => {
            MessageContent::InteractiveReply {
                reply_id: text(reply, "id").unwrap_or_default(),
                title: text(reply, "title").unwrap_or_default(),
                description: text(reply, "description"),
            }
        }
        Some(reply) if kind == "nfm_reply" => MessageContent::InteractiveReply {
            reply_id: text(reply, "name").unwrap_or_else(|| "flow".into()),
            title: text(reply, "body").unwrap_or_default(),
            description: text(reply, "response_json"),
        },
        _ => MessageContent::Unsupported {
            detail: format!("interactive {kind}"),
        },
    }
}

fn parse_status(status: &Status) -> Option<StatusUpdate> {
    let state = match status.status.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" | "played" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        _ => return None,
    };
    let failure_reason = (state == DeliveryStatus::Failed).then(|| {
        status
            .errors
            .first()
            .map(ProviderError::describe)
            .unwrap_or_else(|| "the provider reported the message as failed".into())
    });
    Some(StatusUpdate {
        provider_message_id: status.id.clone(),
        recipient_external_id: status
            .recipient_id
            .clone()
            .or_else(|| status.recipient_user_id.clone())
            .unwrap_or_default(),
        status: state,
        provider_timestamp: status.timestamp.as_ref().and_then(unix_seconds_to_millis),
        failure_reason,
    })
}

/// WhatsApp sends coordinates as numbers; some typings use strings. Accept both.
fn coordinate(value: Option<&Value>) -> Result<f64, WebhookError> {
    match value {
        Some(Value::Number(number)) => number.as_f64(),
        Some(Value::String(text)) => text.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| WebhookError::MalformedPayload("a location needs numeric coordinates".into()))
}

/// Timestamps are Unix seconds as strings.
fn unix_seconds_to_millis(value: &Value) -> Option<Millis> {
    let seconds = match value {
        Value::String(text) => text.parse::<i64>().ok()?,
        Value::Number(number) => number.as_i64()?,
        _ => return None,
    };
    seconds.checked_mul(1_000)
}

#[cfg(test)]
mod tests;
