//! The conversation actor: the single writer of one conversation. Each inbound event becomes
//! one write job (see `work`): store the message, run the bot, store the bot's replies with
//! their outbox rows and mark the event processed — all committed together — after which the
//! actor wakes the channel actor and publishes the changes.
//!
//! Every command runs under `catch_unwind`: a panic fails that one command (counted on the
//! inbound row, quarantined after repeated failures), drops the cached state, and the actor
//! carries on from what is persisted.

mod work;

use super::bus::Event;
use super::core::Core;
use super::registry::ConversationKey;
use crate::domain::{InboundEvent, InboundMessage, MessageContent, Millis, OrgId, StatusUpdate};
use crate::store::{StoreError, TimerRecord};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::mpsc;
use work::{Known, MessageWork, StatusDone};

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
        let inbound_id = match &command {
            ConversationCommand::Inbound { inbound_id, .. } => Some(*inbound_id),
            ConversationCommand::Timer(_) => None,
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
            ConversationCommand::Timer(timer) => self.on_timer(timer).await,
        }
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
        let channel = core
            .channel(self.key.channel_id)
            .ok_or(HandlingError::UnknownChannel)?;
        let work = MessageWork {
            inbound_id,
            org_id,
            channel_id: channel.id,
            channel_name: channel.name.clone(),
            message,
            received_at,
            now: core.clock.now(),
            journey: core.journey(org_id).await?,
            bot_inactivity_ms: i64::try_from(core.settings.bot_inactivity.as_millis())
                .unwrap_or(i64::MAX),
        };
        let done = match self.known.take() {
            Some(mut known) => {
                if known.session.is_none() {
                    known.session = work::parse_session(
                        core.store.journey_session(known.conversation_id).await?,
                    )?;
                }
                let (script, done) = work::plan_message(work, known);
                core.store.write_script(script).await?;
                done
            }
            None => {
                core.store
                    .write(move |tx| Box::pin(work::first_message(tx, work)))
                    .await?
            }
        };
        let conversation_id = done.known.conversation_id;
        let status = done.known.status;
        self.known = Some(done.known);
        if done.replies > 0 {
            channel.wake();
        }
        let lag = core.clock.now().saturating_sub(received_at).max(0);
        core.metrics.inbound_lag.observe(lag as f64 / 1_000.0);
        if done.status_changed {
            core.bus.publish(
                org_id,
                Event::ConversationUpdated {
                    conversation_id,
                    status,
                },
            );
        }
        for message in done.created {
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
        let give_up = now.saturating_sub(received_at) >= UNKNOWN_STATUS_PATIENCE_MS;
        let channel_id = self.key.channel_id;
        let delivery_status = status.status;
        let failure_reason = status.failure_reason.clone();
        let done = core
            .store
            .write(move |tx| {
                Box::pin(work::handle_status(
                    tx, inbound_id, channel_id, status, give_up, now,
                ))
            })
            .await?;
        match done {
            StatusDone::Applied {
                message_id,
                conversation_id,
            } => {
                core.bus.publish(
                    org_id,
                    Event::MessageUpdated {
                        conversation_id,
                        message_id,
                        delivery_status,
                        failure_reason,
                    },
                );
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
            .and_then(|known| known.session.as_ref())
            .map(|(_, session)| session.generation);
        let generation = match cached {
            Some(generation) => Some(generation),
            None => work::parse_session(core.store.journey_session(timer.conversation_id).await?)?
                .map(|(_, session)| session.generation),
        };
        let generation = generation.and_then(|generation| i64::try_from(generation).ok());
        let (org_id, conversation_id) = (timer.org_id, timer.conversation_id);
        let notice = core
            .store
            .write(move |tx| Box::pin(work::handle_inactivity(tx, timer, generation, now)))
            .await?;
        let Some(notice) = notice else { return Ok(()) };
        let status = crate::domain::ConversationStatus::Expired;
        if let Some(known) = self.known.as_mut() {
            known.status = status;
        }
        core.bus.publish(
            org_id,
            Event::ConversationUpdated {
                conversation_id,
                status,
            },
        );
        core.bus.publish(
            org_id,
            Event::MessageCreated {
                message: Box::new(notice),
            },
        );
        Ok(())
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
