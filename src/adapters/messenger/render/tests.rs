#![expect(
    clippy::needless_pass_by_value,
    reason = "case helpers take json! literals by value"
)]

use super::*;
use crate::adapters::messenger::Platform::{Instagram, Messenger};
use crate::domain::{ChoiceStyle, Header, MediaKind};

const RECIPIENT: &str = "6843190012345678";
const HOUR: Millis = 60 * 60 * 1_000;
const DAY: Millis = 24 * HOUR;
/// 23:40 UTC on Wednesday 10 March 2027.
const NOW: Millis = 1_804_722_000_000;

/// `message` must be what `content` renders to on `platform` as a response.
#[track_caller]
fn check(platform: Platform, content: &MessageContent, message: Value) {
    let expected = json!({
        "recipient": {"id": RECIPIENT}, "messaging_type": "RESPONSE", "message": message,
    });
    assert_eq!(
        render(platform, RECIPIENT, content, Delivery::Response).unwrap(),
        expected,
        "{platform}"
    );
}

#[track_caller]
fn check_both(content: &MessageContent, message: Value) {
    for platform in Platform::ALL {
        check(platform, content, message.clone());
    }
}

#[track_caller]
fn check_refused(platform: Platform, content: &MessageContent, expected_reason: &str) {
    match render(platform, RECIPIENT, content, Delivery::Response) {
        Err(SendError::Permanent { reason }) => assert_eq!(reason, expected_reason, "{platform}"),
        other => panic!("{platform}: expected a permanent failure, got {other:?}"),
    }
}

fn text(body: &str) -> MessageContent {
    MessageContent::Text { body: body.into() }
}

fn media(media_kind: MediaKind, url: &str, caption: Option<&str>) -> MessageContent {
    MessageContent::Media {
        media_kind,
        media_id: None,
        url: Some(url.into()),
        mime_type: None,
        caption: caption.map(str::to_owned),
        filename: None,
        voice: false,
    }
}

fn choice(id: &str, title: &str) -> ChoiceItem {
    ChoiceItem {
        id: id.into(),
        title: title.into(),
        description: None,
    }
}

fn numbered(count: usize) -> Vec<ChoiceItem> {
    (1..=count)
        .map(|number| choice(&format!("row-{number}"), &format!("Row {number}")))
        .collect()
}

fn choices(style: ChoiceStyle, header: Option<Header>, items: Vec<ChoiceItem>) -> MessageContent {
    MessageContent::Choices {
        style,
        header,
        body: "What would you like to do?".into(),
        footer: Some("Lucky Shrub support".into()),
        choices: items,
    }
}

fn cta(button_text: &str, url: &str) -> MessageContent {
    MessageContent::CtaUrl {
        header: Some(Header::Text {
            text: "Dates".into(),
        }),
        body: "Tap below to see available dates.".into(),
        footer: Some("Lucky Shrub".into()),
        button_text: button_text.into(),
        url: url.into(),
    }
}

#[test]
fn a_text_renders_as_text_on_both_platforms() {
    check_both(&text("Hello!"), json!({"text": "Hello!"}));
}

#[test]
fn a_human_agent_reply_carries_the_tag() {
    for platform in Platform::ALL {
        assert_eq!(
            render(platform, RECIPIENT, &text("Hi"), Delivery::HumanAgent).unwrap(),
            json!({
                "recipient": {"id": RECIPIENT}, "messaging_type": "MESSAGE_TAG",
                "tag": "HUMAN_AGENT", "message": {"text": "Hi"},
            }),
            "{platform}"
        );
    }
}

