//! The channel rendering table of the Bot Journeys spec ("Running a journey on multiple
//! channels"), as tests: one row per step kind that sends something, each run as a one-step
//! journey through the interpreter, with what every channel kind that exists gets.
//!
//! - WhatsApp Cloud: the exact body of the send, from `whatsapp_cloud::render`.
//! - Web Chat: the browser gets the content JSON as it is (`webchat::ServerFrame::Message`);
//!   each row names the content's `type` and the fields the page renders from.
//! - Messenger and Instagram: the `message` of the Send API body (`page_rows`).
//! - Telegram: the Bot API calls, in `telegram/render_table.rs`.
//!
//! The step kinds that send nothing are checked to send nothing, and a match over every
//! `StepKind` keeps the table complete when a kind is added.

use crate::adapters::webchat::{ServerFrame, WebchatMessage};
use crate::adapters::whatsapp_cloud::render::render;
use crate::domain::{MessageContent, Millis};
use crate::journey::{run, Context, Effect, Input, Journey, Session, StepKind};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The guest's number the WhatsApp body is addressed to.
pub(super) const RECIPIENT: &str = "351912345678";
/// 23:40 UTC on Wednesday 10 March 2027.
const NOW: Millis = 1_804_722_000_000;

/// One row of the table: a step kind and its config, what WhatsApp Cloud gets as
/// `{"<type>": <object>}` (the envelope is added), and the fields the Web Chat content has.
pub(super) struct Row {
    pub(super) case: &'static str,
    pub(super) kind: &'static str,
    pub(super) config: Value,
    whatsapp: Value,
    webchat: Value,
}

fn row(
    case: &'static str,
    kind: &'static str,
    config: Value,
    whatsapp: Value,
    webchat: Value,
) -> Row {
    Row {
        case,
        kind,
        config,
        whatsapp,
        webchat,
    }
}

/// How the spec's table groups a step kind. The match has no wildcard, so a new kind does
/// not compile until it is placed, and `every_step_kind_has_a_row` then asks for its row.
#[derive(Debug, PartialEq, Eq)]
enum Group {
    Sends,
    Silent,
    /// Sends only when configured to (an Agent Transfer with a message).
    Both,
}

fn group(kind: &StepKind) -> Group {
    match kind {
        StepKind::Text(_)
        | StepKind::Image(_)
        | StepKind::Video(_)
        | StepKind::Audio(_)
        | StepKind::Document(_)
        | StepKind::Location(_)
        | StepKind::CtaUrl(_)
        | StepKind::Template(_)
        | StepKind::Reply(_)
        | StepKind::QuickReply(_)
        | StepKind::List(_)
        | StepKind::Prompt(_)
        | StepKind::PromptDate(_) => Group::Sends,
        StepKind::Start
        | StepKind::Condition(_)
        | StepKind::Delay(_)
        | StepKind::WaitForEvents(_)
        | StepKind::Api(_)
        | StepKind::AiAgent(_)
        | StepKind::Goal(_) => Group::Silent,
        StepKind::AgentTransfer(_) => Group::Both,
    }
}

fn numbered(count: usize) -> Vec<Value> {
    (1..=count)
        .map(|n| json!({"id": format!("r{n}"), "title": n.to_string()}))
        .collect()
}

