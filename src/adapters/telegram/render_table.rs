//! The channel rendering table's Telegram column: every sending step of the table
//! (`adapters/render_table.rs`), run through the interpreter, and the Bot API calls it becomes
//! (without `chat_id`). The seed's table has no Telegram column; this one follows the render
//! rules in `render.rs`: native media, venues, and inline keyboards for every kind of choice,
//! with a text header and the footer as paragraphs around the body.

use crate::adapters::render_table::{effects, one_step, sending_rows, sent, RECIPIENT};
use serde_json::{json, Value};

/// A Bot API method and its parameters.
type Call = (&'static str, Value);

fn message(text: &str, rows: &Value) -> Call {
    (
        "sendMessage",
        json!({"text": text, "reply_markup": {"inline_keyboard": rows}}),
    )
}

fn text(text: &str) -> Vec<Call> {
    vec![("sendMessage", json!({"text": text}))]
}

fn buttons(pairs: &[(&str, &str)]) -> Value {
    json!(pairs
        .iter()
        .map(|(id, title)| json!({"text": title, "callback_data": id}))
        .collect::<Vec<_>>())
}

/// One button per row.
fn rows(pairs: &[(&str, &str)]) -> Value {
    json!(pairs
        .iter()
        .map(|(id, title)| json!([{"text": title, "callback_data": id}]))
        .collect::<Vec<_>>())
}

/// What each case of the table sends; `None` when Telegram refuses it.
fn telegram_rows() -> Vec<(&'static str, Option<Vec<Call>>)> {
    let pool = "https://cdn.example.com/pool.jpg";
    let booking = "https://casa-azul.example.com/my-booking";
    let view = json!([[{"text": "View booking", "url": booking}]]);
    vec![
        ("text", Some(text("Hi Ana, welcome!"))),
        (
            "text with a link",
            Some(text("Map: https://maps.example.com/ca")),
        ),
        (
            "image",
            Some(vec![(
                "sendPhoto",
                json!({"photo": pool, "caption": "The pool"}),
            )]),
        ),
        (
            "video",
            Some(vec![(
                "sendVideo",
                json!({"video": "https://cdn.example.com/tour.mp4", "caption": "Tour"}),
            )]),
        ),
        (
            "audio",
            Some(vec![(
                "sendAudio",
                json!({"audio": "https://cdn.example.com/hello.ogg"}),
            )]),
        ),
        (
            "document",
            Some(vec![(
                "sendDocument",
                json!({"document": "https://cdn.example.com/rules.pdf", "caption": "House rules"}),
            )]),
        ),
        (
            "location",
            Some(vec![(
                "sendVenue",
                json!({"latitude": 37.0862, "longitude": -8.251, "title": "Casa Azul",
                       "address": "Rua do Farol 12, Albufeira"}),
            )]),
        ),
        (
            "call-to-action URL",
            Some(vec![message(
                "Your booking\n\nAll in one place.\n\nCasa Azul",
                &view,
            )]),
        ),
        (
            "call-to-action URL with an image header",
            Some(vec![
                ("sendPhoto", json!({"photo": pool})),
                message("All in one place.", &view),
            ]),
        ),
        ("template", None),
        (
            "reply buttons with an image header",
            Some(vec![
                ("sendPhoto", json!({"photo": pool})),
                message(
                    "How can we help?\n\nCasa Azul",
                    &json!([buttons(&[("book", "Book a stay"), ("talk", "Talk to us")])]),
                ),
            ]),
        ),
        (
            "quick replies that fit in 3 buttons",
            Some(vec![message(
                "Rate us",
                &rows(&[("r1", "1"), ("r2", "2"), ("r3", "3")]),
            )]),
        ),
        (
            "quick replies beyond 3",
            Some(vec![message(
                "Rate us from 1 to 5\n\n5 is best",
                &rows(&[
                    ("r1", "1"),
                    ("r2", "2"),
                    ("r3", "3"),
                    ("r4", "4"),
                    ("r5", "5"),
                ]),
            )]),
        ),
        (
            "list",
            Some(vec![message(
                "Where to eat\n\nPick one\n\nCasa Azul",
                &rows(&[
                    ("pescador", "O Pescador — Grilled fish"),
                    ("tasca", "Tasca da Avó"),
                ]),
            )]),
        ),
        ("prompt", Some(text("Your email?"))),
        ("prompt date", Some(text("Arrival date?"))),
        (
            "agent transfer with a message",
            Some(text("Connecting you.")),
        ),
    ]
}

#[test]
fn every_sending_step_renders_on_telegram_as_its_column_says() {
    let expected = telegram_rows();
    for row in sending_rows() {
        let (_, calls) = expected
            .iter()
            .find(|(case, _)| *case == row.case)
            .unwrap_or_else(|| panic!("{}: no Telegram expectation", row.case));
        let effects = effects(&one_step(row.kind, &row.config));
        let sent = sent(&effects);
        let [content] = sent.as_slice() else {
            panic!("{}: one message is sent, not {sent:?}", row.case);
        };
        let got = super::render(RECIPIENT, content, None).ok().map(|calls| {
            calls
                .into_iter()
                .map(|call| {
                    let mut body = call.body;
                    let chat = body.as_object_mut().and_then(|body| body.remove("chat_id"));
                    assert_eq!(chat, Some(json!(351_912_345_678_i64)), "{}", row.case);
                    (call.method, body)
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(&got, calls, "{}", row.case);
    }
    assert_eq!(
        expected.len(),
        sending_rows().len(),
        "one expectation per row"
    );
}
