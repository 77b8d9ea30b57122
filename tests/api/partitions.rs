//! Two nodes on one Postgres and one Redis: each conversation is owned by one node, whichever
//! node the provider's webhook reaches, and a node that stops hands its conversations over.

use crate::support::{TestApp, WhatsappChannel, PATIENCE};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// A metric of a node, from `GET /metrics`.
async fn metric(app: &TestApp, name: &str) -> i64 {
    let text = app.get_text_until("/metrics", |_| true).await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

async fn owned(app: &TestApp) -> i64 {
    metric(app, "parley_partitions_owned").await
}

/// For each of the 64 partitions, whether the node owns it (`parley_partition_owned`).
async fn owned_each(app: &TestApp) -> Vec<bool> {
    let text = app.get_text_until("/metrics", |_| true).await;
    let mut owned = vec![None; 64];
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("parley_partition_owned{partition=\"") else {
            continue;
        };
        let (partition, value) = rest.split_once("\"} ").unwrap();
        owned[partition.parse::<usize>().unwrap()] = Some(value == "1");
    }
    owned
        .into_iter()
        .map(|owned| owned.expect("every partition has a series"))
        .collect()
}

/// Waits until the two nodes' partitions add up to all 64 and `split` holds.
async fn until_owned(a: &TestApp, b: &TestApp, split: impl Fn(i64, i64) -> bool) -> (i64, i64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (on_a, on_b) = (owned(a).await, owned(b).await);
        if on_a + on_b == 64 && split(on_a, on_b) {
            return (on_a, on_b);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "partitions never settled: {on_a} + {on_b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The bot's replies each contact received, counted across both nodes' Graph API mocks.
fn replies(nodes: &[&TestApp]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for node in nodes {
        for send in node.graph.accepted() {
            if let Some(to) = send.body["to"].as_str() {
                *counts.entry(to.to_owned()).or_default() += 1;
            }
        }
    }
    counts
}

async fn until_replied(nodes: &[&TestApp], contacts: &[String]) -> BTreeMap<String, usize> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let counts = replies(nodes);
        if contacts.iter().all(|contact| counts.contains_key(contact)) {
            return counts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every contact was answered: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two nodes sharing a fresh Postgres database and the Redis server, with short leases.
async fn two_nodes() -> (TestApp, TestApp) {
    crate::support::two_nodes(Some(1_200)).await
}

async fn says(node: &TestApp, channel: &WhatsappChannel, contact: &str, wamid: &str) {
    node.customer_says(channel, contact, wamid, "Is the pool heated?")
        .await;
}

#[actix_web::test]
async fn each_conversation_is_handled_once_by_its_owner_and_a_stopping_node_hands_over() {
    let (node_a, node_b) = two_nodes().await;
    let channel = node_a.create_whatsapp_channel().await;
    // Each node has a Graph API mock of its own; both know the number.
    node_b
        .graph
        .add_number(&channel.phone_number_id, &channel.access_token);
    // Node A took every partition first; it gives half of them to B.
    let (on_a, on_b) = until_owned(&node_a, &node_b, |a, b| a == 32 && b == 32).await;
    assert_eq!((on_a, on_b), (32, 32));
    // Which ones, per partition: each is owned by exactly one of them.
    let (which_a, which_b) = (owned_each(&node_a).await, owned_each(&node_b).await);
    assert_eq!(which_a.iter().filter(|owned| **owned).count(), 32);
    assert!(
        which_a.iter().zip(&which_b).all(|(a, b)| a != b),
        "{which_a:?} {which_b:?}"
    );

    // Webhooks reach both nodes; about half of each node's conversations belong to the other.
    let contacts: Vec<String> = (0..32).map(|n| format!("4477009{n:05}")).collect();
    for (index, contact) in contacts.iter().enumerate() {
        let node = if index % 2 == 0 { &node_a } else { &node_b };
        says(node, &channel, contact, &format!("wamid.P{index}")).await;
    }
    until_replied(&[&node_a, &node_b], &contacts).await;
    // Late duplicates would show by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = replies(&[&node_a, &node_b]);
    for contact in &contacts {
        assert_eq!(counts.get(contact), Some(&1), "{contact}: {counts:?}");
    }
    let (forwarded_a, forwarded_b) = (
        metric(&node_a, "parley_forwarded_commands_total").await,
        metric(&node_b, "parley_forwarded_commands_total").await,
    );
    assert!(
        forwarded_a > 0 && forwarded_b > 0,
        "each node sent the other the events of its conversations: {forwarded_a}, {forwarded_b}"
    );
    // One conversation per contact, whichever node wrote it.
    for contact in contacts.iter().take(4) {
        let conversation = node_a.conversation_with(contact).await;
        let messages = node_a
            .messages_until(conversation["id"].as_str().unwrap(), |messages| {
                messages.len() >= 2
            })
            .await;
        assert_eq!(messages.len(), 2, "{messages:#?}");
    }

    // A team member replies through either node, to conversations either node owns: the
    // owner writes and sends the reply, and the node that took the request answers with it.
    for (index, contact) in contacts.iter().take(8).enumerate() {
        let node = if index % 2 == 0 { &node_b } else { &node_a };
        let conversation = node.conversation_with(contact).await;
        let id = conversation["id"].as_str().unwrap();
        let (status, reply) = node
            .post_json(
                &format!("/api/v1/conversations/{id}/messages"),
                &json!({"text": format!("Yes, at 29 degrees ({index})")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        assert_eq!(reply["sender_kind"], "agent", "{reply}");
        assert_eq!(reply["conversation_id"], id, "{reply}");
        // Taken over by the team member who replied: the second action says so.
        let (status, refused) = node
            .post_json(&format!("/api/v1/conversations/{id}/take-over"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(refused["error"]["code"], "invalid_transition", "{refused}");
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let counts = replies(&[&node_a, &node_b]);
        if contacts
            .iter()
            .take(8)
            .all(|contact| counts.get(contact) == Some(&2))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the team's replies were not each sent once: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Node B stops: it gives its leases back and node A owns everything at once.
    node_b.app.shutdown().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while owned(&node_a).await < 64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node A never took B's partitions"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let later: Vec<String> = (32..48).map(|n| format!("4477009{n:05}")).collect();
    for (index, contact) in later.iter().enumerate() {
        says(&node_a, &channel, contact, &format!("wamid.Q{index}")).await;
    }
    let counts = until_replied(&[&node_a, &node_b], &later).await;
    for contact in &later {
        assert_eq!(counts.get(contact), Some(&1), "{contact}: {counts:?}");
    }
}

#[actix_web::test]
async fn web_chat_visitors_on_either_node_get_the_replies_of_whichever_node_owns_them() {
    use crate::webchat::{next_frame, open};
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let (node_a, node_b) = two_nodes().await;
    until_owned(&node_a, &node_b, |a, b| a == 32 && b == 32).await;
    // Sixteen visitors on node B, each a conversation of its own: about half are node A's.
    let mut sockets = Vec::new();
    for index in 0..16 {
        let mut socket = open(&node_b, "").await;
        next_frame(&mut socket, "ready").await;
        next_frame(&mut socket, "history").await;
        socket
            .send(Message::Text(
                json!({"type": "message", "client_id": format!("c{index}"), "text": "Late check-out?"})
                    .to_string(),
            ))
            .await
            .unwrap();
        sockets.push(socket);
    }
    for socket in &mut sockets {
        let reply = next_frame(socket, "message").await;
        assert_eq!(reply["message"]["from"], "business", "{reply}");
        assert_eq!(
            reply["message"]["content"]["body"],
            parley::bootstrap::DEFAULT_GREETING
        );
    }
    assert!(
        metric(&node_b, "parley_forwarded_commands_total").await > 0,
        "some visitors' messages went to node A"
    );
}

#[actix_web::test]
async fn a_team_members_command_is_answered_even_when_pub_sub_loses_the_answer() {
    // Neither node publishes its answers: they reach the asking node only through the key
    // each one is kept under.
    let (node_a, node_b) = crate::support::two_nodes_with(|| crate::support::Options {
        partition_lease_ms: Some(1_200),
        unpublished_answers: true,
        ..Default::default()
    })
    .await;
    let channel = node_a.create_whatsapp_channel().await;
    node_b
        .graph
        .add_number(&channel.phone_number_id, &channel.access_token);
    until_owned(&node_a, &node_b, |a, b| a == 32 && b == 32).await;
    let owned_by_a = owned_each(&node_a).await;
    let channel_id: parley::domain::ChannelId = channel.id.parse().unwrap();
    let contacts: Vec<String> = (0..8).map(|n| format!("4477019{n:05}")).collect();
    for (index, contact) in contacts.iter().enumerate() {
        says(&node_a, &channel, contact, &format!("wamid.L{index}")).await;
    }
    until_replied(&[&node_a, &node_b], &contacts).await;

    // Each reply goes through the node that does not own the conversation.
    for contact in &contacts {
        let partition = parley::domain::partition::partition_of(channel_id, contact);
        let asked = if owned_by_a[usize::from(partition)] {
            &node_b
        } else {
            &node_a
        };
        let conversation = asked.conversation_with(contact).await;
        let id = conversation["id"].as_str().unwrap();
        let (status, reply) = asked
            .post_json(
                &format!("/api/v1/conversations/{id}/messages"),
                &json!({"text": "Breakfast is from 7 to 10."}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{contact}: {reply}");
        // Unanswered, the request would have failed with 503 after 15 s: the answer was
        // found under its key.
        assert_eq!(reply["conversation_id"], id, "{reply}");
    }
}
