//! Conversations across nodes (`REDIS_URL` with a shared database): each conversation has
//! exactly one owning node, so it has one actor and one writer in the whole cluster.
//!
//! Conversation keys hash to `PARTITIONS` partitions. Nodes hold leases on partitions in Redis
//! (`parley:{cluster}:partition:{n}`, a key with the owner's node id and a time to live) and
//! renew them every `tick`; a node also keeps itself in the cluster's live set
//! (`parley:{cluster}:nodes`). One Lua script, run by each node at every tick, renews what the
//! node holds, takes free partitions up to its fair share (`ceil(PARTITIONS / live nodes)`)
//! and names what it holds beyond that share. The node gives those back only once their
//! local actors have finished, so a partition is never handled by two nodes at once. A node
//! that cannot renew stops counting a partition as its own before the lease can expire.
//!
//! A command for a conversation of a partition this node does not own goes into the
//! partition's Redis Stream (`parley:{cluster}:partition:{n}:inbox`). The owner reads the
//! streams of its partitions in the consumer group `owners`, hands each command to the
//! conversation's actor, and acknowledges (and deletes) the entry once the actor has handled
//! it. Entries a node read but did not finish stay pending; the next owner claims them when it
//! takes the partition.
//!
//! A team member's command (claim, reply, a business-initiated message …) waits for its
//! answer in the node that took the request: it travels with the id of the request, and the
//! owner keeps the answer under `…:answer:{request}` for a minute and publishes it on the
//! asking node's reply channel (`…:reply:{node}`). Pub/sub may drop it (a subscription being
//! re-made, say), so the asking node looks under the key every `ANSWER_LOOK` while it waits. A
//! node that does not answer within `ANSWER_TIMEOUT` leaves the request with 503; the action
//! itself is never lost, the owner did or did not do it as usual.

use super::conversation::{
    ConversationCommand, JourneyInput, NotifyCommand, StaffCommand, StaffError, StaffOutcome,
};
use super::core::Core;
use super::registry::ConversationKey;
use crate::domain::handover::{Action, Actor, HandoverError};
use crate::domain::MessageContent;
use crate::domain::{ChannelId, ConversationId, InboundEvent, Millis, OrgId};
use crate::store::TimerRecord;
use crate::store::{MessageRecord, StoreError};
use dashmap::DashMap;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub use crate::domain::partition::PARTITIONS;
/// The consumer group of the partition streams.
const GROUP: &str = "owners";
/// Entries read from the streams at once.
const READ_COUNT: usize = 256;
/// How long a read of the streams blocks waiting for entries; a partition taken over is read
/// from the next read on.
const READ_BLOCK: Duration = Duration::from_millis(200);
/// How long a node gives the actors of a partition it gives back to finish.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
const RETRY_DELAY: Duration = Duration::from_millis(500);
/// How long a team member's command waits for the owning node's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a node that waits for an answer looks for it under its key, in case pub/sub lost
/// it.
const ANSWER_LOOK: Duration = Duration::from_secs(1);
/// How long an answer stays under its key.
const ANSWER_KEPT_SECS: u64 = 60;
/// The `partition` label of each partition's `parley_partition_owned` series.
static PARTITION_LABELS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    (0..crate::domain::partition::PARTITIONS)
        .map(|partition| partition.to_string())
        .collect()
});

/// Timing of the leases, and how answers travel.
#[derive(Clone, Copy, Debug)]
pub struct LeaseSettings {
    /// How long a lease lasts unless renewed.
    pub lease: Duration,
    /// How often a node renews its leases and looks for its fair share.
    pub tick: Duration,
    /// Whether answers to forwarded commands are published as well as kept under their key
    /// (only a test turns this off, to play a lost pub/sub message).
    pub publish_answers: bool,
}

/// The partition of a conversation (see `domain::partition`).
pub(crate) fn partition_of(key: &ConversationKey) -> u16 {
    crate::domain::partition::partition_of(key.channel_id, &key.contact_external_id)
}

/// The node's leases, as far as it knows them.
struct Held {
    owned: u64,
    /// The leases may have expired after this: nothing counts as owned then.
    valid_until: Instant,
}

/// This node's part in the cluster.
pub(crate) struct Partitions {
    node: String,
    prefix: String,
    settings: LeaseSettings,
    redis: redis::aio::ConnectionManager,
    /// A connection of its own for the blocking reads of the streams, which would hold up
    /// every other command on a shared one.
    reader: redis::aio::ConnectionManager,
    held: RwLock<Held>,
    /// Live actors per partition on this node.
    running: Vec<AtomicUsize>,
    forwards: mpsc::UnboundedSender<Outgoing>,
    forward_queue: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Outgoing>>>,
    /// Commands sent to their owner whose answer this node waits for, by request id.
    waiting: Arc<DashMap<String, Waiting>>,
    client: redis::Client,
}

