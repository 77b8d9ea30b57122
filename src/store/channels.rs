//! Channels: configuration (credentials sealed by the caller), status and soft deletion.

use super::records::{parsed, ChannelRecord};
use super::script::Script;
use super::{Store, StoreError, StoreResult};
use crate::domain::{ChannelId, ChannelKind, ChannelStatus, Millis, OrgId};
use sqlx::any::AnyRow;
use sqlx::Row;

pub struct NewChannel {
    pub id: ChannelId,
    pub org_id: OrgId,
    pub kind: ChannelKind,
    pub name: String,
    pub status: ChannelStatus,
    pub status_reason: Option<String>,
    pub public_config: serde_json::Value,
    pub sealed_secrets: String,
    pub connection: ChannelConnection,
}

/// What a channel's provider told about it when it was connected or reconnected.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelConnection {
    /// The provider's id of the account (phone number id, Page id, Instagram account id).
    pub account_id: Option<String>,
    /// Shown on the channel's card: business name and number, Page name, handle, followers.
    pub metadata: serde_json::Value,
    pub webhook_attached: bool,
    pub verified: bool,
    pub setup: Setup,
    pub token_expires_at: Option<Millis>,
}

impl Default for ChannelConnection {
    fn default() -> Self {
        Self {
            account_id: None,
            metadata: serde_json::json!({}),
            webhook_attached: false,
            verified: false,
            setup: Setup::Manual,
            token_expires_at: None,
        }
    }
}

/// How a channel was connected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Setup {
    /// Credentials entered by hand (advanced setup), or a channel Parley hosts itself.
    #[default]
    Manual,
    /// The provider's consent flow.
    Consent,
}

impl Setup {
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Manual => "manual",
            Setup::Consent => "consent",
        }
    }
}

impl std::str::FromStr for Setup {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "manual" => Ok(Setup::Manual),
            "consent" => Ok(Setup::Consent),
            other => Err(format!("unknown channel setup `{other}`")),
        }
    }
}

/// New credentials and provider facts for a channel refreshed in place.
pub struct ChannelRefresh {
    pub status: ChannelStatus,
    pub status_reason: Option<String>,
    pub public_config: serde_json::Value,
    pub sealed_secrets: String,
    pub connection: ChannelConnection,
}

/// A channel's counts for `GET /api/v1/channels/{id}/stats`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ChannelStats {
    pub messages_received: i64,
    /// Messages sent by the bot and the team (notes and system lines are not messages).
    pub messages_sent: i64,
    pub messages_failed: i64,
    pub conversations: i64,
    /// Conversations with at least one message in the period.
    pub active_conversations: i64,
    /// Median time from a conversation's first guest message to the first answer after it,
    /// in milliseconds; `None` when no conversation was answered.
    pub median_first_response_ms: Option<i64>,
    pub answered_conversations: i64,
}

/// A channel changed since a node last looked, for keeping every node's channel actors
/// current.
#[derive(Clone, Debug)]
pub struct ChangedChannel {
    pub record: ChannelRecord,
    pub deleted: bool,
}

const COLUMNS: &str = "id, org_id, kind, name, status, status_reason, active, public_config, \
                       secret_config, created_at, updated_at, account_id, metadata, \
                       webhook_attached, verified, setup, token_expires_at, journey_id, \
                       bot_user_id, deleted_at";

