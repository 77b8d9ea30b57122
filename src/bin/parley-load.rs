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

#![expect(clippy::print_stdout, reason = "a command-line report")]

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use clap::{ArgAction, Parser};
use hdrhistogram::Histogram;
use parley::bootstrap::{Credentials, BOOTSTRAP_FILE};
use parley::clock::{Clock, SystemClock};
use parley::mock::graph::{MockGraph, ReceivedSend};
use parley::mock::whatsapp_webhooks;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use url::{Host, Url};

/// How long one webhook request may take before it counts as a transport error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a spawned server gets to answer `GET /readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(50);
/// How often the mock is looked at while waiting for replies. `MockGraph` only hands out
/// copies of everything it received, so polling beats waking on every single send.
const DRAIN_POLL: Duration = Duration::from_millis(200);
const DRAIN_PROGRESS: Duration = Duration::from_secs(5);
/// Kept listening after the last expected reply, to catch a late duplicate.
const DUPLICATE_GRACE: Duration = Duration::from_secs(1);
/// Histogram range in microseconds: 1 µs to one hour, three significant digits.
const HISTOGRAM_MAX_MICROS: u64 = 3_600_000_000;

#[derive(Debug, Parser)]
#[command(
    name = "parley-load",
    version,
    about = "Load generator: plays a WhatsApp provider against a Parley server on loopback"
)]
struct Options {
    /// Base URL of the Parley server when `--spawn-server=false`. Only loopback hosts
    /// (127.0.0.0/8, localhost, ::1) are accepted.
    #[arg(
        long,
        env = "PARLEY_LOAD_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: Url,

    /// Start `parley serve` (next to this binary) with a fresh data directory, its Graph API
    /// pointed at the in-process mock, and stop it at the end. Replies can only be measured
    /// in this mode.
    #[arg(
        long,
        env = "PARLEY_LOAD_SPAWN_SERVER",
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    spawn_server: bool,

    /// API key of the server given with `--server`.
    #[arg(long, env = "PARLEY_API_KEY", hide_env_values = true)]
    api_key: Option<String>,

    /// Data directory of the server given with `--server`; its `bootstrap.json` supplies the
    /// API key when `--api-key` is not set.
    #[arg(long)]
    data_dir: Option<PathBuf>,

    /// Webhooks per second, sent at a constant open-loop rate; 0 sends as fast as
    /// `--concurrency` allows and measures latency from the moment each request starts.
    #[arg(long, env = "PARLEY_LOAD_RATE", default_value_t = 100)]
    rate: u32,

    /// Length of the sending window, in seconds.
    #[arg(long, env = "PARLEY_LOAD_DURATION", default_value_t = 10)]
    duration: u64,

    /// Most webhook requests in flight at once.
    #[arg(
        long,
        env = "PARLEY_LOAD_CONCURRENCY",
        default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    concurrency: u32,

    /// Percentage of webhooks that re-send an earlier message id with the same bytes, as Meta
    /// does when it redelivers; none of them may produce a second reply.
    #[arg(
        long,
        env = "PARLEY_LOAD_REPLAY_PERCENT",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(0..=100)
    )]
    replay_percent: u32,

    /// Distinct customer wa_ids, used round-robin; 0 gives every new message its own contact.
    #[arg(long, env = "PARLEY_LOAD_CONTACTS", default_value_t = 1_000)]
    contacts: u32,

    /// WhatsApp channels (phone numbers) to spread the contacts over. The server sends at
    /// most 80 messages per second per WhatsApp channel, Meta's default throughput.
    #[arg(
        long,
        env = "PARLEY_LOAD_CHANNELS",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=1_000)
    )]
    channels: u32,

    /// Seconds to wait for replies after the last webhook was answered.
    #[arg(long, env = "PARLEY_LOAD_DRAIN_TIMEOUT", default_value_t = 30)]
    drain_timeout: u64,

    /// Latency the mock Graph API adds to every send, in milliseconds.
    #[arg(long, env = "PARLEY_LOAD_GRAPH_LATENCY_MS", default_value_t = 0)]
    graph_latency_ms: u64,

    /// Seed of the choice of replayed messages, so runs can be repeated.
    #[arg(long, env = "PARLEY_LOAD_SEED", default_value_t = 1)]
    seed: u64,

    /// Print the report as JSON too, after the table.
    #[arg(long)]
    json: bool,
}

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