#[test]
fn texts_are_limited_in_characters_on_messenger_and_in_bytes_on_instagram() {
    // 2000 two-byte characters: within Messenger's limit, four times Instagram's.
    let accented = "é".repeat(MESSENGER_TEXT_MAX_CHARS);
    assert!(render(Messenger, RECIPIENT, &text(&accented), Delivery::Response).is_ok());
    check_refused(
        Instagram,
        &text(&accented),
        "the text has 4000 bytes in UTF-8; Instagram allows 1000",
    );
    check_refused(
        Messenger,
        &text(&"x".repeat(2_001)),
        "the text has 2001 characters; Messenger allows 2000",
    );
    assert!(render(
        Instagram,
        RECIPIENT,
        &text(&"x".repeat(1_000)),
        Delivery::Response
    )
    .is_ok());
    check_refused(
        Instagram,
        &text(&"€".repeat(334)),
        "the text has 1002 bytes in UTF-8; Instagram allows 1000",
    );
    check_refused(
        Messenger,
        &text(" "),
        "the text is empty; Messenger needs 1 to 2000 characters",
    );
    check_refused(
        Instagram,
        &text(""),
        "the text is empty; Instagram needs 1 to 1000 bytes",
    );
}

#[test]
fn only_images_go_as_attachments_and_other_media_degrade_to_their_link() {
    // The seed's rendering table: "Image only (others degrade)" on both platforms.
    let url = "https://cdn.test/file";
    for platform in [Messenger, Instagram] {
        for kind in [MediaKind::Image, MediaKind::Sticker] {
            check(
                platform,
                &media(kind, url, None),
                json!({"attachment": {"type": "image", "payload": {"url": url}}}),
            );
        }
        for kind in [MediaKind::Video, MediaKind::Audio, MediaKind::Document] {
            check(platform, &media(kind, url, None), json!({"text": url}));
        }
    }
}

#[test]
fn a_document_goes_as_its_name_and_link() {
    let document = |url: &str, filename: Option<&str>| MessageContent::Media {
        media_kind: MediaKind::Document,
        media_id: None,
        url: Some(url.into()),
        mime_type: Some("application/pdf".into()),
        caption: None,
        filename: filename.map(str::to_owned),
        voice: false,
    };
    for platform in [Messenger, Instagram] {
        check(
            platform,
            &document("https://cdn.test/menu.pdf", Some("menu.pdf")),
            json!({"text": "menu.pdf: https://cdn.test/menu.pdf"}),
        );
        check(
            platform,
            &document("https://cdn.test/rates.xlsx", None),
            json!({"text": "https://cdn.test/rates.xlsx"}),
        );
    }
}

#[test]
fn a_captioned_image_becomes_a_card_when_the_caption_fits_its_title() {
    check_both(
        &media(
            MediaKind::Image,
            "https://cdn.test/room.jpg",
            Some("Our sea-view room"),
        ),
        json!({"attachment": {"type": "template", "payload": {
            "template_type": "generic",
            "elements": [{"title": "Our sea-view room", "image_url": "https://cdn.test/room.jpg"}],
        }}}),
    );
}

#[test]
fn other_captioned_media_go_as_text_so_the_caption_is_kept() {
    let long_caption = "c".repeat(81);
    check_both(
        &media(
            MediaKind::Image,
            "https://cdn.test/room.jpg",
            Some(&long_caption),
        ),
        json!({"text": format!("{long_caption}\n\nhttps://cdn.test/room.jpg")}),
    );
    check_both(
        &media(
            MediaKind::Video,
            "https://cdn.test/tour.mp4",
            Some("A tour"),
        ),
        json!({"text": "A tour\n\nhttps://cdn.test/tour.mp4"}),
    );
    let brochure = MessageContent::Media {
        media_kind: MediaKind::Document,
        media_id: None,
        url: Some("https://cdn.test/b.pdf".into()),
        mime_type: Some("application/pdf".into()),
        caption: Some("Our brochure".into()),
        filename: Some("brochure.pdf".into()),
        voice: false,
    };
    check_both(
        &brochure,
        json!({"text": "Our brochure\n\nbrochure.pdf: https://cdn.test/b.pdf"}),
    );
}

