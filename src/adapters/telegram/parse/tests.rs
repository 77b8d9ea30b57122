use super::*;
use crate::domain::{InboundEvent, MediaKind, MessageContent};
use serde_json::{json, Value};

fn update(message: Value) -> Vec<u8> {
    let mut message = message;
    let base = json!({
        "message_id": 42,
        "from": {"id": 5110223344_i64, "is_bot": false, "first_name": "Ana", "last_name": "Silva", "username": "anasilva"},
        "chat": {"id": 5110223344_i64, "type": "private", "first_name": "Ana"},
        "date": 1767225600
    });
    for (key, value) in base.as_object().unwrap() {
        message
            .as_object_mut()
            .unwrap()
            .entry(key.clone())
            .or_insert(value.clone());
    }
    serde_json::to_vec(&json!({"update_id": 815520001, "message": message})).unwrap()
}

fn only_message(body: &[u8]) -> InboundMessage {
    let parsed = parse(body).unwrap();
    assert_eq!(parsed.events.len(), 1, "{parsed:?}");
    match parsed.events.into_iter().next().unwrap() {
        InboundEvent::Message(message) => message,
        other => panic!("not a message: {other:?}"),
    }
}

#[track_caller]
#[expect(clippy::needless_pass_by_value, reason = "cases are written as values")]
fn check(message: Value, expected: MessageContent) {
    assert_eq!(only_message(&update(message)).content, expected);
}

#[test]
fn a_text_message_names_its_chat_sender_and_time() {
    let message = only_message(&update(json!({"text": "Hi, I need help with order 1234"})));
    assert_eq!(message.provider_message_id, "5110223344:42");
    assert_eq!(message.contact_external_id, "5110223344");
    assert_eq!(message.contact_name.as_deref(), Some("Ana Silva"));
    assert_eq!(message.provider_timestamp, Some(1_767_225_600_000));
    assert_eq!(
        message.content,
        MessageContent::Text {
            body: "Hi, I need help with order 1234".into()
        }
    );
}

#[test]
fn the_username_names_a_sender_without_names() {
    let message = only_message(&update(json!({
        "text": "hi",
        "from": {"id": 7, "is_bot": false, "first_name": " ", "username": "ghost"}
    })));
    assert_eq!(message.contact_name.as_deref(), Some("ghost"));
}

#[test]
fn each_payload_kind_becomes_its_content() {
    let media = |kind,
                 id: &str,
                 mime: Option<&str>,
                 caption: Option<&str>,
                 filename: Option<&str>,
                 voice| {
        MessageContent::Media {
            media_kind: kind,
            media_id: Some(id.into()),
            url: None,
            mime_type: mime.map(str::to_owned),
            caption: caption.map(str::to_owned),
            filename: filename.map(str::to_owned),
            voice,
        }
    };
    check(
        json!({"caption": "this is the receipt", "photo": [
            {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 90},
            {"file_id": "large", "file_unique_id": "b", "width": 1280, "height": 1280}
        ]}),
        media(
            MediaKind::Image,
            "large",
            None,
            Some("this is the receipt"),
            None,
            false,
        ),
    );
    check(
        json!({"document": {"file_name": "invoice.pdf", "mime_type": "application/pdf", "file_id": "doc", "file_unique_id": "d"}}),
        media(
            MediaKind::Document,
            "doc",
            Some("application/pdf"),
            None,
            Some("invoice.pdf"),
            false,
        ),
    );
    check(
        json!({"video": {"duration": 7, "width": 720, "height": 1280, "mime_type": "video/mp4", "file_id": "vid", "file_unique_id": "v"}}),
        media(
            MediaKind::Video,
            "vid",
            Some("video/mp4"),
            None,
            None,
            false,
        ),
    );
    check(
        json!({"voice": {"duration": 4, "mime_type": "audio/ogg", "file_id": "voi", "file_unique_id": "o"}}),
        media(MediaKind::Audio, "voi", Some("audio/ogg"), None, None, true),
    );
    check(
        json!({"audio": {"duration": 200, "mime_type": "audio/mpeg", "file_id": "aud", "file_unique_id": "u", "file_name": "song.mp3"}}),
        media(
            MediaKind::Audio,
            "aud",
            Some("audio/mpeg"),
            None,
            Some("song.mp3"),
            false,
        ),
    );
    check(
        json!({"location": {"latitude": -23.55052, "longitude": -46.633308}}),
        MessageContent::Location {
            latitude: -23.55052,
            longitude: -46.633308,
            name: None,
            address: None,
        },
    );
    let card = json!({"phone_number": "+5511999998888", "first_name": "Bea", "user_id": 99});
    check(
        json!({"contact": card}),
        MessageContent::Contacts {
            contacts: json!([card]),
        },
    );
    check(
        json!({"poll": {"id": "1", "question": "?"}}),
        MessageContent::Unsupported {
            detail: "a Telegram message Parley does not read (a poll, a game, a service message …)"
                .into(),
        },
    );
}

