//! The conversation actor: the single writer of one conversation. Each inbound event becomes
//! one write job (see `work`): store the message, run the bot, store the bot's replies with
//! their outbox rows and mark the event processed — all committed together — after which the
//! actor wakes the channel actor and publishes the changes.
//!
//! Every command runs under `catch_unwind`: a panic fails that one command (counted on the
//! inbound row, quarantined after repeated failures), drops the cached state, and the actor
//! carries on from what is persisted.

mod work;

use super::bus::{log_into, log_script, Event};
use super::core::{ChannelRuntime, Core, RunJourney};
use super::registry::ConversationKey;
use super::timer_kind;
use crate::domain::{
    ConversationId, InboundEvent, InboundMessage, MessageContent, Millis, OrgId, StatusUpdate,
};
use crate::journey::{ApiResponse, Completion, Input, Waiting};
use crate::store::script::Script;
use crate::store::{StoreError, TimerRecord};
use futures::FutureExt;
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::mpsc;
use work::{JourneyWork, Known, MessageDone, MessageWork, StatusDone, TurnContext};

/// Failed attempts after which an inbound event is quarantined instead of retried.
pub(crate) const QUARANTINE_AFTER: i64 = 5;
/// How long a status for a message Parley has not recorded yet is kept for a retry: the send
/// result and the status webhook can race.
const UNKNOWN_STATUS_PATIENCE_MS: Millis = 60_000;

#[derive(Debug)]
pub(crate) enum ConversationCommand {
    Inbound {
        inbound_id: i64,
        org_id: OrgId,
        event: InboundEvent,
        received_at: Millis,
        /// Dispatched by the inbound writer right after the row was stored. Nothing can have
        /// handled it yet: replays and sweeps only ever offer an event after this first
        /// dispatch, to the same mailbox.
        fresh: bool,
    },
    Timer(TimerRecord),
    /// A team member acts on the conversation (claim, assign, resolve, reply …).
    Staff {
        conversation_id: ConversationId,
        command: StaffCommand,
    },
    /// A message the business starts (an event's template) to a contact who may have no
    /// conversation yet: the contact and conversation are created if need be.
    Notify(NotifyCommand),
    /// Something for the conversation's journey session: a named event, or the result of work
    /// the session handed out.
    Journey {
        conversation_id: ConversationId,
        input: JourneyInput,
    },
    /// A command another node sent to this one, which owns the conversation; `processed` is
    /// told once it was handled, and the entry is acknowledged then.
    Forwarded {
        command: Box<ConversationCommand>,
        processed: tokio::sync::oneshot::Sender<()>,
    },
}

/// A business-initiated message for the conversation actor, answered through `reply`.
pub(crate) struct NotifyCommand {
    pub org_id: OrgId,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub content: MessageContent,
    pub reply: tokio::sync::oneshot::Sender<Result<crate::store::MessageRecord, StaffError>>,
}

impl std::fmt::Debug for NotifyCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyCommand").finish_non_exhaustive()
    }
}

/// A staff action for the conversation actor, answered through `reply`.
pub(crate) struct StaffCommand {
    pub actor: crate::domain::handover::Actor,
    pub action: crate::domain::handover::Action,
    /// What a reply says.
    pub content: Option<crate::domain::MessageContent>,
    pub reply: tokio::sync::oneshot::Sender<Result<StaffOutcome, StaffError>>,
}

impl std::fmt::Debug for StaffCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffCommand")
            .field("action", &self.action.name())
            .finish_non_exhaustive()
    }
}

/// What a staff action left behind.
#[derive(Debug)]
pub(crate) struct StaffOutcome {
    /// The team member's reply, when the action was one.
    pub reply: Option<crate::store::MessageRecord>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StaffError {
    #[error(transparent)]
    Handover(#[from] crate::domain::handover::HandoverError),
    #[error("the conversation does not exist")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<HandlingError> for StaffError {
    fn from(error: HandlingError) -> Self {
        match error {
            HandlingError::Store(error) => StaffError::Store(error),
            HandlingError::UnknownChannel | HandlingError::StatusTooEarly => StaffError::NotFound,
        }
    }
}

/// A journey input that is not a message, owned so it can travel through a mailbox (or, to
/// the node that owns the conversation, through Redis).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum JourneyInput {
    Event {
        name: String,
        payload: Option<Value>,
    },
    Completed {
        token: u64,
        result: Completion,
    },
}

#[derive(Debug, thiserror::Error)]
enum HandlingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the channel no longer exists")]
    UnknownChannel,
    #[error("a status arrived before its message was recorded; it will be retried")]
    StatusTooEarly,
}

