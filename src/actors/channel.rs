//! The channel actor: drains one channel's outbox in order per conversation, at the channel's
//! rate, retrying temporary failures with backoff and marking the rest failed with the
//! provider's reason. A credentials failure moves the channel to `needs_reconnect`.

use super::bus::{log_script, Event};
use super::core::{ChannelRuntime, ChannelSecrets, Core};
use crate::adapters::messenger::{self, Platform};
use crate::adapters::twilio;
use crate::adapters::webchat::{ServerFrame, WebchatMessage};
use crate::adapters::{SendError, Sent};
use crate::domain::{ChannelKind, ConversationId, DeliveryStatus, MessageId, Millis};
use crate::store::{OutboxRecord, StoreError};
use governor::{Quota, RateLimiter};
use rand::Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Sends one channel may have in flight at once.
const MAX_IN_FLIGHT: usize = 64;
/// Rows fetched per look at the outbox.
const FETCH_LIMIT: i64 = 256;
/// Longest wait between two attempts of one message.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);
/// Below this many queued rows a channel that is catching up reads the outbox again.
const LOW_WATER: usize = 64;
/// How often the outbox is read when nothing else makes the actor look: a safety net for
/// rows that were neither handed over nor rescheduled by this actor.
const SAFETY_LOOK_INTERVAL: Duration = Duration::from_secs(30);
/// Finished sends remembered, so a late hand-over or a racing read cannot send one again.
const FINISHED_MEMORY: usize = 4_096;
/// How long to wait before looking again after the store failed.
const STORE_FAILURE_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) enum ChannelCommand {
    /// Rows were handed over (see `ChannelRuntime::deliver`).
    Wake,
    Stop,
}

/// The wait before attempt `attempt + 1` (attempts count from 1): exponential from `base`,
/// capped, spread by ±20 % with `jitter` in `0..1` so retries of many messages do not align,
/// and never shorter than what the provider asked for with `Retry-After`.
pub fn retry_delay(
    attempt: u32,
    base: Duration,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let exponential = base.saturating_mul(1 << exponent).min(MAX_RETRY_DELAY);
    let spread = exponential.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0));
    spread.max(retry_after.unwrap_or_default())
}

