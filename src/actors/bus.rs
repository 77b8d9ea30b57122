//! The event bus: every change an agent console or a web chat visitor may need to see is
//! published on the topic of its organisation. The in-process implementation is the default;
//! a Redis-backed one can replace it behind the same trait.

use crate::domain::{
    ChannelId, ChannelStatus, ConversationId, ConversationStatus, DeliveryStatus, MessageId, OrgId,
};
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
    ChannelUpdated {
        channel_id: ChannelId,
        status: ChannelStatus,
        reason: Option<String>,
    },
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
