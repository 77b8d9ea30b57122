//! Contacts, conversations and their messages.

use super::records::{
    opt_parsed, parsed, parsed_json, to_json, ContactRecord, ConversationRecord, MessageRecord,
};
use super::script::Script;
use super::Columns;
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
    /// Any of these statuses; empty means all.
    pub statuses: Vec<ConversationStatus>,
    pub assigned: Option<AssignedFilter>,
    pub archived: ArchivedFilter,
    /// Contact name (case-insensitive substring) or phone (digits).
    pub search: Option<String>,
    /// Only conversations after this one in the list's order.
    pub after: Option<ListCursor>,
    pub limit: i64,
}

/// Whose conversations the list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignedFilter {
    User(UserId),
    Unassigned,
}

/// Whether archived conversations are listed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArchivedFilter {
    #[default]
    Exclude,
    Only,
    Include,
}

/// A position in the conversation list: the sort time and id of the last conversation seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListCursor {
    pub sort_at: Millis,
    pub id: ConversationId,
}

/// A conversation as the inbox lists it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConversationSummary {
    #[serde(flatten)]
    pub conversation: ConversationRecord,
    /// The latest message that is not a system line.
    pub last_message: Option<LastMessage>,
    /// Messages from the contact the caller has not read.
    pub unread_count: i64,
}

/// The preview of a conversation's latest message.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LastMessage {
    pub id: MessageId,
    pub direction: Direction,
    pub sender_kind: SenderKind,
    /// One line of at most 120 characters.
    pub preview: String,
    pub delivery_status: DeliveryStatus,
    pub received_at: Millis,
}

impl ConversationSummary {
    /// Where the list continues after this conversation.
    pub fn cursor(&self) -> ListCursor {
        let conversation = &self.conversation;
        ListCursor {
            sort_at: conversation
                .last_message_at
                .unwrap_or(conversation.created_at),
            id: conversation.id,
        }
    }
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
) -> StoreResult<UpsertedConversation> {
    let row = tx
        .fetch_one(
            "INSERT INTO conversations (id, org_id, channel_id, contact_id, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'bot_handling', $5, $5)
             ON CONFLICT (contact_id) DO UPDATE SET updated_at = conversations.updated_at
             RETURNING id, status, ai_enabled, archived_at, escalation_offered_at, misunderstood",
            vec![
                ConversationId::new().to_string().into(),
                org_id.to_string().into(),
                channel_id.to_string().into(),
                contact_id.to_string().into(),
                now.into(),
            ],
        )
        .await?;
    Ok(UpsertedConversation {
        id: parsed(&row, "id")?,
        status: parsed(&row, "status")?,
        ai_enabled: row.int("ai_enabled")? != 0,
        archived: row.opt_int("archived_at")?.is_some(),
        offer_pending: row.opt_int("escalation_offered_at")?.is_some(),
        misunderstood: row.int("misunderstood")?,
    })
}

/// A conversation as `upsert_conversation` found or created it.
pub struct UpsertedConversation {
    pub id: ConversationId,
    pub status: ConversationStatus,
    pub ai_enabled: bool,
    pub archived: bool,
    pub offer_pending: bool,
    pub misunderstood: i64,
}

/// Records whether the guest has an offer of the team standing and how many messages in a
/// row the bot could not understand.
pub fn set_escalation_state_into(
    script: &mut Script,
    id: ConversationId,
    offered_at: Option<Millis>,
    misunderstood: i64,
) {
    script.push(
        "UPDATE conversations SET escalation_offered_at = $1, misunderstood = $2 WHERE id = $3",
        vec![
            offered_at.into(),
            misunderstood.into(),
            id.to_string().into(),
        ],
    );
}

/// Files a closed conversation away (`Some`) or brings it back (`None`).
pub fn set_archived_into(script: &mut Script, id: ConversationId, at: Option<Millis>, now: Millis) {
    script.push(
        "UPDATE conversations SET archived_at = $1, updated_at = $2 WHERE id = $3",
        vec![at.into(), now.into(), id.to_string().into()],
    );
}

/// Lets the bot answer, or makes the conversation humans-only.
pub fn set_ai_enabled_into(script: &mut Script, id: ConversationId, enabled: bool, now: Millis) {
    script.push(
        "UPDATE conversations SET ai_enabled = $1, updated_at = $2 WHERE id = $3",
        vec![i64::from(enabled).into(), now.into(), id.to_string().into()],
    );
}