pub(crate) async fn run(
    core: Arc<Core>,
    runtime: Arc<ChannelRuntime>,
    mut commands: mpsc::Receiver<ChannelCommand>,
) {
    let rate =
        NonZeroU32::new(runtime.kind.default_send_rate_per_second()).unwrap_or(NonZeroU32::MIN);
    let limiter = RateLimiter::direct(Quota::per_second(rate));
    let mut outbox = Outbox::default();
    let mut in_flight: JoinSet<Delivered> = JoinSet::new();
    let mut busy_conversations: HashSet<ConversationId> = HashSet::new();
    // Whether to read the outbox on this turn of the loop: at start (rows left by an earlier
    // run), when a retry falls due, after a store failure and while catching up.
    let mut look = true;
    // Whether `retries` knows when every row waiting in the outbox falls due: not at start,
    // when rows rescheduled by an earlier run may be waiting.
    let mut retries_known = false;
    let gauge = core.metrics.live_actors.with_label_values(&["channel"]);
    gauge.inc();
    loop {
        if runtime.is_stopped() {
            // Replaced (new credentials) or removed: the runtime that replaced it reads the
            // outbox afresh.
            break;
        }
        let mut wait: Option<Duration> = None;
        let hold = core.settings.hold_outbox;
        let (handed, overflow) = {
            let mut handed = runtime.handed();
            (std::mem::take(&mut handed.rows), handed.overflow)
        };
        if overflow && !outbox.catching_up {
            outbox.catching_up = true;
            look = true;
        }
        if !hold {
            for row in handed {
                outbox.take(row);
            }
        }
        if look && !hold {
            look = false;
            let now = core.clock.now();
            match outbox.read(&core, &runtime).await {
                // The read took every row due by `now`, retries included.
                Ok(()) => {
                    while outbox
                        .retries
                        .peek()
                        .is_some_and(|Reverse(due)| *due <= now)
                    {
                        outbox.retries.pop();
                    }
                }
                Err(error) => {
                    tracing::warn!(channel_id = %runtime.id, error = %error, "failed to read the outbox");
                    wait = Some(STORE_FAILURE_PAUSE);
                }
            }
        }
        // Hand queued rows to sends, oldest first, one per conversation at a time so replies
        // keep their order.
        let mut index = 0;
        while index < outbox.queue.len() && in_flight.len() < MAX_IN_FLIGHT {
            if busy_conversations.contains(&outbox.queue[index].conversation_id) {
                index += 1;
                continue;
            }
            let row = outbox
                .queue
                .remove(index)
                .expect("the index is within the queue");
            limiter.until_ready().await;
            busy_conversations.insert(row.conversation_id);
            in_flight.spawn(deliver(Arc::clone(&core), Arc::clone(&runtime), row));
        }
        if wait.is_none()
            && !retries_known
            && outbox.queue.is_empty()
            && in_flight.is_empty()
            && !hold
        {
            // Idle for the first time: learn when rows an earlier run rescheduled fall due.
            match core.store.next_outbox_due(runtime.id).await {
                Ok(due) => {
                    outbox.retries.extend(due.map(Reverse));
                    retries_known = true;
                }
                Err(_) => wait = Some(STORE_FAILURE_PAUSE),
            }
        }
        if wait.is_none() {
            if outbox.catching_up && outbox.queue.len() < LOW_WATER && !hold {
                // Behind: read the next rows in commit order.
                look = true;
                continue;
            }
            let now = core.clock.now();
            wait = Some(match outbox.retries.peek() {
                Some(Reverse(due)) => until(*due, now).min(SAFETY_LOOK_INTERVAL),
                None => SAFETY_LOOK_INTERVAL,
            });
        }
        let sleep = tokio::time::sleep(wait.unwrap_or(SAFETY_LOOK_INTERVAL));
        tokio::select! {
            command = commands.recv() => match command {
                // Handed rows are taken at the top of the loop.
                Some(ChannelCommand::Wake) if !runtime.is_stopped() => {}
                Some(ChannelCommand::Wake | ChannelCommand::Stop) | None => break,
            },
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => match done {
                Ok(delivered) => {
                    busy_conversations.remove(&delivered.conversation_id);
                    match delivered.retry_at {
                        // Rescheduled: a read takes it again once it is due.
                        Some(due) => {
                            outbox.taken.remove(&delivered.message_id);
                            outbox.retries.push(Reverse(due));
                        }
                        None => outbox.finish(delivered.message_id),
                    }
                }
                Err(_) => {
                    // A send task panicked, leaving its markers behind: rebuild them from what
                    // is still queued and read the outbox again.
                    busy_conversations.clear();
                    outbox.taken = outbox.queue.iter().map(|row| row.message_id).collect();
                    look = true;
                }
            },
            _ = sleep => look = true,
        }
    }
    // Let the sends in flight finish so their results are recorded.
    while in_flight.join_next().await.is_some() {}
    gauge.dec();
}

/// The channel actor's view of its outbox: rows queued for a send, rows taken (queued or in
/// flight), rows finished lately, and when rescheduled rows fall due.
#[derive(Default)]
struct Outbox {
    /// Rows not yet handed to a send, oldest first.
    queue: VecDeque<OutboxRecord>,
    /// Messages queued or in flight, so neither a read nor a hand-over takes them twice.
    taken: HashSet<MessageId>,
    /// Messages whose send ended lately, oldest first: a read that raced with the end of a
    /// send, or a hand-over that arrived after a read took the row, must not send it again.
    finished: VecDeque<MessageId>,
    finished_set: HashSet<MessageId>,
    /// When rescheduled rows fall due, soonest first.
    retries: BinaryHeap<Reverse<Millis>>,
    /// The hand-over overflowed: rows are read from the outbox, in commit order, until a read
    /// comes back short.
    catching_up: bool,
}

impl Outbox {
    fn take(&mut self, row: OutboxRecord) {
        if !self.finished_set.contains(&row.message_id) && self.taken.insert(row.message_id) {
            self.queue.push_back(row);
        }
    }

    fn finish(&mut self, message_id: MessageId) {
        self.taken.remove(&message_id);
        if self.finished_set.insert(message_id) {
            self.finished.push_back(message_id);
        }
        while self.finished.len() > FINISHED_MEMORY {
            if let Some(oldest) = self.finished.pop_front() {
                self.finished_set.remove(&oldest);
            }
        }
    }

