#![expect(
    clippy::needless_pass_by_value,
    reason = "case helpers take json! literals by value"
)]

use super::*;
use serde_json::json;

const PAGE_ID: &str = "104538192374661";
const PSID: &str = "6843190012345678";
const IG_ACCOUNT: &str = "17841405822304914";
const IGSID: &str = "1209384756102938";

fn webhook(object: &str, entries: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": object, "entry": entries})).unwrap()
}

/// A Messenger notification with one entry for the Page holding `items`.
fn messenger(items: Value) -> Vec<u8> {
    webhook(
        "page",
        json!([{"id": PAGE_ID, "time": 1_780_000_000_456_i64, "messaging": items}]),
    )
}

/// An Instagram notification with one entry for the account holding `items`.
fn instagram(items: Value) -> Vec<u8> {
    webhook(
        "instagram",
        json!([{"id": IG_ACCOUNT, "time": 1_780_000_010_000_i64, "messaging": items}]),
    )
}

/// The one account of a notification.
fn one_account(platform: Platform, body: &[u8]) -> AccountEvents {
    let mut accounts = parse(platform, body).unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    accounts.remove(0)
}

/// A message item from the contact to the Page.
fn from_contact(message: Value) -> Value {
    json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1_780_000_002_000_i64, "message": message})
}

/// An Instagram item from the contact to the account.
fn from_ig_contact(key: &str, event: Value) -> Value {
    let mut item = json!({"sender": {"id": IGSID}, "recipient": {"id": IG_ACCOUNT}, "timestamp": 1_780_000_012_000_i64});
    item[key] = event;
    item
}

fn messages(events: &[InboundEvent]) -> Vec<&InboundMessage> {
    events
        .iter()
        .map(|event| match event {
            InboundEvent::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        })
        .collect()
}

/// The one event of a Messenger message item, which must be a message.
#[track_caller]
fn one_message(message: Value) -> InboundMessage {
    let account = one_account(
        Platform::Messenger,
        &messenger(json!([from_contact(message)])),
    );
    assert_eq!(account.ignored, 0);
    assert_eq!(account.events.len(), 1, "{:?}", account.events);
    messages(&account.events)[0].clone()
}

#[track_caller]
fn check(message: Value, expected: MessageContent) {
    assert_eq!(one_message(message).content, expected);
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

fn unsupported(detail: &str) -> MessageContent {
    MessageContent::Unsupported {
        detail: detail.into(),
    }
}

#[test]
fn a_messenger_text_carries_its_mid_sender_and_time() {
    // The envelope example of the reference, as it is.
    let body = br#"{
      "object": "page",
      "entry": [
        { "id": "104538192374661", "time": 1780000000456,
          "messaging": [ { "sender": { "id": "6843190012345678" }, "recipient": { "id": "104538192374661" },
                           "timestamp": 1780000000123,
                           "message": { "mid": "m_QmFzZTY0TWlkRXhhbXBsZQ", "text": "hello, world!" } } ] }
      ]
    }"#;
    let parsed = parse(Platform::Messenger, body).unwrap();
    assert_eq!(
        parsed,
        vec![AccountEvents {
            account_id: PAGE_ID.into(),
            events: vec![InboundEvent::Message(InboundMessage {
                provider_message_id: "m_QmFzZTY0TWlkRXhhbXBsZQ".into(),
                contact_external_id: PSID.into(),
                contact_name: None,
                contact_phone: None,
                provider_timestamp: Some(1_780_000_000_123),
                content: MessageContent::Text {
                    body: "hello, world!".into()
                },
                reply_to_provider_message_id: None,
            })],
            ignored: 0,
        }]
    );
}

#[test]
fn timestamps_may_be_strings_and_fall_back_to_the_entry_time() {
    let body = webhook(
        "page",
        json!([{"id": PAGE_ID, "time": "1780000000456", "messaging": [
            {"sender": {"id": PSID}, "timestamp": "1780000000123", "message": {"mid": "m_1", "text": "a"}},
            {"sender": {"id": PSID}, "message": {"mid": "m_2", "text": "b"}},
        ]}]),
    );
    let account = one_account(Platform::Messenger, &body);
    let times: Vec<_> = messages(&account.events)
        .iter()
        .map(|message| message.provider_timestamp)
        .collect();
    assert_eq!(times, [Some(1_780_000_000_123), Some(1_780_000_000_456)]);
}

