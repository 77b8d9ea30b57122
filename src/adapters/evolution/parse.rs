//! The provider's webhook envelope `{event, instance, data, …}` into what Parley does with
//! it: a QR rotation, a connection state, a contact's message, or a receipt. Messages the
//! business sent (`key.fromMe`) are not taken back in.

use super::Qr;
use crate::adapters::WebhookError;
use crate::domain::{
    DeliveryStatus, InboundEvent, InboundMessage, MediaKind, MessageContent, StatusUpdate,
};
use serde_json::Value;

/// What one webhook says.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// A new QR code to scan.
    Qr(Qr),
    /// The provider gave up showing QR codes: nobody scanned in time.
    QrLimit,
    /// The number is connected.
    Open {
        wuid: Option<String>,
        profile_name: Option<String>,
    },
    Connecting,
    /// The connection closed, with the engine's reason code.
    Closed {
        reason: Option<i64>,
    },
    /// The number logged out (from the phone or the provider).
    LoggedOut,
    /// Contacts' messages and receipts.
    Events(Vec<InboundEvent>),
    /// An event Parley has no use for.
    Ignored(String),
}

fn malformed(what: &str) -> WebhookError {
    WebhookError::MalformedPayload(what.to_owned())
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// The contact a JID names: the digits of a person, or the whole JID of a group.
fn contact_of(jid: &str) -> (String, bool) {
    match jid.split_once('@') {
        Some((_, "g.us")) => (jid.to_owned(), true),
        Some((user, _)) => (user.split(':').next().unwrap_or(user).to_owned(), false),
        None => (jid.to_owned(), false),
    }
}

/// Parses a webhook: the instance it is for, and what it says.
pub fn parse(body: &[u8]) -> Result<(String, Notice), WebhookError> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|error| WebhookError::MalformedPayload(error.to_string()))?;
    let event = envelope
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the webhook has no `event`"))?
        .to_ascii_lowercase()
        .replace('_', ".");
    let instance = envelope
        .get("instance")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the webhook has no `instance`"))?
        .to_owned();
    let data = envelope.get("data").cloned().unwrap_or(Value::Null);
    let notice = match event.as_str() {
        "qrcode.updated" => {
            let qr = data.get("qrcode").unwrap_or(&data);
            match (
                qr.get("statusCode").and_then(Value::as_i64),
                text(qr, "/code"),
            ) {
                (Some(500), _) | (_, None) => Notice::QrLimit,
                (_, Some(code)) => Notice::Qr(Qr {
                    code,
                    base64: text(qr, "/base64"),
                    pairing_code: text(qr, "/pairingCode"),
                    count: qr
                        .get("count")
                        .and_then(Value::as_u64)
                        .and_then(|count| u32::try_from(count).ok()),
                }),
            }
        }
        "connection.update" => match data.get("state").and_then(Value::as_str) {
            Some("open") => Notice::Open {
                wuid: text(&data, "/wuid"),
                profile_name: text(&data, "/profileName"),
            },
            Some("connecting") => Notice::Connecting,
            Some("refused") => Notice::QrLimit,
            Some("close") => Notice::Closed {
                reason: data.get("statusReason").and_then(Value::as_i64),
            },
            other => Notice::Ignored(format!("connection state {other:?}")),
        },
        "logout.instance" => Notice::LoggedOut,
        "messages.upsert" => Notice::Events(message(&data)?.into_iter().collect()),
        "messages.update" => Notice::Events(receipt(&data).into_iter().collect()),
        other => Notice::Ignored(other.to_owned()),
    };
    Ok((instance, notice))
}

fn media(message: &Value, key: &str, kind: MediaKind, id: &str) -> MessageContent {
    let media = message.get(key).unwrap_or(&Value::Null);
    MessageContent::Media {
        media_kind: kind,
        // The provider's message id: its media endpoint resolves it to the decrypted file.
        media_id: Some(id.to_owned()),
        url: text(message, "/mediaUrl"),
        mime_type: text(media, "/mimetype"),
        caption: text(media, "/caption"),
        filename: text(media, "/fileName"),
        voice: key == "audioMessage" && media.get("ptt").and_then(Value::as_bool) == Some(true),
    }
}

