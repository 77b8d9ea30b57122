//! The conversation actor: the single writer of one conversation. For each inbound event it
//! stores the message, runs the bot, and writes the bot's replies with their outbox rows — all
//! in one transaction that also marks the event processed — then wakes the channel actor and
//! publishes the changes.
//!
//! Every command runs under `catch_unwind`: a panic fails that one command (counted on the
//! inbound row, quarantined after repeated failures), drops the cached state, and the actor
//! carries on from what is persisted.

use super::bus::Event;
use super::core::Core;
use super::registry::ConversationKey;
use super::timer_kind;
use crate::domain::{
    ContactId, ConversationId, ConversationStatus, DeliveryStatus, Direction, InboundEvent,
    InboundMessage, MessageContent, MessageId, Millis, OrgId, SenderKind, StatusUpdate,
};
use crate::journey::{self, Effect, Input, Session};
use crate::store::conversations::{self as conversation_store, DeliveryUpdate};
use crate::store::timers::{self as timer_store, NewTimer};
use crate::store::{self, MessageRecord, NewMessage, StoreError, StoredSession, TimerRecord};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::mpsc;

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
    },
    Timer(TimerRecord),
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

impl From<sqlx::Error> for HandlingError {
    fn from(error: sqlx::Error) -> Self {
        HandlingError::Store(error.into())
    }
}

/// What the actor keeps between events; everything in it can be reloaded from the store.
struct Loaded {
    contact_id: ContactId,
    conversation_id: ConversationId,
    status: ConversationStatus,
    session: Option<(uuid::Uuid, Session)>,
}

struct ConversationActor {
    core: Arc<Core>,
    key: ConversationKey,
    loaded: Option<Loaded>,
}

