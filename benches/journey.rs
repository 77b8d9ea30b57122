//! The pure journey interpreter: `journey::run` walking a 10-step journey per input (Start,
//! four Text steps with placeholders, a Condition, a Goal, two more Texts and a Quick Reply it
//! stops on), the built-in greeting, and `{{placeholder}}` interpolation of step texts with 1
//! to 16 placeholders.
//!
//! Run with `cargo bench --bench journey`; figures go in notes, not assertions.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parley::domain::MessageContent;
use parley::journey::interpolate::interpolate;
use parley::journey::{self, Context, Effect, Input, Journey, Session};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::hint::black_box;

/// Steps the ten-step journey walks per input.
const TEN_STEPS: u64 = 10;
/// Placeholders per interpolated template.
const PLACEHOLDER_COUNTS: [usize; 3] = [1, 4, 16];

fn ten_step_journey() -> Journey {
    let step = |id: &str, kind: &str, config: Value| json!({"id": id, "name": id, "kind": kind, "config": config});
    let steps = vec![
        json!({"id": "start", "name": "Start", "kind": "start"}),
        step(
            "t1",
            "text",
            json!({"text": "Hi {{contact_name}}, welcome to {{channel_name}}!"}),
        ),
        step("t2", "text", json!({"text": "Check-in is from 15:00."})),
        step("t3", "text", json!({"text": "You wrote: {{last_input}}"})),
        step(
            "t4",
            "text",
            json!({"text": "Our season: {{campaign.season}}"}),
        ),
        step(
            "c",
            "condition",
            json!({"branches": [
                {"id": "vip", "rules": [{"variable": "last_input", "operator": "contains", "value": "vip"}]}
            ]}),
        ),
        step(
            "g",
            "goal",
            json!({"goal_id": "g", "milestone_id": "m", "trackers": {"input": "{{last_input}}"}}),
        ),
        step(
            "t5",
            "text",
            json!({"text": "Here is what we can do for you."}),
        ),
        step("t6", "text", json!({"text": "Pick one, {{contact_name}}:"})),
        step(
            "q",
            "quick_reply",
            json!({"body": "How can we help?", "choices": [
                {"id": "book", "title": "Book"}, {"id": "ask", "title": "Ask"}, {"id": "human", "title": "Talk to us"}
            ]}),
        ),
    ];
    let ids = ["start", "t1", "t2", "t3", "t4", "c", "g", "t5", "t6", "q"];
    let connections: Vec<Value> = ids
        .windows(2)
        .map(|pair| json!({"from": pair[0], "to": pair[1]}))
        .collect();
    serde_json::from_value(json!({"name": "Bench", "steps": steps, "connections": connections}))
        .expect("the bench journey parses")
}

fn system(name: &str) -> Option<String> {
    match name {
        "contact_name" => Some("Ana".to_owned()),
        "channel_name" => Some("Casa Azul".to_owned()),
        _ => None,
    }
}

fn campaign(name: &str) -> Option<Value> {
    (name == "season").then(|| json!("summer"))
}

fn run_journeys(c: &mut Criterion) {
    let ctx = Context {
        now: 1_800_000_000_000,
        today: chrono::NaiveDate::from_ymd_opt(2027, 3, 10).expect("a date"),
        system: &system,
        campaign: &campaign,
    };
    let message = MessageContent::Text {
        body: "hello there".into(),
    };
    let input = Input::Message(&message);
    let mut group = c.benchmark_group("journey_run");

    let ten = ten_step_journey();
    let outcome = journey::run(&ten, Session::default(), &input, &ctx);
    let sends = outcome
        .effects
        .iter()
        .filter(|effect| matches!(effect, Effect::Send { .. }))
        .count();
    assert_eq!(sends, 7, "six texts and the quick reply");
    group.throughput(Throughput::Elements(TEN_STEPS));
    group.bench_function(BenchmarkId::new("ten_steps", TEN_STEPS), |b| {
        b.iter(|| journey::run(black_box(&ten), Session::default(), black_box(&input), &ctx));
    });

    let greeting = Journey::greeting("Hi {{contact.name}}");
    group.throughput(Throughput::Elements(2));
    group.bench_function(BenchmarkId::new("greeting", 2), |b| {
        b.iter(|| {
            journey::run(
                black_box(&greeting),
                Session::default(),
                black_box(&input),
                &ctx,
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

criterion_group!(benches, run_journeys, interpolate_template);
criterion_main!(benches);
