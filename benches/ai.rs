//! The local understanding engine: `ai::nlu::understand` (intent, confidence and every
//! entity) on guest messages from short to long, and over the whole labelled evaluation set.
//!
//! Run with `cargo bench --bench ai`; figures go in notes, not assertions. The bar is under
//! 50 µs per message.

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parley::ai::eval;
use parley::ai::nlu::{self, Language};
use std::hint::black_box;
use std::path::Path;

const MESSAGES: [(&str, &str); 4] = [
    ("short", "hi"),
    ("question", "what time is check-in?"),
    (
        "booking",
        "Hi, I'd like to book a room from March 15 to 18 for 2 adults and a child",
    ),
    (
        "long",
        "Hello there! We are a family of four (2 adults, 2 kids) and we were hoping to stay \
         with you tomorrow for 3 nights, or failing that this weekend. Could you tell me how \
         much the villa would cost and whether breakfast is included? My email is \
         ana.silva@example.com and my phone is +351 912 345 678. Thanks!",
    ),
];

fn understand(c: &mut Criterion) {
    let today = NaiveDate::from_ymd_opt(2027, 3, 10).expect("a date");
    let mut group = c.benchmark_group("understand");
    group.throughput(Throughput::Elements(1));
    for (name, text) in MESSAGES {
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| nlu::understand(black_box(text), today, Language::English));
        });
    }
    group.finish();

    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ai_eval.jsonl");
    let cases = eval::load(&data).expect("the evaluation set");
    let mut group = c.benchmark_group("evaluation_set");
    group.throughput(Throughput::Elements(cases.len() as u64));
    group.bench_function("every_message", |b| {
        b.iter(|| {
            for case in &cases {
                black_box(nlu::understand(
                    &case.text,
                    case.today.unwrap_or(today),
                    Language::English,
                ));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, understand);
criterion_main!(benches);
