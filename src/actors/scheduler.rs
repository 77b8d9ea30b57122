//! The scheduler: fires durable timers when due (hands them to their conversation actor, which
//! checks the generation), re-dispatches inbound events left unprocessed, prunes inbound rows
//! past the redelivery horizon, numbers console events (Postgres, see `store::events`), and
//! samples the outbox depth.

use super::conversation::ConversationCommand;
use super::core::Core;
use super::registry::ConversationKey;
use crate::domain::{ChannelKind, InboundEvent, Millis};
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest sleep between two looks at the timers table.
const MAX_NAP: Duration = Duration::from_secs(1);
/// Timers handed out per look.
const TIMER_BATCH: i64 = 500;
/// Inbound rows re-dispatched per page.
const REPLAY_PAGE: i64 = 1_000;
/// Kept beyond the longest provider redelivery horizon, so a late redelivery is still
/// recognised as a duplicate.
const RETENTION_MARGIN: Duration = Duration::from_secs(24 * 60 * 60);
const PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// How often a node looks for channel tokens to refresh. Each channel is claimed by one node
/// at most once a day, so the job is daily per channel; looking hourly catches a node that
/// was down at the time.
const TOKEN_CHECK_INTERVAL_MS: Millis = 60 * 60 * 1_000;
/// How often a node looks for channels another node changed (reconnected, switched off,
/// removed).
const CHANNEL_SYNC_INTERVAL: Duration = Duration::from_secs(2);
/// How often a node numbers the console events nobody has numbered yet (Postgres: the agent
/// hubs number them as they read, and this catches an organisation with no console connected).
const NUMBERING_INTERVAL: Duration = Duration::from_secs(1);
/// How long the event log keeps events for consoles to replay; one further behind reloads.
const EVENT_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