#[test]
fn a_quick_reply_tap_is_an_interactive_reply_with_its_payload() {
    check(
        json!({ "mid": "m_ZmFrZW1pZDEyMw", "text": "Red", "quick_reply": { "payload": "COLOR_RED" } }),
        MessageContent::InteractiveReply {
            reply_id: "COLOR_RED".into(),
            title: "Red".into(),
            description: None,
        },
    );
}

#[test]
fn a_postback_is_an_interactive_reply_keyed_by_its_mid() {
    let item = json!({ "sender": { "id": PSID }, "recipient": { "id": PAGE_ID }, "timestamp": 1_780_000_003_000_i64,
        "postback": { "mid": "m_ZmFrZW1pZDc4OQ", "title": "Talk to a human", "payload": "HANDOFF" } });
    let account = one_account(Platform::Messenger, &messenger(json!([item])));
    let message = messages(&account.events)[0];
    assert_eq!(message.provider_message_id, "m_ZmFrZW1pZDc4OQ");
    assert_eq!(message.contact_external_id, PSID);
    assert_eq!(message.provider_timestamp, Some(1_780_000_003_000));
    assert_eq!(
        message.content,
        MessageContent::InteractiveReply {
            reply_id: "HANDOFF".into(),
            title: "Talk to a human".into(),
            description: None,
        }
    );
}

#[test]
fn a_postback_without_a_mid_is_keyed_by_sender_time_and_payload() {
    // Get Started and persistent-menu postbacks may come without a mid.
    let item = json!({ "sender": { "id": PSID }, "recipient": { "id": PAGE_ID }, "timestamp": 1_780_000_003_000_i64,
        "postback": { "title": "Get Started", "payload": "GET_STARTED",
                      "referral": {"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"} } });
    let account = one_account(Platform::Messenger, &messenger(json!([item])));
    assert_eq!(
        account.events[0].dedupe_key(),
        format!("postback:{PSID}:1780000003000:GET_STARTED")
    );
}

#[test]
fn every_attachment_type_is_mapped() {
    let cdn = "https://scontent.xx.fbcdn.net/v/t1.15752-9/abc.jpg?x=1";
    let attachment = |kind: &str, payload: Value| json!({"mid": "m_ZmFrZW1pZDQ1Ng", "attachments": [{"type": kind, "payload": payload}]});
    let cases = [
        (
            "image",
            json!({"url": cdn}),
            media(MediaKind::Image, cdn, None),
        ),
        (
            "image",
            json!({"url": cdn, "sticker_id": 369_239_263_222_822_i64}),
            media(MediaKind::Sticker, cdn, None),
        ),
        (
            "sticker",
            json!({"url": cdn}),
            media(MediaKind::Sticker, cdn, None),
        ),
        (
            "video",
            json!({"url": cdn}),
            media(MediaKind::Video, cdn, None),
        ),
        (
            "audio",
            json!({"url": cdn}),
            media(MediaKind::Audio, cdn, None),
        ),
        (
            "file",
            json!({"url": cdn}),
            media(MediaKind::Document, cdn, None),
        ),
        (
            "ig_reel",
            json!({"url": cdn, "title": "Our terrace", "reel_video_id": "1"}),
            media(MediaKind::Video, cdn, Some("Our terrace")),
        ),
        (
            "reel",
            json!({"url": cdn}),
            media(MediaKind::Video, cdn, None),
        ),
        (
            "fallback",
            json!({"url": "https://example.com/menu", "title": "Our menu"}),
            MessageContent::Text {
                body: "Our menu\nhttps://example.com/menu".into(),
            },
        ),
        (
            "fallback",
            Value::Null,
            unsupported("a shared link the platform did not pass on"),
        ),
        (
            "share",
            json!({"url": cdn}),
            unsupported(&format!("a shared post: {cdn}")),
        ),
        ("ig_post", json!({}), unsupported("a shared post")),
        (
            "template",
            json!({"template_type": "generic"}),
            unsupported("a shared template message"),
        ),
        (
            "appointment_booking",
            json!({}),
            unsupported("an attachment of type appointment_booking"),
        ),
        (
            "story_mention",
            json!({"url": cdn}),
            unsupported(&format!(
                "mentioned the account in their story (it expires after 24 hours): {cdn}"
            )),
        ),
    ];
    for (kind, payload, expected) in cases {
        let message = one_message(attachment(kind, payload.clone()));
        assert_eq!(message.content, expected, "{kind} {payload}");
        assert_eq!(message.provider_message_id, "m_ZmFrZW1pZDQ1Ng");
    }
}

