//! Telegram's hot path without I/O: checking the secret header, parsing an update into
//! inbound events, and rendering a reply into Bot API calls (split past 4,096 UTF-16 units).
//!
//! Inputs are fixed: a text update and a button tap in the Bot API's wire form, and reply
//! texts of a greeting, a paragraph, Telegram's maximum and twice that (two messages).
//! Run with `cargo bench --bench telegram`; figures go in notes, not assertions.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parley::adapters::telegram::{self, verify};
use parley::domain::MessageContent;
use serde_json::json;
use std::hint::black_box;

const SECRET: &str = "Zq3_vX9-kT2mP7rL4sN8wY1bC6dF0gH5jK2lQ9eR4tU7iO3p";
const TEXT_LENGTHS: [usize; 4] = [64, 1_024, 4_096, 8_192];

fn updates() -> Vec<(&'static str, Vec<u8>)> {
    let text = json!({"update_id": 815520001, "message": {
        "message_id": 42, "date": 1767225600, "text": "Olá, preciso de ajuda com o pedido 1234 👍",
        "from": {"id": 5110223344_i64, "is_bot": false, "first_name": "Ana", "last_name": "Silva"},
        "chat": {"id": 5110223344_i64, "type": "private", "first_name": "Ana"}}});
    let tap = json!({"update_id": 815520007, "callback_query": {
        "id": "4382bfdwdsb323b2d9", "chat_instance": "-8721736012345678901", "data": "book",
        "from": {"id": 5110223344_i64, "is_bot": false, "first_name": "Ana"},
        "message": {"message_id": 57, "date": 1767226000, "text": "How can we help?",
            "chat": {"id": 5110223344_i64, "type": "private"},
            "reply_markup": {"inline_keyboard": [[{"text": "Book a stay", "callback_data": "book"},
                                                   {"text": "Talk to us", "callback_data": "talk"}]]}}}});
    [("text", text), ("button", tap)]
        .into_iter()
        .map(|(name, update)| {
            (
                name,
                serde_json::to_vec(&update).expect("updates serialise"),
            )
        })
        .collect()
}

fn verify_secret(c: &mut Criterion) {
    c.bench_function("telegram_verify_secret", |b| {
        b.iter(|| verify::verify_secret(black_box(SECRET), Some(black_box(SECRET))));
    });
}

fn parse_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("telegram_parse");
    for (name, body) in updates() {
        let parsed = telegram::parse(&body).expect("the bench input parses");
        assert_eq!(parsed.events.len(), 1, "one event per update");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| telegram::parse(black_box(body)));
        });
    }
    group.finish();
}

fn render_text(c: &mut Criterion) {
    let mut group = c.benchmark_group("telegram_render");
    for length in TEXT_LENGTHS {
        let body: String = "olá 👍 pedido ".chars().cycle().take(length).collect();
        let content = MessageContent::Text { body };
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::from_parameter(length),
            &content,
            |b, content| {
                b.iter(|| telegram::render(black_box("5110223344"), black_box(content), None));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, verify_secret, parse_update, render_text);
criterion_main!(benches);