struct ConversationActor {
    core: Arc<Core>,
    key: ConversationKey,
    /// What is known of the conversation; `None` after a failure, reloaded from the store.
    known: Option<Known>,
    /// Inbound rows this actor handled lately, oldest first.
    handled: std::collections::VecDeque<i64>,
}

/// How many handled inbound rows an actor remembers.
const HANDLED_MEMORY: usize = 64;

pub(crate) async fn run(
    core: Arc<Core>,
    key: ConversationKey,
    id: u64,
    mut inbox: mpsc::UnboundedReceiver<ConversationCommand>,
    // Counts this actor among its partition's live ones until it ends.
    _running: Option<super::partitions::Running>,
) {
    let gauge = core
        .metrics
        .live_actors
        .with_label_values(&["conversation"]);
    gauge.inc();
    let idle = core.settings.conversation_idle;
    let mut shutdown = core.shutdown_signal();
    let mut actor = ConversationActor {
        core: Arc::clone(&core),
        key: key.clone(),
        known: None,
        handled: std::collections::VecDeque::with_capacity(HANDLED_MEMORY),
    };
    loop {
        tokio::select! {
            command = inbox.recv() => match command {
                Some(command) => actor.handle(command).await,
                None => break,
            },
            _ = tokio::time::sleep(idle) => {
                if core.conversations.evict_if_idle(&key, id, &inbox) {
                    break;
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    gauge.dec();
}

impl ConversationActor {
    async fn handle(&mut self, command: ConversationCommand) {
        match command {
            ConversationCommand::Forwarded { command, processed } => {
                Box::pin(self.handle(*command)).await;
                let _ = processed.send(());
            }
            command => self.handle_one(command).await,
        }
    }

    async fn handle_one(&mut self, command: ConversationCommand) {
        let inbound_id = match &command {
            ConversationCommand::Inbound { inbound_id, .. } => Some(*inbound_id),
            ConversationCommand::Timer(_)
            | ConversationCommand::Journey { .. }
            | ConversationCommand::Notify(_)
            | ConversationCommand::Staff { .. }
            | ConversationCommand::Forwarded { .. } => None,
        };
        let outcome = AssertUnwindSafe(self.execute(command)).catch_unwind().await;
        let failure = match outcome {
            Ok(Ok(())) | Ok(Err(HandlingError::StatusTooEarly)) => return,
            Ok(Err(HandlingError::Store(StoreError::Unavailable(_) | StoreError::Closed))) => {
                // Not the event's fault: it stays unprocessed and the sweeper retries it.
                tracing::warn!(channel_id = %self.key.channel_id, "the store is unavailable; the event will be retried");
                self.known = None;
                return;
            }
            Ok(Err(error)) => error.to_string(),
            Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
        };
        self.known = None;
        tracing::error!(channel_id = %self.key.channel_id, inbound_id, cause = %failure, "failed to handle a conversation event");
        let Some(inbound_id) = inbound_id else { return };
        let now = self.core.clock.now();
        match self
            .core
            .store
            .record_inbound_failure(inbound_id, &failure, QUARANTINE_AFTER, now)
            .await
        {
            Ok(true) => {
                let kind = self
                    .core
                    .channel(self.key.channel_id)
                    .map(|channel| channel.kind.as_str())
                    .unwrap_or("unknown");
                self.core
                    .metrics
                    .quarantined
                    .with_label_values(&[kind])
                    .inc();
                tracing::error!(
                    inbound_id,
                    "inbound event quarantined after repeated failures"
                );
            }
            Ok(false) => {}
            Err(error) => {
                tracing::error!(inbound_id, error = %error, "failed to record an event failure")
            }
        }
    }

    async fn execute(&mut self, command: ConversationCommand) -> Result<(), HandlingError> {
        match command {
            ConversationCommand::Inbound {
                inbound_id,
                org_id,
                event: InboundEvent::Message(message),
                received_at,
                fresh,
            } => {
                if self.already_handled(inbound_id, fresh).await? {
                    return Ok(());
                }
                self.on_message(inbound_id, org_id, message, received_at)
                    .await?;
                self.remember(inbound_id);
                Ok(())
            }
            ConversationCommand::Inbound {
                inbound_id,
                org_id,
                event: InboundEvent::Status(status),
                received_at,
                ..
            } => {
                self.on_status(inbound_id, org_id, status, received_at)
                    .await
            }
            ConversationCommand::Timer(timer) if timer.kind == timer_kind::BOT_INACTIVITY => {
                self.on_timer(timer).await
            }
            ConversationCommand::Timer(timer)
                if timer.kind == timer_kind::HUMAN_SILENCE
                    || timer.kind == timer_kind::AWAITING_AGENT =>
            {
                self.on_back_to_bot(timer).await
            }
            ConversationCommand::Timer(timer) => self.on_journey_timer(timer).await,
            ConversationCommand::Staff {
                conversation_id,
                command,
            } => {
                self.on_staff(conversation_id, command).await;
                Ok(())
            }
            ConversationCommand::Journey {
                conversation_id,
                input,
            } => self.on_journey_input(conversation_id, input).await,
            ConversationCommand::Notify(command) => {
                let NotifyCommand {
                    org_id,
                    contact_name,
                    contact_phone,
                    content,
                    reply,
                } = command;
                let result = self
                    .notify(org_id, contact_name, contact_phone, content)
                    .await;
                if result.is_err() {
                    self.known = None;
                }
                let _ = reply.send(result);
                Ok(())
            }
            // Unwrapped by `handle`.
            ConversationCommand::Forwarded { command, processed } => {
                let result = Box::pin(self.execute(*command)).await;
                let _ = processed.send(());
                result
            }
        }
    }

    /// Writes a business-initiated message and its outbox row, creating the contact and the
    /// conversation when this is the first word between them.
    async fn notify(
        &mut self,
        org_id: OrgId,
        contact_name: Option<String>,
        contact_phone: Option<String>,
        content: MessageContent,
    ) -> Result<crate::store::MessageRecord, StaffError> {
        let core = Arc::clone(&self.core);
        let channel = core
            .channel(self.key.channel_id)
            .ok_or(StaffError::NotFound)?;
        let known = match self.known.take() {
            Some(known) => Some(known),
            None => self.load_known().await?,
        };
        let now = core.clock.now();
        let place = (org_id, channel.id);
        let done = match known {
            Some(known) => {
                let (script, done) = work::plan_notification(place, now, known, &content);
                self.commit(script, done, place, now).await?
            }
            None => {
                let contact = work::NewContact {
                    external_id: self.key.contact_external_id.to_string(),
                    name: contact_name,
                    phone: contact_phone,
                };
                core.store
                    .write(move |tx| {
                        Box::pin(work::first_notification(tx, place, now, contact, content))
                    })
                    .await?
            }
        };
        let record = done.created.last().cloned().ok_or(StaffError::NotFound)?;
        self.after_turn(org_id, &channel, done);
        Ok(record)
    }

    /// Whether an event offered again (a replay or a sweep) was handled already. This actor is
    /// the conversation's only writer and awaits each commit, so a check before the write is
    /// enough. A fresh event skips the read unless this actor has just handled it (a sweep that
    /// overtook its first dispatch).
    async fn already_handled(&self, inbound_id: i64, fresh: bool) -> Result<bool, HandlingError> {
        if self.handled.contains(&inbound_id) {
            return Ok(true);
        }
        if fresh {
            return Ok(false);
        }
        Ok(self.core.store.inbound_processed(inbound_id).await?)
    }

    /// The conversation's channel, loaded from the store when another node created it and
    /// this one has not heard of it yet (the conversation's events may come from that node).
    async fn channel(&self) -> Result<Arc<ChannelRuntime>, HandlingError> {
        self.core
            .channel_or_load(self.key.channel_id)
            .await?
            .ok_or(HandlingError::UnknownChannel)
    }

    fn remember(&mut self, inbound_id: i64) {
        if self.handled.len() == HANDLED_MEMORY {
            self.handled.pop_front();
        }
        self.handled.push_back(inbound_id);
    }

    async fn on_message(
        &mut self,
        inbound_id: i64,
        org_id: OrgId,
        message: InboundMessage,
        received_at: Millis,
    ) -> Result<(), HandlingError> {
        let core = Arc::clone(&self.core);
        if let (Some(trigger), MessageContent::Text { body }) =
            (&core.settings.panic_on_text, &message.content)
        {
            assert!(
                body != trigger,
                "test hook: panic requested by message text"
            );
        }
        let channel = self.channel().await?;
        let known = match self.known.take() {
            Some(known) => Some(known),
            None => self.load_known().await?,
        };
        let turn = self.turn_context(org_id, &channel, known.as_ref()).await?;
        let work = MessageWork {
            inbound_id,
            message,
            received_at,
            turn,
        };
        let done = match known {
            Some(known) => {
                let place = (work.turn.org_id, work.turn.channel_id);
                let now = work.turn.now;
                let (script, done) = work::plan_message(work, known);
                self.commit(script, done, place, now).await?
            }
            None => {
                // Alone on Postgres: the job reads and writes in many round trips, and in a
                // shared batch everything in the batch would wait for them. Two nodes at 600
                // webhooks/s: reply p99 146–188 ms alone, 239–342 ms batched.
                core.store
                    .write_alone(move |tx| Box::pin(work::first_message(tx, work)))
                    .await?
            }
        };
        self.after_turn(org_id, &channel, done);
        let lag = core.clock.now().saturating_sub(received_at).max(0);
        core.metrics.inbound_lag.observe(lag as f64 / 1_000.0);
        Ok(())
    }

    /// Reads what is known of the conversation from the store: `None` if it does not exist yet.
    async fn load_known(&self) -> Result<Option<Known>, HandlingError> {
        let core = &self.core;
        let Some(conversation) = core
            .store
            .conversation_of_contact(self.key.channel_id, &self.key.contact_external_id)
            .await?
        else {
            return Ok(None);
        };
        let session = work::parse_session(core.store.journey_session(conversation.id).await?)?;
        Ok(Some(Known {
            contact_id: conversation.contact.id,
            contact_external_id: conversation.contact.external_id,
            contact_name: conversation.contact.name,
            contact_phone: conversation.contact.phone,
            conversation_id: conversation.id,
            status: conversation.status,
            assignee: conversation.assigned_user_id,
            archived: conversation.archived_at.is_some(),
            ai_enabled: conversation.ai_enabled,
            offer_pending: conversation.escalation_offered_at.is_some(),
            misunderstood: conversation.misunderstood,
            session,
        }))
    }

    /// The surroundings of a journey turn. A session in the middle of a run stays on the
    /// journey version it started with while that version may run (an undeploy ends it);
    /// otherwise the channel's current journey runs.
    async fn turn_context(
        &self,
        org_id: OrgId,
        channel: &ChannelRuntime,
        known: Option<&Known>,
    ) -> Result<TurnContext, HandlingError> {
        let core = &self.core;
        let active = core.channel_journey(org_id, channel.id).await?;
        let session = known.and_then(|known| known.session.as_ref());
        let journey = match session {
            Some(held)
                if work::is_running(Some(held))
                    && (held.journey_id, held.version) != (active.id, active.version) =>
            {
                match held.version {
                    Some(version) => match core.session_journey(held.journey_id, version).await? {
                        Some(loaded) => RunJourney {
                            id: held.journey_id,
                            version: Some(version),
                            journey: loaded.journey,
                            bot_user_id: active.bot_user_id,
                            uses_campaign: loaded.uses_campaign,
                        },
                        None => active,
                    },
                    None => active,
                }
            }
            _ => active,
        };
        let campaign = if journey.uses_campaign {
            core.store.campaign_variables(org_id).await?
        } else {
            std::collections::BTreeMap::new()
        };
        Ok(TurnContext {
            org_id,
            channel_id: channel.id,
            channel_name: channel.name.clone(),
            channel_kind: channel.kind.as_str(),
            now: core.clock.now(),
            journey,
            campaign,
            bot_inactivity_ms: i64::try_from(core.settings.bot_inactivity.as_millis())
                .unwrap_or(i64::MAX),
            time_zone: core.time_zone(org_id).await?,
        })
    }

    /// After a committed turn: remember the state, hand the replies to the channel, publish the
    /// changes, start the work the journey handed out, and announce goals reached.
    fn after_turn(&mut self, org_id: OrgId, channel: &ChannelRuntime, done: MessageDone) {
        let core = Arc::clone(&self.core);
        let conversation_id = done.known.conversation_id;
        self.known = Some(done.known);
        channel.deliver(done.outbox);
        // What `work::seal` logged in the turn's write.
        for event in done.events {
            core.bus.publish(org_id, event);
        }
        for work in done.work {
            tokio::spawn(perform(
                Arc::clone(&core),
                (org_id, self.key.clone()),
                conversation_id,
                work,
            ));
        }
        for milestone in done.goals {
            core.conversations.dispatch(
                &core,
                self.key.clone(),
                ConversationCommand::Journey {
                    conversation_id,
                    input: JourneyInput::Event {
                        name: format!("goal:{milestone}"),
                        payload: None,
                    },
                },
            );
        }
    }

    /// A journey timer fired: a Delay ended, a prompt or a wait timed out, or handed-out work
    /// never answered.
    async fn on_journey_timer(&mut self, timer: TimerRecord) -> Result<(), HandlingError> {
        let core = Arc::clone(&self.core);
        let token = u64::try_from(timer.generation).unwrap_or_default();
        let known = match self.known.take() {
            Some(known) if known.conversation_id == timer.conversation_id => Some(known),
            _ => self.load_known().await?,
        };
        let planned = match known {
            Some(known) => {
                let input = if timer.kind == timer_kind::JOURNEY_WORK {
                    lost_work(
                        known.session.as_ref().map(|held| &held.session.waiting),
                        token,
                    )
                } else {
                    Some(OwnedInput::Timer(token))
                };
                match input {
                    Some(input) => self.plan_input(timer.org_id, known, &input).await?,
                    None => {
                        self.known = Some(known);
                        None
                    }
                }
            }
            None => None,
        };
        let now = core.clock.now();
        let org_id = timer.org_id;
        let (script, done) = match planned {
            Some((script, done)) => (script, Some(done)),
            None => (Script::new(), None),
        };
        let channel_id = self.key.channel_id;
        let (claimed, done) = core
            .store
            .write(move |tx| {
                Box::pin(async move {
                    if !crate::store::timers::claim_timer(tx, &timer, now).await? {
                        return Ok((false, done));
                    }
                    tx.run(&script).await?;
                    let mut done = done;
                    if let Some(done) = done.as_mut() {
                        work::auto_assign(tx, done, (org_id, channel_id), now).await?;
                        tx.run(&work::seal(done, org_id, now)).await?;
                    }
                    Ok((true, done))
                })
            })
            .await?;
        match (claimed, done) {
            (true, Some(done)) => {
                let channel = self.channel().await?;
                self.after_turn(org_id, &channel, done);
            }
            // Fired already, or reset meanwhile: what was planned did not happen.
            (false, Some(_)) => self.known = None,
            _ => {}
        }
        Ok(())
    }

    /// A staff action: applied in one write by this actor, the conversation's only writer, and
    /// answered to the caller.
    async fn on_staff(&mut self, conversation_id: ConversationId, command: StaffCommand) {
        let StaffCommand {
            actor,
            action,
            content,
            reply,
        } = command;
        let result = self
            .staff_action(conversation_id, &actor, &action, content.as_ref())
            .await;
        if result.is_err() {
            // What is cached may be behind what failed to commit.
            self.known = None;
        }
        let _ = reply.send(result);
    }

    async fn staff_action(
        &mut self,
        conversation_id: ConversationId,
        actor: &crate::domain::handover::Actor,
        action: &crate::domain::handover::Action,
        content: Option<&crate::domain::MessageContent>,
    ) -> Result<StaffOutcome, StaffError> {
        let core = Arc::clone(&self.core);
        let known = match self.known.take() {
            Some(known) if known.conversation_id == conversation_id => Some(known),
            _ => self.load_known().await?,
        };
        let Some(known) = known.filter(|known| known.conversation_id == conversation_id) else {
            return Err(StaffError::NotFound);
        };
        let channel = core
            .channel(self.key.channel_id)
            .ok_or(StaffError::NotFound)?;
        let now = core.clock.now();
        let planned = work::plan_staff_action(
            (channel.org_id, channel.id),
            now,
            known.clone(),
            actor,
            action,
            content,
        );
        let (script, staff) = match planned {
            Ok(planned) => planned,
            Err(error) => {
                self.known = Some(known);
                return Err(error.into());
            }
        };
        if staff.deleted {
            let deleted = Event::ConversationDeleted { conversation_id };
            let mut script = script;
            log_into(
                &mut script,
                channel.org_id,
                std::slice::from_ref(&deleted),
                now,
            );
            core.store.write_script(script).await?;
            self.known = None;
            core.bus.publish(channel.org_id, deleted);
            return Ok(StaffOutcome { reply: None });
        }
        let done = self
            .commit(script, staff.done, (channel.org_id, channel.id), now)
            .await?;
        self.after_turn(channel.org_id, &channel, done);
        Ok(StaffOutcome { reply: staff.reply })
    }

    /// Three days after the last human reply, or 30 minutes into an unclaimed escalation, the
    /// bot answers again.
    async fn on_back_to_bot(&mut self, timer: TimerRecord) -> Result<(), HandlingError> {
        let core = Arc::clone(&self.core);
        let known = match self.known.take() {
            Some(known) if known.conversation_id == timer.conversation_id => Some(known),
            _ => self.load_known().await?,
        };
        let channel = self.channel().await?;
        let now = core.clock.now();
        let (from, why) = if timer.kind == timer_kind::AWAITING_AGENT {
            (
                crate::domain::ConversationStatus::AwaitingAgent,
                "No one claimed the conversation within 30 minutes; the bot answers again.",
            )
        } else {
            (
                crate::domain::ConversationStatus::AgentAssigned,
                "No team member has replied for 3 days; the bot answers again.",
            )
        };
        let planned = known.clone().and_then(|known| {
            work::plan_back_to_bot((channel.org_id, channel.id), now, known, from, why)
        });
        let (script, done) = match planned {
            Some((mut script, mut done)) => {
                script.append(work::seal(&mut done, channel.org_id, now));
                (script, Some(done))
            }
            None => (Script::new(), None),
        };
        let claimed = core
            .store
            .write(move |tx| {
                Box::pin(async move {
                    if !crate::store::timers::claim_timer(tx, &timer, now).await? {
                        return Ok(false);
                    }
                    tx.run(&script).await?;
                    Ok(true)
                })
            })
            .await?;
        match (claimed, done) {
            (true, Some(done)) => self.after_turn(channel.org_id, &channel, done),
            (true, None) => self.known = known,
            (false, _) => self.known = None,
        }
        Ok(())
    }

    /// An event or a work result for the session.
    async fn on_journey_input(
        &mut self,
        conversation_id: ConversationId,
        input: JourneyInput,
    ) -> Result<(), HandlingError> {
        let core = Arc::clone(&self.core);
        let known = match self.known.take() {
            Some(known) if known.conversation_id == conversation_id => Some(known),
            _ => self.load_known().await?,
        };
        let Some(known) = known else { return Ok(()) };
        if known.conversation_id != conversation_id {
            self.known = Some(known);
            return Ok(());
        }
        let org_id = self.channel().await?.org_id;
        let (input, guard) = match input {
            JourneyInput::Event { name, payload } => (OwnedInput::Event(name, payload), None),
            JourneyInput::Completed { token, result } => {
                (OwnedInput::Completed(token, result), Some(token))
            }
        };
        let Some((mut script, done)) = self.plan_input(org_id, known, &input).await? else {
            return Ok(());
        };
        if let Some(token) = guard {
            crate::store::timers::cancel_timer_into(
                &mut script,
                conversation_id,
                timer_kind::JOURNEY_WORK,
                i64::try_from(token).unwrap_or_default(),
            );
        }
        let channel = self.channel().await?;
        let now = core.clock.now();
        let done = self.commit(script, done, (org_id, channel.id), now).await?;
        self.after_turn(org_id, &channel, done);
        Ok(())
    }

    /// Writes a planned turn; a turn that escalated assigns someone in the same write.
    async fn commit(
        &self,
        script: Script,
        done: MessageDone,
        place: (OrgId, crate::domain::ChannelId),
        now: Millis,
    ) -> Result<MessageDone, StoreError> {
        if done.escalation.is_none() {
            let (mut script, mut done) = (script, done);
            script.append(work::seal(&mut done, place.0, now));
            self.core.store.write_script(script).await?;
            return Ok(done);
        }
        self.core
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let mut done = done;
                    tx.run(&script).await?;
                    work::auto_assign(tx, &mut done, place, now).await?;
                    tx.run(&work::seal(&mut done, place.0, now)).await?;
                    Ok(done)
                })
            })
            .await
    }

    /// Plans a non-message journey input on a known conversation; `None` (with `known` kept)
    /// when the session does not wait for it.
    async fn plan_input(
        &mut self,
        org_id: OrgId,
        known: Known,
        input: &OwnedInput,
    ) -> Result<Option<(Script, MessageDone)>, HandlingError> {
        let channel = self.channel().await?;
        let turn = self.turn_context(org_id, &channel, Some(&known)).await?;
        let planned = work::plan_journey_input(&turn, known.clone(), &input.borrowed());
        if planned.is_none() {
            self.known = Some(known);
        }
        Ok(planned)
    }
    async fn on_status(
        &mut self,
        inbound_id: i64,
        org_id: OrgId,
        status: StatusUpdate,
        received_at: Millis,
    ) -> Result<(), HandlingError> {
        let core = Arc::clone(&self.core);
        let now = core.clock.now();
        let give_up = now.saturating_sub(received_at) >= UNKNOWN_STATUS_PATIENCE_MS;
        let channel_id = self.key.channel_id;
        let delivery_status = status.status;
        let failure_reason = status.failure_reason.clone();
        let (done, updated) = core
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let done =
                        work::handle_status(tx, inbound_id, channel_id, status, give_up, now)
                            .await?;
                    let StatusDone::Applied {
                        message_id,
                        conversation_id,
                    } = done
                    else {
                        return Ok((done, None));
                    };
                    let updated = Event::MessageUpdated {
                        conversation_id,
                        message_id,
                        delivery_status,
                        failure_reason,
                    };
                    tx.run(&log_script(org_id, std::slice::from_ref(&updated), now))
                        .await?;
                    Ok((done, Some(updated)))
                })
            })
            .await?;
        match done {
            StatusDone::Applied { .. } => {
                if let Some(updated) = updated {
                    core.bus.publish(org_id, updated);
                }
                Ok(())
            }
            StatusDone::TooEarly => Err(HandlingError::StatusTooEarly),
            StatusDone::AlreadyHandled | StatusDone::Ignored => Ok(()),
        }
    }

    async fn on_timer(&mut self, timer: TimerRecord) -> Result<(), HandlingError> {
        let core = Arc::clone(&self.core);
        let now = core.clock.now();
        let cached = self
            .known
            .as_ref()
            .filter(|known| known.conversation_id == timer.conversation_id)
            .map(|known| known.session.clone());
        let session = match cached {
            Some(session) => session,
            None => work::parse_session(core.store.journey_session(timer.conversation_id).await?)?,
        };
        // Only a bot waiting on the contact expires the conversation: a journey pausing on a
        // Delay, an event or a call keeps it open.
        let generation = session
            .as_ref()
            .filter(|held| work::waits_on_contact(&held.session.waiting))
            .and_then(|held| i64::try_from(held.session.generation).ok());
        let (org_id, conversation_id) = (timer.org_id, timer.conversation_id);
        let status = crate::domain::ConversationStatus::Expired;
        let events = core
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let Some(notice) = work::handle_inactivity(tx, timer, generation, now).await?
                    else {
                        return Ok(None);
                    };
                    let events = [
                        Event::ConversationUpdated {
                            conversation_id,
                            status,
                        },
                        Event::MessageCreated {
                            message: Box::new(notice),
                        },
                    ];
                    tx.run(&log_script(org_id, &events, now)).await?;
                    Ok(Some(events))
                })
            })
            .await?;
        let Some(events) = events else { return Ok(()) };
        if let Some(known) = self.known.as_mut() {
            known.status = status;
        }
        for event in events {
            core.bus.publish(org_id, event);
        }
        Ok(())
    }
}

