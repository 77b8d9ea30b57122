//! The event bus across nodes, through Redis pub/sub (`REDIS_URL`).
//!
//! Every event is published in-process as usual; in addition each node publishes one small
//! message per event on the channel `parley:events`: for a logged event only which
//! organisation's log moved (a poke: the other nodes' agent hubs read the new events from the
//! shared database), for a typing notice the notice itself. Nodes ignore their own messages.
//!
//! Pub/sub is at-most-once. A poke lost while Redis is away is made good by the hubs' polling of
//! the log while consoles are connected, and by the sequence numbers consoles reconnect with.

use super::bus::{Event, EventBus, InProcessBus};
use crate::domain::{ConversationId, OrgId, UserId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

const CHANNEL: &str = "parley:events";
/// Messages waiting for Redis beyond this are dropped (the log and polling make up for them).
const PUBLISH_QUEUE: usize = 65_536;
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What travels through Redis.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    /// The node that published it.
    node: String,
    org_id: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typing: Option<Typing>,
    /// A guest typing in this conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contact_typing: Option<ConversationId>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Typing {
    conversation_id: ConversationId,
    user_id: UserId,
    name: String,
}

pub struct RedisBus {
    local: Arc<InProcessBus>,
    node: String,
    outgoing: mpsc::Sender<String>,
}

impl RedisBus {
    /// Connects to Redis and starts the publisher and the subscriber. Fails when Redis cannot
    /// be reached at start-up; later outages are retried in the background.
    pub async fn connect(url: &str) -> Result<Arc<Self>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let publisher = client.get_connection_manager().await?;
        let pubsub = client.get_async_pubsub().await?;
        let local = Arc::new(InProcessBus::default());
        let node = uuid::Uuid::new_v4().simple().to_string();
        let (outgoing, queue) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(publisher, queue));
        tokio::spawn(subscribe_loop(
            client,
            Some(pubsub),
            Arc::clone(&local),
            node.clone(),
        ));
        Ok(Arc::new(Self {
            local,
            node,
            outgoing,
        }))
    }
}

impl EventBus for RedisBus {
    fn publish(&self, org_id: OrgId, event: Event) {
        let typing = match &event {
            Event::Typing {
                conversation_id,
                user_id,
                name,
            } => Some(Typing {
                conversation_id: *conversation_id,
                user_id: *user_id,
                name: name.clone(),
            }),
            _ => None,
        };
        let contact_typing = match &event {
            Event::ContactTyping { conversation_id } => Some(*conversation_id),
            _ => None,
        };
        let wire = Wire {
            node: self.node.clone(),
            org_id,
            typing,
            contact_typing,
        };
        if let Ok(text) = serde_json::to_string(&wire) {
            if self.outgoing.try_send(text).is_err() {
                tracing::warn!("redis publish queue full: a cross-node event was dropped");
            }
        }
        self.local.publish(org_id, event);
    }

    fn subscribe(&self, org_id: OrgId) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe(org_id)
    }
}

async fn publish_loop(
    mut connection: redis::aio::ConnectionManager,
    mut queue: mpsc::Receiver<String>,
) {
    while let Some(text) = queue.recv().await {
        let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(&text)
            .query_async(&mut connection)
            .await;
        if let Err(error) = published {
            tracing::warn!(error = %error, "redis publish failed");
        }
    }
}

async fn subscribe_loop(
    client: redis::Client,
    mut first: Option<redis::aio::PubSub>,
    local: Arc<InProcessBus>,
    node: String,
) {
    loop {
        let pubsub = match first.take() {
            Some(pubsub) => Ok(pubsub),
            None => client.get_async_pubsub().await,
        };
        match pubsub {
            Ok(mut pubsub) => match pubsub.subscribe(CHANNEL).await {
                Ok(()) => {
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(text) = message.get_payload::<String>() else {
                            continue;
                        };
                        match serde_json::from_str::<Wire>(&text) {
                            Ok(wire) if wire.node != node => deliver(&local, wire),
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(error = %error, "unreadable message on the redis bus")
                            }
                        }
                    }
                    tracing::warn!("redis subscription ended; reconnecting");
                }
                Err(error) => tracing::warn!(error = %error, "redis subscribe failed"),
            },
            Err(error) => tracing::warn!(error = %error, "redis unreachable"),
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Hands a message from another node to this node's subscribers.
fn deliver(local: &InProcessBus, wire: Wire) {
    let event = match (wire.typing, wire.contact_typing) {
        (Some(typing), _) => Event::Typing {
            conversation_id: typing.conversation_id,
            user_id: typing.user_id,
            name: typing.name,
        },
        (None, Some(conversation_id)) => Event::ContactTyping { conversation_id },
        (None, None) => Event::LogAdvanced,
    };
    local.publish(wire.org_id, event);
}