/// A contact's message (`messages.upsert`), or `None` for one the business sent.
fn message(data: &Value) -> Result<Option<InboundEvent>, WebhookError> {
    let key = data
        .get("key")
        .ok_or_else(|| malformed("the message has no `key`"))?;
    if key.get("fromMe").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let id = text(key, "/id").ok_or_else(|| malformed("the message key has no `id`"))?;
    let jid = match key.get("addressingMode").and_then(Value::as_str) {
        // A privacy id: the phone's JID comes alongside.
        Some("lid") => text(key, "/remoteJidAlt").or_else(|| text(key, "/remoteJid")),
        _ => text(key, "/remoteJid"),
    }
    .ok_or_else(|| malformed("the message key has no `remoteJid`"))?;
    let (contact, group) = contact_of(&jid);
    let push_name = text(data, "/pushName");
    let message = data.get("message").unwrap_or(&Value::Null);
    let kind = data
        .get("messageType")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let mut content = match kind {
        "conversation" | "extendedTextMessage" => MessageContent::Text {
            body: text(message, "/conversation")
                .or_else(|| text(message, "/extendedTextMessage/text"))
                .unwrap_or_default(),
        },
        "imageMessage" => media(message, kind, MediaKind::Image, &id),
        "videoMessage" => media(message, kind, MediaKind::Video, &id),
        "audioMessage" => media(message, kind, MediaKind::Audio, &id),
        "documentMessage" => media(message, kind, MediaKind::Document, &id),
        "stickerMessage" => media(message, kind, MediaKind::Sticker, &id),
        "locationMessage" => {
            let place = message.get("locationMessage").unwrap_or(&Value::Null);
            MessageContent::Location {
                latitude: place
                    .get("degreesLatitude")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| malformed("the location has no latitude"))?,
                longitude: place
                    .get("degreesLongitude")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| malformed("the location has no longitude"))?,
                name: text(place, "/name"),
                address: text(place, "/address"),
            }
        }
        "contactMessage" | "contactsArrayMessage" => MessageContent::Contacts {
            contacts: message.get(kind).cloned().unwrap_or(Value::Null),
        },
        "reactionMessage" => MessageContent::Reaction {
            target_provider_message_id: text(message, "/reactionMessage/key/id")
                .ok_or_else(|| malformed("the reaction names no message"))?,
            emoji: text(message, "/reactionMessage/text"),
        },
        other => MessageContent::Unsupported {
            detail: format!("an unofficial WhatsApp message of type `{other}`"),
        },
    };
    if group {
        // In a group the author is named in the text, since the conversation is the group's.
        if let (MessageContent::Text { body }, Some(author)) = (&mut content, &push_name) {
            *body = format!("{author}: {body}");
        }
    }
    Ok(Some(InboundEvent::Message(InboundMessage {
        provider_message_id: id,
        contact_phone: (!group).then(|| format!("+{contact}")),
        contact_external_id: contact,
        contact_name: if group { None } else { push_name },
        provider_timestamp: data
            .get("messageTimestamp")
            .and_then(Value::as_i64)
            .map(|seconds| seconds.saturating_mul(1_000)),
        content,
        reply_to_provider_message_id: text(data, "/contextInfo/stanzaId"),
    })))
}