fn channel_from_row(row: &AnyRow) -> StoreResult<ChannelRecord> {
    let public_config: String = row.try_get("public_config")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(ChannelRecord {
        id: parsed(row, "id")?,
        org_id: parsed(row, "org_id")?,
        kind: parsed(row, "kind")?,
        name: row.try_get("name")?,
        status: parsed(row, "status")?,
        status_reason: row.try_get("status_reason")?,
        active: row.try_get::<i64, _>("active")? != 0,
        public_config: serde_json::from_str(&public_config)
            .map_err(|error| StoreError::Corrupt(format!("public_config: {error}")))?,
        sealed_secrets: row.try_get("secret_config")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        connection: ChannelConnection {
            account_id: row.try_get("account_id")?,
            metadata: serde_json::from_str(&metadata)
                .map_err(|error| StoreError::Corrupt(format!("metadata: {error}")))?,
            webhook_attached: row.try_get::<i64, _>("webhook_attached")? != 0,
            verified: row.try_get::<i64, _>("verified")? != 0,
            setup: parsed(row, "setup")?,
            token_expires_at: row.try_get("token_expires_at")?,
        },
        journey_id: row.try_get("journey_id")?,
        bot_user_id: row.try_get("bot_user_id")?,
    })
}

impl Store {
    pub async fn insert_channel(&self, channel: &NewChannel, now: Millis) -> StoreResult<()> {
        let connection = &channel.connection;
        let mut script = Script::new();
        script.push(
            "INSERT INTO channels (id, org_id, kind, name, status, status_reason, active,
                                   public_config, secret_config, created_at, updated_at,
                                   account_id, metadata, webhook_attached, verified, setup,
                                   token_expires_at, token_checked_at)
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $9, $10, $11, $12, $13, $14, $15, $9)",
            vec![
                channel.id.to_string().into(),
                channel.org_id.to_string().into(),
                channel.kind.as_str().into(),
                channel.name.as_str().into(),
                channel.status.as_str().into(),
                channel.status_reason.as_deref().into(),
                channel.public_config.to_string().into(),
                channel.sealed_secrets.as_str().into(),
                now.into(),
                connection.account_id.as_deref().into(),
                connection.metadata.to_string().into(),
                i64::from(connection.webhook_attached).into(),
                i64::from(connection.verified).into(),
                connection.setup.as_str().into(),
                connection.token_expires_at.into(),
            ],
        );
        self.write_script(script).await
    }

    /// Gives a channel new credentials and what the provider told about it, in place: same
    /// id, same conversations. Used by reconnect and by a consent flow that finds an account
    /// already connected. The status is the caller's (normally `connected`).
    pub async fn refresh_channel(
        &self,
        org_id: OrgId,
        id: ChannelId,
        refresh: ChannelRefresh,
        now: Millis,
        events: Script,
    ) -> StoreResult<()> {
        let connection = refresh.connection;
        let values = vec![
            refresh.status.as_str().into(),
            refresh.status_reason.into(),
            refresh.public_config.to_string().into(),
            refresh.sealed_secrets.into(),
            connection.account_id.into(),
            connection.metadata.to_string().into(),
            i64::from(connection.webhook_attached).into(),
            i64::from(connection.verified).into(),
            connection.setup.as_str().into(),
            connection.token_expires_at.into(),
            now.into(),
            id.to_string().into(),
            org_id.to_string().into(),
        ];
        self.write(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "UPDATE channels SET status = $1, status_reason = $2, public_config = $3,
                                secret_config = $4, account_id = $5, metadata = $6,
                                webhook_attached = $7, verified = $8, setup = $9,
                                token_expires_at = $10, token_checked_at = $11, updated_at = $11
                          WHERE id = $12 AND org_id = $13 AND deleted_at IS NULL",
                        values,
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                tx.run(&events).await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn list_channels(&self, org_id: OrgId) -> StoreResult<Vec<ChannelRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE org_id = $1 AND deleted_at IS NULL
             ORDER BY created_at, id"
        ))
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    /// A channel of one organisation; another organisation's channel is `NotFound`.
    pub async fn channel(&self, org_id: OrgId, id: ChannelId) -> StoreResult<ChannelRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL"
        ))
        .bind(id.to_string())
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        channel_from_row(&row)
    }

    /// A channel by id alone, for webhook ingress, where the provider (not a tenant) calls.
    pub async fn channel_for_ingress(&self, id: ChannelId) -> StoreResult<ChannelRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id.to_string())
        .fetch_one(self.reader())
        .await?;
        channel_from_row(&row)
    }

    /// Every live channel, for starting channel actors at boot.
    pub async fn all_channels(&self) -> StoreResult<Vec<ChannelRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE deleted_at IS NULL ORDER BY created_at"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    pub async fn delete_channel(
        &self,
        org_id: OrgId,
        id: ChannelId,
        now: Millis,
    ) -> StoreResult<()> {
        let values = vec![now.into(), id.to_string().into(), org_id.to_string().into()];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE channels SET deleted_at = $1, updated_at = $1, status = 'disconnected'
                     WHERE id = $2 AND org_id = $3 AND deleted_at IS NULL",
                    values,
                ))
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The live channel of a provider account, for routing an app's webhooks and for
    /// recognising a returning account in a consent flow. Unscoped: a provider is calling.
    pub async fn channel_by_account(
        &self,
        kind: ChannelKind,
        account_id: &str,
    ) -> StoreResult<Option<ChannelRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels
              WHERE kind = $1 AND account_id = $2 AND deleted_at IS NULL"
        ))
        .bind(kind.as_str())
        .bind(account_id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    /// Channels changed (or deleted) after `since`, oldest change first, for keeping the
    /// channel actors of every node current.
    pub async fn channels_changed_since(&self, since: Millis) -> StoreResult<Vec<ChangedChannel>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE updated_at > $1 ORDER BY updated_at, id"
        ))
        .bind(since)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ChangedChannel {
                    record: channel_from_row(row)?,
                    deleted: row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
                })
            })
            .collect()
    }

    /// Runs one conditional update of a live channel of the organisation, with its events;
    /// `NotFound` when no live channel matched.
    async fn update_channel(
        &self,
        sql: &'static str,
        values: Vec<super::script::Value>,
        events: Script,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            Box::pin(async move {
                if tx.execute(sql, values).await? == 0 {
                    return Err(StoreError::NotFound);
                }
                tx.run(&events).await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn rename_channel(
        &self,
        org_id: OrgId,
        id: ChannelId,
        name: &str,
        now: Millis,
    ) -> StoreResult<()> {
        self.update_channel(
            "UPDATE channels SET name = $1, updated_at = $2
              WHERE id = $3 AND org_id = $4 AND deleted_at IS NULL",
            vec![
                name.into(),
                now.into(),
                id.to_string().into(),
                org_id.to_string().into(),
            ],
            Script::new(),
        )
        .await
    }

    /// Activates or deactivates a channel; an inactive channel keeps its credentials.
    pub async fn set_channel_active(
        &self,
        org_id: OrgId,
        id: ChannelId,
        active: bool,
        now: Millis,
        events: Script,
    ) -> StoreResult<()> {
        self.update_channel(
            "UPDATE channels SET active = $1, updated_at = $2
              WHERE id = $3 AND org_id = $4 AND deleted_at IS NULL",
            vec![
                i64::from(active).into(),
                now.into(),
                id.to_string().into(),
                org_id.to_string().into(),
            ],
            events,
        )
        .await
    }

    /// Marks a channel disconnected: offline, no webhook, no journey. Its credentials and
    /// conversations are kept, so a reconnect restores it.
    pub async fn disconnect_channel(
        &self,
        org_id: OrgId,
        id: ChannelId,
        reason: Option<&str>,
        now: Millis,
        events: Script,
    ) -> StoreResult<()> {
        self.update_channel(
            "UPDATE channels SET status = 'disconnected', status_reason = $1,
                    webhook_attached = 0, journey_id = NULL, bot_user_id = NULL, updated_at = $2
              WHERE id = $3 AND org_id = $4 AND deleted_at IS NULL",
            vec![
                reason.into(),
                now.into(),
                id.to_string().into(),
                org_id.to_string().into(),
            ],
            events,
        )
        .await
    }

    /// Spends a consent state's nonce; `false` when it was spent before (a replayed state).
    pub async fn spend_consent_nonce(&self, nonce: &str, now: Millis) -> StoreResult<bool> {
        let values = vec![nonce.into(), now.into()];
        let inserted = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "INSERT INTO consent_nonces (nonce, used_at) VALUES ($1, $2)
                     ON CONFLICT (nonce) DO NOTHING",
                    values,
                ))
            })
            .await?;
        Ok(inserted > 0)
    }

    /// Forgets spent nonces older than `before`; their states expired long ago.
    pub async fn prune_consent_nonces(&self, before: Millis) -> StoreResult<u64> {
        let values = vec![before.into()];
        self.write(move |tx| {
            Box::pin(tx.execute("DELETE FROM consent_nonces WHERE used_at < $1", values))
        })
        .await
    }

    /// Records that the provider reached the channel's webhook. Returns whether this changed
    /// the badge.
    pub async fn mark_webhook_attached(&self, id: ChannelId, now: Millis) -> StoreResult<bool> {
        let values = vec![now.into(), id.to_string().into()];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE channels SET webhook_attached = 1, updated_at = $1
                      WHERE id = $2 AND webhook_attached = 0 AND deleted_at IS NULL
                        AND status <> 'disconnected'",
                    values,
                ))
            })
            .await?;
        Ok(changed > 0)
    }

    /// A QR-paired number is connected: the status, and what the provider told of the number.
    pub async fn set_channel_paired(
        &self,
        id: ChannelId,
        metadata: &serde_json::Value,
        now: Millis,
        events: Script,
    ) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "UPDATE channels SET status = 'connected', status_reason = NULL, metadata = $1,
                    webhook_attached = 1, updated_at = $2
              WHERE id = $3 AND deleted_at IS NULL AND status <> 'disconnected'",
            vec![
                metadata.to_string().into(),
                now.into(),
                id.to_string().into(),
            ],
        );
        script.append(events);
        self.write_script(script).await
    }

    /// Consent-connected channels whose token expires before `expiring_before` and that no
    /// node checked since `checked_before`.
    pub async fn channels_with_tokens_due(
        &self,
        expiring_before: Millis,
        checked_before: Millis,
        limit: i64,
    ) -> StoreResult<Vec<ChannelRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels
              WHERE deleted_at IS NULL AND setup = 'consent' AND status <> 'disconnected'
                AND token_expires_at IS NOT NULL AND token_expires_at < $1
                AND (token_checked_at IS NULL OR token_checked_at < $2)
              ORDER BY token_expires_at LIMIT $3"
        ))
        .bind(expiring_before)
        .bind(checked_before)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    /// Claims a channel's token check for this node: only one node wins a given day's check,
    /// so refreshes are single-flight across nodes.
    pub async fn claim_token_check(
        &self,
        id: ChannelId,
        checked_before: Millis,
        now: Millis,
    ) -> StoreResult<bool> {
        let values = vec![now.into(), id.to_string().into(), checked_before.into()];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE channels SET token_checked_at = $1
                      WHERE id = $2 AND (token_checked_at IS NULL OR token_checked_at < $3)",
                    values,
                ))
            })
            .await?;
        Ok(changed > 0)
    }

    /// Sets when a channel's token was last looked at, e.g. back, so that it is tried again
    /// sooner after a passing failure.
    pub async fn set_token_checked(&self, id: ChannelId, at: Millis) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "UPDATE channels SET token_checked_at = $1 WHERE id = $2",
            vec![at.into(), id.to_string().into()],
        );
        self.write_script(script).await
    }

    /// Stores a refreshed token and its expiry.
    pub async fn set_channel_token(
        &self,
        id: ChannelId,
        sealed_secrets: &str,
        token_expires_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "UPDATE channels SET secret_config = $1, token_expires_at = $2, token_checked_at = $3,
                    updated_at = $3
              WHERE id = $4 AND deleted_at IS NULL",
            vec![
                sealed_secrets.into(),
                token_expires_at.into(),
                now.into(),
                id.to_string().into(),
            ],
        );
        self.write_script(script).await
    }

    /// Counts of one channel's messages and conversations since `since`, and the median
    /// first-response time: from each conversation's first guest message in the period to
    /// the first answer after it.
    pub async fn channel_stats(
        &self,
        org_id: OrgId,
        id: ChannelId,
        since: Millis,
    ) -> StoreResult<ChannelStats> {
        let row = sqlx::query(
            "SELECT
                (SELECT COUNT(*) FROM messages m
                  WHERE m.channel_id = $1 AND m.org_id = $2 AND m.direction = 'inbound'
                    AND m.received_at >= $3) AS received,
                (SELECT COUNT(*) FROM messages m
                  WHERE m.channel_id = $1 AND m.org_id = $2 AND m.direction = 'outbound'
                    AND m.sender_kind IN ('bot', 'agent') AND m.received_at >= $3) AS sent,
                (SELECT COUNT(*) FROM messages m
                  WHERE m.channel_id = $1 AND m.org_id = $2 AND m.direction = 'outbound'
                    AND m.delivery_status = 'failed' AND m.received_at >= $3) AS failed,
                (SELECT COUNT(*) FROM conversations c
                  WHERE c.channel_id = $1 AND c.org_id = $2 AND c.created_at >= $3) AS conversations,
                (SELECT COUNT(DISTINCT m.conversation_id) FROM messages m
                  WHERE m.channel_id = $1 AND m.org_id = $2 AND m.received_at >= $3) AS active",
        )
        .bind(id.to_string())
        .bind(org_id.to_string())
        .bind(since)
        .fetch_one(self.reader())
        .await?;
        // Each conversation's first guest message in the period and the first answer after it.
        let waits = sqlx::query(
            "SELECT (SELECT MIN(a.received_at) FROM messages a
                      WHERE a.conversation_id = f.conversation_id AND a.direction = 'outbound'
                        AND a.sender_kind IN ('bot', 'agent') AND a.received_at >= f.first_in)
                    - f.first_in AS wait
               FROM (SELECT m.conversation_id, MIN(m.received_at) AS first_in
                       FROM messages m
                      WHERE m.channel_id = $1 AND m.org_id = $2 AND m.direction = 'inbound'
                        AND m.received_at >= $3
                      GROUP BY m.conversation_id) f",
        )
        .bind(id.to_string())
        .bind(org_id.to_string())
        .bind(since)
        .fetch_all(self.reader())
        .await?;
        let mut answered: Vec<i64> = waits
            .iter()
            .map(|row| row.try_get::<Option<i64>, _>("wait"))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        answered.sort_unstable();
        Ok(ChannelStats {
            messages_received: row.try_get("received")?,
            messages_sent: row.try_get("sent")?,
            messages_failed: row.try_get("failed")?,
            conversations: row.try_get("conversations")?,
            active_conversations: row.try_get("active")?,
            median_first_response_ms: median(&answered),
            answered_conversations: i64::try_from(answered.len()).unwrap_or(i64::MAX),
        })
    }

    pub async fn set_channel_status(
        &self,
        id: ChannelId,
        status: ChannelStatus,
        reason: Option<&str>,
        now: Millis,
        events: Script,
    ) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "UPDATE channels SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4",
            vec![
                status.as_str().into(),
                reason.into(),
                now.into(),
                id.to_string().into(),
            ],
        );
        script.append(events);
        self.write_script(script).await
    }
}

/// The median of sorted values: the middle one, or the mean of the two middle ones.
fn median(sorted: &[i64]) -> Option<i64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_two_middle_ones() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7]), Some(7));
        assert_eq!(median(&[1, 3, 100]), Some(3));
        assert_eq!(median(&[1, 3, 5, 100]), Some(4));
    }
}
