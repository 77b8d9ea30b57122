//! The webhook hot path without I/O: checking `X-Hub-Signature-256`, parsing a WhatsApp Cloud
//! notification into inbound events, and rendering a reply into a Cloud API send body.
//!
//! Inputs are built with `parley::mock::whatsapp_webhooks` in Meta's wire form (non-ASCII
//! escaped) from a fixed seed, for a single-message notification and a 50-message batch.
//! Run with `cargo bench --bench ingress`; figures go in notes, not assertions.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parley::adapters::whatsapp_cloud::{parse, render, verify};
use parley::domain::MessageContent;
use parley::mock::whatsapp_webhooks;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::hint::black_box;

const PHONE_NUMBER_ID: &str = "106540352242922";
const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
/// Messages per notification: one, as Meta usually sends, and a large batch.
const BATCH_SIZES: [usize; 2] = [1, 50];
/// Characters of reply text rendered: a greeting, a paragraph, WhatsApp's maximum.
const TEXT_LENGTHS: [usize; 3] = [64, 1_024, 4_096];
const SEED: u64 = 0x5EED;

/// A customer-like text of `length` characters, mixing ASCII words, accents and emoji so the
/// wire form carries `\uXXXX` escapes.
fn text(rng: &mut StdRng, length: usize) -> String {
    const PIECES: [&str; 8] = [
        "olá", "hello", "👍", "pedido", "número", "thanks", "🚚", "42",
    ];
    let mut text = String::new();
    while text.chars().count() < length {
        text.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
        text.push(' ');
    }
    text.chars().take(length).collect()
}

/// A signed notification carrying `messages` text messages from distinct contacts.
fn notification(messages: usize) -> (Vec<u8>, String) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let body = if messages == 1 {
        let text = text(&mut rng, 80);
        whatsapp_webhooks::text_message(
            PHONE_NUMBER_ID,
            "16505551234",
            "Zoë",
            "wamid.BENCH0",
            &text,
            1_780_000_000,
        )
    } else {
        let contacts: Vec<_> = (0..messages)
            .map(|index| json!({"profile": {"name": format!("Contact {index}")}, "wa_id": format!("1650555{index:04}")}))
            .collect();
        let batch: Vec<_> = (0..messages)
            .map(|index| {
                json!({
                    "from": format!("1650555{index:04}"),
                    "id": format!("wamid.BENCH{index}"),
                    "timestamp": "1780000000",
                    "type": "text",
                    "text": {"body": text(&mut rng, 80)},
                })
            })
            .collect();
        whatsapp_webhooks::envelope(
            PHONE_NUMBER_ID,
            json!({"contacts": contacts, "messages": batch}),
        )
    };
    let signature = whatsapp_webhooks::signature(APP_SECRET, &body);
    (body, signature)
}

fn verify_signature(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify_signature");
    for messages in BATCH_SIZES {
        let (body, signature) = notification(messages);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(messages), &body, |b, body| {
            b.iter(|| {
                verify::verify_signature(
                    black_box(APP_SECRET),
                    black_box(body),
                    Some(black_box(signature.as_str())),
                )
            });
        });
    }
    group.finish();
}

fn parse_notification(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for messages in BATCH_SIZES {
        let (body, _) = notification(messages);
        let parsed = parse::parse(&body, PHONE_NUMBER_ID).expect("the bench input parses");
        assert_eq!(parsed.events.len(), messages, "one event per message");
        group.throughput(Throughput::Elements(messages as u64));
        group.bench_with_input(BenchmarkId::from_parameter(messages), &body, |b, body| {
            b.iter(|| parse::parse(black_box(body), black_box(PHONE_NUMBER_ID)));
        });
    }
    group.finish();
}

fn render_text(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    let mut rng = StdRng::seed_from_u64(SEED);
    for length in TEXT_LENGTHS {
        let content = MessageContent::Text {
            body: text(&mut rng, length),
        };
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::from_parameter(length),
            &content,
            |b, content| {
                b.iter(|| render::render(black_box("16505551234"), black_box(content), None));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, verify_signature, parse_notification, render_text);
criterion_main!(benches);