#[test]
fn a_guest_sharing_their_own_contact_gives_their_phone() {
    let own = only_message(&update(json!({"contact": {
        "phone_number": "+5511999998888", "first_name": "Ana", "user_id": 5110223344_i64
    }})));
    assert_eq!(own.contact_phone.as_deref(), Some("+5511999998888"));
    let other = only_message(&update(json!({"contact": {
        "phone_number": "+5511000000000", "first_name": "Bea", "user_id": 99
    }})));
    assert_eq!(other.contact_phone, None);
}

#[test]
fn a_reply_points_at_the_quoted_message_of_the_same_chat() {
    let message = only_message(&update(json!({
        "text": "yes", "reply_to_message": {"message_id": 57, "chat": {"id": 5110223344_i64}, "date": 1}
    })));
    assert_eq!(
        message.reply_to_provider_message_id.as_deref(),
        Some("5110223344:57")
    );
}

#[test]
fn a_button_tap_is_the_guests_answer_with_the_buttons_text() {
    let body = json!({
        "update_id": 815520007,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": {"id": 5110223344_i64, "is_bot": false, "first_name": "Ana"},
            "message": {
                "message_id": 57,
                "from": {"id": 7000000001_i64, "is_bot": true, "first_name": "Acme"},
                "chat": {"id": 5110223344_i64, "type": "private"},
                "date": 1767226000,
                "text": "Was this helpful?",
                "reply_markup": {"inline_keyboard": [[{"text": "Yes", "callback_data": "csat:57:y"},
                                                       {"text": "No", "callback_data": "csat:57:n"}]]}
            },
            "chat_instance": "-8721736012345678901",
            "data": "csat:57:y"
        }
    });
    let parsed = parse(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(
        parsed.callback,
        Some(Callback {
            id: "4382bfdwdsb323b2d9".into(),
            chat_id: 5110223344,
            message_id: Some(57),
            data: "csat:57:y".into()
        })
    );
    let [InboundEvent::Message(message)] = parsed.events.as_slice() else {
        panic!("{:?}", parsed.events);
    };
    assert_eq!(message.provider_message_id, "callback:4382bfdwdsb323b2d9");
    assert_eq!(message.contact_name.as_deref(), Some("Ana"));
    assert_eq!(
        message.reply_to_provider_message_id.as_deref(),
        Some("5110223344:57")
    );
    assert_eq!(
        message.content,
        MessageContent::InteractiveReply {
            reply_id: "csat:57:y".into(),
            title: "Yes".into(),
            description: None
        }
    );
}

#[test]
fn edits_and_unknown_updates_are_read_and_ignored() {
    for body in [
        json!({"update_id": 1, "edited_message": {"message_id": 1, "chat": {"id": 1}, "date": 1, "text": "x"}}),
        json!({"update_id": 2, "my_chat_member": {"chat": {"id": 1}}}),
        json!({"update_id": 3, "message_reaction": {}, "something_new": [1, 2]}),
    ] {
        let parsed = parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert!(parsed.events.is_empty(), "{body}");
        assert_eq!(parsed.callback, None);
    }
}

#[test]
fn a_body_that_is_not_an_update_is_refused() {
    for body in [
        &b"not json"[..],
        br#"{"message": {}}"#,
        br#"{"update_id": "x"}"#,
    ] {
        assert!(matches!(
            parse(body),
            Err(crate::adapters::WebhookError::MalformedPayload(_))
        ));
    }
}
