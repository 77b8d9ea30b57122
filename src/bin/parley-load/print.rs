//! Everything `parley-load` writes to stdout: the report as a table, then as JSON if asked.
//! Logs and the final error go to stderr, so stdout stays a clean report.

#![expect(clippy::print_stdout, reason = "a command-line report")]

use crate::report::{Percentiles, Report};

/// Prints the table, then the same report as pretty JSON when `json` is set.
pub(crate) fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    print_table(report);
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(())
}

fn print_table(report: &Report) {
    let run = &report.run;
    let rate = match run.rate {
        0 => "as fast as possible (closed loop)".to_owned(),
        rate => format!("{rate}/s (open loop)"),
    };
    println!();
    let warm_up = match run.warm_up_secs {
        0 => String::new(),
        seconds => format!(" after a {seconds} s warm-up"),
    };
    println!(
        "parley-load: {} s at {rate}{warm_up}, concurrency {}, {} contacts, {} channel(s), {}% replays",
        run.duration_secs, run.concurrency, run.contacts, run.channels, run.replay_percent
    );
    let webhooks = &report.webhooks;
    println!("\nwebhooks");
    row(
        "sent",
        &format!(
            "{} ({} new, {} replays)",
            webhooks.sent, webhooks.new_messages, webhooks.replays
        ),
    );
    row(
        "acknowledged (200)",
        &format!(
            "{}, {:.1}/s over {:.3} s",
            webhooks.acknowledged, webhooks.acknowledged_per_sec, webhooks.window_secs
        ),
    );
    let failures: Vec<String> = webhooks
        .failures
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect();
    row(
        "not acknowledged",
        if failures.is_empty() {
            "none".to_owned()
        } else {
            failures.join(", ")
        }
        .as_str(),
    );
    row(
        "duplicates per server",
        &webhooks.server_reported_duplicates.to_string(),
    );
    row(
        "ack latency (ms)",
        &percentiles(webhooks.ack_latency_ms.as_ref()),
    );
    println!("\nreplies (inbound -> reply at the mock Graph API)");
    match &report.replies {
        Some(replies) => {
            row(
                "expected",
                &format!("{} (unique messages acknowledged)", replies.expected),
            );
            row(
                "received",
                &format!(
                    "{}, {:.1}/s from the start",
                    replies.received, replies.replies_per_sec
                ),
            );
            row("missing after drain", &replies.missing.to_string());
            row("duplicate replies", &replies.duplicates.to_string());
            row(
                "rejected by the mock",
                &replies.rejected_by_mock.to_string(),
            );
            row(
                "reply latency (ms)",
                &percentiles(replies.latency_ms.as_ref()),
            );
        }
        None => println!(
            "  not measured: the server was not spawned, so its replies go to its own \
             PARLEY_META_GRAPH_URL, not to {}",
            run.mock_graph_url
        ),
    }
    if let Some(consoles) = &report.consoles {
        println!("\nagent consoles (/ws; each receives every event)");
        row("connected", &consoles.consoles.to_string());
        row("frames read", &consoles.frames.to_string());
        row(
            "guest messages",
            &format!("{:.1} deliveries/s", consoles.deliveries_per_sec),
        );
        row(
            "events per console",
            &format!("{:.1}/s", consoles.events_per_sec),
        );
        row(
            "delivery latency (ms)",
            &percentiles(consoles.delivery_latency_ms.as_ref()),
        );
        for (node, latency) in consoles.delivery_latency_by_node_ms.iter().enumerate() {
            let label = format!("  on node {}", char::from(b'A' + node as u8));
            row(&label, &percentiles(latency.as_ref()));
        }
        if consoles.delivery_latency_by_node_ms.len() > 1 {
            row(
                "  owner's node",
                &percentiles(consoles.delivery_latency_same_node_ms.as_ref()),
            );
            row(
                "  other node (Redis)",
                &percentiles(consoles.delivery_latency_other_node_ms.as_ref()),
            );
        }
        row("cut off by the server", &consoles.cut_off.to_string());
        row(
            "server RSS per idle one",
            &consoles
                .idle_rss_per_console_kib
                .map_or("not measured".to_owned(), |kib| format!("{kib:.1} KiB")),
        );
    }
    if let Some(log) = &report.server_log {
        println!(
            "\nserver log: {} errors, {} warnings",
            log.errors, log.warnings
        );
        for (message, count) in log.messages.iter().take(10) {
            println!("  {count:>6} x {message}");
        }
    }
}

fn row(label: &str, value: &str) {
    println!("  {label:<24}{value}");
}

fn percentiles(percentiles: Option<&Percentiles>) -> String {
    match percentiles {
        Some(p) => format!(
            "p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (n={})",
            p.p50, p.p99, p.p99_9, p.max, p.count
        ),
        None => "no samples".to_owned(),
    }
}
