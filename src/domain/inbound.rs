//! What an adapter makes of a provider webhook: messages from contacts and delivery statuses of
//! messages Parley sent.

use super::message::{DeliveryStatus, MessageContent};
use super::Millis;
use serde::{Deserialize, Serialize};

/// One event parsed from a webhook. The webhook is acknowledged once every event in it has
/// been written to the `inbound` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum InboundEvent {
    Message(InboundMessage),
    Status(StatusUpdate),
}

impl InboundEvent {
    /// The key the `inbound` table deduplicates on, unique within a channel. A status is keyed
    /// by message and status, since each message legitimately gets several statuses.
    pub fn dedupe_key(&self) -> String {
        match self {
            InboundEvent::Message(message) => message.provider_message_id.clone(),
            InboundEvent::Status(status) => {
                format!("status:{}:{}", status.provider_message_id, status.status)
            }
        }
    }

    /// The contact the event belongs to, as the provider identifies them. Events of one
    /// contact are handled in order by one conversation actor.
    pub fn contact_external_id(&self) -> &str {
        match self {
            InboundEvent::Message(message) => &message.contact_external_id,
            InboundEvent::Status(status) => &status.recipient_external_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The provider's message id (a WhatsApp wamid, a web chat client id).
    pub provider_message_id: String,
    /// The contact's id at the provider (a WhatsApp wa_id, a web chat visitor id).
    pub contact_external_id: String,
    pub contact_name: Option<String>,
    /// The contact's phone number when the channel has one (WhatsApp).
    pub contact_phone: Option<String>,
    /// When the provider says the message was sent.
    pub provider_timestamp: Option<Millis>,
    pub content: MessageContent,
    /// The provider id of the message this one quotes or replies to.
    pub reply_to_provider_message_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The provider id Parley received when it sent the message.
    pub provider_message_id: String,
    pub recipient_external_id: String,
    pub status: DeliveryStatus,
    pub provider_timestamp: Option<Millis>,
    /// The provider's reason when the status is `failed`, e.g. "131047: Re-engagement message".
    pub failure_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: DeliveryStatus) -> InboundEvent {
        InboundEvent::Status(StatusUpdate {
            provider_message_id: "wamid.1".into(),
            recipient_external_id: "155".into(),
            status: state,
            provider_timestamp: None,
            failure_reason: None,
        })
    }

    #[test]
    fn each_status_of_a_message_has_its_own_dedupe_key() {
        assert_ne!(
            status(DeliveryStatus::Sent).dedupe_key(),
            status(DeliveryStatus::Read).dedupe_key()
        );
        assert_eq!(
            status(DeliveryStatus::Read).dedupe_key(),
            status(DeliveryStatus::Read).dedupe_key()
        );
    }
}
