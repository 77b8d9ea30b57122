//! Which partition a conversation belongs to. With several nodes, each partition has one
//! owning node (see `actors::partitions`); the store keeps the partition of outbox rows so a
//! node reads only the sends it owns.

use super::ChannelId;

/// Partitions the conversations hash to. Fixed: every node of a cluster must agree on it.
pub const PARTITIONS: u16 = 64;

/// The partition of the conversation of `contact` on `channel_id`: FNV-1a 64 over the channel
/// id, a 0xff separator and the contact, modulo `PARTITIONS`, so that every node and every
/// version computes the same one.
pub fn partition_of(channel_id: ChannelId, contact: &str) -> u16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let channel = channel_id.to_string();
    for byte in channel.bytes().chain([0xff]).chain(contact.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    u16::try_from(hash % u64::from(PARTITIONS)).expect("below PARTITIONS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_always_hashes_to_the_same_partition_and_keys_spread() {
        let channel = ChannelId::from(uuid::Uuid::from_u128(7));
        let mut counts = vec![0_u32; usize::from(PARTITIONS)];
        for contact in 0..6_400 {
            let contact = format!("4477009{contact:05}");
            let partition = partition_of(channel, &contact);
            assert_eq!(partition, partition_of(channel, &contact));
            counts[usize::from(partition)] += 1;
        }
        // 100 per partition on average; none far off.
        assert!(
            counts.iter().all(|&count| (50..=150).contains(&count)),
            "{counts:?}"
        );
    }

    #[test]
    fn the_partition_of_a_key_does_not_change_between_versions() {
        // Nodes of different versions must agree. The values are FNV-1a 64 of
        // "<channel uuid>\xff<contact>", modulo 64, computed apart from this code.
        let channel = ChannelId::from(uuid::Uuid::from_u128(1));
        let partitions: Vec<u16> = ["a", "b", "447700900777"]
            .iter()
            .map(|contact| partition_of(channel, contact))
            .collect();
        assert_eq!(partitions, [22, 35, 35]);
    }
}