pub(super) fn sending_rows() -> Vec<Row> {
    let pool = "https://cdn.example.com/pool.jpg";
    let booking = "https://casa-azul.example.com/my-booking";
    vec![
        row(
            "text",
            "text",
            json!({"text": "Hi {{contact.name}}, welcome!"}),
            json!({"text": {"body": "Hi Ana, welcome!", "preview_url": false}}),
            json!({"type": "text", "body": "Hi Ana, welcome!"}),
        ),
        row(
            "text with a link",
            "text",
            json!({"text": "Map: https://maps.example.com/ca"}),
            json!({"text": {"body": "Map: https://maps.example.com/ca", "preview_url": true}}),
            json!({"type": "text", "body": "Map: https://maps.example.com/ca"}),
        ),
        row(
            "image",
            "image",
            json!({"url": pool, "caption": "The pool"}),
            json!({"image": {"link": pool, "caption": "The pool"}}),
            json!({"type": "media", "media_kind": "image", "url": pool, "caption": "The pool"}),
        ),
        row(
            "video",
            "video",
            json!({"url": "https://cdn.example.com/tour.mp4", "caption": "Tour"}),
            json!({"video": {"link": "https://cdn.example.com/tour.mp4", "caption": "Tour"}}),
            json!({"type": "media", "media_kind": "video", "caption": "Tour"}),
        ),
        row(
            "audio",
            "audio",
            json!({"url": "https://cdn.example.com/hello.ogg"}),
            json!({"audio": {"link": "https://cdn.example.com/hello.ogg"}}),
            json!({"type": "media", "media_kind": "audio", "url": "https://cdn.example.com/hello.ogg"}),
        ),
        row(
            "document",
            "document",
            json!({"url": "https://cdn.example.com/rules.pdf",
            "caption": "House rules", "filename": "rules.pdf"}),
            json!({"document": {"link": "https://cdn.example.com/rules.pdf",
                "caption": "House rules", "filename": "rules.pdf"}}),
            json!({"type": "media", "media_kind": "document", "filename": "rules.pdf"}),
        ),
        row(
            "location",
            "location",
            json!({"latitude": 37.0862, "longitude": -8.251,
            "name": "Casa Azul", "address": "Rua do Farol 12, Albufeira"}),
            json!({"location": {"latitude": 37.0862, "longitude": -8.251,
                "name": "Casa Azul", "address": "Rua do Farol 12, Albufeira"}}),
            json!({"type": "location", "latitude": 37.0862, "longitude": -8.251, "name": "Casa Azul"}),
        ),
        row(
            "call-to-action URL",
            "cta_url",
            json!({"header": {"type": "text", "text": "Your booking"},
            "body": "All in one place.", "footer": "Casa Azul", "button_text": "View booking",
            "url": booking}),
            json!({"interactive": {"type": "cta_url",
                "header": {"type": "text", "text": "Your booking"},
                "body": {"text": "All in one place."}, "footer": {"text": "Casa Azul"},
                "action": {"name": "cta_url",
                    "parameters": {"display_text": "View booking", "url": booking}}}}),
            json!({"type": "cta_url", "header": {"type": "text", "text": "Your booking"},
                "button_text": "View booking", "url": booking}),
        ),
        row(
            "call-to-action URL with an image header",
            "cta_url",
            json!({
            "header": {"type": "image", "url": pool}, "body": "All in one place.",
            "button_text": "View booking", "url": booking}),
            json!({"interactive": {"type": "cta_url",
                "header": {"type": "image", "image": {"link": pool}},
                "body": {"text": "All in one place."},
                "action": {"name": "cta_url",
                    "parameters": {"display_text": "View booking", "url": booking}}}}),
            json!({"type": "cta_url", "header": {"type": "image", "url": pool}}),
        ),
        row(
            "template",
            "template",
            json!({"name": "checkin_reminder", "language": "en_US",
            "parameters": ["{{contact.name}}", "15:00"]}),
            json!({"template": {"name": "checkin_reminder", "language": {"code": "en_US"},
                "components": [{"type": "body", "parameters": [
                    {"type": "text", "text": "Ana"}, {"type": "text", "text": "15:00"}]}]}}),
            json!({"type": "template", "name": "checkin_reminder", "language": "en_US",
                "parameters": ["Ana", "15:00"]}),
        ),
        row(
            "reply buttons with an image header",
            "reply",
            json!({
            "header": {"type": "image", "url": pool}, "body": "How can we help?",
            "footer": "Casa Azul", "choices": [{"id": "book", "title": "Book a stay"},
                {"id": "talk", "title": "Talk to us", "synonyms": ["human"]}]}),
            json!({"interactive": {"type": "button",
                "header": {"type": "image", "image": {"link": pool}},
                "body": {"text": "How can we help?"}, "footer": {"text": "Casa Azul"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "book", "title": "Book a stay"}},
                    {"type": "reply", "reply": {"id": "talk", "title": "Talk to us"}}]}}}),
            json!({"type": "choices", "style": "buttons", "header": {"type": "image", "url": pool},
                "choices": [{"id": "book", "title": "Book a stay"},
                    {"id": "talk", "title": "Talk to us"}]}),
        ),
        row(
            "quick replies that fit in 3 buttons",
            "quick_reply",
            json!({"body": "Rate us", "choices": numbered(3)}),
            json!({"interactive": {"type": "button", "body": {"text": "Rate us"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "r1", "title": "1"}},
                    {"type": "reply", "reply": {"id": "r2", "title": "2"}},
                    {"type": "reply", "reply": {"id": "r3", "title": "3"}}]}}}),
            json!({"type": "choices", "style": "quick_replies", "choices": numbered(3)}),
        ),
        row(
            "quick replies beyond 3",
            "quick_reply",
            json!({"body": "Rate us from 1 to 5", "footer": "5 is best", "choices": numbered(5)}),
            json!({"interactive": {"type": "list", "body": {"text": "Rate us from 1 to 5"},
                "footer": {"text": "5 is best"},
                "action": {"button": "Choose", "sections": [{"rows": numbered(5)}]}}}),
            json!({"type": "choices", "style": "quick_replies", "choices": numbered(5)}),
        ),
        row(
            "list",
            "list",
            json!({"header": "Where to eat", "body": "Pick one",
            "footer": "Casa Azul", "button_text": "Restaurants", "sections": [
                {"title": "Seafood", "rows": [
                    {"id": "pescador", "title": "O Pescador", "description": "Grilled fish"}]},
                {"title": "Portuguese", "rows": [{"id": "tasca", "title": "Tasca da Avó"}]}]}),
            json!({"interactive": {"type": "list",
                "header": {"type": "text", "text": "Where to eat"},
                "body": {"text": "Pick one"}, "footer": {"text": "Casa Azul"},
                "action": {"button": "Restaurants", "sections": [
                    {"title": "Seafood", "rows": [
                        {"id": "pescador", "title": "O Pescador", "description": "Grilled fish"}]},
                    {"title": "Portuguese", "rows": [{"id": "tasca", "title": "Tasca da Avó"}]}]}}}),
            json!({"type": "list", "header": "Where to eat", "button": "Restaurants",
                "sections": [
                    {"title": "Seafood", "rows": [
                        {"id": "pescador", "title": "O Pescador", "description": "Grilled fish"}]},
                    {"title": "Portuguese", "rows": [{"id": "tasca", "title": "Tasca da Avó"}]}]}),
        ),
        row(
            "prompt",
            "prompt",
            json!({"question": "Your email?", "validation": {"mode": "email"}}),
            json!({"text": {"body": "Your email?", "preview_url": false}}),
            json!({"type": "text", "body": "Your email?"}),
        ),
        row(
            "prompt date",
            "prompt_date",
            json!({"question": "Arrival date?", "format": "dd/mm/yyyy"}),
            json!({"text": {"body": "Arrival date?", "preview_url": false}}),
            json!({"type": "text", "body": "Arrival date?"}),
        ),
        row(
            "agent transfer with a message",
            "agent_transfer",
            json!({
            "target": {"type": "team", "team_id": "front-desk"}, "message": "Connecting you."}),
            json!({"text": {"body": "Connecting you.", "preview_url": false}}),
            json!({"type": "text", "body": "Connecting you."}),
        ),
    ]
}

