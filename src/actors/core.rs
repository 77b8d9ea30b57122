//! [`Core`]: the handles every actor and handler shares, and the lifecycle of the live system
//! (start, replay of unprocessed inbound events, orderly shutdown).

use super::bus::EventBus;
use super::channel::{self, ChannelCommand};
use super::ingress::{self, IngressHandle};
use super::registry::ConversationRegistry;
use super::scheduler;
use super::webchat::WebchatHub;
use crate::adapters::whatsapp_cloud::{WhatsappClient, WhatsappPublicConfig, WhatsappSecrets};
use crate::clock::SharedClock;
use crate::crypto::{CryptoError, MasterKey};
use crate::domain::{ChannelId, ChannelKind, ChannelStatus, Millis, OrgId};
use crate::journey::Journey;
use crate::metrics::Metrics;
use crate::store::{ChannelRecord, OutboxRecord, Store, StoreError};
use dashmap::DashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Tunables of the live system, taken from the configuration.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    pub ingress_batch_window: Duration,
    pub send_retry_base: Duration,
    pub send_max_attempts: u32,
    pub conversation_idle: Duration,
    /// How often unprocessed inbound rows are looked for and dispatched again.
    pub sweep_interval: Duration,
    /// How long the bot waits for a contact before the conversation expires.
    pub bot_inactivity: Duration,
    pub hold_outbox: bool,
    /// Test hook: an inbound text equal to this makes the conversation actor panic.
    pub panic_on_text: Option<String>,
    /// The server's public base URL, for absolute webhook URLs.
    pub public_url: Option<url::Url>,
    pub meta: MetaSettings,
    pub twilio: crate::adapters::twilio::TwilioClient,
    /// The unofficial WhatsApp provider, when one is configured.
    pub evolution: Option<crate::adapters::evolution::EvolutionSettings>,
    /// The Bot API of Telegram channels.
    pub telegram: crate::adapters::telegram::TelegramClient,
    pub email: super::email::EmailSettings,
}

/// What a team member's attention shows the contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    /// Their latest message was read.
    Read,
    /// The team is typing.
    Typing,
}

/// Meta's Graph API for connecting channels, and the app the consent flow runs for.
#[derive(Clone, Debug)]
pub struct MetaSettings {
    pub graph: crate::adapters::meta::MetaGraph,
    /// The Send API of Messenger and Instagram channels.
    pub messenger: crate::adapters::messenger::MessengerClient,
    pub dialog_url: url::Url,
    pub version: String,
    pub config_id: Option<String>,
    /// Whether an app id and secret are configured: without them there is no consent flow.
    pub app_configured: bool,
    /// The token Meta echoes when it verifies the app's webhook.
    pub verify_token: Option<String>,
}

/// Decrypted credentials of a channel, per kind.
#[derive(Clone, Debug)]
pub enum ChannelSecrets {
    Whatsapp {
        public: WhatsappPublicConfig,
        secrets: WhatsappSecrets,
    },
    Webchat {
        /// Browser origins, besides Parley's own pages, that may open the visitor socket and
        /// embed the widget.
        allowed_origins: Vec<String>,
        /// Signs identified visitors: the business's server sends HMAC-SHA256 of its user id.
        identity_secret: Option<String>,
    },
    /// A Facebook Page, for Messenger, or its linked Instagram account.
    Page {
        public: crate::adapters::meta::PagePublicConfig,
        secrets: crate::adapters::meta::PageSecrets,
    },
    /// A WhatsApp number paired through an unofficial provider.
    Evolution {
        public: crate::adapters::evolution::EvolutionPublicConfig,
        secrets: crate::adapters::evolution::EvolutionSecrets,
    },
    /// A Twilio WhatsApp sender or SMS number.
    Twilio {
        public: crate::adapters::twilio::TwilioPublicConfig,
        secrets: crate::adapters::twilio::TwilioSecrets,
    },
    /// A Telegram bot.
    Telegram {
        public: crate::adapters::telegram::TelegramPublicConfig,
        secrets: crate::adapters::telegram::TelegramSecrets,
    },
    /// A sending domain with its DKIM key and SMTP relay.
    Email {
        public: crate::adapters::email::EmailPublicConfig,
        secrets: crate::adapters::email::EmailSecrets,
    },
}

/// A channel as the live system sees it: its configuration, decrypted credentials, current
/// status and the mailbox of its actor.
#[derive(Debug)]
pub struct ChannelRuntime {
    pub id: ChannelId,
    pub org_id: OrgId,
    pub kind: ChannelKind,
    pub name: String,
    pub secrets: ChannelSecrets,
    /// The sealed credentials the runtime was started with: a change means a restart.
    pub(crate) sealed: String,
    /// An inactive channel keeps its credentials but neither receives nor sends.
    active: AtomicBool,
    /// Whether the provider is known to reach the channel's webhook.
    webhook_attached: AtomicBool,
    /// Set when the runtime is replaced or removed: its actor ends at its next wake. (A stop
    /// command alone can be lost when a wake already fills the one-slot mailbox.)
    stopped: AtomicBool,
    status: RwLock<(ChannelStatus, Option<String>)>,
    commands: mpsc::Sender<ChannelCommand>,
    handed: Mutex<Handed>,
}

/// Outbox rows their writers handed over after the commit, waiting for the channel actor.
#[derive(Debug, Default)]
pub(crate) struct Handed {
    pub rows: Vec<OutboxRecord>,
    /// Rows were dropped because the actor is behind: until it has caught up by reading the
    /// outbox (in commit order), it takes none, so replies of one conversation keep their order.
    pub overflow: bool,
}