/// A journey input owned by the actor while it plans.
enum OwnedInput {
    Timer(u64),
    Event(String, Option<Value>),
    Completed(u64, Completion),
}

impl OwnedInput {
    fn borrowed(&self) -> Input<'_> {
        match self {
            OwnedInput::Timer(token) => Input::Timer { token: *token },
            OwnedInput::Event(name, payload) => Input::Event {
                name,
                payload: payload.as_ref(),
            },
            OwnedInput::Completed(token, result) => Input::Completed {
                token: *token,
                result: result.clone(),
            },
        }
    }
}

/// The failure a session gets when work it handed out never answered (the process stopped
/// while it ran): `None` if the session no longer waits for that work.
fn lost_work(waiting: Option<&Waiting>, token: u64) -> Option<OwnedInput> {
    const LOST: &str = "no result arrived (the server restarted while the call ran)";
    let result = match waiting? {
        Waiting::Api { token: waited } if *waited == token => Completion::Api(Err(LOST.into())),
        Waiting::PostProcess { token: waited } if *waited == token => {
            Completion::AiText(Err(LOST.into()))
        }
        Waiting::AiCheck { token: waited, .. } if *waited == token => {
            Completion::AiCheck(Err(LOST.into()))
        }
        Waiting::Agent { turn: Some(waited) } if *waited == token => {
            Completion::AgentTurn(Err(LOST.into()))
        }
        _ => return None,
    };
    Some(OwnedInput::Completed(token, result))
}

