//! Prometheus metrics, registered once per application and rendered at `GET /metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Webhooks by provider and result (`accepted`, `bad_signature`, `malformed`, …).
    pub webhooks: IntCounterVec,
    /// Inbound events by result (`new`, `duplicate`).
    pub inbound_events: IntCounterVec,
    /// Seconds from receiving an inbound event to having handled it.
    pub inbound_lag: Histogram,
    /// Outbound messages waiting for their send.
    pub outbox_depth: IntGauge,
    /// Provider send attempts by channel kind and result.
    pub sends: IntCounterVec,
    /// Live actors by kind (`conversation`, `channel`, `webchat_socket`).
    pub live_actors: IntGaugeVec,
    /// Inbound events quarantined after repeated failures.
    pub quarantined: IntCounterVec,
    /// Conversation partitions this node holds the lease of (with `REDIS_URL`).
    pub partitions_owned: IntGauge,
    /// 1 for each conversation partition this node holds the lease of, 0 for the others.
    pub partition_owned: IntGaugeVec,
    /// Commands sent to the node that owns their conversation's partition.
    pub forwarded: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("parley".into()), None).expect("a valid metrics prefix");
        let webhooks = IntCounterVec::new(
            Opts::new(
                "webhooks_total",
                "Webhooks received, by provider and result",
            ),
            &["provider", "result"],
        )
        .expect("valid metric");
        let inbound_events = IntCounterVec::new(
            Opts::new("inbound_events_total", "Inbound events, new or duplicate"),
            &["result"],
        )
        .expect("valid metric");
        let inbound_lag = Histogram::with_opts(
            HistogramOpts::new(
                "inbound_lag_seconds",
                "Time from receiving an inbound event to having handled it",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
            ]),
        )
        .expect("valid metric");
        let outbox_depth = IntGauge::new("outbox_depth", "Outbound messages waiting to be sent")
            .expect("valid metric");
        let sends = IntCounterVec::new(
            Opts::new(
                "sends_total",
                "Provider send attempts, by channel kind and result",
            ),
            &["kind", "result"],
        )
        .expect("valid metric");
        let live_actors = IntGaugeVec::new(
            Opts::new("live_actors", "Actors currently running, by kind"),
            &["kind"],
        )
        .expect("valid metric");
        let quarantined = IntCounterVec::new(
            Opts::new(
                "quarantined_events_total",
                "Inbound events quarantined after repeated failures",
            ),
            &["channel_kind"],
        )
        .expect("valid metric");
        let partitions_owned = IntGauge::new(
            "partitions_owned",
            "Conversation partitions this node holds the lease of",
        )
        .expect("valid metric");
        let partition_owned = IntGaugeVec::new(
            Opts::new(
                "partition_owned",
                "1 for each conversation partition this node holds the lease of, 0 for the others",
            ),
            &["partition"],
        )
        .expect("valid metric");
        let forwarded = IntCounter::new(
            "forwarded_commands_total",
            "Commands sent to the node that owns their conversation's partition",
        )
        .expect("valid metric");
        for collector in [
            Box::new(webhooks.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(inbound_events.clone()),
            Box::new(inbound_lag.clone()),
            Box::new(outbox_depth.clone()),
            Box::new(sends.clone()),
            Box::new(live_actors.clone()),
            Box::new(quarantined.clone()),
            Box::new(partitions_owned.clone()),
            Box::new(partition_owned.clone()),
            Box::new(forwarded.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            registry,
            webhooks,
            inbound_events,
            inbound_lag,
            outbox_depth,
            sends,
            live_actors,
            quarantined,
            partitions_owned,
            partition_owned,
            forwarded,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding metrics into memory cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