/// Rows waiting in a channel's hand-over before the channel reads its outbox instead.
const MAX_HANDED: usize = 4_096;

impl ChannelRuntime {
    pub fn status(&self) -> (ChannelStatus, Option<String>) {
        self.status
            .read()
            .expect("channel status lock is never poisoned")
            .clone()
    }

    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub(crate) fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::Relaxed);
    }

    /// Ends the channel's actor: at once if its mailbox is free, else at the wake waiting in it.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        let _ = self.commands.try_send(ChannelCommand::Stop);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Whether inbound events of the channel are taken: an inactive or disconnected channel
    /// acknowledges its webhooks and drops their events.
    pub fn receives(&self) -> bool {
        self.active() && self.status().0 != ChannelStatus::Disconnected
    }

    /// Records, once per runtime, that the provider reached the channel's webhook, for the
    /// channel's `webhook_attached` badge.
    pub fn webhook_reached(self: &Arc<Self>, core: &Arc<Core>) {
        if self.webhook_attached.swap(true, Ordering::Relaxed) {
            return;
        }
        let (core, id) = (Arc::clone(core), self.id);
        tokio::spawn(async move {
            if let Err(error) = core.store.mark_webhook_attached(id, core.clock.now()).await {
                tracing::warn!(channel_id = %id, error = %error, "failed to record the webhook badge");
            }
        });
    }

    pub(crate) fn set_status(&self, status: ChannelStatus, reason: Option<String>) {
        *self
            .status
            .write()
            .expect("channel status lock is never poisoned") = (status, reason);
    }

    /// Asks the channel actor to look at its outbox. Wakes coalesce: one pending is enough.
    pub fn wake(&self) {
        let _ = self.commands.try_send(ChannelCommand::Wake);
    }

    /// Has the channel actor read its outbox, as after an overflow of the hand-over.
    pub(crate) fn read_outbox(&self) {
        self.handed().overflow = true;
        self.wake();
    }

    /// Hands the channel actor outbox rows that were just committed, so it sends them without
    /// reading them back. Rows that do not fit stay where they are, in the outbox, and the
    /// actor reads them from there.
    pub(crate) fn deliver(&self, rows: Vec<OutboxRecord>) {
        if rows.is_empty() {
            return;
        }
        {
            let mut handed = self.handed();
            if !handed.overflow {
                if handed.rows.len() + rows.len() > MAX_HANDED {
                    handed.overflow = true;
                    handed.rows.clear();
                } else {
                    handed.rows.extend(rows);
                }
            }
        }
        self.wake();
    }

    pub(crate) fn handed(&self) -> std::sync::MutexGuard<'_, Handed> {
        self.handed
            .lock()
            .expect("the channel hand-over lock is never poisoned")
    }
}

/// A parsed journey with the time it was loaded.
struct CachedJourney {
    id: uuid::Uuid,
    journey: Loaded,
    loaded: Instant,
}

/// The longest an AI Agent turn may take, tool calls included; under the guard the
/// conversation sets on AI work, so a slow turn fails as itself rather than as lost work.
pub(crate) const AGENT_TURN_TIMEOUT: Duration = Duration::from_secs(110);

/// Journeys change rarely and may be edited on another node: cache them briefly.
const JOURNEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// How long a node trusts its copy of an organisation's AI settings, knowledge index and time
/// zone before it checks the store again: a change made through another node reaches this
/// one within this time (through this node, at once).
const ORG_CACHE_TTL: Duration = Duration::from_secs(5);

/// A cached per-organisation value with the stamp of the stored data it was built from.
struct Fresh<T, S> {
    value: T,
    stamp: S,
    checked: Instant,
}

impl<T, S> Fresh<T, S> {
    fn new(value: T, stamp: S) -> Self {
        Self {
            value,
            stamp,
            checked: Instant::now(),
        }
    }

    fn is_fresh(&self) -> bool {
        self.checked.elapsed() < ORG_CACHE_TTL
    }
}

/// A journey to run, at the version sessions record.
#[derive(Clone, Debug)]
pub(crate) struct RunJourney {
    pub id: uuid::Uuid,
    /// `None` for the built-in greeting, which has no versions.
    pub version: Option<i64>,
    pub journey: Arc<Journey>,
    /// The user the bot's replies are attributed to.
    pub bot_user_id: Option<crate::domain::UserId>,
    pub uses_campaign: bool,
}

/// A parsed journey graph with what a turn needs to know about it up front.
#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    pub journey: Arc<Journey>,
    /// Whether it reads or writes campaign variables, so a turn loads them first.
    pub uses_campaign: bool,
}

impl Loaded {
    fn parse(graph: &str) -> Result<Self, StoreError> {
        let journey: Journey = serde_json::from_str(graph)
            .map_err(|error| StoreError::Corrupt(format!("journey graph: {error}")))?;
        Ok(Self {
            journey: Arc::new(journey),
            uses_campaign: graph.contains("campaign."),
        })
    }
}

/// A channel's assignment, as last read.
struct CachedAssignment {
    assignment: Option<crate::store::ChannelJourney>,
    loaded: Instant,
}