/// Runs work a journey handed out, then hands the result back to the conversation.
async fn perform(
    core: Arc<Core>,
    (org_id, key): (OrgId, ConversationKey),
    conversation_id: ConversationId,
    work: JourneyWork,
) {
    let (token, result) = match work {
        JourneyWork::Api { token, request } => {
            let result: Result<ApiResponse, String> = core.api_caller.call(&request).await;
            (token, Completion::Api(result))
        }
        JourneyWork::AiCheck {
            token,
            criterion,
            answer,
        } => {
            let verdict = core
                .ai_for(org_id)
                .await
                .check(&criterion, &answer)
                .await
                .map_err(|error| error.to_string());
            (token, Completion::AiCheck(verdict))
        }
        JourneyWork::AiPostProcess {
            token,
            prompt,
            response,
        } => {
            let text = core
                .ai_for(org_id)
                .await
                .post_process(&prompt, &response)
                .await
                .map_err(|error| error.to_string());
            (token, Completion::AiText(text))
        }
        JourneyWork::AgentTurn {
            token,
            config,
            message,
            tools,
        } => {
            let history = agent_history(&core, org_id, conversation_id, &message).await;
            let turn = core
                .agent_turn(org_id, &config, message, history, tools)
                .await;
            if let Ok(turn) = &turn {
                for call in &turn.calls {
                    tracing::info!(conversation = %conversation_id, "AI agent tool call: {call}");
                }
            }
            (token, Completion::AgentTurn(turn))
        }
    };
    core.conversations.dispatch(
        &core,
        key,
        ConversationCommand::Journey {
            conversation_id,
            input: JourneyInput::Completed { token, result },
        },
    );
}