#[test]
fn media_need_a_web_link() {
    let by_id = MessageContent::Media {
        media_kind: MediaKind::Image,
        media_id: Some("1013859600285441".into()),
        url: None,
        mime_type: None,
        caption: None,
        filename: None,
        voice: false,
    };
    check_refused(
        Messenger,
        &by_id,
        "a media message on Messenger needs a link; media ids of other channels cannot be sent",
    );
    check_refused(
        Instagram,
        &media(MediaKind::Image, "ftp://cdn.test/a.jpg", None),
        "the media link must start with https:// or http://",
    );
}

#[test]
fn a_location_renders_as_a_text_summary_with_a_map_link() {
    let location = |name: Option<&str>, address: Option<&str>| MessageContent::Location {
        latitude: 37.483307,
        longitude: -122.148981,
        name: name.map(str::to_owned),
        address: address.map(str::to_owned),
    };
    check_both(
        &location(Some("Lucky Shrub"), Some("1 Hacker Way, Menlo Park")),
        json!({"text": "Lucky Shrub\n1 Hacker Way, Menlo Park\nhttps://maps.google.com/?q=37.483307,-122.148981"}),
    );
    check_both(
        &location(None, None),
        json!({"text": "Location\nhttps://maps.google.com/?q=37.483307,-122.148981"}),
    );
}

#[test]
fn reply_buttons_and_quick_replies_become_quick_replies_without_header_or_footer() {
    let expected = json!({
        "text": "What would you like to do?",
        "quick_replies": [
            {"content_type": "text", "title": "Track parcel", "payload": "track"},
            {"content_type": "text", "title": "Talk to a human", "payload": "agent"},
        ],
    });
    for style in [ChoiceStyle::Buttons, ChoiceStyle::QuickReplies] {
        let mut items = vec![
            choice("track", "Track parcel"),
            choice("agent", "Talk to a human"),
        ];
        // Quick replies cannot show descriptions.
        items[0].description = Some("Where is it now".into());
        let content = choices(
            style,
            Some(Header::Text {
                text: "Order #4711".into(),
            }),
            items,
        );
        check_both(&content, expected.clone());
    }
}

#[test]
fn thirteen_quick_replies_fit() {
    let message = render(
        Instagram,
        RECIPIENT,
        &choices(ChoiceStyle::QuickReplies, None, numbered(13)),
        Delivery::Response,
    )
    .unwrap();
    assert_eq!(
        message["message"]["quick_replies"]
            .as_array()
            .unwrap()
            .len(),
        13
    );
    assert_eq!(
        message["message"]["quick_replies"][12],
        json!({"content_type": "text", "title": "Row 13", "payload": "row-13"})
    );
}

#[test]
fn reply_buttons_under_an_image_header_are_quick_replies_and_the_header_is_dropped() {
    check_both(
        &choices(
            ChoiceStyle::Buttons,
            Some(Header::Image {
                url: "https://cdn.test/parcel.jpg".into(),
            }),
            vec![
                choice("track", "Track parcel"),
                choice("agent", "Talk to a human"),
            ],
        ),
        json!({"text": "What would you like to do?", "quick_replies": [
            {"content_type": "text", "title": "Track parcel", "payload": "track"},
            {"content_type": "text", "title": "Talk to a human", "payload": "agent"},
        ]}),
    );
}

#[test]
fn choices_of_any_style_drop_the_image_header() {
    let image = || {
        Some(Header::Image {
            url: "https://cdn.test/parcel.jpg".into(),
        })
    };
    // Four buttons, quick-reply style, or a body longer than a card title.
    let mut long_body = choices(ChoiceStyle::Buttons, image(), numbered(1));
    if let MessageContent::Choices { body, .. } = &mut long_body {
        *body = "b".repeat(81);
    }
    for content in [
        choices(ChoiceStyle::Buttons, image(), numbered(4)),
        choices(ChoiceStyle::QuickReplies, image(), numbered(2)),
        long_body,
    ] {
        let body = render(Messenger, RECIPIENT, &content, Delivery::Response).unwrap();
        assert!(body["message"]["quick_replies"].is_array(), "{body}");
        assert!(body["message"].get("attachment").is_none(), "{body}");
    }
}

