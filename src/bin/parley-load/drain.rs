//! Waiting for the bot's replies after the sending window: the mock Graph API is watched until
//! every contact got one reply per message of theirs the server acknowledged, or the drain
//! timeout passes. Only sends from the run's own phone numbers count.

use crate::send::Sent;
use parley::mock::graph::{MockGraph, ReceivedSend};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How often the mock is looked at while waiting for replies. `MockGraph` only hands out
/// copies of everything it received, so polling beats waking on every single send.
const DRAIN_POLL: Duration = Duration::from_millis(200);
const DRAIN_PROGRESS: Duration = Duration::from_secs(5);
/// Kept listening after the last expected reply, to catch a late duplicate.
const DUPLICATE_GRACE: Duration = Duration::from_secs(1);

/// Replies each contact is owed: one per unique message the server acknowledged.
pub(crate) fn expected_per_contact(sent: &Sent) -> HashMap<&str, usize> {
    let mut expected = HashMap::new();
    for (message, acknowledged) in sent.messages.iter().zip(&sent.tally.acknowledged_messages) {
        if *acknowledged {
            *expected.entry(message.contact.as_str()).or_default() += 1;
        }
    }
    expected
}

/// Waits until every owed reply arrived (plus a short grace for late duplicates) or the
/// timeout passed, and returns the run's replies.
pub(crate) async fn drain(
    mock: &MockGraph,
    numbers: &HashSet<&str>,
    expected: &HashMap<&str, usize>,
    timeout: Duration,
) -> Vec<ReceivedSend> {
    let owed: usize = expected.values().sum();
    let deadline = Instant::now() + timeout;
    let mut next_progress = Instant::now() + DRAIN_PROGRESS;
    loop {
        let mut received: HashMap<&str, usize> = HashMap::new();
        let accepted = mock.accepted();
        for contact in accepted
            .iter()
            .filter_map(|reply| recipient(reply, numbers))
        {
            *received.entry(contact).or_default() += 1;
        }
        let matched: usize = expected
            .iter()
            .map(|(contact, owed)| (*owed).min(received.get(contact).copied().unwrap_or(0)))
            .sum();
        if matched >= owed {
            tokio::time::sleep(DUPLICATE_GRACE).await;
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        if Instant::now() >= next_progress {
            tracing::info!(matched, owed, "waiting for replies");
            next_progress += DRAIN_PROGRESS;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    mock.accepted()
        .into_iter()
        .filter(|reply| recipient(reply, numbers).is_some())
        .collect()
}

/// The contact a reply went to, if it is one of the run's sends.
fn recipient<'a>(reply: &'a ReceivedSend, numbers: &HashSet<&str>) -> Option<&'a str> {
    numbers
        .contains(reply.phone_number_id.as_str())
        .then(|| reply.body["to"].as_str())
        .flatten()
}
