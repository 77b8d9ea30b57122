//! Keeping channels' tokens alive. A consent-connected channel whose token expires within 7
//! days is refreshed (a long-lived token exchanged for a new one) by the scheduler's token
//! job, at most once a day per channel and by one node only (`claim_token_check`). A refresh
//! or a send that finds the token dead moves the channel to `needs_reconnect` and tells the
//! organisation's owners and admins, once.

use super::bus::{log_into, Event};
use super::core::{ChannelRuntime, Core};
use crate::adapters::meta::GraphFailure;
use crate::domain::{ChannelId, ChannelKind, ChannelStatus, Millis, OrgId, UserId};
use crate::store::notifications::{kind, notify_into, NotificationRecord};
use crate::store::script::Script;
use crate::store::{ChannelRecord, Columns, StoreError};
use std::sync::Arc;

const DAY_MS: Millis = 24 * 60 * 60 * 1_000;
/// How long before its expiry a token is refreshed.
const REFRESH_AHEAD_MS: Millis = 7 * DAY_MS;
/// A channel's token is looked at no more than once in this long.
const CHECK_EVERY_MS: Millis = 20 * 60 * 60 * 1_000;
/// After a refresh that failed for a passing reason, the next try comes this much later.
const RETRY_AFTER_MS: Millis = 60 * 60 * 1_000;
const BATCH: i64 = 100;

/// Refreshes every token due; returns how many were refreshed.
pub(crate) async fn refresh_due(core: &Arc<Core>) -> Result<usize, StoreError> {
    let now = core.clock.now();
    let checked_before = now.saturating_sub(CHECK_EVERY_MS);
    let due = core
        .store
        .channels_with_tokens_due(now.saturating_add(REFRESH_AHEAD_MS), checked_before, BATCH)
        .await?;
    let mut refreshed = 0;
    for record in due {
        if !core
            .store
            .claim_token_check(record.id, checked_before, now)
            .await?
        {
            continue;
        }
        if refresh(core, &record).await {
            refreshed += 1;
        }
    }
    Ok(refreshed)
}

/// Exchanges a channel's token for a new long-lived one and restarts its actor with it.
async fn refresh(core: &Arc<Core>, record: &ChannelRecord) -> bool {
    if record.kind != ChannelKind::WhatsappCloud {
        // Page tokens from a long-lived user token do not expire.
        return false;
    }
    let now = core.clock.now();
    let secrets = match core.master_key.decrypt(&record.sealed_secrets) {
        Ok(plain) => plain,
        Err(error) => {
            tracing::error!(channel_id = %record.id, error = %error, "a channel's credentials cannot be opened");
            return false;
        }
    };
    let Ok(mut secrets) = serde_json::from_slice::<serde_json::Value>(&secrets) else {
        return false;
    };
    let Some(token) = secrets.get("access_token").and_then(|token| token.as_str()) else {
        return false;
    };
    match core.settings.meta.graph.long_lived(token).await {
        Ok(fresh) => {
            let expires_at = fresh
                .expires_in
                .filter(|seconds| *seconds > 0)
                .map(|seconds| now.saturating_add(seconds.saturating_mul(1_000)));
            secrets["access_token"] = fresh.access_token.into();
            let sealed = core.master_key.encrypt(secrets.to_string().as_bytes());
            if let Err(error) = core
                .store
                .set_channel_token(record.id, &sealed, expires_at, now)
                .await
            {
                tracing::error!(channel_id = %record.id, error = %error, "failed to store a refreshed token");
                return false;
            }
            match core.store.channel(record.org_id, record.id).await {
                Ok(updated) => {
                    if let Err(error) = core.start_channel(&updated) {
                        tracing::error!(channel_id = %record.id, error = %error, "failed to restart a channel with its new token");
                    }
                }
                Err(error) => {
                    tracing::warn!(channel_id = %record.id, error = %error, "the refreshed channel will be restarted by the next sync")
                }
            }
            tracing::info!(channel_id = %record.id, expires_at, "channel token refreshed");
            true
        }
        Err(GraphFailure::Credentials(reason)) => {
            let reason = format!("session has expired: Meta no longer accepts the channel's token ({reason}); reconnect the channel");
            if let Err(error) =
                needs_reconnect(core, record.org_id, record.id, &record.name, &reason).await
            {
                tracing::error!(channel_id = %record.id, error = %error, "failed to record a dead token");
            }
            false
        }
        Err(failure) => {
            tracing::warn!(channel_id = %record.id, error = %failure, "a token refresh failed; it is tried again in an hour");
            let retry_at = now
                .saturating_sub(CHECK_EVERY_MS)
                .saturating_add(RETRY_AFTER_MS);
            if let Err(error) = core.store.set_token_checked(record.id, retry_at).await {
                tracing::warn!(channel_id = %record.id, error = %error, "failed to schedule a token retry");
            }
            false
        }
    }
}