pub(crate) async fn run(core: Arc<Core>) {
    let mut shutdown = core.shutdown_signal();
    let mut jumps = core.clock.jumps();
    // Timers handed to an actor but not yet claimed, with the due time they had, so one due
    // timer is not dispatched on every look.
    let mut dispatched: HashMap<i64, Millis> = HashMap::new();
    let mut last_sweep = Instant::now();
    let mut last_prune: Option<Instant> = None;
    let mut last_channel_sync = Instant::now();
    let mut last_numbering = Instant::now();
    let mut next_token_check: Millis = 0;
    let mut channels_seen = core.clock.now();
    loop {
        let now = core.clock.now();
        match core.store.due_timers(now, TIMER_BATCH).await {
            Ok(timers) => {
                let due: HashMap<i64, Millis> = timers
                    .iter()
                    .map(|timer| (timer.id, timer.due_at))
                    .collect();
                dispatched.retain(|id, due_at| due.get(id) == Some(due_at));
                for timer in timers {
                    if dispatched.get(&timer.id) == Some(&timer.due_at) {
                        continue;
                    }
                    dispatched.insert(timer.id, timer.due_at);
                    let key = ConversationKey::new(timer.channel_id, &timer.contact_external_id);
                    core.conversations
                        .dispatch(&core, key, ConversationCommand::Timer(timer));
                }
            }
            Err(error) => tracing::warn!(error = %error, "failed to read due timers"),
        }
        if last_sweep.elapsed() >= core.settings.sweep_interval {
            last_sweep = Instant::now();
            let settled = now.saturating_sub(
                i64::try_from(core.settings.sweep_interval.as_millis()).unwrap_or(0),
            );
            if let Err(error) = replay_unprocessed(&core, settled).await {
                tracing::warn!(error = %error, "failed to sweep unprocessed inbound events");
            }
        }
        if last_numbering.elapsed() >= NUMBERING_INTERVAL {
            last_numbering = Instant::now();
            if let Err(error) = core.store.sequence_all_events().await {
                tracing::warn!(error = %error, "failed to number console events");
            }
        }
        if last_channel_sync.elapsed() >= CHANNEL_SYNC_INTERVAL {
            last_channel_sync = Instant::now();
            match core.sync_channels(channels_seen).await {
                Ok(newest) => channels_seen = newest,
                Err(error) => tracing::warn!(error = %error, "failed to look for changed channels"),
            }
        }
        if now >= next_token_check {
            next_token_check = now.saturating_add(TOKEN_CHECK_INTERVAL_MS);
            match super::tokens::refresh_due(&core).await {
                Ok(0) => {}
                Ok(refreshed) => tracing::info!(channels = refreshed, "refreshed channel tokens"),
                Err(error) => {
                    tracing::warn!(error = %error, "failed to look for tokens to refresh")
                }
            }
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_INTERVAL) {
            last_prune = Some(Instant::now());
            let horizon =
                now.saturating_sub(i64::try_from(inbound_retention().as_millis()).unwrap_or(0));
            match core.store.prune_inbound(horizon).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(
                    rows = pruned,
                    "pruned inbound rows past the redelivery horizon"
                ),
                Err(error) => tracing::warn!(error = %error, "failed to prune inbound rows"),
            }
            let horizon =
                now.saturating_sub(i64::try_from(EVENT_RETENTION.as_millis()).unwrap_or(i64::MAX));
            match core.store.prune_events(horizon).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(rows = pruned, "pruned console events past a week"),
                Err(error) => tracing::warn!(error = %error, "failed to prune console events"),
            }
            match core
                .store
                .prune_consent_nonces(now.saturating_sub(super::connections::CONSENT_TTL_MS * 4))
                .await
            {
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "failed to prune consent nonces"),
            }
        }
        if let Ok(depth) = core.store.outbox_depth().await {
            core.metrics.outbox_depth.set(depth);
        }
        let nap = match core.store.next_timer_due().await {
            Ok(Some(due)) => Duration::from_millis(
                u64::try_from(due.saturating_sub(core.clock.now())).unwrap_or(0),
            )
            .min(MAX_NAP),
            _ => MAX_NAP,
        };
        let nap = nap.max(Duration::from_millis(5));
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = async { match jumps.as_mut() { Some(jumps) => { let _ = jumps.changed().await; } None => std::future::pending().await } } => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// How long processed inbound rows are kept: the longest redelivery horizon of any channel
/// kind (WhatsApp: 7 days) plus a margin.
fn inbound_retention() -> Duration {
    ChannelKind::ALL
        .iter()
        .map(ChannelKind::webhook_redelivery_horizon)
        .max()
        .unwrap_or_default()
        + RETENTION_MARGIN
}

/// Dispatches every unprocessed, unquarantined inbound row received up to `received_before`
/// to its conversation actor. Actors skip rows already processed, so a row dispatched twice is
/// handled once.
pub(crate) async fn replay_unprocessed(
    core: &Arc<Core>,
    received_before: Millis,
) -> Result<usize, StoreError> {
    let mut after = 0;
    let mut count = 0;
    loop {
        let page = core
            .store
            .unprocessed_inbound(after, received_before, REPLAY_PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let full = page.len() as i64 == REPLAY_PAGE;
        for row in page {
            let event: InboundEvent = match serde_json::from_str(&row.payload) {
                Ok(event) => event,
                Err(error) => {
                    tracing::error!(inbound_id = row.id, error = %error, "an inbound row does not parse");
                    let _ = core
                        .store
                        .record_inbound_failure(
                            row.id,
                            &format!("payload does not parse: {error}"),
                            1,
                            core.clock.now(),
                        )
                        .await;
                    continue;
                }
            };
            count += 1;
            let key = ConversationKey::new(row.channel_id, &row.contact_external_id);
            core.conversations.dispatch(
                core,
                key,
                ConversationCommand::Inbound {
                    inbound_id: row.id,
                    org_id: row.org_id,
                    event,
                    received_at: row.received_at,
                    fresh: false,
                },
            );
        }
        if !full {
            break;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_rows_outlive_whatsapps_seven_days_of_redelivery() {
        assert_eq!(inbound_retention(), Duration::from_secs(8 * 24 * 60 * 60));
    }
}