#[test]
fn a_location_is_read_from_its_coordinates() {
    check(
        json!({"mid": "m_loc", "attachments": [{"type": "location", "title": "Lucky Shrub",
            "url": "https://l.facebook.com/l.php?u=x",
            "payload": {"coordinates": {"lat": 37.483307, "long": -122.148981}}}]}),
        MessageContent::Location {
            latitude: 37.483307,
            longitude: -122.148981,
            name: Some("Lucky Shrub".into()),
            address: None,
        },
    );
    check(
        json!({"mid": "m_loc", "attachments": [{"type": "location", "payload": {}}]}),
        unsupported("a location without coordinates"),
    );
}

#[test]
fn several_attachments_and_text_become_one_event_each() {
    let account = one_account(
        Platform::Messenger,
        &messenger(json!([from_contact(
            json!({"mid": "m_many", "text": "Our room", "attachments": [
                {"type": "image", "payload": {"url": "https://cdn.test/1.jpg"}},
                {"type": "image", "payload": {"url": "https://cdn.test/2.jpg"}},
            ]})
        )])),
    );
    let parsed: Vec<_> = messages(&account.events)
        .into_iter()
        .map(|message| {
            (
                message.provider_message_id.as_str(),
                message.content.clone(),
            )
        })
        .collect();
    assert_eq!(
        parsed,
        [
            (
                "m_many",
                MessageContent::Text {
                    body: "Our room".into()
                }
            ),
            (
                "m_many#1",
                media(MediaKind::Image, "https://cdn.test/1.jpg", None)
            ),
            (
                "m_many#2",
                media(MediaKind::Image, "https://cdn.test/2.jpg", None)
            ),
        ]
    );
}

#[test]
fn a_link_preview_that_repeats_the_text_is_not_a_second_event() {
    check(
        json!({"mid": "m_link", "text": "see https://example.com/menu please", "attachments": [
            {"type": "fallback", "payload": {"url": "https://example.com/menu", "title": "Menu"}}
        ]}),
        MessageContent::Text {
            body: "see https://example.com/menu please".into(),
        },
    );
}

#[test]
fn a_reply_names_the_message_it_answers() {
    let message = one_message(
        json!({"mid": "m_2", "text": "agreed", "reply_to": {"mid": "m_1", "is_self_reply": false}}),
    );
    assert_eq!(message.reply_to_provider_message_id.as_deref(), Some("m_1"));
}

#[test]
fn reactions_name_their_message_and_removals_have_no_emoji() {
    let react = json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1_780_000_006_000_i64,
        "reaction": {"reaction": "love", "emoji": "\u{2764}\u{fe0f}", "action": "react", "mid": "m_ours"}});
    let unreact = json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1_780_000_007_000_i64,
        "reaction": {"reaction": "love", "action": "unreact", "mid": "m_ours"}});
    let by_name = json!({"sender": {"id": PSID}, "timestamp": 1_780_000_008_000_i64,
        "reaction": {"reaction": "like", "action": "react", "mid": "m_ours"}});
    let account = one_account(
        Platform::Messenger,
        &messenger(json!([react, unreact, by_name])),
    );
    let parsed: Vec<_> = account
        .events
        .iter()
        .map(|event| {
            let InboundEvent::Message(message) = event else {
                panic!("expected a message")
            };
            (event.dedupe_key(), message.content.clone())
        })
        .collect();
    let reaction = |emoji: Option<&str>| MessageContent::Reaction {
        target_provider_message_id: "m_ours".into(),
        emoji: emoji.map(str::to_owned),
    };
    assert_eq!(
        parsed,
        [
            (
                format!("reaction:{PSID}:m_ours:react:1780000006000"),
                reaction(Some("\u{2764}\u{fe0f}"))
            ),
            (
                format!("reaction:{PSID}:m_ours:unreact:1780000007000"),
                reaction(None)
            ),
            (
                format!("reaction:{PSID}:m_ours:react:1780000008000"),
                reaction(Some("\u{1f44d}"))
            ),
        ]
    );
}

