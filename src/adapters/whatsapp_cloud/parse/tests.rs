#![expect(
    clippy::needless_pass_by_value,
    reason = "case helpers take json! literals by value"
)]

use super::*;
use serde_json::json;

const PHONE_ID: &str = "106540352242922";

fn notification(value: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]
    }))
    .unwrap()
}

fn one_message(message: Value) -> InboundMessage {
    let body = notification(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [message]
    }));
    let mut parsed = parse(&body, PHONE_ID).unwrap();
    assert_eq!(parsed.events.len(), 1);
    match parsed.events.remove(0) {
        InboundEvent::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn message_of(kind: &str, body: Value) -> Value {
    let mut message = json!({"from": "16505551234", "id": format!("wamid.{kind}"), "timestamp": "1780000000", "type": kind});
    message[kind] = body;
    message
}

#[track_caller]
fn check(kind: &str, body: Value, expected: MessageContent) {
    let message = one_message(message_of(kind, body));
    assert_eq!(message.content, expected, "{kind}");
}

#[test]
fn a_text_message_carries_its_sender_name_phone_and_time() {
    let message = one_message(message_of("text", json!({"body": "Hi!"})));
    assert_eq!(message.provider_message_id, "wamid.text");
    assert_eq!(message.contact_external_id, "16505551234");
    assert_eq!(message.contact_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(message.contact_phone.as_deref(), Some("+16505551234"));
    assert_eq!(message.provider_timestamp, Some(1_780_000_000_000));
    assert_eq!(message.content, MessageContent::Text { body: "Hi!".into() });
}

#[test]
fn every_media_type_is_parsed() {
    for kind in ["image", "video", "document", "sticker"] {
        check(
            kind,
            json!({"id": "1013859600285441", "mime_type": "image/jpeg", "sha256": "x", "caption": "Blue one", "filename": "a.pdf"}),
            MessageContent::Media {
                media_kind: kind.parse().unwrap(),
                media_id: Some("1013859600285441".into()),
                url: None,
                mime_type: Some("image/jpeg".into()),
                caption: Some("Blue one".into()),
                filename: Some("a.pdf".into()),
                voice: false,
            },
        );
    }
    check(
        "audio",
        json!({"id": "42", "mime_type": "audio/ogg; codecs=opus", "voice": true}),
        MessageContent::Media {
            media_kind: MediaKind::Audio,
            media_id: Some("42".into()),
            url: None,
            mime_type: Some("audio/ogg; codecs=opus".into()),
            caption: None,
            filename: None,
            voice: true,
        },
    );
}

#[test]
fn locations_accept_numbers_and_strings() {
    let expected = |name: Option<&str>| MessageContent::Location {
        latitude: 37.483307,
        longitude: -122.148981,
        name: name.map(str::to_owned),
        address: None,
    };
    check(
        "location",
        json!({"latitude": 37.483307, "longitude": -122.148981, "name": "Lucky Shrub"}),
        expected(Some("Lucky Shrub")),
    );
    check(
        "location",
        json!({"latitude": "37.483307", "longitude": "-122.148981"}),
        expected(None),
    );
}

#[test]
fn button_and_list_replies_keep_their_payload_and_title() {
    check(
        "interactive",
        json!({"type": "button_reply", "button_reply": {"id": "order-status", "title": "Order status"}}),
        MessageContent::InteractiveReply {
            reply_id: "order-status".into(),
            title: "Order status".into(),
            description: None,
        },
    );
    check(
        "interactive",
        json!({"type": "list_reply", "list_reply": {"id": "sku-42", "title": "Blue, size M", "description": "In stock"}}),
        MessageContent::InteractiveReply {
            reply_id: "sku-42".into(),
            title: "Blue, size M".into(),
            description: Some("In stock".into()),
        },
    );
}

#[test]
fn template_buttons_reactions_contacts_and_system_notices_are_parsed() {
    check(
        "button",
        json!({"text": "Yes, reschedule", "payload": "RESCHEDULE_4711"}),
        MessageContent::TemplateButton {
            payload: "RESCHEDULE_4711".into(),
            text: "Yes, reschedule".into(),
        },
    );
    check(
        "reaction",
        json!({"message_id": "wamid.target", "emoji": "👍"}),
        MessageContent::Reaction {
            target_provider_message_id: "wamid.target".into(),
            emoji: Some("👍".into()),
        },
    );
    check(
        "reaction",
        json!({"message_id": "wamid.target", "emoji": ""}),
        MessageContent::Reaction {
            target_provider_message_id: "wamid.target".into(),
            emoji: None,
        },
    );
    check(
        "contacts",
        json!([{"name": {"formatted_name": "Ana"}}]),
        MessageContent::Contacts {
            contacts: json!([{"name": {"formatted_name": "Ana"}}]),
        },
    );
    check(
        "system",
        json!({"body": "User changed number", "type": "user_changed_number"}),
        MessageContent::System {
            body: "User changed number".into(),
        },
    );
}

#[test]
fn unsupported_and_unknown_types_do_not_fail() {
    let mut message = message_of("unsupported", json!({"type": "poll_creation"}));
    message["errors"] = json!([{"code": 131051, "title": "Message type unknown"}]);
    assert_eq!(
        one_message(message).content,
        MessageContent::Unsupported {
            detail: "poll_creation".into()
        }
    );
    check(
        "order",
        json!({}),
        MessageContent::Unsupported {
            detail: "order".into(),
        },
    );
}

#[test]
fn reply_context_is_kept() {
    let mut message = message_of("text", json!({"body": "this one"}));
    message["context"] = json!({"from": "15550783881", "id": "wamid.quoted"});
    assert_eq!(
        one_message(message).reply_to_provider_message_id.as_deref(),
        Some("wamid.quoted")
    );
}

#[test]
fn statuses_become_delivery_updates_with_the_providers_reason() {
    let body = notification(json!({
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": PHONE_ID},
        "statuses": [
            {"id": "wamid.out", "status": "delivered", "timestamp": "1780000105", "recipient_id": "16505551234"},
            {"id": "wamid.out", "status": "failed", "timestamp": "1780090000", "recipient_id": "16505551234",
             "errors": [{"code": 131047, "title": "Re-engagement message",
                         "error_data": {"details": "more than 24 hours have passed"}}]},
            {"id": "wamid.out", "status": "deleted", "recipient_id": "16505551234"}
        ]
    }));
    let parsed = parse(&body, PHONE_ID).unwrap();
    let updates: Vec<_> = parsed
        .events
        .iter()
        .map(|event| match event {
            InboundEvent::Status(update) => (update.status, update.failure_reason.clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        updates,
        vec![
            (DeliveryStatus::Delivered, None),
            (
                DeliveryStatus::Failed,
                Some("131047 Re-engagement message: more than 24 hours have passed".into())
            ),
        ]
    );
}

#[test]
fn batches_of_many_entries_are_all_parsed_and_other_numbers_skipped() {
    let change = |phone: &str, id: &str| {
        json!({"field": "messages", "value": {
            "metadata": {"phone_number_id": phone},
            "messages": [{"from": "1", "id": id, "timestamp": "1", "type": "text", "text": {"body": id}}]
        }})
    };
    let body = serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "w", "changes": [change(PHONE_ID, "a"), change(PHONE_ID, "b")]},
            {"id": "w", "changes": [change("999", "c"), {"field": "account_update", "value": {"x": 1}}]},
            {"id": "w", "changes": [change(PHONE_ID, "d")]}
        ]
    })).unwrap();
    let parsed = parse(&body, PHONE_ID).unwrap();
    let ids: Vec<_> = parsed
        .events
        .iter()
        .map(|event| event.dedupe_key())
        .collect();
    assert_eq!(ids, ["a", "b", "d"]);
    assert_eq!(parsed.foreign_changes, 1);
}

#[test]
fn malformed_payloads_are_refused() {
    let cases: [(&[u8], &str); 4] = [
        (b"{not json", "not JSON"),
        (br#"{"object": "page", "entry": []}"#, "another product"),
        (br#"{"entry": []}"#, "no object"),
        (br#"{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "106540352242922"}, "messages": [{"type": "text"}]}}]}]}"#, "message without id"),
    ];
    for (body, case) in cases {
        assert!(
            matches!(
                parse(body, PHONE_ID),
                Err(WebhookError::MalformedPayload(_))
            ),
            "{case}"
        );
    }
}