/// What this node sends the others, in order.
enum Outgoing {
    /// A command, into its partition's stream.
    Command { partition: u16, text: String },
    /// A frame for a web chat visitor whose socket may be open on another node.
    Webchat(String),
}

/// A web chat frame as it travels to the other nodes.
#[derive(Debug, Serialize, Deserialize)]
struct WebchatFrame {
    node: String,
    channel_id: ChannelId,
    visitor: String,
    frame: String,
}

/// Where the answer to a forwarded team member's command goes.
enum Waiting {
    Staff(oneshot::Sender<Result<StaffOutcome, StaffError>>),
    Notify(oneshot::Sender<Result<MessageRecord, StaffError>>),
}

impl Waiting {
    fn fail(self, error: StaffError) {
        match self {
            Waiting::Staff(reply) => {
                let _ = reply.send(Err(error));
            }
            Waiting::Notify(reply) => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// Who asked, for the answer to find its way back.
#[derive(Debug, Serialize, Deserialize)]
struct ReplyTo {
    node: String,
    request: String,
}

/// An answer to a forwarded team member's command.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    request: String,
    outcome: AnswerOutcome,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AnswerOutcome {
    Staff(Result<Option<MessageRecord>, Failure>),
    Notify(Result<MessageRecord, Failure>),
}

/// A `StaffError` as it travels.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Failure {
    Handover(HandoverError),
    NotFound,
    StoreNotFound,
    Conflict(String),
    Unavailable,
    Other(String),
}

impl From<StaffError> for Failure {
    fn from(error: StaffError) -> Self {
        match error {
            StaffError::Handover(refused) => Failure::Handover(refused),
            StaffError::NotFound => Failure::NotFound,
            StaffError::Store(StoreError::NotFound) => Failure::StoreNotFound,
            StaffError::Store(StoreError::Conflict(what)) => Failure::Conflict(what),
            StaffError::Store(StoreError::Unavailable(_) | StoreError::Closed) => {
                Failure::Unavailable
            }
            StaffError::Store(other) => Failure::Other(other.to_string()),
        }
    }
}

impl From<Failure> for StaffError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Handover(refused) => StaffError::Handover(refused),
            Failure::NotFound => StaffError::NotFound,
            Failure::StoreNotFound => StaffError::Store(StoreError::NotFound),
            Failure::Conflict(what) => StaffError::Store(StoreError::Conflict(what)),
            Failure::Unavailable => StaffError::Store(StoreError::Unavailable(
                "the node owning the conversation could not reach its storage".into(),
            )),
            Failure::Other(what) => StaffError::Store(StoreError::Corrupt(what)),
        }
    }
}

/// Keeps a partition's count of live actors while an actor runs.
pub(crate) struct Running {
    partitions: Arc<Partitions>,
    partition: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.partitions.running[usize::from(self.partition)].fetch_sub(1, Ordering::AcqRel);
    }
}

/// What travels through a partition's stream.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    channel_id: ChannelId,
    contact: String,
    command: WireCommand,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireCommand {
    Inbound {
        inbound_id: i64,
        org_id: OrgId,
        event: InboundEvent,
        received_at: Millis,
    },
    Timer {
        timer: TimerRecord,
    },
    Journey {
        conversation_id: ConversationId,
        input: JourneyInput,
    },
    Staff {
        conversation_id: ConversationId,
        actor: Actor,
        action: Action,
        content: Option<MessageContent>,
        reply_to: ReplyTo,
    },
    Notify {
        org_id: OrgId,
        contact_name: Option<String>,
        contact_phone: Option<String>,
        content: MessageContent,
        reply_to: ReplyTo,
    },
}

impl WireCommand {
    /// The command as it travels. A team member's command leaves its reply behind with
    /// `wait_for`, which names where the answer must come (see `Partitions::wait_for`).
    fn of(command: ConversationCommand, wait_for: &mut dyn FnMut(Waiting) -> ReplyTo) -> Self {
        match command {
            ConversationCommand::Inbound {
                inbound_id,
                org_id,
                event,
                received_at,
                fresh: _,
            } => Self::Inbound {
                inbound_id,
                org_id,
                event,
                received_at,
            },
            ConversationCommand::Timer(timer) => Self::Timer { timer },
            ConversationCommand::Journey {
                conversation_id,
                input,
            } => Self::Journey {
                conversation_id,
                input,
            },
            // Not handled here: its stream entry stays pending for the owner.
            ConversationCommand::Forwarded { command, .. } => Self::of(*command, wait_for),
            ConversationCommand::Staff {
                conversation_id,
                command:
                    StaffCommand {
                        actor,
                        action,
                        content,
                        reply,
                    },
            } => Self::Staff {
                conversation_id,
                actor,
                action,
                content,
                reply_to: wait_for(Waiting::Staff(reply)),
            },
            ConversationCommand::Notify(NotifyCommand {
                org_id,
                contact_name,
                contact_phone,
                content,
                reply,
            }) => Self::Notify {
                org_id,
                contact_name,
                contact_phone,
                content,
                reply_to: wait_for(Waiting::Notify(reply)),
            },
        }
    }

