//! The pure journey path a bot reply takes: `journey::run` walking the built-in greeting
//! (Start, then one Text step, so two steps per input) and `{{placeholder}}` interpolation of
//! step texts with 1 to 16 placeholders.
//!
//! Run with `cargo bench --bench journey`; figures go in notes, not assertions.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parley::journey::interpolate::interpolate;
use parley::journey::{self, Input, Journey, Session};
use std::collections::HashMap;
use std::hint::black_box;

/// Steps the greeting walks per input: Start, then Text.
const GREETING_STEPS: u64 = 2;
/// Placeholders per interpolated template.
const PLACEHOLDER_COUNTS: [usize; 3] = [1, 4, 16];

fn run_greeting(c: &mut Criterion) {
    let mut group = c.benchmark_group("journey_run");
    group.throughput(Throughput::Elements(GREETING_STEPS));
    let journey = Journey::greeting("Hi {{contact.name}}");
    let variables = |name: &str| (name == "contact.name").then(|| "Ana".to_owned());
    let input = Input::Message { text: Some("hi") };
    let outcome = journey::run(&journey, Session::default(), &input, &variables);
    assert_eq!(
        outcome.effects.len(),
        2,
        "the greeting sends once, then ends"
    );
    group.bench_function(BenchmarkId::new("greeting", GREETING_STEPS), |b| {
        b.iter(|| {
            journey::run(
                black_box(&journey),
                Session::default(),
                black_box(&input),
                &variables,
            )
        });
    });
    group.finish();
}

fn interpolate_template(c: &mut Criterion) {
    let mut group = c.benchmark_group("interpolate");
    for count in PLACEHOLDER_COUNTS {
        let values: HashMap<String, String> = (0..count)
            .map(|index| {
                (
                    format!("campaign.field{index}"),
                    format!("value number {index}"),
                )
            })
            .collect();
        // Every other placeholder is unknown and stays in place, as a journey author would see.
        let template: String = (0..count)
            .map(|index| match index % 2 {
                0 => format!("Dear customer, {{{{ campaign.field{index} }}}} is ready. "),
                _ => format!("Note {{{{campaign.missing{index}}}}} here. "),
            })
            .collect();
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(count),
            &template,
            |b, template| {
                b.iter(|| {
                    interpolate(black_box(template), |name| {
                        values.get(name).map(String::as_str)
                    })
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, run_greeting, interpolate_template);
criterion_main!(benches);
