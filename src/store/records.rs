//! Rows as the repositories return them, already parsed into domain types.

use crate::domain::{
    ChannelId, ChannelKind, ChannelStatus, ContactId, ConversationId, ConversationStatus,
    DeliveryStatus, Direction, MessageContent, MessageId, Millis, OrgId, SenderKind, UserId,
};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

use super::{Columns, StoreError, StoreResult};

#[derive(Clone, Debug)]
pub struct ChannelRecord {
    pub id: ChannelId,
    pub org_id: OrgId,
    pub kind: ChannelKind,
    pub name: String,
    pub status: ChannelStatus,
    pub status_reason: Option<String>,
    pub active: bool,
    /// Non-secret configuration (ids, names), returned by the API.
    pub public_config: serde_json::Value,
    /// Credentials, encrypted with the master key. Never returned by the API.
    pub sealed_secrets: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub connection: super::channels::ChannelConnection,
    /// The live journey assigned to the channel and the bot user it speaks as.
    pub journey_id: Option<String>,
    pub bot_user_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ContactRecord {
    pub id: ContactId,
    pub external_id: String,
    pub name: Option<String>,
    pub phone: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationRecord {
    pub id: ConversationId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub channel_id: ChannelId,
    pub contact: ContactRecord,
    pub status: ConversationStatus,
    /// The team member who owns the conversation, while one does.
    #[schema(value_type = Option<String>)]
    pub assigned_user_id: Option<crate::domain::UserId>,
    /// The team an Agent Transfer step handed the conversation to.
    pub assigned_team_id: Option<String>,
    pub last_message_at: Option<Millis>,
    pub last_inbound_at: Option<Millis>,
    pub created_at: Millis,
    /// The channel's kind, for the inbox's channel icon.
    pub channel_kind: ChannelKind,
    /// Whether the bot and AI may answer; off, the conversation is for humans only.
    pub ai_enabled: bool,
    /// When a closed conversation was archived; archived conversations leave the default inbox.
    pub archived_at: Option<Millis>,
    /// When the guest was offered the team, while the offer stands.
    #[serde(skip)]
    pub escalation_offered_at: Option<Millis>,
    /// Messages in a row the bot could not understand.
    #[serde(skip)]
    pub misunderstood: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageRecord {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub channel_id: ChannelId,
    pub direction: Direction,
    pub sender_kind: SenderKind,
    /// The team member who wrote an agent message, or the bot identity of a bot message.
    #[schema(value_type = Option<String>)]
    pub sender_id: Option<UserId>,
    /// That user's name at the time of reading.
    pub sender_name: Option<String>,
    pub content: MessageContent,
    /// The journey step that produced a bot message.
    pub journey_step: Option<String>,
    pub provider_message_id: Option<String>,
    pub reply_to_provider_message_id: Option<String>,
    pub delivery_status: DeliveryStatus,
    pub failure_reason: Option<String>,
    /// When the provider says the message was sent (inbound) or delivered (outbound).
    pub provider_timestamp: Option<Millis>,
    /// When Parley received (inbound) or created (outbound) the message.
    pub received_at: Millis,
}

/// An unprocessed inbound row, as replayed at start-up.
#[derive(Clone, Debug)]
pub struct InboundRecord {
    pub id: i64,
    pub org_id: OrgId,
    pub channel_id: ChannelId,
    pub contact_external_id: String,
    pub payload: String,
    pub received_at: Millis,
    pub attempts: i64,
}

/// An outbox row with the content it must send.
#[derive(Clone, Debug)]
pub struct OutboxRecord {
    pub org_id: OrgId,
    pub channel_id: ChannelId,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub recipient: String,
    pub content: MessageContent,
    pub reply_to_provider_message_id: Option<String>,
    pub attempts: i64,
    pub created_at: Millis,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TimerRecord {
    pub id: i64,
    pub org_id: OrgId,
    pub conversation_id: ConversationId,
    pub channel_id: ChannelId,
    pub contact_external_id: String,
    pub kind: String,
    pub due_at: Millis,
    pub generation: i64,
}

/// Reads a column and parses it with `FromStr`, reporting the column on failure.
pub(crate) fn parsed<T: FromStr>(row: &impl Columns, column: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let raw = row.text(column)?;
    raw.parse()
        .map_err(|error: T::Err| StoreError::Corrupt(format!("{column}: {error}")))
}

/// Reads a nullable column and parses it with `FromStr`; `None` when NULL.
pub(crate) fn opt_parsed<T: FromStr>(row: &impl Columns, column: &str) -> StoreResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    row.opt_text(column)?
        .map(|raw| {
            raw.parse()
                .map_err(|error: T::Err| StoreError::Corrupt(format!("{column}: {error}")))
        })
        .transpose()
}

pub(crate) fn parsed_json<T: serde::de::DeserializeOwned>(
    row: &impl Columns,
    column: &str,
) -> StoreResult<T> {
    let raw = row.text(column)?;
    serde_json::from_str(&raw).map_err(|error| StoreError::Corrupt(format!("{column}: {error}")))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain values serialise to JSON")
}