    /// Reads the due rows. A full read means more may wait: the actor is behind, and takes
    /// no hand-over until it has caught up, so it never sends a newer reply of a conversation
    /// before an older one still unread. Once a read comes back short, the hand-over opens
    /// again, and one more read picks up whatever was committed (and dropped) meanwhile.
    async fn read(&mut self, core: &Core, runtime: &ChannelRuntime) -> Result<(), StoreError> {
        loop {
            // With several nodes, the rows of the conversations this node owns.
            let partitions = core
                .partitions
                .as_ref()
                .map_or(crate::store::outbox::ALL_PARTITIONS, |partitions| {
                    partitions.owned_bits()
                });
            let rows = core
                .store
                .due_outbox(runtime.id, core.clock.now(), FETCH_LIMIT, partitions)
                .await?;
            let full = rows.len() >= usize::try_from(FETCH_LIMIT).unwrap_or(usize::MAX);
            for row in rows {
                self.take(row);
            }
            if full {
                if !self.catching_up {
                    self.catching_up = true;
                    let mut handed = runtime.handed();
                    handed.overflow = true;
                    handed.rows.clear();
                }
                return Ok(());
            }
            if !self.catching_up {
                return Ok(());
            }
            self.catching_up = false;
            runtime.handed().overflow = false;
        }
    }
}

/// What became of one send.
struct Delivered {
    message_id: MessageId,
    conversation_id: ConversationId,
    /// When the row is due again, if it was rescheduled.
    retry_at: Option<Millis>,
}

fn until(due: Millis, now: Millis) -> Duration {
    Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0))
}

/// Sends one outbox row and records the result.
async fn deliver(core: Arc<Core>, runtime: Arc<ChannelRuntime>, row: OutboxRecord) -> Delivered {
    let mut done = Delivered {
        message_id: row.message_id,
        conversation_id: row.conversation_id,
        retry_at: None,
    };
    if !runtime.active() {
        record_failure(&core, &runtime, &row, "the channel is inactive", false).await;
        return done;
    }
    let (status, reason) = runtime.status();
    if !status.can_send() {
        let reason = format!(
            "the channel is {}{}",
            status.as_str(),
            reason
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        );
        record_failure(&core, &runtime, &row, &reason, false).await;
        return done;
    }
    let attempt = u32::try_from(row.attempts + 1).unwrap_or(u32::MAX);
    let result = send(&core, &runtime, &row).await;
    let kind = runtime.kind.as_str();
    let now = core.clock.now();
    match result {
        Ok(sent) => {
            core.metrics.sends.with_label_values(&[kind, "sent"]).inc();
            let updated = Event::MessageUpdated {
                conversation_id: row.conversation_id,
                message_id: row.message_id,
                delivery_status: DeliveryStatus::Sent,
                failure_reason: None,
            };
            let events = log_script(row.org_id, std::slice::from_ref(&updated), now);
            match core
                .store
                .mark_outbox_sent(row.message_id, &sent.provider_message_id, now, events)
                .await
            {
                Ok(()) => core.bus.publish(row.org_id, updated),
                Err(error) => {
                    tracing::error!(message_id = %row.message_id, error = %error, "failed to record a completed send")
                }
            }
        }
        Err(SendError::Retryable {
            reason,
            retry_after,
        }) if attempt < core.settings.send_max_attempts => {
            core.metrics.sends.with_label_values(&[kind, "retry"]).inc();
            let jitter = rand::thread_rng().gen::<f64>();
            let delay = retry_delay(attempt, core.settings.send_retry_base, retry_after, jitter);
            let next = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
            tracing::info!(message_id = %row.message_id, attempt, delay_ms = delay.as_millis() as u64, reason = %reason, "send failed, will retry");
            if let Err(error) = core
                .store
                .reschedule_outbox(row.message_id, next, &reason, now)
                .await
            {
                // The row stays due as it was: the look at `next` takes it again all the same.
                tracing::error!(message_id = %row.message_id, error = %error, "failed to reschedule a send");
            }
            done.retry_at = Some(next);
        }
        Err(SendError::Retryable { reason, .. }) => {
            let reason = format!("gave up after {attempt} attempts: {reason}");
            record_failure(&core, &runtime, &row, &reason, true).await;
        }
        Err(SendError::CredentialsRejected { reason }) => {
            core.metrics
                .sends
                .with_label_values(&[kind, "credentials_rejected"])
                .inc();
            tracing::warn!(channel_id = %runtime.id, reason = %reason, "the provider rejected the channel's credentials");
            super::tokens::send_refused(&core, &runtime, &reason).await;
            record_failure(&core, &runtime, &row, &reason, true).await;
        }
        Err(SendError::Permanent { reason }) => {
            record_failure(&core, &runtime, &row, &reason, true).await
        }
    }
    done
}