#[test]
fn a_list_renders_as_numbered_text_without_header_or_footer() {
    let mut sea = choice("s1", "Sea suite");
    sea.description = Some("Balcony".into());
    let content = MessageContent::List {
        header: Some("Rooms".into()),
        body: "Pick a room".into(),
        footer: Some("Prices per night".into()),
        button: "Rooms".into(),
        sections: vec![
            ListSection {
                title: Some("Villas".into()),
                rows: numbered(2),
            },
            ListSection {
                title: Some("Suites".into()),
                rows: vec![sea, choice("s2", "Garden suite")],
            },
        ],
    };
    check_both(
        &content,
        json!({"text": "Pick a room\n\nVillas\n1. Row 1\n2. Row 2\n\nSuites\n3. Sea suite — Balcony\n4. Garden suite\n\nReply with the number of your choice."}),
    );
    let untitled = MessageContent::List {
        header: None,
        body: "Pick one".into(),
        footer: None,
        button: "Pick".into(),
        sections: vec![ListSection {
            title: None,
            rows: numbered(2),
        }],
    };
    check_both(
        &untitled,
        json!({"text": "Pick one\n\n1. Row 1\n2. Row 2\n\nReply with the number of your choice."}),
    );
}

#[test]
fn a_cta_url_is_a_button_template_on_messenger_and_text_on_instagram() {
    let content = cta("See dates", "https://www.example.com/dates?ref=fb");
    check(
        Messenger,
        &content,
        json!({"attachment": {"type": "template", "payload": {
            "template_type": "button",
            "text": "Tap below to see available dates.",
            "buttons": [{"type": "web_url", "url": "https://www.example.com/dates?ref=fb", "title": "See dates"}],
        }}}),
    );
    check(
        Instagram,
        &content,
        json!({"text": "Tap below to see available dates.\n\nSee dates: https://www.example.com/dates?ref=fb"}),
    );
}

#[test]
fn reactions_are_sender_actions() {
    let reaction = |emoji: Option<&str>| MessageContent::Reaction {
        target_provider_message_id: "m_theirs".into(),
        emoji: emoji.map(str::to_owned),
    };
    let render_reaction = |platform, content: &MessageContent| {
        render(platform, RECIPIENT, content, Delivery::HumanAgent).unwrap()
    };
    assert_eq!(
        render_reaction(Messenger, &reaction(Some("\u{1f389}"))),
        json!({"recipient": {"id": RECIPIENT}, "sender_action": "react",
               "payload": {"message_id": "m_theirs", "reaction": "\u{1f389}"}})
    );
    assert_eq!(
        render_reaction(Instagram, &reaction(Some("\u{2764}\u{fe0f}"))),
        json!({"recipient": {"id": RECIPIENT}, "sender_action": "react",
               "payload": {"message_id": "m_theirs", "reaction": "love"}})
    );
    for platform in Platform::ALL {
        assert_eq!(
            render_reaction(platform, &reaction(None)),
            json!({"recipient": {"id": RECIPIENT}, "sender_action": "unreact",
                   "payload": {"message_id": "m_theirs"}}),
            "{platform}"
        );
    }
    check_refused(
        Instagram,
        &reaction(Some("\u{1f389}")),
        "Instagram reactions can only be \u{2764}\u{fe0f} (love), not \u{1f389}",
    );
}

#[test]
fn sender_actions_go_alone() {
    for (action, wire) in [
        (SenderAction::TypingOn, "typing_on"),
        (SenderAction::TypingOff, "typing_off"),
        (SenderAction::MarkSeen, "mark_seen"),
    ] {
        assert_eq!(
            render_sender_action(RECIPIENT, action),
            json!({"recipient": {"id": RECIPIENT}, "sender_action": wire})
        );
    }
}