pub struct Core {
    pub store: Store,
    pub clock: SharedClock,
    pub bus: Arc<dyn EventBus>,
    pub metrics: Metrics,
    pub master_key: MasterKey,
    pub settings: CoreSettings,
    /// The AI journeys ask (the local engine unless an organisation configures a provider).
    pub ai: Arc<dyn crate::ai::Ai>,
    /// The HTTP client of journey API steps, guarded against internal targets.
    pub(crate) api_caller: super::api_call::ApiCaller,
    pub(crate) whatsapp: WhatsappClient,
    pub(crate) conversations: ConversationRegistry,
    pub webchat: WebchatHub,
    /// Agent consoles connected to this node.
    pub agents: super::agents::AgentHub,
    /// Test chat sessions: journey drafts run in memory for their builders.
    pub test_chats: super::test_chat::TestChatHub,
    channels: DashMap<ChannelId, Arc<ChannelRuntime>>,
    /// The contact message each conversation last sent a read receipt for (so a team member
    /// opening the conversation again sends none).
    read_receipts: DashMap<crate::domain::ConversationId, String>,
    /// When each conversation last showed the contact that the team is typing.
    typing_shown: DashMap<crate::domain::ConversationId, Instant>,
    journeys: DashMap<OrgId, CachedJourney>,
    /// Each organisation's AI: its LLM provider, or the local engine.
    /// Stamped with the settings' `updated_at` (`None`: no settings).
    ai_by_org: DashMap<OrgId, Fresh<Arc<dyn crate::ai::Ai>, Option<Millis>>>,
    /// Each organisation's knowledge base, indexed; stamped with its documents' count and
    /// latest change.
    knowledge_by_org:
        DashMap<OrgId, Fresh<Arc<crate::ai::knowledge::KnowledgeIndex>, (i64, Millis)>>,
    /// Each organisation's time zone.
    time_zones: DashMap<OrgId, Fresh<chrono_tz::Tz, ()>>,
    assignments: DashMap<ChannelId, CachedAssignment>,
    /// Deployed versions never change: kept once parsed.
    versions: DashMap<(uuid::Uuid, i64), Loaded>,
    ingress: IngressHandle,
    shutdown: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// With several nodes: which conversations this node owns (see `partitions`).
    pub(crate) partitions: Option<Arc<super::partitions::Partitions>>,
}

/// How this node meets the others: the event bus, and with several nodes the partition
/// leases that give each conversation one owning node.
pub struct Cluster {
    pub bus: Arc<dyn EventBus>,
    pub(crate) partitions: Option<Arc<super::partitions::Partitions>>,
}

impl Core {
    /// Builds the live system and starts its tasks: the inbound writer, the scheduler and one
    /// actor per channel; then replays inbound events left unprocessed by a previous run.
    pub(crate) async fn start(
        store: Store,
        clock: SharedClock,
        cluster: Cluster,
        master_key: MasterKey,
        whatsapp: WhatsappClient,
        api_caller: super::api_call::ApiCaller,
        settings: CoreSettings,
    ) -> Result<Arc<Self>, StoreError> {
        let Cluster { bus, partitions } = cluster;
        let (ingress, submissions) = IngressHandle::new();
        let (shutdown, _) = watch::channel(false);
        let core = Arc::new(Self {
            store,
            clock,
            bus,
            metrics: Metrics::new(),
            master_key,
            settings,
            ai: Arc::new(crate::ai::LocalAi::default()),
            api_caller,
            whatsapp,
            conversations: ConversationRegistry::default(),
            webchat: WebchatHub::default(),
            agents: super::agents::AgentHub::default(),
            test_chats: super::test_chat::TestChatHub::default(),
            channels: DashMap::new(),
            read_receipts: DashMap::new(),
            typing_shown: DashMap::new(),
            journeys: DashMap::new(),
            ai_by_org: DashMap::new(),
            knowledge_by_org: DashMap::new(),
            time_zones: DashMap::new(),
            assignments: DashMap::new(),
            versions: DashMap::new(),
            ingress,
            shutdown,
            tasks: std::sync::Mutex::new(Vec::new()),
            partitions,
        });
        if let Some(partitions) = &core.partitions {
            for task in super::partitions::start(&core, partitions) {
                core.track(task);
            }
        }
        for record in core.store.all_channels().await? {
            if let Err(error) = core.start_channel(&record) {
                tracing::error!(channel_id = %record.id, error = %error, "failed to start channel");
            }
        }
        let writer = tokio::spawn(ingress::run_writer(Arc::clone(&core), submissions));
        let timers = tokio::spawn(scheduler::run(Arc::clone(&core)));
        core.track(writer);
        core.track(timers);
        let replayed = scheduler::replay_unprocessed(&core, crate::domain::Millis::MAX).await?;
        if replayed > 0 {
            tracing::info!(
                events = replayed,
                "replaying inbound events left unprocessed"
            );
        }
        Ok(core)
    }

    fn track(&self, task: JoinHandle<()>) {
        self.tasks
            .lock()
            .expect("task list lock is never poisoned")
            .push(task);
    }