    /// The command to hand to the actor here. A team member's command gets a reply whose
    /// answer is published back to the node that asked.
    fn into_command(self, partitions: &Arc<Partitions>) -> ConversationCommand {
        match self {
            // Another node stored it: this actor cannot know it is fresh, and checks.
            Self::Inbound {
                inbound_id,
                org_id,
                event,
                received_at,
            } => ConversationCommand::Inbound {
                inbound_id,
                org_id,
                event,
                received_at,
                fresh: false,
            },
            Self::Timer { timer } => ConversationCommand::Timer(timer),
            Self::Journey {
                conversation_id,
                input,
            } => ConversationCommand::Journey {
                conversation_id,
                input,
            },
            Self::Staff {
                conversation_id,
                actor,
                action,
                content,
                reply_to,
            } => ConversationCommand::Staff {
                conversation_id,
                command: StaffCommand {
                    actor,
                    action,
                    content,
                    reply: answer_back(partitions, reply_to, |outcome: Result<StaffOutcome, _>| {
                        AnswerOutcome::Staff(outcome.map(|outcome| outcome.reply))
                    }),
                },
            },
            Self::Notify {
                org_id,
                contact_name,
                contact_phone,
                content,
                reply_to,
            } => ConversationCommand::Notify(NotifyCommand {
                org_id,
                contact_name,
                contact_phone,
                content,
                reply: answer_back(partitions, reply_to, AnswerOutcome::Notify),
            }),
        }
    }
}

/// A reply for a command another node forwarded: what the actor answers is published back to
/// the node that asked, as `outcome` makes it.
fn answer_back<T: Send + 'static>(
    partitions: &Arc<Partitions>,
    reply_to: ReplyTo,
    outcome: impl FnOnce(Result<T, Failure>) -> AnswerOutcome + Send + 'static,
) -> oneshot::Sender<Result<T, StaffError>> {
    let (reply, answer) = oneshot::channel::<Result<T, StaffError>>();
    let partitions = Arc::clone(partitions);
    tokio::spawn(async move {
        if let Ok(answered) = answer.await {
            let answered = outcome(answered.map_err(Failure::from));
            partitions.answer(reply_to, answered).await;
        }
    });
    reply
}

/// Renews the node's leases and takes its share (see the module's documentation). Returns
/// the partitions the node holds and, among them, those beyond its share.
const TICK: &str = r"
local node = ARGV[1]
local lease = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local prefix = ARGV[4]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local nodes = prefix .. 'nodes'
redis.call('ZADD', nodes, now + lease, node)
redis.call('ZREMRANGEBYSCORE', nodes, '-inf', now)
local live = redis.call('ZCARD', nodes)
local share = math.ceil(count / live)
local held = {}
local free = {}
for partition = 0, count - 1 do
  local key = prefix .. 'partition:' .. partition
  local owner = redis.call('GET', key)
  if owner == node then
    redis.call('PEXPIRE', key, lease)
    table.insert(held, partition)
  elseif not owner then
    table.insert(free, partition)
  end
end
local next_free = 1
while #held < share and next_free <= #free do
  redis.call('SET', prefix .. 'partition:' .. free[next_free], node, 'PX', lease)
  table.insert(held, free[next_free])
  next_free = next_free + 1
end
table.sort(held)
local surplus = {}
for index = share + 1, #held do
  table.insert(surplus, held[index])
end
return {held, surplus}
";

/// Gives partitions back, each only if this node still holds it.
const RELEASE: &str = r"
local released = 0
for index, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
";