#[test]
fn templates_and_inbound_only_content_are_refused() {
    let template = MessageContent::Template {
        name: "order_shipped".into(),
        language: "en_US".into(),
        parameters: vec![],
        parameter_names: vec![],
        header: None,
        buttons: vec![],
    };
    check_refused(
        Messenger,
        &template,
        "a WhatsApp template cannot be sent on Messenger: Messenger has no pre-approved \
         templates, so outside the messaging window only a human agent may answer",
    );
    check_refused(
        Instagram,
        &template,
        "a WhatsApp template cannot be sent on Instagram: Instagram has no pre-approved \
         templates, so outside the messaging window only a human agent may answer",
    );
    let inbound_only = [
        (
            MessageContent::InteractiveReply {
                reply_id: "a".into(),
                title: "A".into(),
                description: None,
            },
            "interactive_reply",
        ),
        (
            MessageContent::TemplateButton {
                payload: "p".into(),
                text: "t".into(),
            },
            "template_button",
        ),
        (
            MessageContent::Contacts {
                contacts: json!([]),
            },
            "contacts",
        ),
        (
            MessageContent::Unsupported { detail: "x".into() },
            "unsupported",
        ),
        (MessageContent::System { body: "x".into() }, "system"),
    ];
    for (content, kind) in inbound_only {
        for platform in Platform::ALL {
            check_refused(
                platform,
                &content,
                &format!("{kind} content cannot be sent on {platform}"),
            );
        }
    }
}

