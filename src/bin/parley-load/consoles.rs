//! Agent consoles under load: `--consoles N` opens N agent WebSockets (`/ws`) before the
//! webhooks start and keeps them reading. Every console receives every event of the
//! organisation, so the fan-out is N deliveries per event.
//!
//! Latency is measured per delivery of a guest's message (`message.created` from a contact),
//! from `received_at` (when the server took the webhook's message in, on this machine's clock)
//! to the moment the console read the frame. The report also gives the deliveries per second
//! and the server's resident memory per idle console (RSS before and after the consoles
//! connected, divided by their number; Linux only).

use crate::report::{new_histogram, record, Percentiles};
use crate::server::Target;
use anyhow::Context;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Consoles connected at once while opening them.
const CONNECT_BATCH: usize = 50;
/// How long the server gets to settle before its idle memory is read.
const SETTLE: Duration = Duration::from_millis(500);

/// What one console saw.
struct Tally {
    /// The index of the node it is connected to.
    node: usize,
    frames: u64,
    guest_messages: Histogram<u64>,
    /// With two nodes: the guest messages whose conversation this console's node owns (their
    /// events were written on this node), and those another node owns (they came through
    /// Redis).
    same_node: Histogram<u64>,
    other_node: Histogram<u64>,
    /// The server closed it (a slow console is cut off) before the run ended.
    cut_off: bool,
}

/// The open consoles of a run. They read on a runtime of their own, so the webhook sender and
/// the mock Graph API do not slow them down (a console that reads slowly is cut off).
pub(crate) struct Consoles {
    runtime: tokio::runtime::Runtime,
    tasks: Vec<JoinHandle<Tally>>,
    stop: watch::Sender<bool>,
    idle_rss_per_console_kib: Option<f64>,
    started: Instant,
    /// Guest messages the server received before this time (ms, the server's clock) are not
    /// measured: they belong to the warm-up.
    measure_from: Arc<AtomicI64>,
    /// With two nodes, which node owns each guest message's conversation.
    locality: Arc<OnceLock<Locality>>,
}

/// Which node owns the conversation of each of the run's guest messages: the node whose
/// partition it falls in (`parley_partition_owned`).
pub(crate) struct Locality {
    /// The owning node of each partition, by index in the targets.
    pub(crate) owners: Vec<Option<usize>>,
    pub(crate) contacts: u32,
    pub(crate) run_id: String,
}

impl Locality {
    /// The node that owns the conversation of the guest message `body` on `channel_id`.
    fn owner(&self, channel_id: &str, body: &str) -> Option<usize> {
        let number = crate::send::message_number(&self.run_id, body)?;
        let contact = crate::send::contact_of(
            crate::send::Phase::Measured,
            crate::send::contact_number(self.contacts, number),
        );
        let partition = parley::domain::partition::partition_of(channel_id.parse().ok()?, &contact);
        *self.owners.get(usize::from(partition))?
    }
}

#[derive(Serialize)]
pub(crate) struct ConsoleReport {
    pub(crate) consoles: usize,
    pub(crate) frames: u64,
    /// Guest messages delivered to consoles, per second of the run.
    pub(crate) deliveries_per_sec: f64,
    /// From the server's receipt of a guest's message to a console reading it.
    pub(crate) delivery_latency_ms: Option<Percentiles>,
    /// With two nodes: the same on the consoles of each node, in the order of the nodes.
    pub(crate) delivery_latency_by_node_ms: Vec<Option<Percentiles>>,
    /// With two nodes: deliveries by a console on the node that owns the conversation (which
    /// wrote the event), and on the other node (the event's notice came through Redis).
    pub(crate) delivery_latency_same_node_ms: Option<Percentiles>,
    pub(crate) delivery_latency_other_node_ms: Option<Percentiles>,
    /// Events each console received per second (every console receives every event).
    pub(crate) events_per_sec: f64,
    pub(crate) cut_off: usize,
    /// The server's resident memory per idle console, KiB (Linux, spawned server only).
    pub(crate) idle_rss_per_console_kib: Option<f64>,
}

/// Opens `count` consoles as the API key's owner, on the targets in turn, and starts them
/// reading.
pub(crate) async fn open(
    targets: &[Target],
    count: u32,
    server_pid: Option<u32>,
) -> anyhow::Result<Consoles> {
    let rss_before = server_pid.and_then(rss_kib);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("consoles")
        .enable_all()
        .build()
        .context("failed to start the consoles' runtime")?;
    let (stop, stopped) = watch::channel(false);
    // Nothing is measured until the measured window starts (`Consoles::measure_from_now`).
    let measure_from = Arc::new(AtomicI64::new(i64::MAX));
    let locality = Arc::new(OnceLock::new());
    let mut urls = Vec::with_capacity(targets.len());
    for target in targets {
        let mut url = target.base.join("ws").context("a /ws URL")?;
        url.set_scheme(if url.scheme() == "https" { "wss" } else { "ws" })
            .map_err(|()| anyhow::anyhow!("not a WebSocket URL: {url}"))?;
        urls.push(url);
    }
    let mut tasks = Vec::with_capacity(count as usize);
    let indices: Vec<u32> = (0..count).collect();
    for batch in indices.chunks(CONNECT_BATCH) {
        let mut connecting = Vec::with_capacity(batch.len());
        for index in batch {
            let node = *index as usize % targets.len();
            let mut request = urls[node].as_str().into_client_request()?;
            request.headers_mut().insert(
                "Authorization",
                format!("Bearer {}", targets[node].api_key).parse()?,
            );
            let connecting_one = tokio_tungstenite::connect_async(request);
            connecting.push((node, runtime.spawn(connecting_one)));
        }
        for (node, connected) in connecting {
            let (socket, _) = connected
                .await
                .context("a console's task failed")?
                .context("a console could not connect to /ws")?;
            tasks.push(runtime.spawn(read(
                node,
                socket,
                stopped.clone(),
                Arc::clone(&measure_from),
                Arc::clone(&locality),
            )));
        }
    }
    // Only the first node's memory is read: it has every other console.
    let count = count.div_ceil(u32::try_from(targets.len()).unwrap_or(1));
    tokio::time::sleep(SETTLE).await;
    let rss_after = server_pid.and_then(rss_kib);
    let idle_rss_per_console_kib = match (rss_before, rss_after) {
        (Some(before), Some(after)) if count > 0 => {
            Some(after.saturating_sub(before) as f64 / f64::from(count))
        }
        _ => None,
    };
    tracing::info!(consoles = count, "consoles connected");
    Ok(Consoles {
        runtime,
        tasks,
        stop,
        idle_rss_per_console_kib,
        started: Instant::now(),
        measure_from,
        locality,
    })
}