impl Partitions {
    /// Connects to Redis. The cluster is named after the shared database's `cluster_id`.
    pub(crate) async fn connect(
        url: &str,
        cluster: &str,
        settings: LeaseSettings,
    ) -> Result<Arc<Self>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let redis = client.get_connection_manager().await?;
        let reader = client
            .get_connection_manager_with_config(
                redis::aio::ConnectionManagerConfig::new()
                    .set_response_timeout(Some(READ_BLOCK + Duration::from_secs(5))),
            )
            .await?;
        let (forwards, queue) = mpsc::unbounded_channel();
        Ok(Arc::new(Self {
            waiting: Arc::new(DashMap::new()),
            client,
            node: uuid::Uuid::new_v4().simple().to_string(),
            prefix: format!("parley:{cluster}:"),
            settings,
            redis,
            reader,
            held: RwLock::new(Held {
                owned: 0,
                valid_until: Instant::now(),
            }),
            running: (0..PARTITIONS).map(|_| AtomicUsize::new(0)).collect(),
            forwards,
            forward_queue: std::sync::Mutex::new(Some(queue)),
        }))
    }

    /// The partitions this node owns now, as a mask (bit `n` for partition `n`): none once
    /// the leases may have expired.
    fn owned_now(&self) -> u64 {
        let held = self
            .held
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if Instant::now() < held.valid_until {
            held.owned
        } else {
            0
        }
    }

    /// Whether this node owns `partition` now.
    pub(crate) fn owns(&self, partition: u16) -> bool {
        self.owned_now() & (1 << partition) != 0
    }

    /// `owned_now` as the store's outbox reads take it (see `Store::due_outbox`).
    pub(crate) fn owned_bits(&self) -> i64 {
        i64::from_ne_bytes(self.owned_now().to_ne_bytes())
    }

    fn owned(&self) -> Vec<u16> {
        let owned = self.owned_now();
        (0..PARTITIONS)
            .filter(|&partition| owned & (1 << partition) != 0)
            .collect()
    }

    /// Counts an actor of `partition` as live until the returned guard is dropped.
    pub(crate) fn running(self: &Arc<Self>, partition: u16) -> Running {
        self.running[usize::from(partition)].fetch_add(1, Ordering::AcqRel);
        Running {
            partitions: Arc::clone(self),
            partition,
        }
    }

    /// Sends `command` to the owner of `partition`.
    pub(crate) fn forward(
        &self,
        partition: u16,
        key: &ConversationKey,
        command: ConversationCommand,
    ) {
        let command = WireCommand::of(command, &mut |waiting| self.wait_for(waiting));
        let wire = Wire {
            channel_id: key.channel_id,
            contact: key.contact_external_id.to_string(),
            command,
        };
        let text = serde_json::to_string(&wire).expect("forwarded commands serialise to JSON");
        // The queue ends with the process; what is lost then is durable elsewhere (inbound
        // rows are swept, timers reloaded).
        let _ = self.forwards.send(Outgoing::Command { partition, text });
    }

    /// Keeps `waiting` until its answer comes or `ANSWER_TIMEOUT` passes; returns where the
    /// answer must be sent.
    fn wait_for(&self, waiting: Waiting) -> ReplyTo {
        let request = uuid::Uuid::new_v4().simple().to_string();
        self.waiting.insert(request.clone(), waiting);
        let key = self.answer_key(&request);
        let forgotten = request.clone();
        let waiting_map = Arc::clone(&self.waiting);
        let mut redis = self.redis.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + ANSWER_TIMEOUT;
            loop {
                tokio::time::sleep(
                    ANSWER_LOOK.min(deadline.saturating_duration_since(Instant::now())),
                )
                .await;
                if !waiting_map.contains_key(&forgotten) {
                    return;
                }
                // Not answered through pub/sub, which may have dropped it: the owner keeps
                // every answer under its key too.
                let kept: redis::RedisResult<Option<String>> =
                    redis::cmd("GET").arg(&key).query_async(&mut redis).await;
                if let Ok(Some(text)) = kept {
                    hand_over_answer(&waiting_map, &text);
                    return;
                }
                if Instant::now() >= deadline {
                    break;
                }
            }
            if let Some((_, waiting)) = waiting_map.remove(&forgotten) {
                tracing::warn!(
                    "the node owning a conversation did not answer a team member's command in time"
                );
                waiting.fail(StaffError::Store(StoreError::Unavailable(
                    "the node owning the conversation did not answer in time".into(),
                )));
            }
        });
        ReplyTo {
            node: self.node.clone(),
            request,
        }
    }

    /// Answers a forwarded command: keeps the answer under its key for a minute, and
    /// publishes it on the asking node's reply channel. The asking node takes the published
    /// answer at once, and looks under the key if pub/sub loses it.
    async fn answer(&self, reply_to: ReplyTo, outcome: AnswerOutcome) {
        let key = self.answer_key(&reply_to.request);
        let answer = Answer {
            request: reply_to.request,
            outcome,
        };
        let text = serde_json::to_string(&answer).expect("answers serialise to JSON");
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(key)
            .arg(&text)
            .arg("EX")
            .arg(ANSWER_KEPT_SECS)
            .ignore();
        if self.settings.publish_answers {
            pipe.cmd("PUBLISH")
                .arg(self.reply_channel(&reply_to.node))
                .arg(&text)
                .ignore();
        }
        let mut redis = self.redis.clone();
        let sent: redis::RedisResult<()> = pipe.query_async(&mut redis).await;
        if let Err(error) = sent {
            tracing::warn!(error = %error, "failed to answer a forwarded command");
        }
    }

    fn answer_key(&self, request: &str) -> String {
        format!("{}answer:{request}", self.prefix)
    }

    /// Passes a frame for a web chat visitor to the other nodes, where the visitor's socket
    /// may be open (this node delivered it to its own sockets already).
    pub(crate) fn share_webchat(&self, channel_id: ChannelId, visitor: &str, frame: &str) {
        let shared = WebchatFrame {
            node: self.node.clone(),
            channel_id,
            visitor: visitor.to_owned(),
            frame: frame.to_owned(),
        };
        let text = serde_json::to_string(&shared).expect("web chat frames serialise to JSON");
        let _ = self.forwards.send(Outgoing::Webchat(text));
    }

    fn webchat_channel(&self) -> String {
        format!("{}webchat", self.prefix)
    }

    fn reply_channel(&self, node: &str) -> String {
        format!("{}reply:{node}", self.prefix)
    }

    /// Hands an answer that came back to the command waiting for it.
    fn answered(&self, text: &str) {
        hand_over_answer(&self.waiting, text);
    }

    fn stream(&self, partition: u16) -> String {
        format!("{}partition:{partition}:inbox", self.prefix)
    }

    fn lease_key(&self, partition: u16) -> String {
        format!("{}partition:{partition}", self.prefix)
    }

    /// Runs the lease script once. Returns (held, surplus).
    async fn tick(&self) -> redis::RedisResult<(Vec<u16>, Vec<u16>)> {
        let mut redis = self.redis.clone();
        let lease_ms = u64::try_from(self.settings.lease.as_millis()).unwrap_or(u64::MAX);
        redis::cmd("EVAL")
            .arg(TICK)
            .arg(0)
            .arg(&self.node)
            .arg(lease_ms)
            .arg(PARTITIONS)
            .arg(&self.prefix)
            .query_async(&mut redis)
            .await
    }

    async fn release(&self, partitions: &[u16]) -> redis::RedisResult<usize> {
        let mut redis = self.redis.clone();
        let mut command = redis::cmd("EVAL");
        command.arg(RELEASE).arg(partitions.len());
        for &partition in partitions {
            command.arg(self.lease_key(partition));
        }
        command.arg(&self.node).query_async(&mut redis).await
    }

    /// Leaves the cluster's live set, so the other nodes' shares grow at once, and gives back
    /// every lease (at shutdown).
    pub(crate) async fn leave(&self) {
        let owned = self.owned();
        self.set_owned(0, Instant::now());
        let mut redis = self.redis.clone();
        let left: redis::RedisResult<i64> = redis::cmd("ZREM")
            .arg(format!("{}nodes", self.prefix))
            .arg(&self.node)
            .query_async(&mut redis)
            .await;
        let released = self.release(&owned).await;
        if let Some(error) = left.err().or(released.err()) {
            tracing::warn!(error = %error, "failed to give the partition leases back");
        }
    }

    fn set_owned(&self, owned: u64, valid_until: Instant) {
        let mut held = self
            .held
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.owned = owned;
        held.valid_until = valid_until;
    }

    fn owned_mask(&self) -> u64 {
        self.held
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .owned
    }
}