async fn send(
    core: &Core,
    runtime: &ChannelRuntime,
    row: &OutboxRecord,
) -> Result<Sent, SendError> {
    match &runtime.secrets {
        ChannelSecrets::Whatsapp { public, secrets } => {
            core.whatsapp
                .send(
                    &public.phone_number_id,
                    &secrets.access_token,
                    &row.recipient,
                    &row.content,
                    row.reply_to_provider_message_id.as_deref(),
                )
                .await
        }
        ChannelSecrets::Page { public, secrets } => {
            let platform = match runtime.kind {
                ChannelKind::Instagram => Platform::Instagram,
                _ => Platform::Messenger,
            };
            let (last_inbound, by_human) = core
                .store
                .messaging_window(row.message_id)
                .await
                .map_err(|error| SendError::Retryable {
                    reason: format!("the messaging window could not be read: {error}"),
                    retry_after: None,
                })?;
            let delivery = messenger::delivery_for(core.clock.now(), last_inbound, by_human)?;
            let body = messenger::render(platform, &row.recipient, &row.content, delivery)?;
            // An Instagram account linked to a Page is reached through the Page.
            core.settings
                .meta
                .messenger
                .send(platform, &public.page_id, &secrets.page_access_token, &body)
                .await
        }
        ChannelSecrets::Evolution { public, secrets } => {
            let Some(provider) = &core.settings.evolution else {
                return Err(SendError::Permanent {
                    reason: "no unofficial WhatsApp provider is configured (PARLEY_EVOLUTION_URL)"
                        .into(),
                });
            };
            let outbound = crate::adapters::evolution::render::render(
                &row.recipient,
                &row.content,
                row.reply_to_provider_message_id.as_deref(),
            )?;
            provider
                .client
                .send(&public.instance, &secrets.instance_token, &outbound)
                .await
        }
        ChannelSecrets::Twilio { public, secrets } => {
            let flavor = match runtime.kind {
                ChannelKind::TwilioSms => twilio::Flavor::Sms,
                _ => twilio::Flavor::Whatsapp,
            };
            if flavor == twilio::Flavor::Whatsapp
                && !matches!(row.content, crate::domain::MessageContent::Template { .. })
            {
                // Twilio reports a free-form send outside the window only later, as a failed
                // status (63016); Parley knows the window and refuses at once.
                let (last_inbound, _) =
                    core.store
                        .messaging_window(row.message_id)
                        .await
                        .map_err(|error| SendError::Retryable {
                            reason: format!("the messaging window could not be read: {error}"),
                            retry_after: None,
                        })?;
                let window = i64::try_from(messenger::render::RESPONSE_WINDOW.as_millis())
                    .unwrap_or(i64::MAX);
                if last_inbound.is_none_or(|at| core.clock.now().saturating_sub(at) > window) {
                    return Err(SendError::Permanent {
                        reason: twilio::parse::error_reason("63016"),
                    });
                }
            }
            let params = twilio::render::render(flavor, &row.content)?;
            let callback = core.settings.public_url.as_ref().map(|base| {
                format!(
                    "{}/webhooks/{}/{}/status",
                    base.as_str().trim_end_matches('/'),
                    runtime.kind,
                    runtime.id
                )
            });
            core.settings
                .twilio
                .send(flavor, public, secrets, &row.recipient, params, callback)
                .await
        }
        ChannelSecrets::Telegram { secrets, .. } => {
            super::telegram::send(&core.settings.telegram, secrets, row).await
        }
        ChannelSecrets::Email { public, secrets } => {
            super::email::send(core, runtime, row, public, secrets).await
        }
        ChannelSecrets::Webchat { .. } => {
            let frame = ServerFrame::Message {
                message: WebchatMessage {
                    id: row.message_id.to_string(),
                    from: "business",
                    content: row.content.clone(),
                    at: row.created_at,
                },
            };
            let text = serde_json::to_string(&frame).expect("frames serialise to JSON");
            // A visitor who is not connected sees the message in the history on their next
            // visit, so the send succeeds either way.
            core.deliver_webchat(runtime.id, &row.recipient, &text);
            Ok(Sent {
                provider_message_id: row.message_id.to_string(),
            })
        }
    }
}