/// Moves a channel to `needs_reconnect` with `reason` and notifies its organisation's owners
/// and admins, in one write; nothing happens when it is already there. The channel's actor
/// on this node hears of it at once, other nodes at their next channel sync.
pub(crate) async fn needs_reconnect(
    core: &Arc<Core>,
    org_id: OrgId,
    channel_id: ChannelId,
    channel_name: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let now = core.clock.now();
    let title = format!("{channel_name} needs to be reconnected");
    let (reason_owned, title_owned) = (reason.to_owned(), title);
    let notified: Vec<(UserId, NotificationRecord)> = core
        .store
        .write(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "UPDATE channels SET status = 'needs_reconnect', status_reason = $1, updated_at = $2
                          WHERE id = $3 AND status <> 'needs_reconnect' AND deleted_at IS NULL",
                        vec![
                            reason_owned.as_str().into(),
                            now.into(),
                            channel_id.to_string().into(),
                        ],
                    )
                    .await?;
                if changed == 0 {
                    return Ok(Vec::new());
                }
                let managers = tx
                    .fetch_all(
                        "SELECT id FROM users WHERE org_id = $1 AND role IN ('owner', 'admin')
                          ORDER BY created_at, id",
                        vec![org_id.to_string().into()],
                    )
                    .await?;
                let mut script = Script::new();
                let mut notified = Vec::new();
                let mut events = vec![Event::ChannelUpdated {
                    channel_id,
                    status: ChannelStatus::NeedsReconnect,
                    reason: Some(reason_owned.clone()),
                }];
                for row in &managers {
                    let user_id: UserId = row
                        .text("id")?
                        .parse()
                        .map_err(|_| StoreError::Corrupt("users.id is not an id".into()))?;
                    let record = notify_into(
                        &mut script,
                        org_id,
                        user_id,
                        kind::CHANNEL_NEEDS_RECONNECT,
                        None,
                        &title_owned,
                        &reason_owned,
                        now,
                    );
                    events.push(Event::NotificationCreated {
                        user_id,
                        notification: Box::new(record.clone()),
                    });
                    notified.push((user_id, record));
                }
                log_into(&mut script, org_id, &events, now);
                tx.run(&script).await?;
                Ok(notified)
            })
        })
        .await?;
    if let Some(runtime) = core.channel(channel_id) {
        runtime.set_status(ChannelStatus::NeedsReconnect, Some(reason.to_owned()));
    }
    if notified.is_empty() {
        return Ok(());
    }
    tracing::warn!(channel_id = %channel_id, reason, "channel needs a reconnect; owners and admins notified");
    core.bus.publish(
        org_id,
        Event::ChannelUpdated {
            channel_id,
            status: ChannelStatus::NeedsReconnect,
            reason: Some(reason.to_owned()),
        },
    );
    for (user_id, notification) in notified {
        core.bus.publish(
            org_id,
            Event::NotificationCreated {
                user_id,
                notification: Box::new(notification),
            },
        );
    }
    Ok(())
}

/// The same for a channel whose send was refused for its credentials.
pub(crate) async fn send_refused(core: &Arc<Core>, runtime: &ChannelRuntime, reason: &str) {
    if let Err(error) =
        needs_reconnect(core, runtime.org_id, runtime.id, &runtime.name, reason).await
    {
        tracing::error!(channel_id = %runtime.id, error = %error, "failed to record the channel status");
    }
}