async fn load(options: &Options) -> anyhow::Result<()> {
    require_loopback(&options.server)?;
    let mock = MockGraph::start().context("failed to start the mock Graph API")?;
    mock.set_latency(Duration::from_millis(options.graph_latency_ms));
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase();
    let mut spawned = None;
    let target = if options.spawn_server {
        let server = SpawnedServer::start(mock.url(), &run_id).await?;
        let target = server.target()?;
        spawned = Some(server);
        target
    } else {
        tracing::warn!(
            mock_url = mock.url(),
            "not spawning a server: its replies go to its own PARLEY_META_GRAPH_URL, so only \
             acknowledgement latency is measured"
        );
        Target {
            base: options.server.clone(),
            api_key: external_api_key(options)?,
        }
    };
    let result = run(options, &mock, &target, &run_id).await;
    let server_log = match spawned {
        Some(server) => Some(server.stop().await),
        None => None,
    };
    mock.stop().await;
    let mut report = result?;
    report.server_log = server_log;
    print_table(&report);
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PARLEY_LOAD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Refuses every URL whose host is not a loopback address.
fn require_loopback(url: &Url) -> anyhow::Result<()> {
    let loopback = match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    ensure!(
        loopback && matches!(url.scheme(), "http" | "https"),
        "refusing to load {url}: parley-load only targets http(s) servers on loopback \
         (127.0.0.0/8, localhost or ::1)"
    );
    Ok(())
}

/// The server under load and the key to its API.
struct Target {
    base: Url,
    api_key: String,
}

fn external_api_key(options: &Options) -> anyhow::Result<String> {
    if let Some(api_key) = &options.api_key {
        return Ok(api_key.clone());
    }
    match &options.data_dir {
        Some(data_dir) => read_api_key(data_dir),
        None => bail!("with --spawn-server=false, give --api-key or --data-dir"),
    }
}

fn read_api_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(BOOTSTRAP_FILE);
    let contents =
        std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
    let credentials: Credentials = serde_json::from_slice(&contents)
        .with_context(|| format!("failed to parse {}", path.display()))?;
    Ok(credentials.api_key)
}

/// A `parley serve` child process in its own data directory. Dropping it kills the process
/// and removes the directory, so an early error leaves nothing behind.
struct SpawnedServer {
    child: Child,
    data_dir: PathBuf,
    base: Url,
}

