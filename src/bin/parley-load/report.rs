//! The run's report: latencies aggregated in HDR histograms (microseconds, three significant
//! digits), replies matched to the messages that owed them, and the serialisable shape the
//! table and the JSON output are both printed from.

use crate::options::Options;
use crate::send::Sent;
use crate::server::LogSummary;
use hdrhistogram::Histogram;
use parley::mock::graph::ReceivedSend;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Histogram range in microseconds: 1 µs to one hour, three significant digits.
const HISTOGRAM_MAX_MICROS: u64 = 3_600_000_000;

#[derive(Serialize)]
pub(crate) struct Report {
    pub(crate) run: RunReport,
    pub(crate) webhooks: WebhookReport,
    /// `None` when the server was not spawned, so its replies could not be seen.
    pub(crate) replies: Option<ReplyReport>,
    /// `None` without `--consoles`.
    pub(crate) consoles: Option<crate::consoles::ConsoleReport>,
    pub(crate) server_log: Option<LogSummary>,
}

#[derive(Serialize)]
pub(crate) struct RunReport {
    /// Webhooks per second asked for; 0 means as fast as possible.
    pub(crate) rate: u32,
    pub(crate) duration_secs: u64,
    /// Seconds of unmeasured traffic before the measured window.
    pub(crate) warm_up_secs: u64,
    pub(crate) concurrency: u32,
    pub(crate) contacts: u32,
    pub(crate) channels: u32,
    pub(crate) replay_percent: u32,
    pub(crate) mock_graph_url: String,
}

#[derive(Serialize)]
pub(crate) struct WebhookReport {
    pub(crate) sent: u64,
    pub(crate) new_messages: usize,
    pub(crate) replays: u64,
    pub(crate) acknowledged: u64,
    /// From the start until the last webhook was answered.
    pub(crate) window_secs: f64,
    pub(crate) acknowledged_per_sec: f64,
    pub(crate) failures: BTreeMap<String, u64>,
    pub(crate) server_reported_duplicates: u64,
    pub(crate) ack_latency_ms: Option<Percentiles>,
}

#[derive(Serialize)]
pub(crate) struct ReplyReport {
    /// Unique messages the server acknowledged: each is owed exactly one reply.
    pub(crate) expected: usize,
    pub(crate) received: usize,
    pub(crate) matched: usize,
    pub(crate) missing: usize,
    /// Replies beyond one per acknowledged message.
    pub(crate) duplicates: usize,
    /// Sends the mock answered with an error (bad token, invalid body).
    pub(crate) rejected_by_mock: usize,
    /// Replies received per second, from the start until the last reply.
    pub(crate) replies_per_sec: f64,
    pub(crate) latency_ms: Option<Percentiles>,
}

#[derive(Serialize)]
pub(crate) struct Percentiles {
    pub(crate) count: u64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p99_9: f64,
    pub(crate) max: f64,
}

/// An empty latency histogram with the report's range and precision.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).expect("valid histogram bounds")
}

/// Records a latency in microseconds, clamped into the histogram's range.
pub(crate) fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

impl Percentiles {
    pub(crate) fn of(histogram: &Histogram<u64>) -> Option<Self> {
        let millis = |micros: u64| micros as f64 / 1_000.0;
        (!histogram.is_empty()).then(|| Self {
            count: histogram.len(),
            p50: millis(histogram.value_at_quantile(0.5)),
            p99: millis(histogram.value_at_quantile(0.99)),
            p99_9: millis(histogram.value_at_quantile(0.999)),
            max: millis(histogram.max()),
        })
    }
}

impl ReplyReport {
    /// Pairs the k-th reply to a contact with the contact's k-th acknowledged message: the
    /// server answers one contact's messages in order, and replies do not echo the text.
    pub(crate) fn of(
        sent: &Sent,
        replies: &[ReceivedSend],
        rejected_by_mock: usize,
        start: Instant,
    ) -> Self {
        let mut owed: HashMap<&str, Vec<Instant>> = HashMap::new();
        for (message, acknowledged) in sent.messages.iter().zip(&sent.tally.acknowledged_messages) {
            if *acknowledged {
                owed.entry(message.contact.as_str())
                    .or_default()
                    .push(message.scheduled);
            }
        }
        let mut received: HashMap<&str, Vec<Instant>> = HashMap::new();
        for reply in replies {
            let contact = reply.body["to"].as_str().unwrap_or_default();
            received.entry(contact).or_default().push(reply.at);
        }
        let mut latency = new_histogram();
        let (mut matched, mut missing, mut duplicates) = (0, 0, 0);
        for (contact, scheduled) in &mut owed {
            scheduled.sort();
            let mut arrivals = received.remove(contact).unwrap_or_default();
            arrivals.sort();
            for (sent_at, replied_at) in scheduled.iter().zip(&arrivals) {
                record(&mut latency, replied_at.saturating_duration_since(*sent_at));
            }
            matched += scheduled.len().min(arrivals.len());
            missing += scheduled.len().saturating_sub(arrivals.len());
            duplicates += arrivals.len().saturating_sub(scheduled.len());
        }
        // Replies to contacts that were owed nothing are duplicates too.
        duplicates += received.values().map(Vec::len).sum::<usize>();
        let last = replies.iter().map(|reply| reply.at).max();
        let span = last.map_or(0.0, |last| (last - start).as_secs_f64());
        Self {
            expected: owed.values().map(Vec::len).sum(),
            received: replies.len(),
            matched,
            missing,
            duplicates,
            rejected_by_mock,
            replies_per_sec: rate_of(replies.len() as u64, span),
            latency_ms: Percentiles::of(&latency),
        }
    }
}

impl Report {
    /// The report of a run; `server_log` is filled in once a spawned server has stopped.
    pub(crate) fn of(
        options: &Options,
        mock_url: &str,
        sent: &Sent,
        replies: Option<ReplyReport>,
    ) -> Self {
        let tally = &sent.tally;
        let window = tally
            .last_answer
            .map_or(0.0, |last| (last - sent.start).as_secs_f64());
        Self {
            run: RunReport {
                rate: options.rate,
                duration_secs: options.duration,
                warm_up_secs: options.warm_up,
                concurrency: options.concurrency,
                contacts: options.contacts,
                channels: options.channels,
                replay_percent: options.replay_percent,
                mock_graph_url: mock_url.to_owned(),
            },
            webhooks: WebhookReport {
                sent: tally.sent,
                new_messages: sent.messages.len(),
                replays: tally.replays,
                acknowledged: tally.acknowledged,
                window_secs: (window * 1_000.0).round() / 1_000.0,
                acknowledged_per_sec: rate_of(tally.acknowledged, window),
                failures: tally.failures.clone(),
                server_reported_duplicates: tally.server_duplicates,
                ack_latency_ms: Percentiles::of(&tally.ack_latency),
            },
            replies,
            consoles: None,
            server_log: None,
        }
    }
}

fn rate_of(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        (count as f64 / seconds * 10.0).round() / 10.0
    } else {
        0.0
    }
}