/// Step kinds that send nothing, with the effects they do have, in order.
fn silent_rows() -> Vec<(&'static str, Value, &'static [&'static str])> {
    vec![
        ("start", Value::Null, &["ended"]),
        (
            "condition",
            json!({"branches": [{"id": "vip", "rules": [
                {"variable": "tier", "operator": "equals", "value": "vip"}]}]}),
            &["ended"],
        ),
        ("delay", json!({"seconds": 86400}), &["start_timer"]),
        (
            "wait_for_events",
            json!({"event": "deposit_paid", "timeout_secs": 3600}),
            &["start_timer"],
        ),
        (
            "api",
            json!({"request": {"url": "https://pms.example.com/rates"}}),
            &["call_api"],
        ),
        (
            "ai_agent",
            json!({"system_prompt": "Be kind"}),
            &["agent_turn"],
        ),
        (
            "goal",
            json!({"goal_id": "g", "milestone_id": "m"}),
            &["goal", "ended"],
        ),
        (
            "agent_transfer",
            json!({"target": {"type": "team", "team_id": "front-desk"}}),
            &["transfer", "ended"],
        ),
    ]
}

/// A journey of Start and one step of `kind` (only Start when `kind` is `start`).
pub(super) fn one_step(kind: &str, config: &Value) -> Journey {
    let mut steps = vec![json!({"id": "start", "name": "Start", "kind": "start"})];
    let mut connections = Vec::new();
    if kind != "start" {
        steps.push(json!({"id": "step", "name": kind, "kind": kind, "config": config}));
        connections.push(json!({"from": "start", "to": "step"}));
    }
    serde_json::from_value(json!({"name": "Table", "steps": steps, "connections": connections}))
        .unwrap_or_else(|error| panic!("a {kind} step parses: {error}"))
}

/// What the journey does with the guest's first message.
pub(super) fn effects(journey: &Journey) -> Vec<Effect> {
    let system = |name: &str| (name == "contact_name").then(|| "Ana".to_owned());
    let campaign = |_: &str| None;
    let ctx = Context {
        now: NOW,
        today: chrono::NaiveDate::from_ymd_opt(2027, 3, 10).expect("a date"),
        system: &system,
        campaign: &campaign,
    };
    let hello = MessageContent::Text { body: "hi".into() };
    run(journey, Session::default(), &Input::Message(&hello), &ctx).effects
}

pub(super) fn sent(effects: &[Effect]) -> Vec<&MessageContent> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Send { content, .. } => Some(content),
            _ => None,
        })
        .collect()
}