impl SpawnedServer {
    async fn start(graph_url: &str, run_id: &str) -> anyhow::Result<Self> {
        let binary = std::env::current_exe()
            .context("failed to locate parley-load")?
            .with_file_name("parley");
        ensure!(
            binary.is_file(),
            "{} does not exist; build it with `cargo build --release --bin parley`",
            binary.display()
        );
        let data_dir = std::env::temp_dir().join(format!("parley-load-{run_id}"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("failed to create {}", data_dir.display()))?;
        let log = std::fs::File::create(data_dir.join("server.log"))
            .context("failed to create the server log")?;
        let port = free_port()?;
        let child = Command::new(&binary)
            .arg("serve")
            .env("PARLEY_DATA_DIR", &data_dir)
            .env("PARLEY_BIND", format!("127.0.0.1:{port}"))
            .env("PARLEY_META_GRAPH_URL", graph_url)
            .env("PARLEY_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            // The child must use the embedded SQLite file of its fresh data directory.
            .env_remove("DATABASE_URL")
            .env_remove("PARLEY_PUBLIC_URL")
            .env_remove("PARLEY_MASTER_KEY")
            .stdout(log.try_clone().context("failed to share the server log")?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("failed to start {}", binary.display()))?;
        let base = Url::parse(&format!("http://127.0.0.1:{port}/")).expect("a valid URL");
        let mut server = Self {
            child,
            data_dir,
            base,
        };
        server.wait_until_ready().await?;
        tracing::info!(url = %server.base, data_dir = %server.data_dir.display(), "server ready");
        Ok(server)
    }

    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let readyz = self.base.join("readyz").expect("a valid path");
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited with {status} before it was ready; its log ends with:\n{}",
                    self.log_tail(20)
                );
            }
            let response = client.get(readyz.clone()).send().await;
            if response.is_ok_and(|response| response.status() == reqwest::StatusCode::OK) {
                return Ok(());
            }
            tokio::time::sleep(READY_POLL).await;
        }
        bail!(
            "the server did not answer GET /readyz with 200 within {READY_TIMEOUT:?}; its log \
             ends with:\n{}",
            self.log_tail(20)
        )
    }

    fn target(&self) -> anyhow::Result<Target> {
        Ok(Target {
            base: self.base.clone(),
            api_key: read_api_key(&self.data_dir)?,
        })
    }

    fn log_lines(&self) -> Vec<String> {
        std::fs::File::open(self.data_dir.join("server.log"))
            .map(|file| {
                std::io::BufReader::new(file)
                    .lines()
                    .map_while(Result::ok)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn log_tail(&self, count: usize) -> String {
        let lines = self.log_lines();
        lines[lines.len().saturating_sub(count)..].join("\n")
    }

    /// Kills the server and summarises the warnings and errors it logged.
    async fn stop(mut self) -> LogSummary {
        if let Err(error) = self.child.kill().await {
            tracing::warn!(error = %error, "failed to stop the server");
        }
        LogSummary::of(&self.log_lines())
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        // Best effort on every path: the process may already be gone.
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Asks the OS for a free loopback port. Another process could take it before the server
/// binds it; the readiness check then fails loudly.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("failed to find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// One WhatsApp channel created for the run, and the secrets the provider shares with it.
struct LoadChannel {
    id: String,
    phone_number_id: String,
    app_secret: String,
    webhook: Url,
}

async fn create_channel(
    client: &reqwest::Client,
    target: &Target,
    mock: &MockGraph,
    run_id: &str,
    index: u32,
) -> anyhow::Result<LoadChannel> {
    let phone_number_id = format!("{}{index:03}", 100_000 + rand::random::<u32>() % 900_000);
    let access_token = format!("EAALOAD{run_id}{index}");
    let app_secret = format!("secret-{run_id}-{index}");
    let body = json!({
        "kind": "whatsapp_cloud",
        "name": format!("load {run_id} #{index}"),
        "config": {
            "phone_number_id": phone_number_id,
            "access_token": access_token,
            "app_secret": app_secret,
            "verify_token": format!("verify-{run_id}"),
        },
    });
    let response = client
        .post(target.base.join("api/v1/channels").expect("a valid path"))
        .bearer_auth(&target.api_key)
        .json(&body)
        .send()
        .await
        .context("failed to create a channel")?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    ensure!(
        status == reqwest::StatusCode::CREATED,
        "creating a channel answered {status}: {answer}"
    );
    let field = |name: &str| {
        answer[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the created channel has no `{name}`: {answer}"))
    };
    // A server with PARLEY_PUBLIC_URL returns an absolute URL; only its path is used, so the
    // webhooks still go to the loopback server under test.
    let webhook_url = field("webhook_url")?;
    let path = Url::parse(&webhook_url).map_or(webhook_url, |url| url.path().to_owned());
    mock.add_number(&phone_number_id, &access_token);
    Ok(LoadChannel {
        id: field("id")?,
        phone_number_id,
        app_secret,
        webhook: target.base.join(&path).context("a bad webhook_url")?,
    })
}

async fn delete_channel(client: &reqwest::Client, target: &Target, channel: &LoadChannel) {
    let url = target
        .base
        .join(&format!("api/v1/channels/{}", channel.id))
        .expect("a valid path");
    let result = client.delete(url).bearer_auth(&target.api_key).send().await;
    if let Err(error) = result.and_then(reqwest::Response::error_for_status) {
        tracing::warn!(error = %error, channel_id = channel.id, "failed to delete the channel");
    }
}

async fn run(
    options: &Options,
    mock: &MockGraph,
    target: &Target,
    run_id: &str,
) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(options.concurrency as usize)
        .tcp_nodelay(true)
        .build()
        .context("failed to build the HTTP client")?;
    let mut channels = Vec::new();
    for index in 0..options.channels {
        channels.push(create_channel(&client, target, mock, run_id, index).await?);
    }
    tracing::info!(
        rate = options.rate,
        duration_secs = options.duration,
        "sending webhooks"
    );
    let start = Instant::now();
    let sent = send_webhooks(options, &client, &channels, run_id, start).await;
    let replies = if options.spawn_server {
        let numbers: HashSet<&str> = channels
            .iter()
            .map(|channel| channel.phone_number_id.as_str())
            .collect();
        let expected = expected_per_contact(&sent);
        let timeout = Duration::from_secs(options.drain_timeout);
        let received = drain(mock, &numbers, &expected, timeout).await;
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
    Ok(Report::of(options, mock.url(), &sent, replies))
}

/// A message id the run introduced, sent once and possibly replayed.
struct UniqueMessage {
    contact: String,
    channel: usize,
    body: Bytes,
    signature: String,
    /// When its first send was scheduled.
    scheduled: Instant,
}

/// What the sending window produced, filled in by the request tasks.
struct Tally {
    ack_latency: Histogram<u64>,
    sent: u64,
    replays: u64,
    acknowledged: u64,
    /// Failed requests by HTTP status or transport error.
    failures: BTreeMap<String, u64>,
    /// Messages the server itself reported as duplicates in its answers.
    server_duplicates: u64,
    /// Per unique message: acknowledged at least once.
    acknowledged_messages: Vec<bool>,
    last_answer: Option<Instant>,
}

/// The sending window's result.
struct Sent {
    messages: Vec<UniqueMessage>,
    tally: Tally,
    start: Instant,
}

/// The server's answer to an accepted webhook.
#[derive(Deserialize)]
struct WebhookAnswer {
    #[serde(default)]
    duplicates: u64,
}

async fn send_webhooks(
    options: &Options,
    client: &reqwest::Client,
    channels: &[LoadChannel],
    run_id: &str,
    start: Instant,
) -> Sent {
    let tally = Arc::new(Mutex::new(empty_tally()));
    let semaphore = Arc::new(Semaphore::new(options.concurrency as usize));
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut messages: Vec<UniqueMessage> = Vec::new();
    let end = start + Duration::from_secs(options.duration);
    let mut index: u64 = 0;
    loop {
        let mut scheduled = match options.rate {
            0 => Instant::now(),
            rate => start + Duration::from_secs_f64(index as f64 / f64::from(rate)),
        };
        if scheduled >= end {
            break;
        }
        // Tokio's timer rounds up to the next millisecond, so sleeping on a time already
        // reached would still cost up to a millisecond per webhook and cap the rate near 1000/s.
        if scheduled > Instant::now() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(scheduled)).await;
        }
        let permit = Arc::clone(&semaphore)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        if options.rate == 0 {
            // Closed loop: there is no schedule to fall behind, only the request itself.
            scheduled = Instant::now();
        }
        let replay = !messages.is_empty() && rng.gen_ratio(options.replay_percent, 100);
        let unique = if replay {
            rng.gen_range(0..messages.len())
        } else {
            let number = messages.len();
            messages.push(new_message(options, channels, run_id, number, scheduled));
            lock(&tally).acknowledged_messages.push(false);
            number
        };
        let message = &messages[unique];
        let request = client
            .post(channels[message.channel].webhook.clone())
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature-256", &message.signature)
            .body(message.body.clone());
        let tally = Arc::clone(&tally);
        tokio::spawn(async move {
            let answer = post(request).await;
            let answered = Instant::now();
            let latency = answered.saturating_duration_since(scheduled);
            lock(&tally).record(unique, replay, latency, answered, answer);
            drop(permit);
        });
        index += 1;
    }
    // Every request holds a permit until it is answered: taking them all waits for the last.
    let _all = semaphore
        .acquire_many(options.concurrency)
        .await
        .expect("the semaphore is never closed");
    let tally = std::mem::replace(&mut *lock(&tally), empty_tally());
    Sent {
        messages,
        tally,
        start,
    }
}

fn new_message(
    options: &Options,
    channels: &[LoadChannel],
    run_id: &str,
    number: usize,
    scheduled: Instant,
) -> UniqueMessage {
    let contact_number = match options.contacts {
        0 => number,
        contacts => number % contacts as usize,
    };
    let channel = contact_number % channels.len();
    let contact = format!("4479{contact_number:08}");
    let wamid = format!("wamid.LOAD{run_id}{number:010}");
    let text = format!("load {run_id} message {number}");
    let unix_seconds = SystemClock.now() / 1_000;
    let body = whatsapp_webhooks::text_message(
        &channels[channel].phone_number_id,
        &contact,
        &format!("Load contact {contact_number}"),
        &wamid,
        &text,
        unix_seconds,
    );
    let signature = whatsapp_webhooks::signature(&channels[channel].app_secret, &body);
    UniqueMessage {
        contact,
        channel,
        body: Bytes::from(body),
        signature,
        scheduled,
    }
}

/// Posts one webhook: the status and the server's answer, or a transport error label.
async fn post(request: reqwest::RequestBuilder) -> Result<(u16, Option<WebhookAnswer>), String> {
    let response = request.send().await.map_err(|error| transport(&error))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|error| transport(&error))?;
    Ok((status, serde_json::from_slice(&body).ok()))
}

fn transport(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "other"
    };
    format!("error: {kind}")
}

impl Tally {
    fn record(
        &mut self,
        unique: usize,
        replay: bool,
        latency: Duration,
        answered: Instant,
        answer: Result<(u16, Option<WebhookAnswer>), String>,
    ) {
        self.sent += 1;
        self.replays += u64::from(replay);
        self.last_answer = Some(self.last_answer.map_or(answered, |last| last.max(answered)));
        match answer {
            Ok((200, answer)) => {
                self.acknowledged += 1;
                self.acknowledged_messages[unique] = true;
                self.server_duplicates += answer.map_or(0, |answer| answer.duplicates);
                record(&mut self.ack_latency, latency);
            }
            Ok((status, _)) => *self.failures.entry(status.to_string()).or_default() += 1,
            Err(label) => *self.failures.entry(label).or_default() += 1,
        }
    }
}

fn empty_tally() -> Tally {
    Tally {
        ack_latency: new_histogram(),
        sent: 0,
        replays: 0,
        acknowledged: 0,
        failures: BTreeMap::new(),
        server_duplicates: 0,
        acknowledged_messages: Vec::new(),
        last_answer: None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).expect("valid histogram bounds")
}

fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

/// Replies each contact is owed: one per unique message the server acknowledged.
fn expected_per_contact(sent: &Sent) -> HashMap<&str, usize> {
    let mut expected = HashMap::new();
    for (message, acknowledged) in sent.messages.iter().zip(&sent.tally.acknowledged_messages) {
        if *acknowledged {
            *expected.entry(message.contact.as_str()).or_default() += 1;
        }
    }
    expected
}

/// The contact a reply went to, if it is one of the run's sends.
fn recipient<'a>(reply: &'a ReceivedSend, numbers: &HashSet<&str>) -> Option<&'a str> {
    numbers
        .contains(reply.phone_number_id.as_str())
        .then(|| reply.body["to"].as_str())
        .flatten()
}