impl Consoles {
    /// Counts frames and measures guest messages from now on: the measured window starts.
    /// With `locality`, deliveries are also told apart by whether the console's node owns the
    /// conversation.
    pub(crate) fn measure_from_now(&mut self, locality: Option<Locality>) {
        if let Some(locality) = locality {
            let _ = self.locality.set(locality);
        }
        self.started = Instant::now();
        self.measure_from.store(
            parley::clock::Clock::now(&parley::clock::SystemClock),
            Ordering::Release,
        );
    }

    /// Stops the consoles and sums up what they saw.
    pub(crate) async fn finish(self) -> ConsoleReport {
        let _ = self.stop.send(true);
        let seconds = self.started.elapsed().as_secs_f64().max(f64::EPSILON);
        let mut latency = new_histogram();
        let mut by_node: Vec<Histogram<u64>> = Vec::new();
        let (mut same_node, mut other_node) = (new_histogram(), new_histogram());
        let (mut frames, mut cut_off) = (0, 0);
        let consoles = self.tasks.len();
        for task in self.tasks {
            if let Ok(tally) = task.await {
                frames += tally.frames;
                cut_off += usize::from(tally.cut_off);
                let _ = latency.add(&tally.guest_messages);
                while by_node.len() <= tally.node {
                    by_node.push(new_histogram());
                }
                let _ = by_node[tally.node].add(&tally.guest_messages);
                let _ = same_node.add(&tally.same_node);
                let _ = other_node.add(&tally.other_node);
            }
        }
        let by_node = match by_node.len() {
            0 | 1 => Vec::new(),
            _ => by_node.iter().map(Percentiles::of).collect(),
        };
        self.runtime.shutdown_background();
        ConsoleReport {
            consoles,
            frames,
            deliveries_per_sec: latency.len() as f64 / seconds,
            delivery_latency_ms: Percentiles::of(&latency),
            delivery_latency_by_node_ms: by_node,
            delivery_latency_same_node_ms: Percentiles::of(&same_node),
            delivery_latency_other_node_ms: Percentiles::of(&other_node),
            events_per_sec: frames as f64 / consoles.max(1) as f64 / seconds,
            cut_off,
            idle_rss_per_console_kib: self.idle_rss_per_console_kib,
        }
    }
}

async fn read(
    node: usize,
    mut socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    mut stopped: watch::Receiver<bool>,
    measure_from: Arc<AtomicI64>,
    locality: Arc<OnceLock<Locality>>,
) -> Tally {
    let mut tally = Tally {
        node,
        frames: 0,
        guest_messages: new_histogram(),
        same_node: new_histogram(),
        other_node: new_histogram(),
        cut_off: false,
    };
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    // The server's clock: the same system clock, read the same way.
                    let now = parley::clock::Clock::now(&parley::clock::SystemClock);
                    let from = measure_from.load(Ordering::Acquire);
                    if now < from {
                        continue;
                    }
                    tally.frames += 1;
                    if let Some(guest) = guest_message(&text) {
                        if guest.received_at >= from {
                            let waited = Duration::from_millis(
                                u64::try_from(now.saturating_sub(guest.received_at)).unwrap_or(0),
                            );
                            record(&mut tally.guest_messages, waited);
                            let owner = locality
                                .get()
                                .and_then(|locality| locality.owner(&guest.channel_id, &guest.body));
                            match owner {
                                Some(owner) if owner == node => record(&mut tally.same_node, waited),
                                Some(_) => record(&mut tally.other_node, waited),
                                None => {}
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    tally.cut_off = !*stopped.borrow();
                    return tally;
                }
                Some(Ok(_)) => {}
            },
            _ = stopped.changed() => {
                let _ = socket.close(None).await;
                return tally;
            }
        }
    }
}

/// What the report needs of a `message.created` frame for a guest's message.
struct GuestMessage {
    received_at: i64,
    channel_id: String,
    body: String,
}

fn guest_message(text: &str) -> Option<GuestMessage> {
    // Cheap filter before parsing: most frames are something else.
    if !text.contains("\"message.created\"") || !text.contains("\"contact\"") {
        return None;
    }
    let frame: serde_json::Value = serde_json::from_str(text).ok()?;
    let data = &frame["data"];
    if frame["type"] != "message.created" || data["sender_kind"] != "contact" {
        return None;
    }
    Some(GuestMessage {
        received_at: data["received_at"].as_i64()?,
        channel_id: data["channel_id"].as_str().unwrap_or_default().to_owned(),
        body: data["content"]["body"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

/// Resident memory of a process, KiB, from `/proc` (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}
