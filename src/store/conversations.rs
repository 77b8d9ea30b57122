//! Contacts, conversations and their messages.

use super::records::{
    parsed, parsed_json, to_json, ContactRecord, ConversationRecord, MessageRecord,
};
use super::script::Script;
use super::{Store, StoreResult, Tx};
use crate::domain::{
    ChannelId, ContactId, ConversationId, ConversationStatus, DeliveryStatus, Direction,
    MessageContent, MessageId, Millis, OrgId, SenderKind, UserId,
};
use sqlx::any::AnyRow;
use sqlx::Row;

pub struct NewMessage<'a> {
    pub id: MessageId,
    pub org_id: OrgId,
    pub conversation_id: ConversationId,
    pub channel_id: ChannelId,
    pub direction: Direction,
    pub sender_kind: SenderKind,
    /// The user who sent it: the agent, or the bot identity a journey speaks as.
    pub sender_id: Option<UserId>,
    pub content: &'a MessageContent,
    pub journey_step: Option<&'a str>,
    pub provider_message_id: Option<&'a str>,
    pub reply_to_provider_message_id: Option<&'a str>,
    pub delivery_status: DeliveryStatus,
    pub provider_timestamp: Option<Millis>,
    pub received_at: Millis,
}

/// Filters of the conversation list.
#[derive(Clone, Debug, Default)]
pub struct ConversationQuery {
    pub channel_id: Option<ChannelId>,
    pub status: Option<ConversationStatus>,
    pub limit: i64,
}

/// What a delivery-status update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryUpdate {
    Applied {
        message_id: MessageId,
        conversation_id: ConversationId,
    },
    /// The message already had this status or a later one.
    Stale,
    /// No message with this provider id (yet): the send may not have been recorded.
    UnknownMessage,
}

/// Creates the contact, or refreshes its name and phone when the provider sends newer ones.
pub async fn upsert_contact(
    tx: &mut Tx,
    org_id: OrgId,
    channel_id: ChannelId,
    external_id: &str,
    name: Option<&str>,
    phone: Option<&str>,
    now: Millis,
) -> StoreResult<ContactId> {
    let row = tx
        .fetch_one(
            "INSERT INTO contacts (id, org_id, channel_id, external_id, name, phone, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (channel_id, external_id) DO UPDATE
                SET name = COALESCE(excluded.name, contacts.name),
                    phone = COALESCE(excluded.phone, contacts.phone),
                    updated_at = excluded.updated_at
             RETURNING id",
            vec![
                ContactId::new().to_string().into(),
                org_id.to_string().into(),
                channel_id.to_string().into(),
                external_id.into(),
                name.into(),
                phone.into(),
                now.into(),
            ],
        )
        .await?;
    parsed(&row, "id")
}

/// Records a contact's new name or phone (a `None` keeps the stored value).
pub fn update_contact_into(
    script: &mut Script,
    id: ContactId,
    name: Option<&str>,
    phone: Option<&str>,
    now: Millis,
) {
    script.push(
        "UPDATE contacts SET name = COALESCE($1, name), phone = COALESCE($2, phone), updated_at = $3 WHERE id = $4",
        vec![name.into(), phone.into(), now.into(), id.to_string().into()],
    );
}

/// The contact's conversation, created in `bot_handling` on first contact.
pub async fn upsert_conversation(
    tx: &mut Tx,
    org_id: OrgId,
    channel_id: ChannelId,
    contact_id: ContactId,
    now: Millis,
) -> StoreResult<(ConversationId, ConversationStatus)> {
    let row = tx
        .fetch_one(
            "INSERT INTO conversations (id, org_id, channel_id, contact_id, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'bot_handling', $5, $5)
             ON CONFLICT (contact_id) DO UPDATE SET updated_at = conversations.updated_at
             RETURNING id, status",
            vec![
                ConversationId::new().to_string().into(),
                org_id.to_string().into(),
                channel_id.to_string().into(),
                contact_id.to_string().into(),
                now.into(),
            ],
        )
        .await?;
    Ok((parsed(&row, "id")?, parsed(&row, "status")?))
}

/// Records message activity on a conversation (inbound messages also move the 24-hour
/// window's start).
pub fn touch_conversation_into(script: &mut Script, id: ConversationId, at: Millis, inbound: bool) {
    let sql = if inbound {
        "UPDATE conversations SET last_message_at = $1, last_inbound_at = $1, updated_at = $1 WHERE id = $2"
    } else {
        "UPDATE conversations SET last_message_at = $1, updated_at = $1 WHERE id = $2"
    };
    script.push(sql, vec![at.into(), id.to_string().into()]);
}

