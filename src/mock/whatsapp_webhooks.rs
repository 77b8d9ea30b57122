//! Builds WhatsApp Cloud webhook notifications the way Meta sends them: compact JSON with
//! non-ASCII characters and `/` escaped, signed with the app secret.

use crate::adapters::whatsapp_cloud::verify::{escape_non_ascii, sign};
use serde_json::{json, Value};

/// A notification carrying one text message from `from` (a wa_id).
pub fn text_message(
    phone_number_id: &str,
    from: &str,
    name: &str,
    wamid: &str,
    text: &str,
    timestamp: i64,
) -> Vec<u8> {
    envelope(
        phone_number_id,
        json!({
            "contacts": [{"profile": {"name": name}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": timestamp.to_string(), "type": "text", "text": {"body": text}}]
        }),
    )
}

/// A notification carrying a tap on a reply button (`button_reply`) or a list row
/// (`list_reply`) of an interactive message Parley sent.
pub fn interactive_reply(
    phone_number_id: &str,
    from: &str,
    wamid: &str,
    kind: &str,
    id: &str,
    title: &str,
    timestamp: i64,
) -> Vec<u8> {
    envelope(
        phone_number_id,
        json!({
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": from}],
            "messages": [{
                "from": from, "id": wamid, "timestamp": timestamp.to_string(), "type": "interactive",
                "interactive": {"type": kind, kind: {"id": id, "title": title}}
            }]
        }),
    )
}

/// A notification carrying delivery statuses.
pub fn statuses(phone_number_id: &str, statuses: &Value) -> Vec<u8> {
    envelope(phone_number_id, json!({"statuses": statuses.clone()}))
}

/// Wraps a change value in the `whatsapp_business_account` envelope, in Meta's wire form.
pub fn envelope(phone_number_id: &str, value: Value) -> Vec<u8> {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({"display_phone_number": "15550783881", "phone_number_id": phone_number_id});
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]
    });
    wire_form(&body.to_string()).into_bytes()
}

/// Meta's escaping: `\uXXXX` for non-ASCII and `\/` for slashes (both only occur in strings).
pub fn wire_form(json: &str) -> String {
    escape_non_ascii(json).replace('/', "\\/")
}

/// The `X-Hub-Signature-256` value for a body.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    sign(app_secret, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::whatsapp_cloud::{parse, verify};

    #[test]
    fn built_notifications_verify_and_parse_back() {
        let body = text_message(
            "123",
            "16505551234",
            "Zoë",
            "wamid.1",
            "olá 👍 https://x.test/a",
            1_780_000_000,
        );
        assert!(body.is_ascii());
        verify::verify_signature("secret", &body, Some(&signature("secret", &body))).unwrap();
        let parsed = parse::parse(&body, "123").unwrap();
        let crate::domain::InboundEvent::Message(message) = &parsed.events[0] else {
            panic!("expected a message");
        };
        assert_eq!(message.contact_name.as_deref(), Some("Zoë"));
        assert_eq!(
            message.content,
            crate::domain::MessageContent::Text {
                body: "olá 👍 https://x.test/a".into()
            }
        );
    }
}