    pub fn ingress(&self) -> &IngressHandle {
        &self.ingress
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops accepting work, lets channel actors finish the sends in flight, and waits for
    /// every task to end.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        for channel in self.channels.iter() {
            channel.stop();
        }
        let tasks =
            std::mem::take(&mut *self.tasks.lock().expect("task list lock is never poisoned"));
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        self.store.close().await;
    }

    /// A channel's public config and its decrypted credentials, read as `P` and `S`.
    fn open_credentials<P, S>(&self, record: &ChannelRecord) -> Result<(P, S), CryptoError>
    where
        P: serde::de::DeserializeOwned,
        S: serde::de::DeserializeOwned,
    {
        let public = serde_json::from_value(record.public_config.clone())
            .map_err(|_| CryptoError::Undecryptable)?;
        let plaintext = self.master_key.decrypt(&record.sealed_secrets)?;
        let secrets = serde_json::from_slice(&plaintext).map_err(|_| CryptoError::Undecryptable)?;
        Ok((public, secrets))
    }

    /// Decrypts a channel's credentials and starts its actor, in place of the one running.
    pub fn start_channel(
        self: &Arc<Self>,
        record: &ChannelRecord,
    ) -> Result<Arc<ChannelRuntime>, CryptoError> {
        self.start_channel_with(record, true)
    }

    /// Starts a channel's actor unless one runs already (`replace: false`), or in place of it.
    fn start_channel_with(
        self: &Arc<Self>,
        record: &ChannelRecord,
        replace: bool,
    ) -> Result<Arc<ChannelRuntime>, CryptoError> {
        let secrets = match record.kind {
            ChannelKind::WhatsappCloud => {
                let (public, secrets) = self.open_credentials(record)?;
                ChannelSecrets::Whatsapp { public, secrets }
            }
            ChannelKind::Messenger | ChannelKind::Instagram => {
                let (public, secrets) = self.open_credentials(record)?;
                ChannelSecrets::Page { public, secrets }
            }
            ChannelKind::TwilioWhatsapp | ChannelKind::TwilioSms => {
                let (public, secrets) = self.open_credentials(record)?;
                ChannelSecrets::Twilio { public, secrets }
            }
            ChannelKind::WhatsappUnofficial => {
                let (public, secrets) = self.open_credentials(record)?;
                ChannelSecrets::Evolution { public, secrets }
            }
            ChannelKind::Telegram => {
                let (public, secrets) = self.open_credentials(record)?;
                ChannelSecrets::Telegram { public, secrets }
            }
            ChannelKind::Email => {
                let (public, secrets) = self.open_credentials(record)?;
                ChannelSecrets::Email { public, secrets }
            }
            ChannelKind::Webchat => ChannelSecrets::Webchat {
                allowed_origins: record
                    .public_config
                    .get("allowed_origins")
                    .and_then(|origins| serde_json::from_value(origins.clone()).ok())
                    .unwrap_or_default(),
                // Channels from before identified visitors have no secret until one is made.
                identity_secret: self
                    .master_key
                    .decrypt(&record.sealed_secrets)
                    .ok()
                    .and_then(|plaintext| {
                        serde_json::from_slice::<serde_json::Value>(&plaintext).ok()
                    })
                    .and_then(|secrets| {
                        secrets
                            .get("identity_secret")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned)
                    }),
            },
        };
        let (commands, mailbox) = mpsc::channel(1);
        let runtime = Arc::new(ChannelRuntime {
            id: record.id,
            org_id: record.org_id,
            kind: record.kind,
            name: record.name.clone(),
            secrets,
            sealed: record.sealed_secrets.clone(),
            active: AtomicBool::new(record.active),
            webhook_attached: AtomicBool::new(record.connection.webhook_attached),
            stopped: AtomicBool::new(false),
            status: RwLock::new((record.status, record.status_reason.clone())),
            commands,
            handed: Mutex::new(Handed::default()),
        });
        match self.channels.entry(record.id) {
            // Loaded meanwhile by another task of this node (see `channel_or_load`): two
            // runtimes would each take hand-overs, and the one stopped would drop its own.
            dashmap::Entry::Occupied(existing) if !replace => {
                return Ok(Arc::clone(existing.get()));
            }
            dashmap::Entry::Occupied(mut existing) => {
                existing.insert(Arc::clone(&runtime)).stop();
            }
            dashmap::Entry::Vacant(vacant) => {
                vacant.insert(Arc::clone(&runtime));
            }
        }
        let task = tokio::spawn(channel::run(
            Arc::clone(self),
            Arc::clone(&runtime),
            mailbox,
        ));
        self.track(task);
        runtime.wake();
        Ok(runtime)
    }

    /// The email channel whose inbound address is `address` (case aside), among this node's
    /// live channels.
    pub fn email_channel(&self, address: &str) -> Option<Arc<ChannelRuntime>> {
        self.channels
            .iter()
            .find(|entry| {
                matches!(&entry.secrets, ChannelSecrets::Email { public, .. }
                    if public.inbound_address.eq_ignore_ascii_case(address))
            })
            .map(|entry| Arc::clone(&entry))
    }

    /// Sends a frame to a web chat visitor's open tabs: on this node, and with several nodes
    /// on the others too, where the visitor's socket may be.
    pub(crate) fn deliver_webchat(&self, channel_id: ChannelId, visitor: &str, frame: &str) {
        self.webchat.deliver(channel_id, visitor, frame);
        if let Some(partitions) = &self.partitions {
            partitions.share_webchat(channel_id, visitor, frame);
        }
    }

    /// Has every channel actor read its outbox (this node took partitions over).
    pub(crate) fn look_at_outboxes(&self) {
        for channel in self.channels.iter() {
            channel.read_outbox();
        }
    }

    pub fn channel(&self, id: ChannelId) -> Option<Arc<ChannelRuntime>> {
        self.channels.get(&id).map(|entry| Arc::clone(&entry))
    }

    /// The channel, loading it from the store if another node created it.
    pub async fn channel_or_load(
        self: &Arc<Self>,
        id: ChannelId,
    ) -> Result<Option<Arc<ChannelRuntime>>, StoreError> {
        if let Some(runtime) = self.channel(id) {
            return Ok(Some(runtime));
        }
        match self.store.channel_for_ingress(id).await {
            Ok(record) => Ok(self.start_channel_with(&record, false).ok()),
            Err(StoreError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Brings this node's channel actors in line with channels changed since `since` (by
    /// any node): a deleted channel stops, changed credentials restart it, a status or an
    /// on/off switch is applied in place. Returns the newest change seen. Changes are read
    /// with a margin, since a write stamped earlier may commit later; applying one twice
    /// changes nothing.
    pub(crate) async fn sync_channels(
        self: &Arc<Self>,
        since: Millis,
    ) -> Result<Millis, StoreError> {
        const MARGIN_MS: Millis = 10_000;
        let mut newest = since;
        for changed in self
            .store
            .channels_changed_since(since.saturating_sub(MARGIN_MS))
            .await?
        {
            let record = changed.record;
            newest = newest.max(record.updated_at);
            if changed.deleted {
                self.stop_channel(record.id);
                continue;
            }
            match self.channel(record.id) {
                Some(runtime) if runtime.sealed == record.sealed_secrets => {
                    if runtime.status() != (record.status, record.status_reason.clone()) {
                        runtime.set_status(record.status, record.status_reason.clone());
                    }
                    if runtime.active() != record.active {
                        runtime.set_active(record.active);
                        runtime.wake();
                    }
                }
                _ => {
                    if let Err(error) = self.start_channel(&record) {
                        tracing::error!(channel_id = %record.id, error = %error, "failed to start a changed channel");
                    }
                }
            }
        }
        Ok(newest)
    }

    pub fn stop_channel(&self, id: ChannelId) {
        if let Some((_, runtime)) = self.channels.remove(&id) {
            runtime.stop();
        }
    }

    /// The journey an organisation's bot answers with.
    pub(crate) async fn journey(&self, org_id: OrgId) -> Result<(uuid::Uuid, Loaded), StoreError> {
        if let Some(cached) = self.journeys.get(&org_id) {
            if cached.loaded.elapsed() < JOURNEY_CACHE_TTL {
                return Ok((cached.id, cached.journey.clone()));
            }
        }
        let stored = self.store.builtin_journey(org_id).await?;
        let journey = Loaded::parse(&stored.graph)?;
        self.journeys.insert(
            org_id,
            CachedJourney {
                id: stored.id,
                journey: journey.clone(),
                loaded: Instant::now(),
            },
        );
        Ok((stored.id, journey))
    }

    pub fn forget_journey(&self, org_id: OrgId) {
        self.journeys.remove(&org_id);
    }

    /// The AI an organisation's journeys ask: its LLM provider when it configured one, else
    /// the local engine. When its settings cannot be read, the AI already cached goes on
    /// serving; with none cached, or settings that cannot be opened, an AI whose every call
    /// fails saying why (not cached: the next call tries again).
    pub(crate) async fn ai_for(&self, org_id: OrgId) -> Arc<dyn crate::ai::Ai> {
        let mut kept = None;
        if let Some(cached) = self.ai_by_org.get(&org_id) {
            if cached.is_fresh() {
                return Arc::clone(&cached.value);
            }
            kept = Some((Arc::clone(&cached.value), cached.stamp));
        }
        let settings = match (self.store.ai_settings(org_id).await, &kept) {
            (Ok(settings), _) => settings,
            // The store cannot say whether anything changed: the AI in hand goes on serving.
            (Err(error), Some((ai, _))) => {
                tracing::warn!(error = %error, "the AI settings could not be re-read; keeping the cached AI");
                return Arc::clone(ai);
            }
            (Err(error), None) => {
                let reason = format!("the AI settings could not be read: {error}");
                return Arc::new(crate::ai::Unavailable(reason));
            }
        };
        let stamp = settings.as_ref().map(|settings| settings.updated_at);
        let ai: Result<Arc<dyn crate::ai::Ai>, String> = match (kept, settings) {
            // Unchanged since it was built: keep it (and its HTTP connections).
            (Some((ai, kept_stamp)), _) if kept_stamp == stamp => Ok(ai),
            (_, None) => Ok(Arc::clone(&self.ai)),
            (_, Some(settings)) => self
                .llm_ai(&settings)
                .map(|ai| Arc::new(ai) as Arc<dyn crate::ai::Ai>),
        };
        match ai {
            Ok(ai) => {
                self.ai_by_org
                    .insert(org_id, Fresh::new(Arc::clone(&ai), stamp));
                ai
            }
            Err(reason) => Arc::new(crate::ai::Unavailable(reason)),
        }
    }

    /// The `limit` passages of the organisation's knowledge base that best match `text`,
    /// among the documents of `source` only when one is given.
    pub(crate) async fn knowledge_search(
        &self,
        org_id: OrgId,
        text: &str,
        limit: usize,
        source: Option<&str>,
    ) -> Result<Vec<crate::ai::knowledge::Hit>, StoreError> {
        use crate::ai::knowledge::{Document, KnowledgeIndex};
        let mut kept = None;
        if let Some(cached) = self.knowledge_by_org.get(&org_id) {
            if cached.is_fresh() {
                return Ok(cached.value.search_in(text, limit, source));
            }
            kept = Some((Arc::clone(&cached.value), cached.stamp));
        }
        let stamp = match (self.store.knowledge_stamp(org_id).await, &kept) {
            (Ok(stamp), _) => stamp,
            // The store cannot say whether anything changed: the index in hand goes on serving.
            (Err(error), Some((index, _))) => {
                tracing::warn!(error = %error, "the knowledge base could not be re-checked; keeping the cached index");
                return Ok(index.search_in(text, limit, source));
            }
            (Err(error), None) => return Err(error),
        };
        let index = match kept {
            Some((index, kept_stamp)) if kept_stamp == stamp => index,
            _ => {
                let documents: Vec<Document> = self
                    .store
                    .documents(org_id)
                    .await?
                    .into_iter()
                    .map(|record| Document {
                        id: record.id,
                        title: record.title,
                        body: record.body,
                        source: record.source,
                    })
                    .collect();
                Arc::new(KnowledgeIndex::build(&documents))
            }
        };
        self.knowledge_by_org
            .insert(org_id, Fresh::new(Arc::clone(&index), stamp));
        Ok(index.search_in(text, limit, source))
    }

    /// The passages an AI Agent turn on `message` is given, from the documents of `source`
    /// when the step names one; none when the knowledge base cannot be read (the turn goes on
    /// without it).
    pub(crate) async fn agent_knowledge(
        &self,
        org_id: OrgId,
        message: &str,
        source: Option<&str>,
    ) -> Vec<crate::ai::knowledge::Hit> {
        self.knowledge_search(org_id, message, crate::ai::knowledge::AGENT_HITS, source)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(error = %error, "failed to read the knowledge base");
                Vec::new()
            })
    }

    /// Runs one AI Agent turn of `config` on the guest's `message`: the persona's instructions
    /// (when the step names one) open the system prompt, the knowledge base adds the passages
    /// that match, and the step's tools are called through the API steps' guarded client. The
    /// whole turn, tool calls included, is bounded by [`AGENT_TURN_TIMEOUT`].
    pub(crate) async fn agent_turn(
        &self,
        org_id: OrgId,
        config: &crate::journey::model::AiAgentConfig,
        message: String,
        history: Vec<(String, String)>,
        tools: Vec<crate::journey::tools::AgentTool>,
    ) -> Result<crate::journey::AgentTurn, String> {
        let mut system_prompt = config.system_prompt.trim().to_owned();
        if let Some(reference) = config
            .agent
            .as_deref()
            .filter(|name| !name.trim().is_empty())
        {
            let persona = match self.store.ai_agent(org_id, reference).await {
                Ok(persona) => persona,
                Err(StoreError::NotFound) => {
                    return Err(format!("there is no AI agent `{reference}`"));
                }
                Err(error) => return Err(format!("the AI agent could not be read: {error}")),
            };
            system_prompt = if system_prompt.is_empty() {
                persona.instructions
            } else {
                format!("{}\n\n{system_prompt}", persona.instructions)
            };
        }
        let source = config
            .knowledge
            .as_deref()
            .map(str::trim)
            .filter(|source| !source.is_empty());
        let caller = self.api_caller.clone();
        let runner = crate::ai::ToolRunner::new(move |request| {
            let caller = caller.clone();
            Box::pin(async move { caller.call(&request).await })
        });
        let request = crate::ai::AgentRequest {
            history,
            knowledge: self.agent_knowledge(org_id, &message, source).await,
            tools,
            loop_cap: config.loop_cap,
            runner,
            ..crate::ai::AgentRequest::new(system_prompt, message)
        };
        let ai = self.ai_for(org_id).await;
        match tokio::time::timeout(AGENT_TURN_TIMEOUT, ai.agent_turn(request)).await {
            Ok(turn) => turn.map_err(|error| error.to_string()),
            Err(_) => Err(format!(
                "the agent's turn took longer than {} s",
                AGENT_TURN_TIMEOUT.as_secs()
            )),
        }
    }

    /// The organisation's time zone, in which its guests' "today" is read. A stored name this
    /// build does not know reads as UTC, with a warning.
    pub(crate) async fn time_zone(&self, org_id: OrgId) -> Result<chrono_tz::Tz, StoreError> {
        let mut kept = None;
        if let Some(cached) = self.time_zones.get(&org_id) {
            if cached.is_fresh() {
                return Ok(cached.value);
            }
            kept = Some(cached.value);
        }
        let name = match (self.store.organization_time_zone(org_id).await, kept) {
            (Ok(name), _) => name,
            // The store cannot say whether it changed: the zone in hand goes on serving.
            (Err(error), Some(time_zone)) => {
                tracing::warn!(error = %error, "the time zone could not be re-read; keeping the cached one");
                return Ok(time_zone);
            }
            (Err(error), None) => return Err(error),
        };
        let time_zone = name.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            tracing::warn!(time_zone = %name, "unknown time zone, reading dates in UTC");
            chrono_tz::Tz::UTC
        });
        self.time_zones.insert(org_id, Fresh::new(time_zone, ()));
        Ok(time_zone)
    }

    /// Drops the cached time zone of an organisation that changed it.
    pub fn forget_time_zone(&self, org_id: OrgId) {
        self.time_zones.remove(&org_id);
    }

    /// Drops the index of an organisation whose knowledge base changed.
    pub fn forget_knowledge(&self, org_id: OrgId) {
        self.knowledge_by_org.remove(&org_id);
    }

    /// Drops the cached AI of an organisation whose settings changed.
    pub fn forget_ai(&self, org_id: OrgId) {
        self.ai_by_org.remove(&org_id);
    }

    fn llm_ai(
        &self,
        settings: &crate::store::ai::AiSettingsRecord,
    ) -> Result<crate::ai::provider::LlmAi, String> {
        use crate::ai::llm::{LlmClient, LlmConfig, Provider};
        let provider: Provider = settings
            .provider
            .parse()
            .map_err(|_| format!("unknown AI provider `{}`", settings.provider))?;
        let key = self
            .master_key
            .decrypt(&settings.api_key_sealed)
            .ok()
            .and_then(|key| String::from_utf8(key).ok())
            .ok_or("the AI provider's key cannot be opened with this server's master key")?;
        let mut config = LlmConfig::new(provider, key.into(), settings.model.clone());
        config.base_url = settings.base_url.clone();
        config.timeout = Duration::from_millis(u64::try_from(settings.timeout_ms).unwrap_or(0));
        config.max_retries = u32::try_from(settings.max_retries).unwrap_or(0);
        let store = self.store.clone();
        let clock = self.clock.clone();
        let org_id = settings.org_id;
        let model = settings.model.clone();
        let usage: crate::ai::provider::UsageSink = Arc::new(move |outcome| {
            let failed = outcome.is_err();
            let usage = outcome.unwrap_or_default();
            let store = store.clone();
            let model = model.clone();
            let at = clock.now();
            tokio::spawn(async move {
                let call = crate::store::ai::AiCall {
                    org_id,
                    at,
                    provider: provider.as_str(),
                    model: &model,
                    failed,
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                };
                if let Err(error) = store.record_ai_call(&call).await {
                    tracing::warn!(error = %error, "failed to record ai usage");
                }
            });
        });
        let client = LlmClient::new(reqwest::Client::new(), config);
        Ok(crate::ai::provider::LlmAi::new(client, usage))
    }

    /// Drops cached channel assignments after a deploy, undeploy, rollback, deletion or
    /// (un)assignment, so the next message takes the change. Other nodes see it within
    /// the cache's lifetime.
    pub fn forget_journeys(&self) {
        self.assignments.clear();
    }

    /// The assignment of a channel: its live journey and version, if any.
    async fn assignment(
        &self,
        channel_id: ChannelId,
    ) -> Result<Option<crate::store::ChannelJourney>, StoreError> {
        if let Some(cached) = self.assignments.get(&channel_id) {
            if cached.loaded.elapsed() < JOURNEY_CACHE_TTL {
                return Ok(cached.assignment.clone());
            }
        }
        let assignment = self.store.channel_journey(channel_id).await?;
        self.assignments.insert(
            channel_id,
            CachedAssignment {
                assignment: assignment.clone(),
                loaded: Instant::now(),
            },
        );
        Ok(assignment)
    }

    /// A deployed version of a journey.
    pub(crate) async fn journey_version(
        &self,
        journey_id: uuid::Uuid,
        version: i64,
    ) -> Result<Loaded, StoreError> {
        if let Some(loaded) = self.versions.get(&(journey_id, version)) {
            return Ok(loaded.clone());
        }
        let graph = self
            .store
            .journey_version_graph(journey_id, version)
            .await?;
        let loaded = Loaded::parse(&graph)?;
        self.versions.insert((journey_id, version), loaded.clone());
        Ok(loaded)
    }

    /// What new sessions on a channel run: its assigned live journey, else the organisation's
    /// built-in greeting.
    pub(crate) async fn channel_journey(
        &self,
        org_id: OrgId,
        channel_id: ChannelId,
    ) -> Result<RunJourney, StoreError> {
        if let Some(assigned) = self.assignment(channel_id).await? {
            let loaded = self
                .journey_version(assigned.journey_id, assigned.version)
                .await?;
            return Ok(RunJourney {
                id: assigned.journey_id,
                version: Some(assigned.version),
                journey: loaded.journey,
                bot_user_id: assigned.bot_user_id,
                uses_campaign: loaded.uses_campaign,
            });
        }
        let (id, loaded) = self.journey(org_id).await?;
        Ok(RunJourney {
            id,
            version: None,
            journey: loaded.journey,
            bot_user_id: None,
            uses_campaign: loaded.uses_campaign,
        })
    }

    /// The journey a running session continues on: its own version, unless an undeploy ended
    /// it or the journey is gone (then `None`: the session starts over).
    pub(crate) async fn session_journey(
        &self,
        journey_id: uuid::Uuid,
        version: i64,
    ) -> Result<Option<Loaded>, StoreError> {
        match self.store.journey_session_floor(journey_id).await? {
            Some(floor) if version >= floor => {
                match self.journey_version(journey_id, version).await {
                    Ok(journey) => Ok(Some(journey)),
                    Err(StoreError::NotFound) => Ok(None),
                    Err(error) => Err(error),
                }
            }
            _ => Ok(None),
        }
    }

    /// Has the conversation's actor apply a staff action, and waits for the outcome.
    pub(crate) async fn staff_action(
        self: &Arc<Self>,
        conversation: &crate::store::ConversationRecord,
        actor: crate::domain::handover::Actor,
        action: crate::domain::handover::Action,
        content: Option<crate::domain::MessageContent>,
    ) -> Result<super::conversation::StaffOutcome, super::conversation::StaffError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.conversations.dispatch(
            self,
            super::ConversationKey::new(conversation.channel_id, &conversation.contact.external_id),
            super::conversation::ConversationCommand::Staff {
                conversation_id: conversation.id,
                command: super::conversation::StaffCommand {
                    actor,
                    action,
                    content,
                    reply,
                },
            },
        );
        answer
            .await
            .unwrap_or(Err(super::conversation::StaffError::Store(
                StoreError::Closed,
            )))
    }

    /// Has the conversation actor of `(channel_id, contact_external_id)` write a message the
    /// business starts, and waits for it to be stored; the channel actor sends it.
    pub(crate) async fn notify_contact(
        self: &Arc<Self>,
        org_id: OrgId,
        channel_id: ChannelId,
        contact_external_id: &str,
        contact_name: Option<String>,
        contact_phone: Option<String>,
        content: crate::domain::MessageContent,
    ) -> Result<crate::store::MessageRecord, super::conversation::StaffError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.conversations.dispatch(
            self,
            super::ConversationKey::new(channel_id, contact_external_id),
            super::conversation::ConversationCommand::Notify(super::conversation::NotifyCommand {
                org_id,
                contact_name,
                contact_phone,
                content,
                reply,
            }),
        );
        answer
            .await
            .unwrap_or(Err(super::conversation::StaffError::Store(
                StoreError::Closed,
            )))
    }

    /// Shows the contact that a team member is typing (WhatsApp's typing indicator, which
    /// also marks their latest message read; Messenger's and Instagram's `typing_on`;
    /// Telegram's `sendChatAction` typing), at most
    /// every 10 seconds per conversation. Best effort.
    pub(crate) async fn show_typing(
        self: &Arc<Self>,
        org_id: OrgId,
        conversation_id: crate::domain::ConversationId,
    ) {
        const EVERY: Duration = Duration::from_secs(10);
        let now = Instant::now();
        let recent = self
            .typing_shown
            .get(&conversation_id)
            .is_some_and(|shown| now.duration_since(*shown) < EVERY);
        if recent {
            return;
        }
        self.typing_shown.insert(conversation_id, now);
        if let Some(Err(error)) = self
            .signal_contact(org_id, conversation_id, Signal::Typing)
            .await
        {
            tracing::info!(error = %error, "a typing indicator was not accepted");
        }
    }

    /// The WhatsApp Cloud client, for media downloads.
    pub fn whatsapp_client(&self) -> &crate::adapters::whatsapp_cloud::WhatsappClient {
        &self.whatsapp
    }

    /// Tells the contact their messages were read (WhatsApp's blue ticks, Messenger's and
    /// Instagram's seen), once per latest contact message. Best effort: a failure is logged,
    /// nothing else depends on it.
    pub(crate) async fn send_read_receipt(
        self: &Arc<Self>,
        org_id: OrgId,
        conversation_id: crate::domain::ConversationId,
    ) {
        match self
            .signal_contact(org_id, conversation_id, Signal::Read)
            .await
        {
            Some(Ok(provider_message_id)) => {
                self.read_receipts
                    .insert(conversation_id, provider_message_id);
            }
            Some(Err(error)) => {
                tracing::info!(error = %error, "a read receipt was not accepted")
            }
            None => {}
        }
    }

    /// Sends the contact of a conversation a read receipt or a typing indicator for their
    /// latest message, through its channel. `None` when there is nothing to send (no message
    /// from them, a channel that is off, the web chat, or a receipt already sent for that
    /// message); otherwise the provider's answer, with the message it was about.
    async fn signal_contact(
        &self,
        org_id: OrgId,
        conversation_id: crate::domain::ConversationId,
        signal: Signal,
    ) -> Option<Result<String, crate::adapters::SendError>> {
        let (channel_id, provider_message_id, contact) = match self
            .store
            .latest_inbound(org_id, conversation_id)
            .await
        {
            Ok(latest) => latest?,
            Err(error) => {
                tracing::warn!(error = %error, "failed to look up the contact's latest message");
                return None;
            }
        };
        if signal == Signal::Read
            && self
                .read_receipts
                .get(&conversation_id)
                .is_some_and(|sent| *sent == provider_message_id)
        {
            return None;
        }
        let runtime = self.channel(channel_id)?;
        if !runtime.receives() || !runtime.status().0.can_send() {
            return None;
        }
        let result = match &runtime.secrets {
            ChannelSecrets::Whatsapp { public, secrets } => {
                let (number, token) = (&public.phone_number_id, &secrets.access_token);
                match signal {
                    Signal::Read => {
                        self.whatsapp
                            .mark_read(number, token, &provider_message_id)
                            .await
                    }
                    Signal::Typing => {
                        self.whatsapp
                            .typing(number, token, &provider_message_id)
                            .await
                    }
                }
            }
            ChannelSecrets::Page { public, secrets } => {
                let platform = match runtime.kind {
                    ChannelKind::Instagram => crate::adapters::messenger::Platform::Instagram,
                    _ => crate::adapters::messenger::Platform::Messenger,
                };
                let action = match signal {
                    Signal::Read => crate::adapters::messenger::SenderAction::MarkSeen,
                    Signal::Typing => crate::adapters::messenger::SenderAction::TypingOn,
                };
                self.settings
                    .meta
                    .messenger
                    .send_sender_action(
                        platform,
                        &public.page_id,
                        &secrets.page_access_token,
                        &contact,
                        action,
                    )
                    .await
            }
            // The visitor's page shows the team typing; the web chat has no read receipts.
            ChannelSecrets::Webchat { .. } => {
                if signal == Signal::Typing {
                    let frame =
                        serde_json::to_string(&crate::adapters::webchat::ServerFrame::Typing)
                            .expect("frames serialise to JSON");
                    self.deliver_webchat(channel_id, &contact, &frame);
                }
                return None;
            }
            // Twilio's Messaging API has neither read receipts nor typing indicators.
            ChannelSecrets::Twilio { .. } | ChannelSecrets::Evolution { .. } => return None,
            ChannelSecrets::Telegram { secrets, .. } => match signal {
                // Telegram shows bots no read receipts.
                Signal::Read => return None,
                Signal::Typing => {
                    super::telegram::typing(&self.settings.telegram, secrets, &contact).await
                }
            },
            // Mail has no read receipts or typing indicators to send.
            ChannelSecrets::Email { .. } => return None,
        };
        Some(result.map(|()| provider_message_id))
    }

    /// Delivers a named event to a conversation's journey session.
    pub fn journey_event(
        self: &Arc<Self>,
        channel_id: ChannelId,
        contact_external_id: &str,
        conversation_id: crate::domain::ConversationId,
        name: &str,
        payload: Option<serde_json::Value>,
    ) {
        self.conversations.dispatch(
            self,
            super::ConversationKey::new(channel_id, contact_external_id),
            super::conversation::ConversationCommand::Journey {
                conversation_id,
                input: super::conversation::JourneyInput::Event {
                    name: name.to_owned(),
                    payload,
                },
            },
        );
    }

    /// `path` as an absolute URL when a public URL is configured.
    pub fn public_url(&self, path: &str) -> String {
        match &self.settings.public_url {
            Some(base) => format!("{}{path}", base.as_str().trim_end_matches('/')),
            None => path.to_owned(),
        }
    }
}
