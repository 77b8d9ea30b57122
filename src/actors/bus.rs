//! The event bus: every change an agent console or a web chat visitor may need to see is
//! published on the topic of its organisation. The in-process implementation is the default;
//! a Redis-backed one can replace it behind the same trait.

use crate::domain::{
    ChannelId, ChannelStatus, ConversationId, ConversationStatus, DeliveryStatus, MessageId,
    Millis, OrgId, UserId,
};
use crate::store::events::{append_events_into, NewEvent};
use crate::store::script::Script;
use crate::store::MessageRecord;
use dashmap::DashMap;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events a subscriber that falls this far behind starts to miss (it is told it lagged).
const TOPIC_CAPACITY: usize = 4_096;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    MessageCreated {
        message: Box<MessageRecord>,
    },
    MessageUpdated {
        conversation_id: ConversationId,
        message_id: MessageId,
        delivery_status: DeliveryStatus,
        failure_reason: Option<String>,
    },
    ConversationUpdated {
        conversation_id: ConversationId,
        status: ConversationStatus,
    },
    ConversationDeleted {
        conversation_id: ConversationId,
    },
    PresenceChanged {
        user_id: UserId,
        presence: String,
    },
    /// A notification for one team member (only their consoles receive it).
    NotificationCreated {
        user_id: UserId,
        notification: Box<crate::store::notifications::NotificationRecord>,
    },
    /// Another node logged events of the organisation (through Redis): read the log.
    LogAdvanced,
    /// A team member is typing in a conversation: shown to the other consoles, never logged.
    Typing {
        conversation_id: ConversationId,
        user_id: UserId,
        name: String,
    },
    ChannelUpdated {
        channel_id: ChannelId,
        status: ChannelStatus,
        reason: Option<String>,
    },
    /// The guest is typing (web chat): shown to the consoles, never logged.
    ContactTyping {
        conversation_id: ConversationId,
    },
}

impl Event {
    /// The event's type as consoles see it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::MessageCreated { .. } => "message.created",
            Event::MessageUpdated { .. } => "message.updated",
            Event::ConversationUpdated { .. } => "conversation.updated",
            Event::ConversationDeleted { .. } => "conversation.deleted",
            Event::PresenceChanged { .. } => "presence.changed",
            Event::Typing { .. } => "typing",
            Event::ContactTyping { .. } => "contact.typing",
            Event::LogAdvanced => "log.advanced",
            Event::NotificationCreated { .. } => "notification.created",
            Event::ChannelUpdated { .. } => "channel.updated",
        }
    }

    /// The conversation the event concerns.
    pub fn conversation_id(&self) -> Option<ConversationId> {
        match self {
            Event::MessageCreated { message } => Some(message.conversation_id),
            Event::MessageUpdated {
                conversation_id, ..
            }
            | Event::ConversationUpdated {
                conversation_id, ..
            }
            | Event::ConversationDeleted { conversation_id }
            | Event::Typing {
                conversation_id, ..
            }
            | Event::ContactTyping { conversation_id } => Some(*conversation_id),
            Event::NotificationCreated { notification, .. } => notification.conversation_id,
            Event::PresenceChanged { .. } | Event::ChannelUpdated { .. } | Event::LogAdvanced => {
                None
            }
        }
    }

    /// The event as the organisation's log stores it.
    pub fn to_log(&self) -> NewEvent {
        let data = match self {
            Event::MessageCreated { message } => {
                serde_json::to_value(message).unwrap_or(serde_json::Value::Null)
            }
            other => {
                let mut value = serde_json::to_value(other).unwrap_or(serde_json::Value::Null);
                if let Some(object) = value.as_object_mut() {
                    object.remove("type");
                }
                value
            }
        };
        NewEvent {
            kind: self.kind(),
            conversation_id: self.conversation_id(),
            data,
        }
    }
}

/// Appends `events` to the organisation's log inside the write of `script`; publish them on
/// the bus once it commits.
pub fn log_into(script: &mut Script, org_id: OrgId, events: &[Event], now: Millis) {
    let logged: Vec<NewEvent> = events.iter().map(Event::to_log).collect();
    append_events_into(script, org_id, logged, now);
}

/// A script that only logs `events`.
pub fn log_script(org_id: OrgId, events: &[Event], now: Millis) -> Script {
    let mut script = Script::new();
    log_into(&mut script, org_id, events, now);
    script
}

pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, org_id: OrgId, event: Event);
    fn subscribe(&self, org_id: OrgId) -> broadcast::Receiver<Arc<Event>>;
}

/// Broadcast channels per organisation, inside this process.
#[derive(Default)]
pub struct InProcessBus {
    topics: DashMap<OrgId, broadcast::Sender<Arc<Event>>>,
}

impl EventBus for InProcessBus {
    fn publish(&self, org_id: OrgId, event: Event) {
        if let Some(topic) = self.topics.get(&org_id) {
            // No subscriber is not an error: nobody is watching this organisation right now.
            let _ = topic.send(Arc::new(event));
        }
    }

    fn subscribe(&self, org_id: OrgId) -> broadcast::Receiver<Arc<Event>> {
        self.topics
            .entry(org_id)
            .or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_receive_only_their_organisations_events() {
        let bus = InProcessBus::default();
        let ours = OrgId::new();
        let mut subscriber = bus.subscribe(ours);
        let mut other = bus.subscribe(OrgId::new());
        let event = Event::ConversationUpdated {
            conversation_id: ConversationId::new(),
            status: ConversationStatus::Expired,
        };
        bus.publish(ours, event);
        assert!(matches!(
            *subscriber.recv().await.unwrap(),
            Event::ConversationUpdated { .. }
        ));
        assert!(other.try_recv().is_err());
    }
}
