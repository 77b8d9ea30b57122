//! The outbox: one row per outbound message, written in the same transaction as the message,
//! and drained by the channel actor.

use super::conversations::NewMessage;
use super::records::{parsed, parsed_json, OutboxRecord};
use super::script::Script;
use super::{Store, StoreResult};
use crate::domain::partition::partition_of;
use crate::domain::{ChannelId, DeliveryStatus, MessageId, Millis};

/// The mask of `Store::due_outbox` that reads the rows of every partition.
pub const ALL_PARTITIONS: i64 = -1;
use sqlx::Row;

/// Plans the outbox row of an outbound `message` for `recipient`, and answers the row as the
/// channel actor takes it, to be handed over once the write commits.
pub fn insert_outbox_into(
    script: &mut Script,
    message: &NewMessage<'_>,
    recipient: &str,
) -> OutboxRecord {
    let now = message.received_at;
    script.push(
        "INSERT INTO outbox (org_id, channel_id, conversation_id, message_id, recipient, status,
                             next_attempt_at, created_at, updated_at, partition_no)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6, $7)",
        vec![
            message.org_id.to_string().into(),
            message.channel_id.to_string().into(),
            message.conversation_id.to_string().into(),
            message.id.to_string().into(),
            recipient.into(),
            now.into(),
            i64::from(partition_of(message.channel_id, recipient)).into(),
        ],
    );
    OutboxRecord {
        org_id: message.org_id,
        channel_id: message.channel_id,
        conversation_id: message.conversation_id,
        message_id: message.id,
        recipient: recipient.to_owned(),
        content: message.content.clone(),
        reply_to_provider_message_id: message.reply_to_provider_message_id.map(str::to_owned),
        attempts: 0,
        created_at: now,
    }
}

impl Store {
    /// Rows of a channel whose send is due, oldest first, once they are durable. A row stays
    /// `pending` until the provider's answer is recorded, so a send cut short by a crash is
    /// due again (it may or may not have reached the provider: the one window for a
    /// duplicate).
    /// What the messaging window of an outbound message depends on: when its conversation's
    /// contact last wrote, and whether a team member (not the bot) wrote the message.
    pub async fn messaging_window(
        &self,
        message_id: MessageId,
    ) -> StoreResult<(Option<Millis>, bool)> {
        let row = sqlx::query(
            "SELECT c.last_inbound_at, m.sender_kind
               FROM messages m JOIN conversations c ON c.id = m.conversation_id
              WHERE m.id = $1",
        )
        .bind(message_id.to_string())
        .fetch_one(self.reader())
        .await?;
        let sender: String = row.try_get("sender_kind")?;
        Ok((row.try_get("last_inbound_at")?, sender == "agent"))
    }

    ///
    /// `partitions` is a mask of the conversation partitions whose rows to read (bit `n` for
    /// partition `n`; `ALL_PARTITIONS` for every row): with several nodes, each reads the rows
    /// of the conversations it owns.
    pub async fn due_outbox(
        &self,
        channel_id: ChannelId,
        now: Millis,
        limit: i64,
        partitions: i64,
    ) -> StoreResult<Vec<OutboxRecord>> {
        let rows = sqlx::query(
            "SELECT o.org_id, o.channel_id, o.conversation_id, o.message_id, o.recipient,
                    o.attempts, o.created_at, m.content,
                    m.reply_to_provider_message_id
               FROM outbox o JOIN messages m ON m.id = o.message_id
              WHERE o.channel_id = $1 AND o.status IN ('pending', 'sending') AND o.next_attempt_at <= $2
                AND (o.partition_no < 0 OR ((CAST(1 AS BIGINT) << o.partition_no) & $4) <> 0)
              ORDER BY o.id LIMIT $3",
        )
        .bind(channel_id.to_string())
        .bind(now)
        .bind(limit)
        .bind(partitions)
        .fetch_all(self.reader())
        .await?;
        self.durable().await;
        rows.iter()
            .map(|row| {
                Ok(OutboxRecord {
                    org_id: parsed(row, "org_id")?,
                    channel_id: parsed(row, "channel_id")?,
                    conversation_id: parsed(row, "conversation_id")?,
                    message_id: parsed(row, "message_id")?,
                    recipient: row.try_get("recipient")?,
                    content: parsed_json(row, "content")?,
                    reply_to_provider_message_id: row.try_get("reply_to_provider_message_id")?,
                    attempts: row.try_get("attempts")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// When the next not-yet-due row of a channel becomes due.
    pub async fn next_outbox_due(&self, channel_id: ChannelId) -> StoreResult<Option<Millis>> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at) AS due FROM outbox
              WHERE channel_id = $1 AND status IN ('pending', 'sending')",
        )
        .bind(channel_id.to_string())
        .fetch_one(self.reader())
        .await?;
        Ok(row.try_get("due")?)
    }

    /// The provider accepted the message: record its id and move the message to `sent`
    /// (unless a status webhook already moved it further).
    pub async fn mark_outbox_sent(
        &self,
        message_id: MessageId,
        provider_message_id: &str,
        now: Millis,
        events: Script,
    ) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, last_error = NULL, updated_at = $1
              WHERE message_id = $2",
            vec![now.into(), message_id.to_string().into()],
        );
        script.push(
            "UPDATE messages SET provider_message_id = $1, updated_at = $2,
                    delivery_status = CASE WHEN delivery_rank < $3 THEN 'sent' ELSE delivery_status END,
                    delivery_rank = CASE WHEN delivery_rank < $3 THEN $3 ELSE delivery_rank END
              WHERE id = $4",
            vec![
                provider_message_id.into(),
                now.into(),
                DeliveryStatus::Sent.rank().into(),
                message_id.to_string().into(),
            ],
        );
        script.append(events);
        self.write_script(script).await
    }

    /// A temporary failure: try again at `next_attempt_at`.
    pub async fn reschedule_outbox(
        &self,
        message_id: MessageId,
        next_attempt_at: Millis,
        error: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "UPDATE outbox SET status = 'pending', attempts = attempts + 1, next_attempt_at = $1,
                    last_error = $2, updated_at = $3
              WHERE message_id = $4",
            vec![
                next_attempt_at.into(),
                error.into(),
                now.into(),
                message_id.to_string().into(),
            ],
        );
        self.write_script(script).await
    }

    /// A permanent failure: the message is `failed` with the provider's reason. `attempted`
    /// says whether the provider was called (and the attempt counts).
    pub async fn fail_outbox(
        &self,
        message_id: MessageId,
        reason: &str,
        attempted: bool,
        now: Millis,
        events: Script,
    ) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "UPDATE outbox SET status = 'failed', attempts = attempts + $1, last_error = $2, updated_at = $3
              WHERE message_id = $4",
            vec![
                i64::from(attempted).into(),
                reason.into(),
                now.into(),
                message_id.to_string().into(),
            ],
        );
        script.push(
            "UPDATE messages SET delivery_status = 'failed', delivery_rank = $1, failure_reason = $2,
                    updated_at = $3 WHERE id = $4",
            vec![DeliveryStatus::Failed.rank().into(), reason.into(), now.into(), message_id.to_string().into()],
        );
        script.append(events);
        self.write_script(script).await
    }

    /// Rows waiting to be sent, across all channels (the `outbox depth` metric).
    pub async fn outbox_depth(&self) -> StoreResult<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending')")
                .fetch_one(self.reader())
                .await?;
        Ok(row.try_get("n")?)
    }
}
