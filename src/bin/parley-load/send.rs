//! The sending window: signed WhatsApp webhooks posted at a constant, open-loop rate, with a
//! seeded share of them replaying an earlier message id. Send times are fixed in advance and
//! latency counts from the scheduled time, so a stalling server cannot slow the generator
//! down and hide its stalls (coordinated omission).

use crate::channel::LoadChannel;
use crate::options::Options;
use crate::report::{new_histogram, record};
use bytes::Bytes;
use hdrhistogram::Histogram;
use parley::clock::{Clock, SystemClock};
use parley::mock::whatsapp_webhooks;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The sending window's result.
pub(crate) struct Sent {
    pub(crate) messages: Vec<UniqueMessage>,
    pub(crate) tally: Tally,
    pub(crate) start: Instant,
}

/// A message id the run introduced, sent once and possibly replayed.
pub(crate) struct UniqueMessage {
    pub(crate) contact: String,
    channel: usize,
    body: Bytes,
    signature: String,
    /// When its first send was scheduled.
    pub(crate) scheduled: Instant,
}

/// What the sending window produced, filled in by the request tasks.
pub(crate) struct Tally {
    pub(crate) ack_latency: Histogram<u64>,
    pub(crate) sent: u64,
    pub(crate) replays: u64,
    pub(crate) acknowledged: u64,
    /// Failed requests by HTTP status or transport error.
    pub(crate) failures: BTreeMap<String, u64>,
    /// Messages the server itself reported as duplicates in its answers.
    pub(crate) server_duplicates: u64,
    /// Per unique message: acknowledged at least once.
    pub(crate) acknowledged_messages: Vec<bool>,
    pub(crate) last_answer: Option<Instant>,
}

/// The server's answer to an accepted webhook.
#[derive(Deserialize)]
struct WebhookAnswer {
    #[serde(default)]
    duplicates: u64,
}

/// Which webhooks a sending window sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The warm-up (`--warm-up`): contacts and message ids of its own, not measured.
    WarmUp,
    /// The measured window (`--duration`).
    Measured,
}

impl Phase {
    /// Contacts' numbers start with this.
    fn contact_prefix(self) -> &'static str {
        match self {
            Phase::WarmUp => "4478",
            Phase::Measured => "4479",
        }
    }

    /// Whether `contact` is one of this phase's contacts.
    pub(crate) fn owns(self, contact: &str) -> bool {
        contact.starts_with(self.contact_prefix())
    }
}

/// Sends webhooks from `start` for the phase's seconds and waits for every answer.
pub(crate) async fn send_webhooks(
    options: &Options,
    client: &reqwest::Client,
    channels: &[LoadChannel],
    run_id: &str,
    start: Instant,
    phase: Phase,
) -> Sent {
    let tally = Arc::new(Mutex::new(empty_tally()));
    let semaphore = Arc::new(Semaphore::new(options.concurrency as usize));
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut messages: Vec<UniqueMessage> = Vec::new();
    let seconds = match phase {
        Phase::WarmUp => options.warm_up,
        Phase::Measured => options.duration,
    };
    let end = start + Duration::from_secs(seconds);
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
            messages.push(new_message(
                options, channels, run_id, phase, number, scheduled,
            ));
            lock(&tally).acknowledged_messages.push(false);
            number
        };
        let message = &messages[unique];
        let request = client
            .post(webhook_for(&channels[message.channel], index))
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
    phase: Phase,
    number: usize,
    scheduled: Instant,
) -> UniqueMessage {
    let contact_number = contact_number(options.contacts, number);
    let channel = contact_number % channels.len();
    let contact = contact_of(phase, contact_number);
    let wamid = format!("wamid.LOAD{run_id}{}{number:010}", phase.contact_prefix());
    let text = message_text(run_id, number);
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

/// Where request `index` goes: the nodes take turns, as behind a load balancer (a replay may
/// reach another node than the first send, as Meta's redeliveries may).
fn webhook_for(channel: &LoadChannel, index: u64) -> url::Url {
    let node = usize::try_from(index).unwrap_or(0) % channel.webhooks.len().max(1);
    channel.webhooks[node].clone()
}

/// The contact that message `number` comes from, among `contacts` (0: each its own).
pub(crate) fn contact_number(contacts: u32, number: usize) -> usize {
    match contacts {
        0 => number,
        contacts => number % contacts as usize,
    }
}

/// A contact's WhatsApp id.
pub(crate) fn contact_of(phase: Phase, contact_number: usize) -> String {
    format!("{}{contact_number:08}", phase.contact_prefix())
}

/// The text of message `number`.
fn message_text(run_id: &str, number: usize) -> String {
    format!("load {run_id} message {number}")
}

/// The number of the message with this text, if it is one of the run's.
pub(crate) fn message_number(run_id: &str, text: &str) -> Option<usize> {
    text.strip_prefix("load ")?
        .strip_prefix(run_id)?
        .strip_prefix(" message ")?
        .parse()
        .ok()
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