#[test]
fn a_delivery_gives_one_status_per_mid_and_a_bare_watermark_is_ignored() {
    let with_mids = json!({ "sender": { "id": PSID }, "recipient": { "id": PAGE_ID },
        "delivery": { "mids": [ "m_ZmFrZW1pZDAwMQ", "m_ZmFrZW1pZDAwMg" ], "watermark": 1_780_000_004_000_i64 } });
    let watermark_only = json!({ "sender": { "id": PSID }, "recipient": { "id": PAGE_ID },
        "delivery": { "watermark": 1_780_000_004_000_i64 } });
    let account = one_account(
        Platform::Messenger,
        &messenger(json!([with_mids, watermark_only])),
    );
    let delivered = |mid: &str| {
        InboundEvent::Status(StatusUpdate {
            provider_message_id: mid.into(),
            recipient_external_id: PSID.into(),
            status: DeliveryStatus::Delivered,
            provider_timestamp: Some(1_780_000_004_000),
            failure_reason: None,
        })
    };
    assert_eq!(
        account.events,
        [delivered("m_ZmFrZW1pZDAwMQ"), delivered("m_ZmFrZW1pZDAwMg")]
    );
    assert_eq!(account.ignored, 1);
}

#[test]
fn a_messenger_read_watermark_names_no_message_and_is_ignored() {
    let read = json!({ "sender": { "id": PSID }, "recipient": { "id": PAGE_ID }, "timestamp": 1_780_000_005_000_i64,
        "read": { "watermark": 1_780_000_004_500_i64 } });
    let account = one_account(Platform::Messenger, &messenger(json!([read])));
    assert_eq!(account.events, []);
    assert_eq!(account.ignored, 1);
}

#[test]
fn echoes_of_our_own_sends_are_ignored() {
    let echo = json!({"sender": {"id": PAGE_ID}, "recipient": {"id": PSID}, "timestamp": 1_780_000_009_000_i64,
        "message": {"is_echo": true, "app_id": 1_517_776_481_860_111_i64, "metadata": "parley", "mid": "m_echo", "text": "Hi"}});
    let account = one_account(
        Platform::Messenger,
        &messenger(json!([
            echo,
            from_contact(json!({"mid": "m_in", "text": "Hello"}))
        ])),
    );
    assert_eq!(account.ignored, 1);
    assert_eq!(messages(&account.events)[0].provider_message_id, "m_in");
}

#[test]
fn unknown_event_kinds_edits_referrals_standby_and_changes_are_counted_not_refused() {
    let body = webhook(
        "page",
        json!([{"id": PAGE_ID, "time": 1, "messaging": [
            {"sender": {"id": PSID}, "timestamp": 1, "referral": {"ref": "ad", "source": "ADS", "type": "OPEN_THREAD"}},
            {"sender": {"id": PSID}, "timestamp": 2, "message_edit": {"mid": "m_1", "text": "fixed", "num_edit": 1}},
            {"sender": {"id": PSID}, "timestamp": 3, "pass_thread_control": {"new_owner_app_id": "1"}},
            {"sender": {"id": PSID}, "timestamp": 4, "something_new": {"x": [1, 2]}},
            {"recipient": {"id": PAGE_ID}, "timestamp": 5, "app_roles": {"123456789": ["primary_receiver"]}},
        ], "standby": [
            {"sender": {"id": PSID}, "timestamp": 5, "message": {"mid": "m_other_app", "text": "hi"}},
        ], "changes": [{"field": "feed", "value": {}}]}]),
    );
    let account = one_account(Platform::Messenger, &body);
    assert_eq!(account.events, []);
    assert_eq!(account.ignored, 7);
}