#[test]
fn content_beyond_the_limits_is_refused_with_the_field_and_the_limit() {
    let quick = |items: Vec<ChoiceItem>| choices(ChoiceStyle::QuickReplies, None, items);
    let card = |items: Vec<ChoiceItem>| {
        choices(
            ChoiceStyle::Buttons,
            Some(Header::Image {
                url: "https://cdn.test/p.jpg".into(),
            }),
            items,
        )
    };
    let cases = [
        (
            Messenger,
            quick(vec![]),
            "the message has no choices; Messenger needs 1 to 13 quick replies",
        ),
        (
            Instagram,
            quick(numbered(14)),
            "the message has 14 quick replies; Instagram allows 1 to 13",
        ),
        (
            Messenger,
            quick(vec![choice("a", &"t".repeat(21))]),
            "the quick reply 1 title has 21 characters; Messenger allows 20",
        ),
        (
            Instagram,
            quick(vec![choice("a", "A"), choice("b", "")]),
            "the quick reply 2 title is empty; Instagram needs 1 to 20 characters",
        ),
        (
            Messenger,
            quick(vec![choice(&"p".repeat(1_001), "A")]),
            "the quick reply 1 payload has 1001 characters; Messenger allows 1000",
        ),
        (
            Messenger,
            quick(vec![choice("", "A")]),
            "the quick reply 1 payload is empty; Messenger needs 1 to 1000 characters",
        ),
        (
            Messenger,
            card(vec![choice("a", &"t".repeat(21))]),
            "the quick reply 1 title has 21 characters; Messenger allows 20",
        ),
        (
            Instagram,
            card(vec![choice("a", "A"), choice(&"p".repeat(1_001), "B")]),
            "the quick reply 2 payload has 1001 characters; Instagram allows 1000",
        ),
        (
            Messenger,
            MessageContent::Choices {
                style: ChoiceStyle::QuickReplies,
                header: None,
                body: "b".repeat(2_001),
                footer: None,
                choices: numbered(1),
            },
            "the body has 2001 characters; Messenger allows 2000",
        ),
        (
            Instagram,
            MessageContent::Choices {
                style: ChoiceStyle::QuickReplies,
                header: None,
                body: String::new(),
                footer: None,
                choices: numbered(1),
            },
            "the body is empty; Instagram needs 1 to 1000 bytes",
        ),
        (
            Messenger,
            MessageContent::CtaUrl {
                header: None,
                body: "b".repeat(641),
                footer: None,
                button_text: "Open".into(),
                url: "https://x.test".into(),
            },
            "the body has 641 characters; Messenger allows 640",
        ),
        (
            Messenger,
            cta(&"b".repeat(21), "https://x.test"),
            "the button text has 21 characters; Messenger allows 20",
        ),
        (
            Messenger,
            cta("", "https://x.test"),
            "the button text is empty; Messenger needs 1 to 20 characters",
        ),
        (
            Instagram,
            cta("Open", "javascript:alert(1)"),
            "the button url must start with https:// or http://",
        ),
        (
            Instagram,
            MessageContent::CtaUrl {
                header: None,
                body: "b".repeat(990),
                footer: None,
                button_text: "Open".into(),
                url: "https://x.test".into(),
            },
            "the text has 1012 bytes in UTF-8; Instagram allows 1000",
        ),
        (
            Messenger,
            MessageContent::List {
                header: None,
                body: "Pick".into(),
                footer: None,
                button: "Pick".into(),
                sections: vec![ListSection {
                    title: Some("Empty".into()),
                    rows: vec![],
                }],
            },
            "the list has no rows; it needs at least 1",
        ),
        (
            Instagram,
            MessageContent::List {
                header: None,
                body: "Pick".into(),
                footer: None,
                button: "Pick".into(),
                sections: vec![ListSection {
                    title: None,
                    rows: vec![choice("a", "A"), choice("b", " ")],
                }],
            },
            "the list row 2 title is empty",
        ),
        (
            Instagram,
            MessageContent::List {
                header: None,
                body: "b".repeat(980),
                footer: None,
                button: "Pick".into(),
                sections: vec![ListSection {
                    title: None,
                    rows: numbered(1),
                }],
            },
            "the list as text has 1029 bytes in UTF-8; Instagram allows 1000",
        ),
        (
            Messenger,
            MessageContent::Reaction {
                target_provider_message_id: " ".into(),
                emoji: Some("\u{1f44d}".into()),
            },
            "the reaction names no message to react to",
        ),
    ];
    for (platform, content, reason) in cases {
        check_refused(platform, &content, reason);
    }
    match render(Messenger, " ", &text("Hi"), Delivery::Response) {
        Err(SendError::Permanent { reason }) => assert_eq!(reason, "the recipient id is empty"),
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

#[track_caller]
fn check_delivery(elapsed: Option<Millis>, by_human: bool, expected: Result<Delivery, &str>) {
    let got = delivery_for(NOW, elapsed.map(|elapsed| NOW - elapsed), by_human);
    match (got, expected) {
        (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{elapsed:?} {by_human}"),
        (Err(SendError::Permanent { reason }), Err(window)) => {
            assert!(reason.contains(window), "{reason} should name {window}")
        }
        (got, expected) => {
            panic!("{elapsed:?} by human {by_human}: got {got:?}, expected {expected:?}")
        }
    }
}

#[test]
fn the_response_window_lasts_24_hours_for_everyone() {
    for by_human in [false, true] {
        check_delivery(Some(0), by_human, Ok(Delivery::Response));
        check_delivery(Some(DAY - 1), by_human, Ok(Delivery::Response));
        // A contact's clock ahead of ours still counts as within the window.
        check_delivery(Some(-5_000), by_human, Ok(Delivery::Response));
    }
    check_delivery(Some(DAY), false, Err("24-hour messaging window is closed"));
    check_delivery(
        Some(3 * DAY),
        false,
        Err("24-hour messaging window is closed"),
    );
}

#[test]
fn a_human_agent_may_answer_for_7_days_with_the_tag() {
    check_delivery(Some(DAY), true, Ok(Delivery::HumanAgent));
    check_delivery(Some(7 * DAY - 1), true, Ok(Delivery::HumanAgent));
    check_delivery(
        Some(7 * DAY),
        true,
        Err("7-day human agent window is closed"),
    );
    check_delivery(
        Some(30 * DAY),
        true,
        Err("7-day human agent window is closed"),
    );
}

#[test]
fn nobody_may_write_first() {
    for by_human in [false, true] {
        check_delivery(None, by_human, Err("the contact has never written"));
    }
}

#[test]
fn the_windows_are_24_hours_and_7_days() {
    assert_eq!(window_millis(RESPONSE_WINDOW), DAY);
    assert_eq!(window_millis(HUMAN_AGENT_WINDOW), 7 * DAY);
}
