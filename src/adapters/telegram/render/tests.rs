use super::*;
use crate::domain::{ChoiceItem, ChoiceStyle, Header, ListSection, MediaKind, MessageContent};
use serde_json::json;

const CHAT: &str = "5110223344";

fn item(id: &str, title: &str) -> ChoiceItem {
    ChoiceItem {
        id: id.into(),
        title: title.into(),
        description: None,
    }
}

#[track_caller]
#[expect(clippy::needless_pass_by_value, reason = "cases are written as values")]
fn check(content: MessageContent, expected: &[(&str, serde_json::Value)]) {
    let calls = render(CHAT, &content, None).unwrap();
    let got: Vec<(&str, serde_json::Value)> = calls
        .into_iter()
        .map(|call| (call.method, call.body))
        .collect();
    let expected: Vec<(&str, serde_json::Value)> = expected.to_vec();
    assert_eq!(got, expected);
}

#[test]
fn text_is_one_send_message() {
    check(
        MessageContent::Text {
            body: "Hello".into(),
        },
        &[(
            "sendMessage",
            json!({"chat_id": 5110223344_i64, "text": "Hello"}),
        )],
    );
}

#[test]
fn reply_buttons_are_one_keyboard_row_with_header_and_footer_around_the_body() {
    check(
        MessageContent::Choices {
            style: ChoiceStyle::Buttons,
            header: Some(Header::Text {
                text: "Casa Azul".into(),
            }),
            body: "How can we help?".into(),
            footer: Some("Reply any time".into()),
            choices: vec![item("book", "Book a stay"), item("human", "Talk to us")],
        },
        &[(
            "sendMessage",
            json!({"chat_id": 5110223344_i64, "text": "Casa Azul\n\nHow can we help?\n\nReply any time",
                   "reply_markup": {"inline_keyboard": [[
                       {"text": "Book a stay", "callback_data": "book"},
                       {"text": "Talk to us", "callback_data": "human"}]]}}),
        )],
    );
}

#[test]
fn quick_replies_and_list_rows_get_a_row_each_and_a_media_header_goes_first() {
    check(
        MessageContent::Choices {
            style: ChoiceStyle::QuickReplies,
            header: Some(Header::Image {
                url: "https://example.com/a.jpg".into(),
            }),
            body: "Pick".into(),
            footer: None,
            choices: vec![item("a", "A"), item("b", "B")],
        },
        &[
            (
                "sendPhoto",
                json!({"chat_id": 5110223344_i64, "photo": "https://example.com/a.jpg"}),
            ),
            (
                "sendMessage",
                json!({"chat_id": 5110223344_i64, "text": "Pick",
                "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}],
                                                      [{"text": "B", "callback_data": "b"}]]}}),
            ),
        ],
    );
    check(
        MessageContent::List {
            header: Some("Rooms".into()),
            body: "Which room?".into(),
            footer: None,
            button: "See rooms".into(),
            sections: vec![
                ListSection {
                    title: Some("Sea".into()),
                    rows: vec![item("sea", "Sea view")],
                },
                ListSection {
                    title: None,
                    rows: vec![item("garden", "Garden")],
                },
            ],
        },
        &[(
            "sendMessage",
            json!({"chat_id": 5110223344_i64, "text": "Rooms\n\nWhich room?",
            "reply_markup": {"inline_keyboard": [[{"text": "Sea view", "callback_data": "sea"}],
                                                  [{"text": "Garden", "callback_data": "garden"}]]}}),
        )],
    );
}

#[test]
fn a_cta_is_a_url_button() {
    check(
        MessageContent::CtaUrl {
            header: None,
            body: "Book online".into(),
            footer: None,
            button_text: "Open".into(),
            url: "https://example.com/book".into(),
        },
        &[(
            "sendMessage",
            json!({"chat_id": 5110223344_i64, "text": "Book online",
            "reply_markup": {"inline_keyboard": [[{"text": "Open", "url": "https://example.com/book"}]]}}),
        )],
    );
}