#[test]
fn a_batch_is_grouped_by_account_in_order() {
    let second_page = "200000000000002";
    let body = webhook(
        "page",
        json!([
            {"id": PAGE_ID, "time": 1, "messaging": [
                from_contact(json!({"mid": "m_a1", "text": "one"})),
                from_contact(json!({"mid": "m_a2", "text": "two"})),
            ]},
            {"id": second_page, "time": 2, "messaging": [
                {"sender": {"id": "777"}, "recipient": {"id": second_page}, "timestamp": 2,
                 "message": {"mid": "m_b1", "text": "other page"}},
                {"sender": {"id": second_page}, "recipient": {"id": "777"}, "timestamp": 3,
                 "message": {"is_echo": true, "mid": "m_b2", "text": "echo"}},
            ]},
            {"id": PAGE_ID, "time": 3, "messaging": [
                from_contact(json!({"mid": "m_a3", "text": "three"})),
            ]},
        ]),
    );
    let accounts = parse(Platform::Messenger, &body).unwrap();
    let summary: Vec<_> = accounts
        .iter()
        .map(|account| {
            let ids: Vec<_> = account
                .events
                .iter()
                .map(InboundEvent::dedupe_key)
                .collect();
            (account.account_id.as_str(), ids, account.ignored)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                PAGE_ID,
                vec!["m_a1".to_owned(), "m_a2".into(), "m_a3".into()],
                0
            ),
            (second_page, vec!["m_b1".to_owned()], 1),
        ]
    );
    assert_eq!(accounts[1].events[0].contact_external_id(), "777");
}

#[test]
fn an_instagram_text_is_keyed_by_its_mid() {
    let body = br#"{
      "object": "instagram",
      "entry": [ { "id": "17841405822304914", "time": 1780000010000,
        "messaging": [ { "sender": { "id": "1209384756102938" }, "recipient": { "id": "17841405822304914" },
                         "timestamp": 1780000009876,
                         "message": { "mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", "text": "Is this still available?" } } ] } ]
    }"#;
    let account = one_account(Platform::Instagram, body);
    assert_eq!(account.account_id, IG_ACCOUNT);
    let message = messages(&account.events)[0];
    assert_eq!(
        message.provider_message_id,
        "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx"
    );
    assert_eq!(message.contact_external_id, IGSID);
    assert_eq!(message.provider_timestamp, Some(1_780_000_009_876));
    assert_eq!(
        message.content,
        MessageContent::Text {
            body: "Is this still available?".into()
        }
    );
}

/// The events of Instagram items, as `(dedupe key, reply to, content)`.
fn instagram_events(items: Value) -> (Vec<(String, Option<String>, MessageContent)>, usize) {
    let account = one_account(Platform::Instagram, &instagram(items));
    let events = messages(&account.events)
        .into_iter()
        .map(|message| {
            (
                message.provider_message_id.clone(),
                message.reply_to_provider_message_id.clone(),
                message.content.clone(),
            )
        })
        .collect();
    (events, account.ignored)
}

#[test]
fn instagram_message_variants_are_mapped() {
    let story = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1";
    let text = |body: &str| MessageContent::Text { body: body.into() };
    let (events, ignored) = instagram_events(json!([
        from_ig_contact(
            "message",
            json!({ "mid": "aWdf_mention", "attachments": [ { "type": "story_mention", "payload": { "url": story } } ] })
        ),
        from_ig_contact(
            "message",
            json!({ "mid": "aWdf_story", "text": "Love this!", "reply_to": { "story": { "url": story, "id": "3012345678901234567" } } })
        ),
        from_ig_contact(
            "message",
            json!({ "mid": "aWdf_reply", "text": "agreed", "reply_to": { "mid": "aWdf_previous" } })
        ),
        from_ig_contact("message", json!({ "mid": "aWdf_gone", "is_deleted": true })),
        from_ig_contact(
            "message",
            json!({ "mid": "aWdf_odd", "is_unsupported": true })
        ),
        from_ig_contact(
            "message",
            json!({ "mid": "aWdf_quick", "text": "Red", "quick_reply": { "payload": "COLOR_RED" } })
        ),
        from_ig_contact(
            "postback",
            json!({ "mid": "aWdf_postback", "title": "Book", "payload": "BOOK" })
        ),
    ]));
    assert_eq!(ignored, 0);
    assert_eq!(
        events,
        [
            (
                "aWdf_mention".into(),
                None,
                unsupported(&format!(
                    "mentioned the account in their story (it expires after 24 hours): {story}"
                ))
            ),
            (
                "aWdf_story".into(),
                Some("story:3012345678901234567".into()),
                text("Love this!")
            ),
            (
                "aWdf_reply".into(),
                Some("aWdf_previous".into()),
                text("agreed")
            ),
            (
                "deleted:aWdf_gone".into(),
                Some("aWdf_gone".into()),
                unsupported("the contact unsent a message")
            ),
            (
                "aWdf_odd".into(),
                None,
                unsupported("a message Instagram does not pass on to apps")
            ),
            (
                "aWdf_quick".into(),
                None,
                MessageContent::InteractiveReply {
                    reply_id: "COLOR_RED".into(),
                    title: "Red".into(),
                    description: None
                }
            ),
            (
                "aWdf_postback".into(),
                None,
                MessageContent::InteractiveReply {
                    reply_id: "BOOK".into(),
                    title: "Book".into(),
                    description: None
                }
            ),
        ]
    );
}