/// Removes a conversation with its messages, files, mails, notes, insights,
/// notifications, read marks, session, timers and pending sends. Goal events stay for the statistics, no longer linked to it; the contact stays.
pub fn delete_conversation_into(script: &mut Script, id: ConversationId) {
    let id = id.to_string();
    for sql in [
        "DELETE FROM conversation_notes WHERE conversation_id = $1",
        "DELETE FROM conversation_insights WHERE conversation_id = $1",
        "DELETE FROM notifications WHERE conversation_id = $1",
        "DELETE FROM conversation_reads WHERE conversation_id = $1",
        "DELETE FROM outbox WHERE conversation_id = $1",
        "DELETE FROM timers WHERE conversation_id = $1",
        "DELETE FROM journey_sessions WHERE conversation_id = $1",
        "UPDATE goal_events SET conversation_id = NULL WHERE conversation_id = $1",
        // The files and mails of the conversation go with it.
        "DELETE FROM files WHERE (channel_id, contact_external_id) IN
           (SELECT c.channel_id, ct.external_id FROM conversations c
              JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = $1)",
        "DELETE FROM email_messages WHERE (channel_id, message_id) IN
           (SELECT channel_id, provider_message_id FROM messages
             WHERE conversation_id = $1 AND provider_message_id IS NOT NULL)",
        "DELETE FROM messages WHERE conversation_id = $1",
        "DELETE FROM conversations WHERE id = $1",
    ] {
        script.push(sql, vec![id.clone().into()]);
    }
}

/// Records message activity on a conversation (inbound messages also move the 24-hour
/// window's start).
pub fn touch_conversation_into(script: &mut Script, id: ConversationId, at: Millis, inbound: bool) {
    let sql = if inbound {
        // The guest writing brings an archived conversation back to the inbox.
        "UPDATE conversations SET last_message_at = $1, last_inbound_at = $1, updated_at = $1,
                archived_at = NULL WHERE id = $2"
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
    c.last_inbound_at, c.created_at, c.assigned_user_id, c.assigned_team_id, c.ai_enabled, \
    c.archived_at, c.escalation_offered_at, c.misunderstood, ch.kind AS channel_kind, \
    k.id AS contact_id, k.external_id, k.name, k.phone";

const CONVERSATION_FROM: &str = "conversations c JOIN contacts k ON k.id = c.contact_id \
    JOIN channels ch ON ch.id = c.channel_id";

/// The time the inbox sorts a conversation by.
const SORT_AT: &str = "COALESCE(c.last_message_at, c.created_at)";

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
        assigned_user_id: opt_parsed(row, "assigned_user_id")?,
        assigned_team_id: row.try_get("assigned_team_id")?,
        last_message_at: row.try_get("last_message_at")?,
        last_inbound_at: row.try_get("last_inbound_at")?,
        created_at: row.try_get("created_at")?,
        channel_kind: parsed(row, "channel_kind")?,
        ai_enabled: row.try_get::<i64, _>("ai_enabled")? != 0,
        archived_at: row.try_get("archived_at")?,
        escalation_offered_at: row.try_get("escalation_offered_at")?,
        misunderstood: row.try_get("misunderstood")?,
    })
}

const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.channel_id, m.direction, m.sender_kind, \
    m.sender_id, u.name AS sender_name, m.content, m.journey_step, m.provider_message_id, \
    m.reply_to_provider_message_id, m.delivery_status, m.failure_reason, m.provider_timestamp, \
    m.received_at";