async fn record_failure(
    core: &Core,
    runtime: &ChannelRuntime,
    row: &OutboxRecord,
    reason: &str,
    attempted: bool,
) {
    core.metrics
        .sends
        .with_label_values(&[runtime.kind.as_str(), "failed"])
        .inc();
    tracing::warn!(message_id = %row.message_id, channel_id = %runtime.id, reason = %reason, "message failed");
    let now = core.clock.now();
    let updated = Event::MessageUpdated {
        conversation_id: row.conversation_id,
        message_id: row.message_id,
        delivery_status: DeliveryStatus::Failed,
        failure_reason: Some(reason.to_owned()),
    };
    let events = log_script(row.org_id, std::slice::from_ref(&updated), now);
    match core
        .store
        .fail_outbox(row.message_id, reason, attempted, now, events)
        .await
    {
        Ok(()) => core.bus.publish(row.org_id, updated),
        Err(error) => {
            tracing::error!(message_id = %row.message_id, error = %error, "failed to record a failed send")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChannelId, MessageContent, OrgId};

    fn row(conversation_id: ConversationId) -> OutboxRecord {
        OutboxRecord {
            org_id: OrgId::new(),
            channel_id: ChannelId::new(),
            conversation_id,
            message_id: MessageId::new(),
            recipient: "15550001111".into(),
            content: MessageContent::Text { body: "hi".into() },
            reply_to_provider_message_id: None,
            attempts: 0,
            created_at: 0,
        }
    }

    #[test]
    fn a_row_is_queued_once_however_often_it_is_read_or_handed_over() {
        let mut outbox = Outbox::default();
        let first = row(ConversationId::new());
        let second = row(first.conversation_id);
        outbox.take(first.clone());
        outbox.take(second.clone());
        outbox.take(first.clone());
        let queued: Vec<_> = outbox.queue.iter().map(|row| row.message_id).collect();
        assert_eq!(queued, [first.message_id, second.message_id]);
    }

    #[test]
    fn a_finished_row_is_not_sent_again_when_it_comes_back() {
        let mut outbox = Outbox::default();
        let sent = row(ConversationId::new());
        outbox.take(sent.clone());
        outbox.queue.clear();
        outbox.finish(sent.message_id);
        // A hand-over that arrives late, or a read that raced with the send's end.
        outbox.take(sent.clone());
        assert!(outbox.queue.is_empty());
        assert!(!outbox.taken.contains(&sent.message_id));
    }

    #[test]
    fn finished_sends_are_remembered_up_to_a_bound() {
        let mut outbox = Outbox::default();
        let ids: Vec<MessageId> = (0..FINISHED_MEMORY + 10)
            .map(|_| MessageId::new())
            .collect();
        for id in &ids {
            outbox.finish(*id);
        }
        assert_eq!(outbox.finished.len(), FINISHED_MEMORY);
        assert_eq!(outbox.finished_set.len(), FINISHED_MEMORY);
        assert!(!outbox.finished_set.contains(&ids[0]));
        assert!(outbox.finished_set.contains(&ids[ids.len() - 1]));
    }

    const BASE: Duration = Duration::from_secs(1);

    #[test]
    fn delays_double_per_attempt_without_jitter_at_the_midpoint() {
        let delays: Vec<_> = (1..=4)
            .map(|attempt| retry_delay(attempt, BASE, None, 0.5))
            .collect();
        assert_eq!(delays, [1, 2, 4, 8].map(Duration::from_secs));
    }

    #[test]
    fn jitter_spreads_delays_by_twenty_percent() {
        assert_eq!(retry_delay(1, BASE, None, 0.0), Duration::from_millis(800));
        assert_eq!(retry_delay(1, BASE, None, 1.0), Duration::from_millis(1200));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let wait = Duration::from_secs(2);
        assert_eq!(retry_delay(1, BASE, Some(wait), 0.0), wait);
        assert_eq!(
            retry_delay(4, BASE, Some(wait), 0.5),
            Duration::from_secs(8)
        );
    }

    #[test]
    fn delays_are_capped() {
        assert_eq!(retry_delay(40, BASE, None, 0.5), MAX_RETRY_DELAY);
    }
}