/// A receipt of a message the business sent (`messages.update`).
fn receipt(data: &Value) -> Option<InboundEvent> {
    let id = text(data, "/keyId")?;
    let (recipient, _) = contact_of(&text(data, "/remoteJid")?);
    let status = match data.get("status").and_then(Value::as_str)? {
        "SERVER_ACK" => DeliveryStatus::Sent,
        "DELIVERY_ACK" => DeliveryStatus::Delivered,
        "READ" | "PLAYED" => DeliveryStatus::Read,
        "ERROR" => DeliveryStatus::Failed,
        _ => return None,
    };
    Some(InboundEvent::Status(StatusUpdate {
        provider_message_id: id,
        recipient_external_id: recipient,
        failure_reason: (status == DeliveryStatus::Failed)
            .then(|| "the provider reported the message as failed".to_owned()),
        status,
        provider_timestamp: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[expect(clippy::needless_pass_by_value, reason = "cases pass json! literals")]
    fn parsed(value: Value) -> Notice {
        let (instance, notice) = parse(value.to_string().as_bytes()).unwrap();
        assert_eq!(instance, "parley-1");
        notice
    }

    #[expect(clippy::needless_pass_by_value, reason = "cases pass json! literals")]
    fn upsert(data: Value) -> Value {
        json!({"event": "messages.upsert", "instance": "parley-1", "data": data,
               "date_time": "2026-01-01T09:00:00.123Z", "apikey": null})
    }

    #[test]
    fn connection_states_and_qr_codes_are_read() {
        let qr = parsed(json!({"event": "qrcode.updated", "instance": "parley-1",
            "data": {"qrcode": {"instance": "parley-1", "pairingCode": "WZYEH1YY", "code": "2@abc", "base64": "data:image/png;base64,AAA", "count": 2}}}));
        assert_eq!(
            qr,
            Notice::Qr(Qr {
                code: "2@abc".into(),
                base64: Some("data:image/png;base64,AAA".into()),
                pairing_code: Some("WZYEH1YY".into()),
                count: Some(2)
            })
        );
        let limit = parsed(json!({"event": "qrcode.updated", "instance": "parley-1",
            "data": {"message": "QR code limit reached, please login again", "statusCode": 500}}));
        assert_eq!(limit, Notice::QrLimit);
        let open = parsed(json!({"event": "connection.update", "instance": "parley-1",
            "data": {"instance": "parley-1", "wuid": "5511999990000@s.whatsapp.net", "profileName": "Acme", "state": "open", "statusReason": 200}}));
        assert_eq!(
            open,
            Notice::Open {
                wuid: Some("5511999990000@s.whatsapp.net".into()),
                profile_name: Some("Acme".into())
            }
        );
        let closed = parsed(json!({"event": "connection.update", "instance": "parley-1",
            "data": {"state": "close", "statusReason": 401}}));
        assert_eq!(closed, Notice::Closed { reason: Some(401) });
        assert_eq!(
            parsed(
                json!({"event": "CONNECTION_UPDATE", "instance": "parley-1", "data": {"state": "refused", "statusReason": 428}})
            ),
            Notice::QrLimit
        );
    }

    #[test]
    fn messages_of_every_kind_are_read_and_the_business_own_are_not() {
        let text = parsed(upsert(json!({
            "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0A0"},
            "pushName": "Ana Silva", "message": {"conversation": "Oi"}, "messageType": "conversation",
            "messageTimestamp": 1767225600, "contextInfo": {"stanzaId": "3EB0FF"}})));
        let Notice::Events(events) = text else {
            panic!()
        };
        let InboundEvent::Message(message) = &events[0] else {
            panic!()
        };
        assert_eq!(message.contact_external_id, "5511999998888");
        assert_eq!(message.contact_phone.as_deref(), Some("+5511999998888"));
        assert_eq!(message.contact_name.as_deref(), Some("Ana Silva"));
        assert_eq!(message.provider_timestamp, Some(1_767_225_600_000));
        assert_eq!(
            message.reply_to_provider_message_id.as_deref(),
            Some("3EB0FF")
        );
        assert_eq!(message.content, MessageContent::Text { body: "Oi".into() });

        let image = parsed(upsert(json!({
            "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0A1"},
            "message": {"imageMessage": {"mimetype": "image/jpeg", "caption": "the view"}, "base64": "AAAA"},
            "messageType": "imageMessage"})));
        let Notice::Events(events) = image else {
            panic!()
        };
        let InboundEvent::Message(message) = &events[0] else {
            panic!()
        };
        assert!(
            matches!(&message.content, MessageContent::Media { media_kind: MediaKind::Image, caption: Some(caption), media_id: Some(id), .. } if caption == "the view" && id == "3EB0A1")
        );

        let place = parsed(upsert(json!({
            "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0A2"},
            "message": {"locationMessage": {"degreesLatitude": 38.72, "degreesLongitude": -9.14, "name": "Beach"}},
            "messageType": "locationMessage"})));
        let Notice::Events(events) = place else {
            panic!()
        };
        let InboundEvent::Message(message) = &events[0] else {
            panic!()
        };
        assert_eq!(
            message.content,
            MessageContent::Location {
                latitude: 38.72,
                longitude: -9.14,
                name: Some("Beach".into()),
                address: None
            }
        );

        let group = parsed(upsert(json!({
            "key": {"remoteJid": "120363012345678901@g.us", "fromMe": false, "id": "3EB0A3", "participant": "5511@s.whatsapp.net"},
            "pushName": "Rui", "message": {"conversation": "We land at 6"}, "messageType": "conversation"})));
        let Notice::Events(events) = group else {
            panic!()
        };
        let InboundEvent::Message(message) = &events[0] else {
            panic!()
        };
        assert_eq!(message.contact_external_id, "120363012345678901@g.us");
        assert_eq!(message.contact_phone, None);
        assert_eq!(
            message.content,
            MessageContent::Text {
                body: "Rui: We land at 6".into()
            }
        );

        let lid = parsed(upsert(json!({
            "key": {"remoteJid": "123456789@lid", "remoteJidAlt": "5511999997777@s.whatsapp.net", "addressingMode": "lid", "fromMe": false, "id": "3EB0A4"},
            "message": {"conversation": "hi"}, "messageType": "conversation"})));
        let Notice::Events(events) = lid else {
            panic!()
        };
        assert_eq!(events[0].contact_external_id(), "5511999997777");

        let echo = parsed(upsert(json!({
            "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": true, "id": "3EB0A5"},
            "message": {"conversation": "typed on the phone"}, "messageType": "conversation"})));
        assert_eq!(echo, Notice::Events(vec![]));
    }

    #[test]
    fn receipts_map_to_delivery_states() {
        let read = parsed(json!({"event": "messages.update", "instance": "parley-1",
            "data": {"keyId": "3EB0F0", "remoteJid": "5511999998888@s.whatsapp.net", "fromMe": true, "status": "READ"}}));
        let Notice::Events(events) = read else {
            panic!()
        };
        assert!(
            matches!(&events[0], InboundEvent::Status(StatusUpdate { status: DeliveryStatus::Read, provider_message_id, .. }) if provider_message_id == "3EB0F0")
        );
        let pending = parsed(json!({"event": "messages.update", "instance": "parley-1",
            "data": {"keyId": "3EB0F0", "remoteJid": "5511@s.whatsapp.net", "status": "PENDING"}}));
        assert_eq!(pending, Notice::Events(vec![]));
        assert!(parse(b"{}").is_err());
    }
}