fn message_from_row(row: &AnyRow) -> StoreResult<MessageRecord> {
    Ok(MessageRecord {
        id: parsed(row, "id")?,
        conversation_id: parsed(row, "conversation_id")?,
        channel_id: parsed(row, "channel_id")?,
        direction: parsed(row, "direction")?,
        sender_kind: parsed(row, "sender_kind")?,
        sender_id: opt_parsed(row, "sender_id")?,
        sender_name: row.try_get("sender_name")?,
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

/// A LIKE pattern matching `text` anywhere, with LIKE's wildcards escaped (`ESCAPE '\\'`).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|index| format!("${index}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A bindable value of a dynamically built query.
enum Bind {
    Text(String),
    Int(i64),
}

impl Store {
    /// Conversations of an organisation, most recently active first, with the preview of
    /// their latest message and how many of the contact's messages `reader` has not read.
    pub async fn list_conversations(
        &self,
        org_id: OrgId,
        reader: UserId,
        query: &ConversationQuery,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let mut binds = vec![Bind::Text(org_id.to_string())];
        let mut conditions = vec!["c.org_id = $1".to_owned()];
        // Adds a value and answers its placeholder number.
        let bind = |value: Bind, binds: &mut Vec<Bind>| {
            binds.push(value);
            binds.len()
        };
        match query.channel_id {
            Some(channel_id) => {
                let n = bind(Bind::Text(channel_id.to_string()), &mut binds);
                conditions.push(format!("c.channel_id = ${n}"));
            }
            // SMS sends only (broadcasts and journeys): its conversations stay out of the
            // unified inbox and are listed by channel.
            None => conditions.push("ch.kind <> 'twilio_sms'".to_owned()),
        }
        if !query.statuses.is_empty() {
            let first = binds.len() + 1;
            for status in &query.statuses {
                bind(Bind::Text(status.as_str().to_owned()), &mut binds);
            }
            conditions.push(format!(
                "c.status IN ({})",
                placeholders(first, query.statuses.len())
            ));
        }
        match query.assigned {
            Some(AssignedFilter::User(user_id)) => {
                let n = bind(Bind::Text(user_id.to_string()), &mut binds);
                conditions.push(format!("c.assigned_user_id = ${n}"));
            }
            Some(AssignedFilter::Unassigned) => {
                conditions.push("c.assigned_user_id IS NULL".to_owned());
            }
            None => {}
        }
        match query.archived {
            ArchivedFilter::Exclude => conditions.push("c.archived_at IS NULL".to_owned()),
            ArchivedFilter::Only => conditions.push("c.archived_at IS NOT NULL".to_owned()),
            ArchivedFilter::Include => {}
        }
        if let Some(search) = query.search.as_deref() {
            let name = bind(
                Bind::Text(contains_pattern(&search.to_lowercase())),
                &mut binds,
            );
            let digits: String = search.chars().filter(char::is_ascii_digit).collect();
            let phone_like = search
                .chars()
                .all(|ch| ch.is_ascii_digit() || " +-().".contains(ch));
            if phone_like && digits.len() >= 3 {
                let phone = bind(Bind::Text(contains_pattern(&digits)), &mut binds);
                conditions.push(format!(
                    "(LOWER(k.name) LIKE ${name} ESCAPE '\\' OR k.phone LIKE ${phone} ESCAPE '\\' \
                      OR k.external_id LIKE ${phone} ESCAPE '\\')"
                ));
            } else {
                conditions.push(format!("LOWER(k.name) LIKE ${name} ESCAPE '\\'"));
            }
        }
        if let Some(after) = &query.after {
            let at = bind(Bind::Int(after.sort_at), &mut binds);
            let id = bind(Bind::Text(after.id.to_string()), &mut binds);
            conditions.push(format!(
                "({SORT_AT} < ${at} OR ({SORT_AT} = ${at} AND c.id < ${id}))"
            ));
        }
        let limit = bind(Bind::Int(query.limit), &mut binds);
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM}
              WHERE {}
              ORDER BY {SORT_AT} DESC, c.id DESC LIMIT ${limit}",
            conditions.join(" AND ")
        );
        let mut statement = sqlx::query(&sql);
        for value in binds {
            statement = match value {
                Bind::Text(text) => statement.bind(text),
                Bind::Int(number) => statement.bind(number),
            };
        }
        let rows = statement.fetch_all(self.reader()).await?;
        let conversations = rows
            .iter()
            .map(conversation_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.summarise(reader, conversations).await
    }

    /// Adds the latest message and the unread count to each conversation.
    async fn summarise(
        &self,
        reader: UserId,
        conversations: Vec<ConversationRecord>,
    ) -> StoreResult<Vec<ConversationSummary>> {
        if conversations.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = conversations.iter().map(|c| c.id.to_string()).collect();
        let list = placeholders(1, ids.len());
        let sql = format!(
            "SELECT m.id, m.conversation_id, m.direction, m.sender_kind, m.content,
                    m.delivery_status, m.received_at
               FROM messages m
              WHERE m.id IN (
                    SELECT (SELECT x.id FROM messages x
                             WHERE x.conversation_id = c.id AND x.sender_kind <> 'system'
                             ORDER BY x.received_at DESC, x.id DESC LIMIT 1)
                      FROM conversations c WHERE c.id IN ({list}))"
        );
        let mut statement = sqlx::query(&sql);
        for id in &ids {
            statement = statement.bind(id.clone());
        }
        let mut latest = std::collections::HashMap::new();
        for row in statement.fetch_all(self.reader()).await? {
            let conversation_id: ConversationId = parsed(&row, "conversation_id")?;
            let content: MessageContent = parsed_json(&row, "content")?;
            latest.insert(
                conversation_id,
                LastMessage {
                    id: parsed(&row, "id")?,
                    direction: parsed(&row, "direction")?,
                    sender_kind: parsed(&row, "sender_kind")?,
                    preview: content.preview(),
                    delivery_status: parsed(&row, "delivery_status")?,
                    received_at: row.try_get("received_at")?,
                },
            );
        }
        let reader_at = ids.len() + 1;
        let sql = format!(
            "SELECT m.conversation_id, COUNT(*) AS unread
               FROM messages m
               LEFT JOIN conversation_reads r
                 ON r.conversation_id = m.conversation_id AND r.user_id = ${reader_at}
              WHERE m.conversation_id IN ({list}) AND m.direction = 'inbound'
                AND m.received_at > COALESCE(r.read_up_to, -1)
              GROUP BY m.conversation_id"
        );
        let mut statement = sqlx::query(&sql);
        for id in &ids {
            statement = statement.bind(id.clone());
        }
        statement = statement.bind(reader.to_string());
        let mut unread = std::collections::HashMap::new();
        for row in statement.fetch_all(self.reader()).await? {
            let conversation_id: ConversationId = parsed(&row, "conversation_id")?;
            unread.insert(conversation_id, row.try_get::<i64, _>("unread")?);
        }
        Ok(conversations
            .into_iter()
            .map(|conversation| ConversationSummary {
                last_message: latest.remove(&conversation.id),
                unread_count: unread.get(&conversation.id).copied().unwrap_or(0),
                conversation,
            })
            .collect())
    }

    /// One conversation as the inbox lists it, for `reader`.
    pub async fn conversation_summary(
        &self,
        org_id: OrgId,
        reader: UserId,
        id: ConversationId,
    ) -> StoreResult<ConversationSummary> {
        let conversation = self.conversation(org_id, id).await?;
        self.summarise(reader, vec![conversation])
            .await?
            .pop()
            .ok_or(super::StoreError::NotFound)
    }

    pub async fn conversation(
        &self,
        org_id: OrgId,
        id: ConversationId,
    ) -> StoreResult<ConversationRecord> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM}
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
            "SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM}
             WHERE k.channel_id = $1 AND k.external_id = $2"
        ))
        .bind(channel_id.to_string())
        .bind(external_id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    /// The latest `limit` messages of a conversation (before message `before`, when given),
    /// oldest first.
    pub async fn messages(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
        limit: i64,
    ) -> StoreResult<Vec<MessageRecord>> {
        self.messages_before(org_id, conversation_id, None, limit)
            .await
    }

    /// The `limit` messages of a conversation just before message `before` (or the latest),
    /// oldest first. `None` when `before` is not a message of this conversation.
    pub async fn messages_before(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
        before: Option<MessageId>,
        limit: i64,
    ) -> StoreResult<Vec<MessageRecord>> {
        let before_clause = if before.is_some() {
            "AND (m.received_at < b.received_at OR (m.received_at = b.received_at AND m.id < b.id))"
        } else {
            ""
        };
        let before_join = if before.is_some() {
            "JOIN messages b ON b.id = $4 AND b.conversation_id = m.conversation_id"
        } else {
            ""
        };
        let sql = format!(
            "SELECT * FROM (
                SELECT {MESSAGE_COLUMNS} FROM messages m
                  LEFT JOIN users u ON u.id = m.sender_id
                  {before_join}
                 WHERE m.conversation_id = $1 AND m.org_id = $2 {before_clause}
                 ORDER BY m.received_at DESC, m.id DESC LIMIT $3
             ) recent ORDER BY received_at, id"
        );
        let mut statement = sqlx::query(&sql)
            .bind(conversation_id.to_string())
            .bind(org_id.to_string())
            .bind(limit);
        if let Some(before) = before {
            statement = statement.bind(before.to_string());
        }
        let rows = statement.fetch_all(self.reader()).await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Whether `id` is a message of the conversation.
    pub async fn message_in_conversation(
        &self,
        conversation_id: ConversationId,
        id: MessageId,
    ) -> StoreResult<bool> {
        let row = sqlx::query("SELECT id FROM messages WHERE id = $1 AND conversation_id = $2")
            .bind(id.to_string())
            .bind(conversation_id.to_string())
            .fetch_optional(self.reader())
            .await?;
        Ok(row.is_some())
    }

    /// Marks everything received so far in the conversation read by `reader`; returns the
    /// time read up to.
    pub async fn mark_read(
        &self,
        conversation_id: ConversationId,
        org_id: OrgId,
        reader: UserId,
    ) -> StoreResult<Millis> {
        self.write(move |tx| {
            Box::pin(async move {
                // Deleted meanwhile: not found, rather than a foreign-key failure.
                tx.fetch_one(
                    "SELECT id FROM conversations WHERE id = $1 AND org_id = $2",
                    vec![conversation_id.to_string().into(), org_id.to_string().into()],
                )
                .await?;
                let row = tx
                    .fetch_one(
                        "SELECT COALESCE(MAX(received_at), 0) AS up_to FROM messages
                          WHERE conversation_id = $1",
                        vec![conversation_id.to_string().into()],
                    )
                    .await?;
                let up_to = row.int("up_to")?;
                let mut script = Script::new();
                script.push(
                    "INSERT INTO conversation_reads (conversation_id, user_id, org_id, read_up_to)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (conversation_id, user_id) DO UPDATE
                        SET read_up_to = CASE WHEN excluded.read_up_to > conversation_reads.read_up_to
                                              THEN excluded.read_up_to
                                              ELSE conversation_reads.read_up_to END",
                    vec![
                        conversation_id.to_string().into(),
                        reader.to_string().into(),
                        org_id.to_string().into(),
                        up_to.into(),
                    ],
                );
                tx.run(&script).await?;
                Ok(up_to)
            })
        })
        .await
    }
}