fn mask(partitions: &[u16]) -> u64 {
    partitions
        .iter()
        .filter(|&&partition| partition < PARTITIONS)
        .fold(0, |mask, &partition| mask | (1 << partition))
}

/// Starts the lease keeper, the forwarder and the stream reader of this node.
pub(crate) fn start(
    core: &Arc<Core>,
    partitions: &Arc<Partitions>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let queue = partitions
        .forward_queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .expect("the partitions start once");
    vec![
        tokio::spawn(keep_leases(Arc::clone(core), Arc::clone(partitions))),
        tokio::spawn(forward_loop(
            Arc::clone(core),
            Arc::clone(partitions),
            queue,
        )),
        tokio::spawn(read_loop(Arc::clone(core), Arc::clone(partitions))),
        tokio::spawn(answers_loop(Arc::clone(core), Arc::clone(partitions))),
    ]
}

async fn keep_leases(core: Arc<Core>, partitions: Arc<Partitions>) {
    let mut shutdown = core.shutdown_signal();
    // A lease counts as this node's until a third of its life before Redis may expire it.
    let margin = partitions.settings.lease / 3;
    loop {
        let started = Instant::now();
        match partitions.tick().await {
            Ok((held, surplus)) => {
                let before = partitions.owned_mask();
                let keep = mask(&held) & !mask(&surplus);
                partitions.set_owned(keep, started + partitions.settings.lease - margin);
                // Taken by another node while this one could not renew: its actors stop.
                let lost = before & !mask(&held);
                for partition in (0..PARTITIONS).filter(|p| lost & (1 << p) != 0) {
                    core.conversations.stop_partition(partition);
                }
                if !surplus.is_empty() {
                    give_back(&core, &partitions, &surplus).await;
                }
                let gained = keep & !before;
                if gained != 0 {
                    // Sends of the new partitions' conversations may wait in the outbox.
                    core.look_at_outboxes();
                }
                if gained != 0 || lost != 0 {
                    tracing::info!(
                        node = %partitions.node,
                        owned = keep.count_ones(),
                        gained = gained.count_ones(),
                        lost = lost.count_ones(),
                        "partition leases changed"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "failed to renew the partition leases");
            }
        }
        let owned = partitions.owned_mask();
        core.metrics
            .partitions_owned
            .set(i64::from(owned.count_ones()));
        for (partition, label) in PARTITION_LABELS.iter().enumerate() {
            core.metrics
                .partition_owned
                .with_label_values(&[label.as_str()])
                .set(i64::from(owned >> partition & 1 == 1));
        }
        tokio::select! {
            _ = tokio::time::sleep(partitions.settings.tick) => {}
            _ = shutdown.changed() => break,
        }
    }
    partitions.leave().await;
}

/// Stops the actors of partitions beyond this node's share, waits for them to finish, then
/// gives the leases back.
async fn give_back(core: &Arc<Core>, partitions: &Arc<Partitions>, surplus: &[u16]) {
    let deadline = Instant::now() + DRAIN_LIMIT;
    for &partition in surplus {
        loop {
            core.conversations.stop_partition(partition);
            if partitions.running[usize::from(partition)].load(Ordering::Acquire) == 0 {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    partition,
                    "actors of a partition given back were still running"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    if let Err(error) = partitions.release(surplus).await {
        tracing::warn!(error = %error, "failed to give partitions back; their leases will expire");
    }
}

/// Hands an answer to the command waiting for it, if one still is (the same answer may come
/// both published and from its key).
fn hand_over_answer(waiting: &DashMap<String, Waiting>, text: &str) {
    let Ok(answer) = serde_json::from_str::<Answer>(text) else {
        tracing::warn!("dropped an unreadable answer to a forwarded command");
        return;
    };
    let Some((_, waiting)) = waiting.remove(&answer.request) else {
        return;
    };
    match (waiting, answer.outcome) {
        (Waiting::Staff(reply), AnswerOutcome::Staff(outcome)) => {
            let _ = reply.send(
                outcome
                    .map(|reply| StaffOutcome { reply })
                    .map_err(StaffError::from),
            );
        }
        (Waiting::Notify(reply), AnswerOutcome::Notify(outcome)) => {
            let _ = reply.send(outcome.map_err(StaffError::from));
        }
        (waiting, _) => waiting.fail(StaffError::Store(StoreError::Corrupt(
            "the answer does not fit the command".into(),
        ))),
    }
}

/// Takes the answers other nodes publish to this node's commands, and the web chat frames
/// they pass on.
async fn answers_loop(core: Arc<Core>, partitions: Arc<Partitions>) {
    let mut shutdown = core.shutdown_signal();
    let channel = partitions.reply_channel(&partitions.node);
    let webchat = partitions.webchat_channel();
    loop {
        let subscribed = async {
            let mut pubsub = partitions.client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            pubsub.subscribe(&webchat).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            subscribed = subscribed => subscribed,
            _ = shutdown.changed() => return,
        };
        match pubsub {
            Ok(mut pubsub) => {
                let mut messages = pubsub.on_message();
                loop {
                    let message = tokio::select! {
                        message = messages.next() => message,
                        _ = shutdown.changed() => return,
                    };
                    let Some(message) = message else { break };
                    match message.get_payload::<String>() {
                        Ok(text) if message.get_channel_name() == webchat => {
                            webchat_frame(&core, &partitions, &text);
                        }
                        Ok(text) => partitions.answered(&text),
                        Err(error) => {
                            tracing::warn!(error = %error, "dropped an unreadable answer");
                        }
                    }
                }
                tracing::warn!(
                    "the subscription to answers from other nodes ended; subscribing again"
                );
            }
            Err(error) => {
                tracing::warn!(error = %error, "failed to subscribe to answers from other nodes");
            }
        }
        tokio::time::sleep(RETRY_DELAY).await;
    }
}

/// Delivers a web chat frame another node passed on to this node's sockets of the visitor.
fn webchat_frame(core: &Core, partitions: &Partitions, text: &str) {
    match serde_json::from_str::<WebchatFrame>(text) {
        Ok(shared) if shared.node != partitions.node => {
            core.webchat
                .deliver(shared.channel_id, &shared.visitor, &shared.frame);
        }
        Ok(_) => {}
        Err(_) => tracing::warn!("dropped an unreadable web chat frame from another node"),
    }
}

async fn forward_loop(
    core: Arc<Core>,
    partitions: Arc<Partitions>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut redis = partitions.redis.clone();
    while let Some(outgoing) = queue.recv().await {
        let (partition, text) = match outgoing {
            Outgoing::Command { partition, text } => (partition, text),
            Outgoing::Webchat(text) => {
                // At most once, like every pub/sub message: a visitor who missed it sees the
                // message in the history on the next visit.
                let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(partitions.webchat_channel())
                    .arg(text)
                    .query_async(&mut redis)
                    .await;
                if let Err(error) = published {
                    tracing::warn!(error = %error, "failed to pass a web chat frame to the other nodes");
                }
                continue;
            }
        };
        let stream = partitions.stream(partition);
        loop {
            let added: redis::RedisResult<String> = redis::cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("command")
                .arg(&text)
                .query_async(&mut redis)
                .await;
            match added {
                Ok(_) => {
                    core.metrics.forwarded.inc();
                    break;
                }
                Err(error) => {
                    tracing::warn!(error = %error, partition, "failed to forward a command to its partition; retrying");
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
    }
}

async fn read_loop(core: Arc<Core>, partitions: Arc<Partitions>) {
    let mut shutdown = core.shutdown_signal();
    let mut redis = partitions.reader.clone();
    // Partitions whose group exists and whose earlier owner's pending entries were claimed.
    let mut ready: HashSet<u16> = HashSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let owned = partitions.owned();
        ready.retain(|partition| owned.contains(partition));
        for &partition in &owned {
            if !ready.contains(&partition) {
                match take_over(&core, &partitions, &mut redis, partition).await {
                    Ok(()) => {
                        ready.insert(partition);
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, partition, "failed to take over a partition's stream");
                    }
                }
            }
        }
        let streams: Vec<u16> = owned
            .iter()
            .copied()
            .filter(|partition| ready.contains(partition))
            .collect();
        if streams.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(partitions.settings.tick) => {}
                _ = shutdown.changed() => break,
            }
            continue;
        }
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(GROUP)
            .arg(&partitions.node)
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(u64::try_from(READ_BLOCK.as_millis()).unwrap_or(500))
            .arg("STREAMS");
        for &partition in &streams {
            command.arg(partitions.stream(partition));
        }
        for _ in &streams {
            command.arg(">");
        }
        let read: redis::RedisResult<Option<redis::streams::StreamReadReply>> = tokio::select! {
            read = command.query_async(&mut redis) => read,
            _ = shutdown.changed() => break,
        };
        match read {
            Ok(Some(reply)) => {
                for key in reply.keys {
                    let Some(partition) = streams
                        .iter()
                        .copied()
                        .find(|&partition| partitions.stream(partition) == key.key)
                    else {
                        continue;
                    };
                    for entry in key.ids {
                        handle(&core, &partitions, partition, entry);
                    }
                }
            }
            Ok(None) => {}
            Err(error) => {
                // A stream deleted under the group (Redis restarted empty) loses the group.
                tracing::warn!(error = %error, "failed to read the partition streams");
                ready.clear();
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}

/// Makes sure the partition's group exists and claims what an earlier owner left pending.
async fn take_over(
    core: &Arc<Core>,
    partitions: &Arc<Partitions>,
    redis: &mut redis::aio::ConnectionManager,
    partition: u16,
) -> redis::RedisResult<()> {
    let stream = partitions.stream(partition);
    let created: redis::RedisResult<String> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(redis)
        .await;
    if let Err(error) = created {
        if error.code() != Some("BUSYGROUP") {
            return Err(error);
        }
    }
    let mut cursor = "0-0".to_owned();
    loop {
        let claimed: redis::streams::StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&stream)
            .arg(GROUP)
            .arg(&partitions.node)
            .arg(0)
            .arg(&cursor)
            .arg("COUNT")
            .arg(READ_COUNT)
            .query_async(redis)
            .await?;
        for entry in claimed.claimed {
            handle(core, partitions, partition, entry);
        }
        if claimed.next_stream_id == "0-0" {
            return Ok(());
        }
        cursor = claimed.next_stream_id;
    }
}

/// Hands one entry to its actor; acknowledges and deletes it once the actor has handled it.
fn handle(
    core: &Arc<Core>,
    partitions: &Arc<Partitions>,
    partition: u16,
    entry: redis::streams::StreamId,
) {
    let stream = partitions.stream(partition);
    let wire = entry
        .get::<String>("command")
        .and_then(|text| serde_json::from_str::<Wire>(&text).ok());
    let Some(wire) = wire else {
        tracing::error!(partition, id = %entry.id, "dropped an unreadable forwarded command");
        tokio::spawn(acknowledge(partitions.redis.clone(), stream, entry.id));
        return;
    };
    let key = ConversationKey::new(wire.channel_id, &wire.contact);
    let (processed, done) = oneshot::channel();
    core.conversations.dispatch(
        core,
        key,
        ConversationCommand::Forwarded {
            command: Box::new(wire.command.into_command(partitions)),
            processed,
        },
    );
    let redis = partitions.redis.clone();
    tokio::spawn(async move {
        // Not handled (the node stops, or gave the partition away first): it stays pending
        // for the next owner.
        if done.await.is_ok() {
            acknowledge(redis, stream, entry.id).await;
        }
    });
}

async fn acknowledge(mut redis: redis::aio::ConnectionManager, stream: String, id: String) {
    let acknowledged: redis::RedisResult<(i64, i64)> = redis::pipe()
        .cmd("XACK")
        .arg(&stream)
        .arg(GROUP)
        .arg(&id)
        .cmd("XDEL")
        .arg(&stream)
        .arg(&id)
        .query_async(&mut redis)
        .await;
    if let Err(error) = acknowledged {
        tracing::warn!(error = %error, stream, id, "failed to acknowledge a forwarded command");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_answer_expected(_: Waiting) -> ReplyTo {
        panic!("only a team member's command waits for an answer");
    }

    #[test]
    fn forwarded_commands_travel_as_json() {
        let timer = TimerRecord {
            id: 3,
            org_id: OrgId::new(),
            conversation_id: ConversationId::new(),
            channel_id: ChannelId::new(),
            contact_external_id: "447700900001".into(),
            kind: "journey".into(),
            due_at: 1_000,
            generation: 2,
        };
        let wire = WireCommand::of(ConversationCommand::Timer(timer), &mut no_answer_expected);
        let text = serde_json::to_string(&wire).unwrap();
        let back: WireCommand = serde_json::from_str(&text).unwrap();
        let WireCommand::Timer { timer } = back else {
            panic!("{back:?}");
        };
        assert_eq!((timer.id, timer.generation, timer.due_at), (3, 2, 1_000));
        let input = ConversationCommand::Journey {
            conversation_id: ConversationId::new(),
            input: JourneyInput::Event {
                name: "goal:booked".into(),
                payload: Some(serde_json::json!({"nights": 2})),
            },
        };
        let text = serde_json::to_string(&WireCommand::of(input, &mut no_answer_expected)).unwrap();
        assert!(text.contains("goal:booked"), "{text}");
    }

    #[test]
    fn a_team_members_command_travels_with_where_its_answer_goes_and_the_answer_comes_back() {
        let (reply, answered) = oneshot::channel();
        let command = ConversationCommand::Staff {
            conversation_id: ConversationId::new(),
            command: StaffCommand {
                actor: Actor {
                    id: crate::domain::UserId::new(),
                    name: "Maria".into(),
                    manager: false,
                },
                action: Action::Claim,
                content: None,
                reply,
            },
        };
        let mut kept = None;
        let wire = WireCommand::of(command, &mut |waiting| {
            kept = Some(waiting);
            ReplyTo {
                node: "node-a".into(),
                request: "r1".into(),
            }
        });
        let text = serde_json::to_string(&wire).unwrap();
        let WireCommand::Staff {
            action, reply_to, ..
        } = serde_json::from_str(&text).unwrap()
        else {
            panic!("{text}");
        };
        assert_eq!((action, reply_to.node.as_str()), (Action::Claim, "node-a"));
        // The owner refuses; the refusal travels back as it was.
        let refusal = AnswerOutcome::Staff(Err(Failure::from(StaffError::Handover(
            HandoverError::NotYours,
        ))));
        let text = serde_json::to_string(&refusal).unwrap();
        let Some(Waiting::Staff(reply)) = kept else {
            panic!("the reply was kept");
        };
        let AnswerOutcome::Staff(outcome) = serde_json::from_str(&text).unwrap() else {
            panic!("{text}");
        };
        let _ = reply.send(
            outcome
                .map(|reply| StaffOutcome { reply })
                .map_err(StaffError::from),
        );
        let answer = answered.blocking_recv().unwrap();
        assert!(
            matches!(answer, Err(StaffError::Handover(HandoverError::NotYours))),
            "{answer:?}"
        );
    }

    #[test]
    fn an_owner_that_cannot_write_is_reported_unavailable_where_the_request_came_in() {
        let failure = Failure::from(StaffError::Store(StoreError::Closed));
        let text = serde_json::to_string(&failure).unwrap();
        let back: Failure = serde_json::from_str(&text).unwrap();
        assert!(
            matches!(
                StaffError::from(back),
                StaffError::Store(StoreError::Unavailable(_))
            ),
            "{text}"
        );
    }

    #[test]
    fn masks_name_the_partitions() {
        assert_eq!(mask(&[0, 3, 63]), 1 | 8 | (1 << 63));
        assert_eq!(mask(&[64, 100]), 0);
    }
}
