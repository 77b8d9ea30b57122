//! `parley-load`: plays Meta's WhatsApp Cloud platform against a Parley server on loopback.
//!
//! It starts the mock Graph API in-process, by default spawns `parley serve` (from the same
//! directory as this binary) in a fresh data directory pointed at that mock, creates WhatsApp
//! channels through the API and posts signed webhooks at a constant, open-loop rate: send
//! times are fixed in advance and latency is measured from the scheduled time, so a slow
//! server cannot hide its stalls by slowing the generator down (coordinated omission). A share
//! of webhooks replays an earlier message id, which must not produce a second reply.
//!
//! The report gives the acknowledgement rate and latency, and the inbound→reply latency up to
//! the moment the mock received the bot's answer. It never targets anything but loopback and
//! stops by itself after the sending window plus the drain timeout.
//!
//! This file owns the entry point and the order of a run: check the target, start the mock
//! and the server, create channels, send, drain replies, stop everything, print the report.

mod channel;
mod consoles;
mod drain;
mod options;
mod print;
mod report;
mod send;
mod server;

use crate::channel::{create_channel, delete_channel};
use crate::drain::{drain, expected_per_contact};
use crate::options::{require_loopback, Options};
use crate::print::print_report;
use crate::report::{ReplyReport, Report};
use crate::send::{send_webhooks, Phase};
use crate::server::{external_api_key, Cluster, LogSummary, SpawnedServer, Target};
use anyhow::Context;
use clap::Parser;
use parley::mock::graph::MockGraph;
use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The generator shares the machine with the server it measures: it should cost as little
/// as it can. Like the server's, its mimalloc is built without transparent huge pages (see
/// `src/main.rs`), so that it does not stall on zeroing them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long one webhook request may take before it counts as a transport error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[actix_web::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    init_tracing();
    match load(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report_exit(&error);
            ExitCode::FAILURE
        }
    }
}

#[expect(
    clippy::print_stderr,
    reason = "the one message a failed run ends with"
)]
fn report_exit(error: &anyhow::Error) {
    eprintln!("parley-load: {error:#}");
}

/// One whole run; whatever fails, a spawned server and the mock are stopped before it returns.
async fn load(options: &Options) -> anyhow::Result<()> {
    require_loopback(&options.server)?;
    let mock = MockGraph::start().context("failed to start the mock Graph API")?;
    mock.set_latency(Duration::from_millis(options.graph_latency_ms));
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase();
    let mut spawned: Vec<SpawnedServer> = Vec::new();
    let mut server_pid = None;
    let targets = if options.spawn_server {
        let cluster = match options.nodes {
            1 => None,
            _ => Some(Cluster::of(options)?),
        };
        let first = SpawnedServer::start(mock.url(), &run_id, cluster.as_ref()).await?;
        let target = first.target()?;
        server_pid = first.pid();
        spawned.push(first);
        let mut targets = vec![target];
        if let Some(cluster) = &cluster {
            // The second node finds the organisation the first created, and its key.
            let second =
                SpawnedServer::start(mock.url(), &format!("{run_id}-B"), Some(cluster)).await?;
            targets.push(second.target_with(&targets[0].api_key));
            spawned.push(second);
            // Measure the cluster as it runs, not while the second node takes its share of
            // the conversations from the first.
            server::wait_until_partitions_settle(&targets).await?;
        }
        targets
    } else {
        anyhow::ensure!(
            options.nodes == 1,
            "--nodes 2 spawns its servers: drop --spawn-server=false"
        );
        tracing::warn!(
            mock_url = mock.url(),
            "not spawning a server: its replies go to its own PARLEY_META_GRAPH_URL, so only \
             acknowledgement latency is measured"
        );
        vec![Target {
            base: options.server.clone(),
            api_key: external_api_key(options)?,
        }]
    };
    let result = run(options, &mock, &targets, &run_id, server_pid).await;
    let mut server_log: Option<LogSummary> = None;
    for server in spawned {
        let summary = server.stop().await;
        server_log = Some(match server_log {
            Some(log) => log.merge(summary),
            None => summary,
        });
    }
    mock.stop().await;
    let mut report = result?;
    report.server_log = server_log;
    print_report(&report, options.json)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PARLEY_LOAD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Creates the channels, runs the sending window and, with a spawned server, waits for the
/// replies; on a server it did not spawn it deletes its channels again.
async fn run(
    options: &Options,
    mock: &MockGraph,
    targets: &[Target],
    run_id: &str,
    server_pid: Option<u32>,
) -> anyhow::Result<Report> {
    // The API goes to the first node; webhooks and consoles spread over all of them.
    let target = &targets[0];
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(options.concurrency as usize)
        .tcp_nodelay(true)
        .build()
        .context("failed to build the HTTP client")?;
    let mut channels = Vec::new();
    for index in 0..options.channels {
        channels.push(create_channel(&client, targets, mock, run_id, index).await?);
    }
    let mut consoles = match options.consoles {
        0 => None,
        count => Some(consoles::open(targets, count, server_pid).await?),
    };
    let numbers: HashSet<&str> = channels
        .iter()
        .map(|channel| channel.phone_number_id.as_str())
        .collect();
    let timeout = Duration::from_secs(options.drain_timeout);
    if options.warm_up > 0 {
        tracing::info!(
            rate = options.rate,
            warm_up_secs = options.warm_up,
            "warming up"
        );
        let warm_up = send_webhooks(
            options,
            &client,
            &channels,
            run_id,
            Instant::now(),
            Phase::WarmUp,
        )
        .await;
        if options.spawn_server {
            drain(mock, &numbers, &expected_per_contact(&warm_up), timeout).await;
        }
    }
    if let Some(consoles) = &mut consoles {
        let locality = match targets.len() {
            1 => None,
            _ => Some(consoles::Locality {
                owners: server::partition_owners(targets).await?,
                contacts: options.contacts,
                run_id: run_id.to_owned(),
            }),
        };
        consoles.measure_from_now(locality);
    }
    tracing::info!(
        rate = options.rate,
        duration_secs = options.duration,
        "sending webhooks"
    );
    let start = Instant::now();
    let sent = send_webhooks(options, &client, &channels, run_id, start, Phase::Measured).await;
    let replies = if options.spawn_server {
        let expected = expected_per_contact(&sent);
        let mut received = drain(mock, &numbers, &expected, timeout).await;
        // Replies of the warm-up are not measured.
        received
            .retain(|reply| Phase::Measured.owns(reply.body["to"].as_str().unwrap_or_default()));
        let rejected = mock
            .attempts()
            .iter()
            .filter(|send| send.status != 200 && numbers.contains(send.phone_number_id.as_str()))
            .count();
        Some(ReplyReport::of(&sent, &received, rejected, start))
    } else {
        for channel in &channels {
            delete_channel(&client, target, channel).await;
        }
        None
    };
    let mut report = Report::of(options, mock.url(), &sent, replies);
    if let Some(consoles) = consoles {
        report.consoles = Some(consoles.finish().await);
    }
    Ok(report)
}