/// Messages of the conversation an AI Agent turn reads before the guest's latest.
const AGENT_HISTORY_MESSAGES: i64 = 20;

/// The conversation so far, oldest first, as (`guest`|`bot`, text): the guest's messages and
/// everything the bot and the team said, without the latest guest message (the turn's own)
/// and without system lines. Empty when it cannot be read: the turn goes on without it.
async fn agent_history(
    core: &Core,
    org_id: OrgId,
    conversation_id: ConversationId,
    latest: &str,
) -> Vec<(String, String)> {
    let messages = match core
        .store
        .messages(org_id, conversation_id, AGENT_HISTORY_MESSAGES + 1)
        .await
    {
        Ok(messages) => messages,
        Err(error) => {
            tracing::warn!(error = %error, "failed to read the history of an agent turn");
            return Vec::new();
        }
    };
    let mut history: Vec<(String, String)> = messages
        .iter()
        .filter(|message| message.sender_kind != crate::domain::SenderKind::System)
        .filter_map(|message| {
            let text = message.content.text_for_matching()?;
            let speaker = if message.sender_kind == crate::domain::SenderKind::Contact {
                "guest"
            } else {
                "bot"
            };
            Some((speaker.to_owned(), text.to_owned()))
        })
        .collect();
    if history
        .last()
        .is_some_and(|(speaker, text)| speaker == "guest" && text == latest)
    {
        history.pop();
    }
    history
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