#[test]
fn an_instagram_echo_is_ignored_even_without_the_flag() {
    let (events, ignored) = instagram_events(json!([
        { "sender": { "id": IG_ACCOUNT }, "recipient": { "id": IGSID }, "timestamp": 1_780_000_011_000_i64,
          "message": { "mid": "aWdf_echo", "text": "Thanks!", "is_echo": true } },
        { "sender": { "id": IG_ACCOUNT }, "recipient": { "id": IGSID }, "timestamp": 1_780_000_011_500_i64,
          "message": { "mid": "aWdf_from_app", "text": "Sent from the Instagram app" } },
    ]));
    assert_eq!(events, []);
    assert_eq!(ignored, 2);
}

#[test]
fn an_instagram_read_names_its_message() {
    let account = one_account(
        Platform::Instagram,
        &instagram(json!([from_ig_contact(
            "read",
            json!({ "mid": "aWdf_ours" })
        )])),
    );
    assert_eq!(
        account.events,
        [InboundEvent::Status(StatusUpdate {
            provider_message_id: "aWdf_ours".into(),
            recipient_external_id: IGSID.into(),
            status: DeliveryStatus::Read,
            provider_timestamp: Some(1_780_000_012_000),
            failure_reason: None,
        })]
    );
}

#[test]
fn an_instagram_reaction_is_parsed() {
    let account = one_account(
        Platform::Instagram,
        &instagram(json!([from_ig_contact(
            "reaction",
            json!({ "mid": "aWdf_ours", "action": "react", "reaction": "love", "emoji": "\u{2764}\u{fe0f}" })
        )])),
    );
    assert_eq!(
        messages(&account.events)[0].content,
        MessageContent::Reaction {
            target_provider_message_id: "aWdf_ours".into(),
            emoji: Some("\u{2764}\u{fe0f}".into()),
        }
    );
}

#[test]
fn a_body_that_is_not_a_webhook_of_the_platform_is_refused() {
    let text = br#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"mid":"m","text":"x"}}]}]}"#;
    let cases: [(Platform, &[u8], &str); 6] = [
        (Platform::Messenger, b"not json", "expected"),
        (Platform::Instagram, text, "object is `page`, expected `instagram` for Instagram"),
        (
            Platform::Messenger,
            br#"{"object":"whatsapp_business_account","entry":[]}"#,
            "object is `whatsapp_business_account`, expected `page` for Messenger",
        ),
        (Platform::Messenger, br#"{"object":"page","entry":[{"messaging":[]}]}"#, "an entry has no `id`"),
        (
            Platform::Messenger,
            br#"{"object":"page","entry":[{"id":"1","messaging":[{"message":{"mid":"m","text":"x"}}]}]}"#,
            "a messaging item has no sender",
        ),
        (
            Platform::Messenger,
            br#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"text":"x"}}]}]}"#,
            "a Messenger message has no `mid`",
        ),
    ];
    for (platform, body, expected) in cases {
        match parse(platform, body) {
            Err(WebhookError::MalformedPayload(reason)) => {
                assert!(reason.contains(expected), "{reason} should say {expected}")
            }
            other => panic!("expected a malformed payload, got {other:?}"),
        }
    }
    assert_eq!(parse(Platform::Messenger, text).unwrap()[0].events.len(), 1);
}

#[test]
fn an_empty_notification_has_no_accounts() {
    assert_eq!(
        parse(Platform::Messenger, br#"{"object":"page","entry":[]}"#).unwrap(),
        []
    );
}
