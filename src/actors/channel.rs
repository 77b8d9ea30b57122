//! The channel actor: drains one channel's outbox in order per conversation, at the channel's
//! rate, retrying temporary failures with backoff and marking the rest failed with the
//! provider's reason. A credentials failure moves the channel to `needs_reconnect`.

use super::bus::{log_script, Event};
use super::core::{ChannelRuntime, ChannelSecrets, Core};
use crate::adapters::webchat::{ServerFrame, WebchatMessage};
use crate::adapters::{SendError, Sent};
use crate::domain::{ChannelStatus, ConversationId, DeliveryStatus, Millis};
use crate::store::OutboxRecord;
use governor::{Quota, RateLimiter};
use rand::Rng;
use std::collections::{HashSet, VecDeque};
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
/// Below this many queued rows the outbox is read again after a send completes.
const LOW_WATER: usize = 64;
/// How often the outbox is read while rows wait behind their conversation's send.
const BUSY_LOOK_INTERVAL: Duration = Duration::from_millis(500);
/// How long to wait before looking again after the store failed.
const STORE_FAILURE_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) enum ChannelCommand {
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
    // Rows read from the outbox and not yet handed to a send, oldest first.
    let mut queue: VecDeque<OutboxRecord> = VecDeque::new();
    // Ids of rows queued or in flight, so a fresh read does not take them twice.
    let mut taken: HashSet<i64> = HashSet::new();
    let mut in_flight: JoinSet<(i64, ConversationId)> = JoinSet::new();
    let mut busy_conversations: HashSet<ConversationId> = HashSet::new();
    let mut look = true;
    let gauge = core.metrics.live_actors.with_label_values(&["channel"]);
    gauge.inc();
    loop {
        let mut wait: Option<Duration> = None;
        if look && !core.settings.hold_outbox {
            let now = core.clock.now();
            match core.store.due_outbox(runtime.id, now, FETCH_LIMIT).await {
                Ok(rows) => {
                    for row in rows {
                        if taken.insert(row.id) {
                            queue.push_back(row);
                        }
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
        while index < queue.len() && in_flight.len() < MAX_IN_FLIGHT {
            if busy_conversations.contains(&queue[index].conversation_id) {
                index += 1;
                continue;
            }
            let row = queue.remove(index).expect("the index is within the queue");
            limiter.until_ready().await;
            busy_conversations.insert(row.conversation_id);
            in_flight.spawn(deliver(Arc::clone(&core), Arc::clone(&runtime), row));
        }
        if wait.is_none() && queue.is_empty() && in_flight.is_empty() && !core.settings.hold_outbox
        {
            // Idle: sleep until the next retry is due, or until woken.
            wait = match core.store.next_outbox_due(runtime.id).await {
                Ok(Some(due)) => Some(until(due, core.clock.now())),
                Ok(None) => None,
                Err(_) => Some(STORE_FAILURE_PAUSE),
            };
        } else if wait.is_none() && !queue.is_empty() {
            // Rows wait behind their conversation's send; retries that fall due meanwhile are
            // picked up on the next periodic look.
            wait = Some(BUSY_LOOK_INTERVAL);
        }
        let sleep = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600)));
        tokio::select! {
            command = commands.recv() => match command {
                Some(ChannelCommand::Wake) => look = true,
                Some(ChannelCommand::Stop) | None => break,
            },
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok((row_id, conversation_id)) = done {
                    taken.remove(&row_id);
                    busy_conversations.remove(&conversation_id);
                } else {
                    // A send task panicked, leaving its markers behind: rebuild them from what
                    // is still queued and read the outbox again.
                    busy_conversations.clear();
                    taken = queue.iter().map(|row| row.id).collect();
                }
                // Read again when the queue runs low, to keep sends flowing.
                look = queue.len() < LOW_WATER;
            }
            _ = sleep, if wait.is_some() => look = true,
        }
    }
    // Let the sends in flight finish so their results are recorded.
    while in_flight.join_next().await.is_some() {}
    gauge.dec();
}

fn until(due: Millis, now: Millis) -> Duration {
    Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0))
}

/// Sends one outbox row and records the result.
async fn deliver(
    core: Arc<Core>,
    runtime: Arc<ChannelRuntime>,
    row: OutboxRecord,
) -> (i64, ConversationId) {
    let done = (row.id, row.conversation_id);
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
                .mark_outbox_sent(
                    row.id,
                    row.message_id,
                    &sent.provider_message_id,
                    now,
                    events,
                )
                .await
            {
                Ok(()) => core.bus.publish(row.org_id, updated),
                Err(error) => {
                    tracing::error!(outbox_id = row.id, error = %error, "failed to record a completed send")
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
            tracing::info!(outbox_id = row.id, attempt, delay_ms = delay.as_millis() as u64, reason = %reason, "send failed, will retry");
            if let Err(error) = core
                .store
                .reschedule_outbox(row.id, next, &reason, now)
                .await
            {
                tracing::error!(outbox_id = row.id, error = %error, "failed to reschedule a send");
            }
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
            runtime.set_status(ChannelStatus::NeedsReconnect, Some(reason.clone()));
            let updated = Event::ChannelUpdated {
                channel_id: runtime.id,
                status: ChannelStatus::NeedsReconnect,
                reason: Some(reason.clone()),
            };
            let events = log_script(runtime.org_id, std::slice::from_ref(&updated), now);
            if let Err(error) = core
                .store
                .set_channel_status(
                    runtime.id,
                    ChannelStatus::NeedsReconnect,
                    Some(&reason),
                    now,
                    events,
                )
                .await
            {
                tracing::error!(channel_id = %runtime.id, error = %error, "failed to record the channel status");
            }
            core.bus.publish(runtime.org_id, updated);
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
            core.webchat.deliver(runtime.id, &row.recipient, &text);
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
    tracing::warn!(outbox_id = row.id, channel_id = %runtime.id, reason = %reason, "message failed");
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
        .fail_outbox(row.id, row.message_id, reason, attempted, now, events)
        .await
    {
        Ok(()) => core.bus.publish(row.org_id, updated),
        Err(error) => {
            tracing::error!(outbox_id = row.id, error = %error, "failed to record a failed send")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