/// Waits until every owed reply arrived (plus a short grace for late duplicates) or the
/// timeout passed, and returns the run's replies.
async fn drain(
    mock: &MockGraph,
    numbers: &HashSet<&str>,
    expected: &HashMap<&str, usize>,
    timeout: Duration,
) -> Vec<ReceivedSend> {
    let owed: usize = expected.values().sum();
    let deadline = Instant::now() + timeout;
    let mut next_progress = Instant::now() + DRAIN_PROGRESS;
    loop {
        let mut received: HashMap<&str, usize> = HashMap::new();
        let accepted = mock.accepted();
        for contact in accepted
            .iter()
            .filter_map(|reply| recipient(reply, numbers))
        {
            *received.entry(contact).or_default() += 1;
        }
        let matched: usize = expected
            .iter()
            .map(|(contact, owed)| (*owed).min(received.get(contact).copied().unwrap_or(0)))
            .sum();
        if matched >= owed {
            tokio::time::sleep(DUPLICATE_GRACE).await;
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        if Instant::now() >= next_progress {
            tracing::info!(matched, owed, "waiting for replies");
            next_progress += DRAIN_PROGRESS;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    mock.accepted()
        .into_iter()
        .filter(|reply| recipient(reply, numbers).is_some())
        .collect()
}

#[derive(Serialize)]
struct Report {
    run: RunReport,
    webhooks: WebhookReport,
    /// `None` when the server was not spawned, so its replies could not be seen.
    replies: Option<ReplyReport>,
    server_log: Option<LogSummary>,
}

#[derive(Serialize)]
struct RunReport {
    /// Webhooks per second asked for; 0 means as fast as possible.
    rate: u32,
    duration_secs: u64,
    concurrency: u32,
    contacts: u32,
    channels: u32,
    replay_percent: u32,
    mock_graph_url: String,
}

#[derive(Serialize)]
struct WebhookReport {
    sent: u64,
    new_messages: usize,
    replays: u64,
    acknowledged: u64,
    /// From the start until the last webhook was answered.
    window_secs: f64,
    acknowledged_per_sec: f64,
    failures: BTreeMap<String, u64>,
    server_reported_duplicates: u64,
    ack_latency_ms: Option<Percentiles>,
}

#[derive(Serialize)]
struct ReplyReport {
    /// Unique messages the server acknowledged: each is owed exactly one reply.
    expected: usize,
    received: usize,
    matched: usize,
    missing: usize,
    /// Replies beyond one per acknowledged message.
    duplicates: usize,
    /// Sends the mock answered with an error (bad token, invalid body).
    rejected_by_mock: usize,
    /// Replies received per second, from the start until the last reply.
    replies_per_sec: f64,
    latency_ms: Option<Percentiles>,
}

#[derive(Serialize)]
struct Percentiles {
    count: u64,
    p50: f64,
    p99: f64,
    p99_9: f64,
    max: f64,
}

impl Percentiles {
    fn of(histogram: &Histogram<u64>) -> Option<Self> {
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
    fn of(sent: &Sent, replies: &[ReceivedSend], rejected_by_mock: usize, start: Instant) -> Self {
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
    fn of(options: &Options, mock_url: &str, sent: &Sent, replies: Option<ReplyReport>) -> Self {
        let tally = &sent.tally;
        let window = tally
            .last_answer
            .map_or(0.0, |last| (last - sent.start).as_secs_f64());
        Self {
            run: RunReport {
                rate: options.rate,
                duration_secs: options.duration,
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

/// Warnings and errors a spawned server logged, counted by message.
#[derive(Serialize)]
struct LogSummary {
    errors: usize,
    warnings: usize,
    /// `LEVEL message` → occurrences.
    messages: BTreeMap<String, usize>,
}

impl LogSummary {
    fn of(lines: &[String]) -> Self {
        let mut summary = Self {
            errors: 0,
            warnings: 0,
            messages: BTreeMap::new(),
        };
        for line in lines {
            let Ok(event) = serde_json::from_str::<Value>(line) else {
                // Not a log event, e.g. a panic message on stderr.
                *summary.messages.entry(format!("RAW {line}")).or_default() += 1;
                continue;
            };
            let level = event["level"].as_str().unwrap_or("?");
            match level {
                "ERROR" => summary.errors += 1,
                "WARN" => summary.warnings += 1,
                _ => continue,
            }
            let message = event["message"].as_str().unwrap_or("?");
            *summary
                .messages
                .entry(format!("{level} {message}"))
                .or_default() += 1;
        }
        summary
    }
}

fn print_table(report: &Report) {
    let run = &report.run;
    let rate = match run.rate {
        0 => "as fast as possible (closed loop)".to_owned(),
        rate => format!("{rate}/s (open loop)"),
    };
    println!();
    println!(
        "parley-load: {} s at {rate}, concurrency {}, {} contacts, {} channel(s), {}% replays",
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