fn effect_name(effect: &Effect) -> &'static str {
    match effect {
        Effect::Send { .. } => "send",
        Effect::StartTimer { .. } => "start_timer",
        Effect::CallApi { .. } => "call_api",
        Effect::AiCheck { .. } => "ai_check",
        Effect::AiPostProcess { .. } => "ai_post_process",
        Effect::AgentTurn { .. } => "agent_turn",
        Effect::SetCampaignVariable { .. } => "set_campaign_variable",
        Effect::Transfer { .. } => "transfer",
        Effect::Goal { .. } => "goal",
        Effect::Ended { .. } => "ended",
    }
}

/// The content of the business message frame the browser gets.
fn webchat_content(content: &MessageContent) -> Value {
    let frame = ServerFrame::Message {
        message: WebchatMessage {
            id: "m1".into(),
            from: "business",
            content: content.clone(),
            at: NOW,
        },
    };
    let mut frame = serde_json::to_value(&frame).expect("frames serialise");
    frame["message"]["content"].take()
}

#[track_caller]
fn check(row: &Row) {
    let journey = one_step(row.kind, &row.config);
    let effects = effects(&journey);
    let sent = sent(&effects);
    let [content] = sent.as_slice() else {
        panic!("{}: one message is sent, not {sent:?}", row.case);
    };

    let (kind, object) = row
        .whatsapp
        .as_object()
        .and_then(|object| object.iter().next())
        .expect("a WhatsApp expectation is {type: object}");
    let mut expected = json!({"messaging_product": "whatsapp", "recipient_type": "individual",
        "to": RECIPIENT, "type": kind});
    expected[kind] = object.clone();
    let whatsapp = render(RECIPIENT, content, None)
        .unwrap_or_else(|error| panic!("{}: WhatsApp refuses it: {error}", row.case));
    assert_eq!(whatsapp, expected, "{} on WhatsApp Cloud", row.case);

    let webchat = webchat_content(content);
    let fields = row
        .webchat
        .as_object()
        .expect("Web Chat fields are an object");
    assert!(
        fields.contains_key("type"),
        "{}: name the Web Chat type",
        row.case
    );
    for (field, value) in fields {
        assert_eq!(
            &webchat[field], value,
            "{} on Web Chat, field `{field}` of {webchat}",
            row.case
        );
    }
}

#[test]
fn every_sending_step_renders_on_every_channel_kind() {
    for row in sending_rows() {
        check(&row);
    }
}

#[test]
fn steps_that_send_nothing_send_nothing() {
    for (kind, config, expected) in silent_rows() {
        let effects = effects(&one_step(kind, &config));
        let names: Vec<&str> = effects.iter().map(effect_name).collect();
        assert_eq!(names, expected, "{kind}");
    }
}

#[test]
fn every_step_kind_has_a_row() {
    let mut covered = BTreeSet::new();
    let mut check_group = |kind: &'static str, config: &Value, sends: bool| {
        let journey = one_step(kind, config);
        let step = journey.steps.last().expect("the step");
        let expected = if sends { Group::Sends } else { Group::Silent };
        let group = group(&step.kind);
        assert!(
            group == expected || group == Group::Both,
            "{kind} is {group:?} in the spec's table, yet its row says sends: {sends}"
        );
        covered.insert(step.kind.name());
    };
    for row in sending_rows() {
        check_group(row.kind, &row.config, true);
    }
    for (kind, config, _) in silent_rows() {
        check_group(kind, &config, false);
    }
    assert_eq!(covered.len(), 21, "the 21 step kinds: {covered:?}");
}