impl Store {
    /// The provider id of a conversation's latest message from the contact, with the
    /// contact's id on the channel: what a read receipt names.
    pub async fn latest_inbound(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<(ChannelId, String, String)>> {
        let row = sqlx::query(
            "SELECT m.channel_id, m.provider_message_id, ct.external_id
               FROM messages m
               JOIN conversations c ON c.id = m.conversation_id
               JOIN contacts ct ON ct.id = c.contact_id
              WHERE m.conversation_id = $1 AND m.org_id = $2 AND m.direction = 'inbound'
                AND m.provider_message_id IS NOT NULL
              ORDER BY m.received_at DESC, m.id DESC LIMIT 1",
        )
        .bind(conversation_id.to_string())
        .bind(org_id.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            Ok((
                parsed(&row, "channel_id")?,
                row.try_get("provider_message_id")?,
                row.try_get("external_id")?,
            ))
        })
        .transpose()
    }
}

impl Store {
    /// A message's channel and content, for serving its media; `None` when the organisation
    /// has no such message in that conversation.
    pub async fn message_content(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
        message_id: MessageId,
    ) -> StoreResult<Option<(ChannelId, MessageContent)>> {
        let row = sqlx::query(
            "SELECT channel_id, content FROM messages
              WHERE id = $1 AND conversation_id = $2 AND org_id = $3",
        )
        .bind(message_id.to_string())
        .bind(conversation_id.to_string())
        .bind(org_id.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| Ok((parsed(&row, "channel_id")?, parsed_json(&row, "content")?)))
            .transpose()
    }
}

impl Store {
    /// The content of a message Parley sent on a channel, by the provider's id for it (a
    /// Telegram button tap names the message that carried the keyboard).
    pub async fn sent_content(
        &self,
        channel_id: ChannelId,
        provider_message_id: &str,
    ) -> StoreResult<Option<MessageContent>> {
        let row = sqlx::query(
            "SELECT content FROM messages
              WHERE channel_id = $1 AND provider_message_id = $2 AND direction = 'outbound'
              LIMIT 1",
        )
        .bind(channel_id.to_string())
        .bind(provider_message_id)
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| parsed_json(&row, "content")).transpose()
    }
}