#[test]
fn media_go_by_url_with_their_caption_and_a_long_caption_follows_as_text() {
    let media = |kind, caption: Option<String>, voice| MessageContent::Media {
        media_kind: kind,
        media_id: None,
        url: Some("https://example.com/f".into()),
        mime_type: None,
        caption,
        filename: None,
        voice,
    };
    for (kind, voice, method, field) in [
        (MediaKind::Image, false, "sendPhoto", "photo"),
        (MediaKind::Video, false, "sendVideo", "video"),
        (MediaKind::Audio, false, "sendAudio", "audio"),
        (MediaKind::Audio, true, "sendVoice", "voice"),
        (MediaKind::Document, false, "sendDocument", "document"),
    ] {
        check(
            media(kind, Some("A caption".into()), voice),
            &[(
                method,
                json!({"chat_id": 5110223344_i64, field: "https://example.com/f", "caption": "A caption"}),
            )],
        );
    }
    let long = "é".repeat(CAPTION_MAX_UNITS + 1);
    check(
        media(MediaKind::Image, Some(long.clone()), false),
        &[
            (
                "sendPhoto",
                json!({"chat_id": 5110223344_i64, "photo": "https://example.com/f"}),
            ),
            (
                "sendMessage",
                json!({"chat_id": 5110223344_i64, "text": long}),
            ),
        ],
    );
}

#[test]
fn a_location_is_a_venue_when_named_and_addressed_else_a_pin() {
    check(
        MessageContent::Location {
            latitude: 1.5,
            longitude: 2.5,
            name: Some("Casa".into()),
            address: Some("Rua 1".into()),
        },
        &[(
            "sendVenue",
            json!({"chat_id": 5110223344_i64, "latitude": 1.5, "longitude": 2.5, "title": "Casa", "address": "Rua 1"}),
        )],
    );
    check(
        MessageContent::Location {
            latitude: 1.5,
            longitude: 2.5,
            name: Some("Casa".into()),
            address: None,
        },
        &[(
            "sendLocation",
            json!({"chat_id": 5110223344_i64, "latitude": 1.5, "longitude": 2.5}),
        )],
    );
}

#[test]
fn the_first_call_replies_to_a_message_of_the_same_chat_only() {
    let text = MessageContent::Text {
        body: "Sure".into(),
    };
    let calls = render(CHAT, &text, Some("5110223344:42")).unwrap();
    assert_eq!(
        calls[0].body["reply_parameters"],
        json!({"message_id": 42, "allow_sending_without_reply": true})
    );
    let calls = render(CHAT, &text, Some("999:42")).unwrap();
    assert!(calls[0].body.get("reply_parameters").is_none());
}

#[test]
fn what_telegram_cannot_take_is_refused_before_any_request() {
    for content in [
        MessageContent::Template {
            name: "t".into(),
            language: "en".into(),
            parameters: vec![],
            parameter_names: vec![],
            header: None,
            buttons: vec![],
        },
        MessageContent::Text { body: "  ".into() },
        MessageContent::Unsupported { detail: "x".into() },
    ] {
        assert!(
            matches!(
                render(CHAT, &content, None),
                Err(SendError::Permanent { .. })
            ),
            "{content:?}"
        );
    }
    let text = MessageContent::Text { body: "hi".into() };
    assert!(matches!(
        render("not-a-chat", &text, None),
        Err(SendError::Permanent { .. })
    ));
}

#[test]
fn long_text_is_split_at_breaks_and_the_keyboard_rides_the_last_part() {
    let paragraph = "word ".repeat(700); // 3,500 characters
    let body = format!("{}\n\n{}", paragraph.trim_end(), paragraph.trim_end());
    let calls = render(
        CHAT,
        &MessageContent::Choices {
            style: ChoiceStyle::Buttons,
            header: None,
            body: body.clone(),
            footer: None,
            choices: vec![item("ok", "OK")],
        },
        Some("5110223344:7"),
    )
    .unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body["text"], paragraph.trim_end());
    assert_eq!(calls[1].body["text"], paragraph.trim_end());
    assert!(calls[0].body.get("reply_markup").is_none());
    assert!(calls[0].body.get("reply_parameters").is_some());
    assert!(calls[1].body.get("reply_markup").is_some());
}

#[track_caller]
fn check_split(text: &str, max: usize, expected: &[&str]) {
    assert_eq!(split_text(text, max), expected);
}