pub(crate) async fn run(
    core: Arc<Core>,
    key: ConversationKey,
    id: u64,
    mut inbox: mpsc::UnboundedReceiver<ConversationCommand>,
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
        loaded: None,
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
        let inbound_id = match &command {
            ConversationCommand::Inbound { inbound_id, .. } => Some(*inbound_id),
            ConversationCommand::Timer(_) => None,
        };
        let outcome = AssertUnwindSafe(self.execute(command)).catch_unwind().await;
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(HandlingError::StatusTooEarly)) => return,
            Ok(Err(HandlingError::Store(StoreError::Unavailable(error)))) => {
                // Not the event's fault: it stays unprocessed and the sweeper retries it.
                tracing::warn!(error = %error, "the store is unavailable; the event will be retried");
                self.loaded = None;
                return;
            }
            Ok(Err(error)) => error.to_string(),
            Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
        };
        self.loaded = None;
        tracing::error!(
            channel_id = %self.key.channel_id,
            inbound_id,
            cause = %failure,
            "failed to handle a conversation event"
        );
        if let Some(inbound_id) = inbound_id {
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
    }

    async fn execute(&mut self, command: ConversationCommand) -> Result<(), HandlingError> {
        match command {
            ConversationCommand::Inbound {
                inbound_id,
                org_id,
                event: InboundEvent::Message(message),
                received_at,
            } => {
                self.on_message(inbound_id, org_id, message, received_at)
                    .await
            }
            ConversationCommand::Inbound {
                inbound_id,
                org_id,
                event: InboundEvent::Status(status),
                received_at,
            } => {
                self.on_status(inbound_id, org_id, status, received_at)
                    .await
            }
            ConversationCommand::Timer(timer) => self.on_timer(timer).await,
        }
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
        let channel = core
            .channel(self.key.channel_id)
            .ok_or(HandlingError::UnknownChannel)?;
        let now = core.clock.now();
        // The bot's journey is read before the transaction so the writer is held briefly.
        let journey = core.journey(org_id).await?;
        let mut tx = core.store.begin().await?;
        if !store::inbound::claim_inbound(&mut tx, inbound_id, now).await? {
            return Ok(());
        }
        let contact_id = conversation_store::upsert_contact(
            &mut tx,
            org_id,
            channel.id,
            &message.contact_external_id,
            message.contact_name.as_deref(),
            message.contact_phone.as_deref(),
            now,
        )
        .await?;
        let (conversation_id, mut status) = match &self.loaded {
            Some(loaded) if loaded.contact_id == contact_id => {
                (loaded.conversation_id, loaded.status)
            }
            _ => {
                self.loaded = None;
                conversation_store::upsert_conversation(
                    &mut tx, org_id, channel.id, contact_id, now,
                )
                .await?
            }
        };
        let inbound = NewMessage {
            id: MessageId::new(),
            org_id,
            conversation_id,
            channel_id: channel.id,
            direction: Direction::Inbound,
            sender_kind: SenderKind::Contact,
            content: &message.content,
            journey_step: None,
            provider_message_id: Some(&message.provider_message_id),
            reply_to_provider_message_id: message.reply_to_provider_message_id.as_deref(),
            delivery_status: DeliveryStatus::Received,
            provider_timestamp: message.provider_timestamp,
            received_at,
        };
        conversation_store::insert_message(&mut tx, &inbound).await?;
        conversation_store::touch_conversation(&mut tx, conversation_id, now, true).await?;
        let mut created = vec![record_of(&inbound)];
        let mut status_changed = false;
        if matches!(
            status,
            ConversationStatus::Resolved | ConversationStatus::Expired
        ) {
            // A message on a closed conversation opens it again, with the bot.
            status = ConversationStatus::BotHandling;
            status_changed = true;
            conversation_store::set_conversation_status(&mut tx, conversation_id, status, now)
                .await?;
        }
        let mut session = None;
        if status == ConversationStatus::BotHandling {
            let (journey_id, journey) = journey;
            let previous = match self
                .loaded
                .as_mut()
                .and_then(|loaded| loaded.session.take())
            {
                Some(cached) => Some(cached),
                None => load_session(&core, conversation_id).await?,
            }
            .filter(|(session_journey, _)| *session_journey == journey_id)
            .map(|(_, session)| session)
            .unwrap_or_default();
            let contact_name = message.contact_name.clone();
            let contact_phone = message.contact_phone.clone();
            let channel_name = channel.name.clone();
            let variables = move |name: &str| match name {
                "contact.name" => contact_name.clone(),
                "contact.phone" => contact_phone.clone(),
                "channel.name" => Some(channel_name.clone()),
                "conversation.id" => Some(conversation_id.to_string()),
                _ => None,
            };
            let outcome = journey::run(
                &journey,
                previous,
                &Input::Message {
                    text: message.content.text_for_matching(),
                },
                &variables,
            );
            for effect in &outcome.effects {
                let Effect::Send { step_id, content } = effect else {
                    continue;
                };
                let reply = NewMessage {
                    id: MessageId::new(),
                    org_id,
                    conversation_id,
                    channel_id: channel.id,
                    direction: Direction::Outbound,
                    sender_kind: SenderKind::Bot,
                    content,
                    journey_step: Some(step_id),
                    provider_message_id: None,
                    reply_to_provider_message_id: None,
                    delivery_status: DeliveryStatus::Pending,
                    provider_timestamp: None,
                    received_at: now,
                };
                conversation_store::insert_message(&mut tx, &reply).await?;
                store::outbox::insert_outbox(
                    &mut tx,
                    org_id,
                    channel.id,
                    conversation_id,
                    reply.id,
                    &message.contact_external_id,
                    now,
                )
                .await?;
                created.push(record_of(&reply));
            }
            let generation = i64::try_from(outcome.session.generation).unwrap_or(i64::MAX);
            let stored = StoredSession {
                journey_id,
                state: serde_json::to_string(&outcome.session).expect("sessions serialise to JSON"),
            };
            store::journeys::save_session(
                &mut tx,
                org_id,
                conversation_id,
                &stored,
                generation,
                now,
            )
            .await?;
            let due_at = now.saturating_add(
                i64::try_from(core.settings.bot_inactivity.as_millis()).unwrap_or(i64::MAX),
            );
            timer_store::set_timer(
                &mut tx,
                &NewTimer {
                    org_id,
                    conversation_id,
                    channel_id: channel.id,
                    contact_external_id: &message.contact_external_id,
                    kind: timer_kind::BOT_INACTIVITY,
                    due_at,
                    generation,
                },
                now,
            )
            .await?;
            session = Some((journey_id, outcome.session));
        }
        tx.commit().await?;
        self.loaded = Some(Loaded {
            contact_id,
            conversation_id,
            status,
            session,
        });
        if created.len() > 1 {
            channel.wake();
        }
        let lag = core.clock.now().saturating_sub(received_at).max(0);
        core.metrics.inbound_lag.observe(lag as f64 / 1_000.0);
        if status_changed {
            core.bus.publish(
                org_id,
                Event::ConversationUpdated {
                    conversation_id,
                    status,
                },
            );
        }
        for message in created {
            core.bus.publish(
                org_id,
                Event::MessageCreated {
                    message: Box::new(message),
                },
            );
        }
        Ok(())
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
        let mut tx = core.store.begin().await?;
        if !store::inbound::claim_inbound(&mut tx, inbound_id, now).await? {
            return Ok(());
        }
        let update = conversation_store::apply_delivery_status(
            &mut tx,
            self.key.channel_id,
            &status.provider_message_id,
            status.status,
            status.failure_reason.as_deref(),
            status.provider_timestamp,
            now,
        )
        .await?;
        if update == DeliveryUpdate::UnknownMessage
            && now.saturating_sub(received_at) < UNKNOWN_STATUS_PATIENCE_MS
        {
            // Leave the row unprocessed: the sweeper offers it again once the send is recorded.
            tx.rollback().await?;
            return Err(HandlingError::StatusTooEarly);
        }
        tx.commit().await?;
        if let DeliveryUpdate::Applied {
            message_id,
            conversation_id,
        } = update
        {
            core.bus.publish(
                org_id,
                Event::MessageUpdated {
                    conversation_id,
                    message_id,
                    delivery_status: status.status,
                    failure_reason: status.failure_reason,
                },
            );
        }
        Ok(())
    }

    async fn on_timer(&mut self, timer: TimerRecord) -> Result<(), HandlingError> {
        let core = Arc::clone(&self.core);
        let now = core.clock.now();
        let current_generation = match &self.loaded {
            Some(Loaded {
                conversation_id,
                session: Some((_, session)),
                ..
            }) if *conversation_id == timer.conversation_id => Some(session.generation),
            _ => load_session(&core, timer.conversation_id)
                .await?
                .map(|(_, session)| session.generation),
        };
        let mut tx = core.store.begin().await?;
        if !timer_store::claim_timer(&mut tx, &timer, now).await? {
            return Ok(());
        }
        let current = current_generation.and_then(|generation| i64::try_from(generation).ok());
        if timer.kind != timer_kind::BOT_INACTIVITY || current != Some(timer.generation) {
            // Set by a state that has moved on since: claimed, and otherwise ignored.
            tx.commit().await?;
            return Ok(());
        }
        let conversation = core
            .store
            .conversation(timer.org_id, timer.conversation_id)
            .await?;
        if conversation.status != ConversationStatus::BotHandling {
            tx.commit().await?;
            return Ok(());
        }
        let status = ConversationStatus::Expired;
        conversation_store::set_conversation_status(&mut tx, timer.conversation_id, status, now)
            .await?;
        let notice = MessageContent::System {
            body: "The conversation expired after a period without messages.".into(),
        };
        let system = NewMessage {
            id: MessageId::new(),
            org_id: timer.org_id,
            conversation_id: timer.conversation_id,
            channel_id: timer.channel_id,
            direction: Direction::Outbound,
            sender_kind: SenderKind::System,
            content: &notice,
            journey_step: None,
            provider_message_id: None,
            reply_to_provider_message_id: None,
            delivery_status: DeliveryStatus::Received,
            provider_timestamp: None,
            received_at: now,
        };
        conversation_store::insert_message(&mut tx, &system).await?;
        tx.commit().await?;
        if let Some(loaded) = self.loaded.as_mut() {
            loaded.status = status;
        }
        core.bus.publish(
            timer.org_id,
            Event::ConversationUpdated {
                conversation_id: timer.conversation_id,
                status,
            },
        );
        core.bus.publish(
            timer.org_id,
            Event::MessageCreated {
                message: Box::new(record_of(&system)),
            },
        );
        Ok(())
    }
}

async fn load_session(
    core: &Core,
    conversation_id: ConversationId,
) -> Result<Option<(uuid::Uuid, Session)>, StoreError> {
    let Some(stored) = core.store.journey_session(conversation_id).await? else {
        return Ok(None);
    };
    let session: Session = serde_json::from_str(&stored.state)
        .map_err(|error| StoreError::Corrupt(format!("journey session: {error}")))?;
    Ok(Some((stored.journey_id, session)))
}

fn record_of(message: &NewMessage<'_>) -> MessageRecord {
    MessageRecord {
        id: message.id,
        conversation_id: message.conversation_id,
        channel_id: message.channel_id,
        direction: message.direction,
        sender_kind: message.sender_kind,
        content: message.content.clone(),
        journey_step: message.journey_step.map(str::to_owned),
        provider_message_id: message.provider_message_id.map(str::to_owned),
        reply_to_provider_message_id: message.reply_to_provider_message_id.map(str::to_owned),
        delivery_status: message.delivery_status,
        failure_reason: None,
        provider_timestamp: message.provider_timestamp,
        received_at: message.received_at,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