/// What Messenger and Instagram get for each sending row: the `message` of the Send API body
/// (`None`: refused, as a WhatsApp template is), per the spec's table — plain text, images
/// only (other media degrade to their link), locations as a text summary, reply buttons and
/// quick replies as quick replies, lists as numbered text, a CTA URL as a button template on
/// Messenger and as text on Instagram, headers and footers dropped.
fn page_rows() -> Vec<(&'static str, Option<Value>, Option<Value>)> {
    let same = |message: Value| (Some(message.clone()), Some(message));
    let quick = |body: &str, items: &[(&str, &str)]| {
        json!({"text": body, "quick_replies": items.iter().map(|(payload, title)| {
            json!({"content_type": "text", "payload": payload, "title": title})
        }).collect::<Vec<_>>()})
    };
    let booking = "https://casa-azul.example.com/my-booking";
    let cta_messenger = json!({"attachment": {"type": "template", "payload": {
        "template_type": "button", "text": "All in one place.",
        "buttons": [{"type": "web_url", "title": "View booking", "url": booking}]}}});
    let cta_instagram = json!({"text": format!("All in one place.\n\nView booking: {booking}")});
    let rows = [
        ("text", same(json!({"text": "Hi Ana, welcome!"}))),
        (
            "text with a link",
            same(json!({"text": "Map: https://maps.example.com/ca"})),
        ),
        (
            "image",
            same(json!({"attachment": {"type": "template", "payload": {
            "template_type": "generic", "elements": [
                {"image_url": "https://cdn.example.com/pool.jpg", "title": "The pool"}]}}})),
        ),
        (
            "video",
            same(json!({"text": "Tour\n\nhttps://cdn.example.com/tour.mp4"})),
        ),
        (
            "audio",
            same(json!({"text": "https://cdn.example.com/hello.ogg"})),
        ),
        (
            "document",
            same(json!({"text": "House rules\n\nrules.pdf: https://cdn.example.com/rules.pdf"})),
        ),
        (
            "location",
            same(
                json!({"text": "Casa Azul\nRua do Farol 12, Albufeira\nhttps://maps.google.com/?q=37.0862,-8.251"}),
            ),
        ),
        (
            "call-to-action URL",
            (Some(cta_messenger.clone()), Some(cta_instagram.clone())),
        ),
        (
            "call-to-action URL with an image header",
            (Some(cta_messenger), Some(cta_instagram)),
        ),
        ("template", (None, None)),
        (
            "reply buttons with an image header",
            same(quick(
                "How can we help?",
                &[("book", "Book a stay"), ("talk", "Talk to us")],
            )),
        ),
        (
            "quick replies that fit in 3 buttons",
            same(quick("Rate us", &[("r1", "1"), ("r2", "2"), ("r3", "3")])),
        ),
        (
            "quick replies beyond 3",
            same(quick(
                "Rate us from 1 to 5",
                &[
                    ("r1", "1"),
                    ("r2", "2"),
                    ("r3", "3"),
                    ("r4", "4"),
                    ("r5", "5"),
                ],
            )),
        ),
        (
            "list",
            same(
                json!({"text": "Pick one\n\nSeafood\n1. O Pescador — Grilled fish\n\nPortuguese\n2. Tasca da Avó\n\nReply with the number of your choice."}),
            ),
        ),
        ("prompt", same(json!({"text": "Your email?"}))),
        ("prompt date", same(json!({"text": "Arrival date?"}))),
        (
            "agent transfer with a message",
            same(json!({"text": "Connecting you."})),
        ),
    ];
    rows.into_iter()
        .map(|(case, (messenger, instagram))| (case, messenger, instagram))
        .collect()
}

#[test]
fn every_sending_step_renders_on_messenger_and_instagram_as_the_table_says() {
    use crate::adapters::messenger::{render as page_render, Delivery, Platform};
    let expected = page_rows();
    for row in sending_rows() {
        let (_, messenger, instagram) = expected
            .iter()
            .find(|(case, _, _)| *case == row.case)
            .unwrap_or_else(|| panic!("{}: no Messenger and Instagram expectation", row.case));
        let effects = effects(&one_step(row.kind, &row.config));
        let sent = sent(&effects);
        let [content] = sent.as_slice() else {
            panic!("{}: one message is sent, not {sent:?}", row.case);
        };
        for (platform, expected) in [
            (Platform::Messenger, messenger),
            (Platform::Instagram, instagram),
        ] {
            let got = page_render(platform, RECIPIENT, content, Delivery::Response)
                .ok()
                .map(|body| body["message"].clone());
            assert_eq!(&got, expected, "{} on {platform}", row.case);
        }
    }
    assert_eq!(
        expected.len(),
        sending_rows().len(),
        "one expectation per row"
    );
}