#[test]
fn splitting_prefers_paragraphs_then_lines_then_words_then_characters() {
    check_split("short", 10, &["short"]);
    check_split("aaaa\n\nbbbb cc", 10, &["aaaa", "bbbb cc"]);
    check_split("aaaa\nbbbb cccc", 10, &["aaaa", "bbbb cccc"]);
    check_split("aaa bbb ccc ddd", 8, &["aaa bbb", "ccc ddd"]);
    check_split("abcdefghij", 4, &["abcd", "efgh", "ij"]);
    // An emoji is two UTF-16 units and is never cut in half.
    check_split("😀😀😀", 4, &["😀😀", "😀"]);
}

#[test]
fn every_part_of_a_long_text_fits_and_nothing_is_lost() {
    let text: String =
        (0..3_000).map(|n| format!("w{n} ")).collect::<String>() + &"é".repeat(5_000);
    let parts = split_text(&text, TEXT_MAX_UNITS);
    assert!(parts.len() >= 4);
    for part in &parts {
        assert!(part.encode_utf16().count() <= TEXT_MAX_UNITS);
    }
    let squeezed = |text: &str| text.split_whitespace().collect::<String>();
    assert_eq!(squeezed(&parts.concat()), squeezed(&text));
}

#[test]
fn callback_data_keeps_short_ids_and_maps_long_ones_to_a_stable_short_key() {
    assert_eq!(callback_data("book"), "book");
    let exactly = "x".repeat(CALLBACK_DATA_MAX_BYTES);
    assert_eq!(callback_data(&exactly), exactly);
    let long = "option-".repeat(20);
    let key = callback_data(&long);
    assert!(
        key.starts_with('#') && key.len() <= CALLBACK_DATA_MAX_BYTES,
        "{key}"
    );
    assert_eq!(key, callback_data(&long), "deterministic");
    assert_ne!(key, callback_data(&format!("{long}!")));
    // An id that looks like a mapped key, or has multibyte characters past 64 bytes, is mapped.
    assert!(callback_data("#abc").starts_with('#') && callback_data("#abc") != "#abc");
    assert!(callback_data(&"é".repeat(40)).starts_with('#'));
}

#[test]
fn a_mapped_key_resolves_back_to_its_choice() {
    let long = "a-very-long-choice-identifier-".repeat(4);
    let content = MessageContent::Choices {
        style: ChoiceStyle::Buttons,
        header: None,
        body: "?".into(),
        footer: None,
        choices: vec![item("short", "Short"), item(&long, "Long")],
    };
    assert_eq!(
        resolve_callback(&callback_data(&long), &content),
        Some(long.clone())
    );
    assert_eq!(resolve_callback("short", &content), Some("short".into()));
    assert_eq!(resolve_callback("#nope", &content), None);
    let list = MessageContent::List {
        header: None,
        body: "?".into(),
        footer: None,
        button: "Open".into(),
        sections: vec![ListSection {
            title: None,
            rows: vec![item(&long, "Long")],
        }],
    };
    assert_eq!(resolve_callback(&callback_data(&long), &list), Some(long));
}

proptest::proptest! {
    #[test]
    fn any_text_splits_into_parts_that_fit_and_lose_only_break_whitespace(
        text in "(\\PC|\n| ){0,400}",
        max in 2usize..40,
    ) {
        let parts = split_text(&text, max);
        for part in &parts {
            proptest::prop_assert!(part.encode_utf16().count() <= max, "{part:?}");
        }
        let squeezed = |text: &str| text.split_whitespace().collect::<String>();
        proptest::prop_assert_eq!(squeezed(&parts.concat()), squeezed(&text));
    }

    #[test]
    fn callback_data_always_fits_and_maps_back(id in "\\PC{0,120}") {
        let data = callback_data(&id);
        proptest::prop_assert!(!data.is_empty() && data.len() <= CALLBACK_DATA_MAX_BYTES);
        let content = MessageContent::Choices {
            style: ChoiceStyle::Buttons,
            header: None,
            body: "?".into(),
            footer: None,
            choices: vec![item("other", "Other"), item(&id, "This one")],
        };
        if id != "other" {
            proptest::prop_assert_eq!(resolve_callback(&data, &content), Some(id.clone()));
        }
    }
}