pub fn set_conversation_status_into(
    script: &mut Script,
    id: ConversationId,
    status: ConversationStatus,
    now: Millis,
) {
    script.push(
        "UPDATE conversations SET status = $1, updated_at = $2 WHERE id = $3",
        vec![status.as_str().into(), now.into(), id.to_string().into()],
    );
}

/// A conversation's status, read inside a write transaction.
pub async fn conversation_status(
    tx: &mut Tx,
    id: ConversationId,
) -> StoreResult<ConversationStatus> {
    let row = tx
        .fetch_one(
            "SELECT status FROM conversations WHERE id = $1",
            vec![id.to_string().into()],
        )
        .await?;
    parsed(&row, "status")
}

pub async fn set_conversation_status(
    tx: &mut Tx,
    id: ConversationId,
    status: ConversationStatus,
    now: Millis,
) -> StoreResult<()> {
    let mut script = Script::new();
    set_conversation_status_into(&mut script, id, status, now);
    tx.run(&script).await
}

pub fn insert_message_into(script: &mut Script, message: &NewMessage<'_>) {
    script.push(
        "INSERT INTO messages (id, org_id, conversation_id, channel_id, direction, sender_kind,
                               content, journey_step, provider_message_id,
                               reply_to_provider_message_id, delivery_status, delivery_rank,
                               provider_timestamp, received_at, updated_at, sender_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15)",
        vec![
            message.id.to_string().into(),
            message.org_id.to_string().into(),
            message.conversation_id.to_string().into(),
            message.channel_id.to_string().into(),
            message.direction.as_str().into(),
            message.sender_kind.as_str().into(),
            to_json(message.content).into(),
            message.journey_step.into(),
            message.provider_message_id.into(),
            message.reply_to_provider_message_id.into(),
            message.delivery_status.as_str().into(),
            message.delivery_status.rank().into(),
            message.provider_timestamp.into(),
            message.received_at.into(),
            message.sender_id.map(|id| id.to_string()).into(),
        ],
    );
}

/// Records where a conversation was handed: a user, a team, or (both `None`) anyone.
pub fn assign_conversation_into(
    script: &mut Script,
    id: ConversationId,
    user_id: Option<&str>,
    team_id: Option<&str>,
    at: Millis,
) {
    script.push(
        "UPDATE conversations SET assigned_user_id = $2, assigned_team_id = $3, updated_at = $4
         WHERE id = $1",
        vec![
            id.to_string().into(),
            user_id.into(),
            team_id.into(),
            at.into(),
        ],
    );
}

pub async fn insert_message(tx: &mut Tx, message: &NewMessage<'_>) -> StoreResult<()> {
    let mut script = Script::new();
    insert_message_into(&mut script, message);
    tx.run(&script).await
}

/// Moves an outbound message's delivery status forward, never back.
pub async fn apply_delivery_status(
    tx: &mut Tx,
    channel_id: ChannelId,
    provider_message_id: &str,
    status: DeliveryStatus,
    failure_reason: Option<&str>,
    provider_timestamp: Option<Millis>,
    now: Millis,
) -> StoreResult<DeliveryUpdate> {
    let updated = tx
        .fetch_optional(
            "UPDATE messages
                SET delivery_status = $1, delivery_rank = $2,
                    failure_reason = COALESCE($3, failure_reason),
                    provider_timestamp = COALESCE($4, provider_timestamp), updated_at = $5
              WHERE channel_id = $6 AND provider_message_id = $7 AND direction = 'outbound'
                AND delivery_rank < $2
             RETURNING id, conversation_id",
            vec![
                status.as_str().into(),
                status.rank().into(),
                failure_reason.into(),
                provider_timestamp.into(),
                now.into(),
                channel_id.to_string().into(),
                provider_message_id.into(),
            ],
        )
        .await?;
    if let Some(row) = updated {
        return Ok(DeliveryUpdate::Applied {
            message_id: parsed(&row, "id")?,
            conversation_id: parsed(&row, "conversation_id")?,
        });
    }
    let exists = tx
        .fetch_optional(
            "SELECT id FROM messages WHERE channel_id = $1 AND provider_message_id = $2 AND direction = 'outbound'",
            vec![channel_id.to_string().into(), provider_message_id.into()],
        )
        .await?;
    Ok(match exists {
        Some(_) => DeliveryUpdate::Stale,
        None => DeliveryUpdate::UnknownMessage,
    })
}

