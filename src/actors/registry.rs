//! The conversation registry: one actor per conversation, spawned on demand and evicted when
//! idle.
//!
//! Senders only ever use an actor's mailbox while holding the map's guard for its key, and an
//! actor evicts itself under that key's write lock and only with an empty mailbox. So once an
//! actor is out of the map nothing can reach it, and no two actors of one conversation ever
//! run at the same time.

use super::conversation::{self, ConversationCommand};
use super::core::Core;
use super::partitions::partition_of;
use crate::domain::ChannelId;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A conversation as providers address it: a contact on a channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConversationKey {
    pub channel_id: ChannelId,
    pub contact_external_id: Arc<str>,
}

impl ConversationKey {
    pub fn new(channel_id: ChannelId, contact_external_id: &str) -> Self {
        Self {
            channel_id,
            contact_external_id: Arc::from(contact_external_id),
        }
    }
}

struct Slot {
    id: u64,
    mailbox: mpsc::UnboundedSender<ConversationCommand>,
}

#[derive(Default)]
pub(crate) struct ConversationRegistry {
    actors: DashMap<ConversationKey, Slot>,
    next_id: AtomicU64,
}

impl ConversationRegistry {
    /// Hands a command to the conversation's actor, starting one if none runs. With several
    /// nodes, a command for a conversation another node owns goes to that node instead (see
    /// `partitions`).
    pub(crate) fn dispatch(
        &self,
        core: &Arc<Core>,
        key: ConversationKey,
        command: ConversationCommand,
    ) {
        let mut command = command;
        let mut running = None;
        // With several nodes, only the owner runs the conversation's actor.
        if let Some(partitions) = &core.partitions {
            let partition = partition_of(&key);
            if !partitions.owns(partition) {
                if matches!(command, ConversationCommand::Forwarded { .. }) {
                    // Read from the partition's stream just as this node gave the partition
                    // up: it stays pending there for the next owner.
                    return;
                }
                partitions.forward(partition, &key, command);
                return;
            }
            running = Some((Arc::clone(partitions), partition));
        }
        loop {
            let entry = self.actors.entry(key.clone());
            match entry {
                dashmap::Entry::Occupied(slot) => match slot.get().mailbox.send(command) {
                    Ok(()) => return,
                    Err(returned) => {
                        // The actor ended without evicting itself (its task failed): replace it.
                        command = returned.0;
                        slot.remove();
                    }
                },
                dashmap::Entry::Vacant(vacant) => {
                    let (mailbox, inbox) = mpsc::unbounded_channel();
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    mailbox
                        .send(command)
                        .expect("the receiver is alive: it was created just above");
                    vacant.insert(Slot { id, mailbox });
                    let running =
                        running.map(|(partitions, partition)| partitions.running(partition));
                    tokio::spawn(conversation::run(Arc::clone(core), key, id, inbox, running));
                    return;
                }
            }
        }
    }

    /// Lets the actors of `partition` end: out of the map, each finishes what its mailbox
    /// holds and stops. The node is giving the partition to another.
    pub(crate) fn stop_partition(&self, partition: u16) {
        self.actors.retain(|key, _| partition_of(key) != partition);
    }

    /// Removes actor `id` from the map if its mailbox is empty. Runs under the key's write
    /// lock, so no command can slip in between the check and the removal.
    pub(crate) fn evict_if_idle(
        &self,
        key: &ConversationKey,
        id: u64,
        inbox: &mpsc::UnboundedReceiver<ConversationCommand>,
    ) -> bool {
        self.actors
            .remove_if(key, |_, slot| slot.id == id && inbox.is_empty())
            .is_some()
    }
}