const CONVERSATION_COLUMNS: &str = "c.id, c.org_id, c.channel_id, c.status, c.last_message_at, \
    c.last_inbound_at, c.created_at, c.assigned_user_id, c.assigned_team_id, \
    k.id AS contact_id, k.external_id, k.name, k.phone";

fn conversation_from_row(row: &AnyRow) -> StoreResult<ConversationRecord> {
    Ok(ConversationRecord {
        id: parsed(row, "id")?,
        org_id: parsed(row, "org_id")?,
        channel_id: parsed(row, "channel_id")?,
        contact: ContactRecord {
            id: parsed(row, "contact_id")?,
            external_id: row.try_get("external_id")?,
            name: row.try_get("name")?,
            phone: row.try_get("phone")?,
        },
        status: parsed(row, "status")?,
        assigned_user_id: row
            .try_get::<Option<String>, _>("assigned_user_id")?
            .map(|id| id.parse())
            .transpose()
            .map_err(|error| super::StoreError::Corrupt(format!("assigned_user_id: {error}")))?,
        assigned_team_id: row.try_get("assigned_team_id")?,
        last_message_at: row.try_get("last_message_at")?,
        last_inbound_at: row.try_get("last_inbound_at")?,
        created_at: row.try_get("created_at")?,
    })
}

const MESSAGE_COLUMNS: &str = "id, conversation_id, channel_id, direction, sender_kind, content, \
    journey_step, provider_message_id, reply_to_provider_message_id, delivery_status, \
    failure_reason, provider_timestamp, received_at";

fn message_from_row(row: &AnyRow) -> StoreResult<MessageRecord> {
    Ok(MessageRecord {
        id: parsed(row, "id")?,
        conversation_id: parsed(row, "conversation_id")?,
        channel_id: parsed(row, "channel_id")?,
        direction: parsed(row, "direction")?,
        sender_kind: parsed(row, "sender_kind")?,
        content: parsed_json(row, "content")?,
        journey_step: row.try_get("journey_step")?,
        provider_message_id: row.try_get("provider_message_id")?,
        reply_to_provider_message_id: row.try_get("reply_to_provider_message_id")?,
        delivery_status: parsed(row, "delivery_status")?,
        failure_reason: row.try_get("failure_reason")?,
        provider_timestamp: row.try_get("provider_timestamp")?,
        received_at: row.try_get("received_at")?,
    })
}

impl Store {
    /// Conversations of an organisation, most recently active first.
    pub async fn list_conversations(
        &self,
        org_id: OrgId,
        query: &ConversationQuery,
    ) -> StoreResult<Vec<ConversationRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts k ON k.id = c.contact_id
             WHERE c.org_id = $1 AND ($2 IS NULL OR c.channel_id = $2) AND ($3 IS NULL OR c.status = $3)
             ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id DESC LIMIT $4"
        ))
        .bind(org_id.to_string())
        .bind(query.channel_id.map(|id| id.to_string()))
        .bind(query.status.map(|status| status.as_str()))
        .bind(query.limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(conversation_from_row).collect()
    }

    pub async fn conversation(
        &self,
        org_id: OrgId,
        id: ConversationId,
    ) -> StoreResult<ConversationRecord> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts k ON k.id = c.contact_id
             WHERE c.id = $1 AND c.org_id = $2"
        ))
        .bind(id.to_string())
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        conversation_from_row(&row)
    }

    /// The conversation of a contact on a channel, if it has one.
    pub async fn conversation_of_contact(
        &self,
        channel_id: ChannelId,
        external_id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts k ON k.id = c.contact_id
             WHERE k.channel_id = $1 AND k.external_id = $2"
        ))
        .bind(channel_id.to_string())
        .bind(external_id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    /// The messages of a conversation in the order they were received or created.
    pub async fn messages(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
        limit: i64,
    ) -> StoreResult<Vec<MessageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM (
                SELECT * FROM messages WHERE conversation_id = $1 AND org_id = $2
                ORDER BY received_at DESC, id DESC LIMIT $3
             ) recent ORDER BY received_at, id"
        ))
        .bind(conversation_id.to_string())
        .bind(org_id.to_string())
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(message_from_row).collect()
    }
}
