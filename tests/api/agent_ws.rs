//! The agent console's WebSocket: live events with per-organisation sequence numbers, replay
//! of exactly what a reconnecting console missed, commands with acknowledgements, typing, the
//! Origin check, and a console that stops reading cut off without slowing the others.

use crate::support::{team_member, TestApp, PATIENCE};
use futures::{SinkExt, StreamExt};
use parley::actors::bus::{log_script, Event};
use parley::domain::{ConversationId, UserId};
use parley::store::events::{append_events_into, NewEvent};
use parley::store::script::Script;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens `/ws` (with `?since=`) as the holder of `key`, from `origin` if given.
pub(crate) async fn open(
    app: &TestApp,
    key: &str,
    query: &str,
    origin: Option<&str>,
) -> Result<Socket, StatusCode> {
    connect(app, key, query, origin, None).await
}

/// Opens `/ws` with a socket receive buffer of `receive_buffer` bytes (a small one makes a
/// console that does not read fall behind quickly).
async fn connect(
    app: &TestApp,
    key: &str,
    query: &str,
    origin: Option<&str>,
    receive_buffer: Option<u32>,
) -> Result<Socket, StatusCode> {
    let url = format!("{}/ws{query}", app.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {key}").parse().unwrap());
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    let address = app.address.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let stream = socket.connect(address.parse().unwrap()).await.unwrap();
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(StatusCode::from_u16(response.status().as_u16()).unwrap())
        }
        Err(other) => panic!("{other}"),
    }
}

/// The next JSON frame (pings and pongs skipped).
pub(crate) async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Frames until one satisfies `done`; answers them all, that one last.
pub(crate) async fn until(socket: &mut Socket, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next(socket).await;
        let found = done(&frame);
        frames.push(frame);
        if found {
            return frames;
        }
    }
}

async fn send(socket: &mut Socket, command: Value) {
    socket
        .send(Message::Text(command.to_string()))
        .await
        .unwrap();
}

/// The answer to the command with this `id` (events in between are skipped).
async fn answer(socket: &mut Socket, id: &str) -> Value {
    until(socket, |frame| {
        matches!(frame["type"].as_str(), Some("ack" | "error")) && frame["id"] == id
    })
    .await
    .pop()
    .unwrap()
}

fn seqs(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .filter_map(|frame| frame["seq"].as_i64())
        .collect()
}

#[actix_web::test]
async fn a_console_sees_the_guest_and_the_bot_live_and_gets_exactly_what_it_missed_on_reconnect() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let mut console = open(&app, &app.api_key, "", None).await.unwrap();
    let hello = next(&mut console).await;
    assert_eq!(hello["type"], "hello");
    let start = hello["seq"].as_i64().unwrap();

    app.customer_says(&channel, "447700900123", "wamid.w1", "hello")
        .await;
    let frames = until(&mut console, |frame| {
        frame["type"] == "message.created" && frame["data"]["sender_kind"] == "bot"
    })
    .await;
    let inbound = frames
        .iter()
        .find(|frame| {
            frame["type"] == "message.created" && frame["data"]["sender_kind"] == "contact"
        })
        .expect("the guest's message");
    assert_eq!(inbound["data"]["content"]["body"], "hello");
    // Sequence numbers run on from the hello, one by one.
    let numbers = seqs(&frames);
    let expected: Vec<i64> = (start + 1..=start + numbers.len() as i64).collect();
    assert_eq!(numbers, expected);
    // The send is confirmed as a delivery update.
    let sent = until(&mut console, |frame| frame["type"] == "message.updated").await;
    let last_seen = *seqs(&sent).last().unwrap();
    assert_eq!(sent.last().unwrap()["data"]["delivery_status"], "sent");
    drop(console);

    // While the console is away, the guest writes twice more and the bot answers.
    app.customer_says(&channel, "447700900123", "wamid.w2", "are you there?")
        .await;
    app.customer_says(&channel, "447700900123", "wamid.w3", "hello??")
        .await;
    app.graph.wait_for_accepted(3, PATIENCE).await;
    let conversation = app.conversation_with("447700900123").await;
    let id = conversation["id"].as_str().unwrap();
    let messages = app.messages_until(id, |messages| messages.len() >= 6).await;
    // Give the delivery updates time to be recorded too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut probe = open(&app, &app.api_key, "", None).await.unwrap();
    let log_end = next(&mut probe).await["seq"].as_i64().unwrap();
    assert!(log_end > last_seen);

    // Back with `since`: every missed event once, in order, then live ones.
    let mut console = open(&app, &app.api_key, &format!("?since={last_seen}"), None)
        .await
        .unwrap();
    let hello = next(&mut console).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["seq"], log_end);
    let mut missed = Vec::new();
    while missed.len() < (log_end - last_seen) as usize {
        missed.push(next(&mut console).await);
    }
    let expected: Vec<i64> = (last_seen + 1..=log_end).collect();
    assert_eq!(seqs(&missed), expected);
    let created: Vec<&Value> = missed
        .iter()
        .filter(|frame| frame["type"] == "message.created")
        .map(|frame| &frame["data"]["id"])
        .collect();
    let stored: Vec<&Value> = messages[2..].iter().map(|m| &m["id"]).collect();
    assert_eq!(created, stored);
    app.customer_says(&channel, "447700900123", "wamid.w4", "ok")
        .await;
    let live = next(&mut console).await;
    assert_eq!(live["seq"], log_end + 1);
    assert_eq!(live["type"], "message.created");
    assert_eq!(live["data"]["content"]["body"], "ok");
}

#[actix_web::test]
async fn commands_are_acknowledged_or_refused_with_a_code_and_typing_reaches_the_others() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (maria, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let mut owner = open(&app, &app.api_key, "", None).await.unwrap();
    let mut agent = open(&app, &maria_key, "", None).await.unwrap();
    next(&mut owner).await;
    next(&mut agent).await;
    app.customer_says(&channel, "447700900456", "wamid.c1", "hi")
        .await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    let conversation = app.conversation_with("447700900456").await;
    let id = conversation["id"].as_str().unwrap();

    send(
        &mut agent,
        json!({"id": "1", "type": "take_over", "conversation_id": id}),
    )
    .await;
    let ack = answer(&mut agent, "1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["conversation"]["status"], "agent_assigned");
    assert_eq!(
        ack["data"]["conversation"]["assigned_user_id"],
        maria.as_str()
    );

    send(
        &mut agent,
        json!({"id": "2", "type": "send_message", "conversation_id": id, "text": "Maria here"}),
    )
    .await;
    let ack = answer(&mut agent, "2").await;
    assert_eq!(ack["data"]["message"]["sender_kind"], "agent", "{ack}");
    let sends = app.graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(sends[1].body["text"]["body"], "Maria here");
    // The owner's console saw both changes.
    let seen = until(&mut owner, |frame| {
        frame["type"] == "message.created" && frame["data"]["sender_kind"] == "agent"
    })
    .await;
    assert!(seen
        .iter()
        .any(|frame| frame["type"] == "conversation.updated"
            && frame["data"]["status"] == "agent_assigned"));

    // Refusals carry the request's id and a stable code.
    send(
        &mut agent,
        json!({"id": "3", "type": "claim", "conversation_id": id}),
    )
    .await;
    let refused = answer(&mut agent, "3").await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["error"]["code"], "invalid_transition");
    send(
        &mut agent,
        json!({"id": "4", "type": "assign", "conversation_id": id, "user_id": maria}),
    )
    .await;
    assert_eq!(answer(&mut agent, "4").await["error"]["code"], "forbidden");
    send(&mut agent, json!({"id": "5", "type": "dance"})).await;
    let unknown = answer(&mut agent, "5").await;
    assert_eq!(unknown["error"]["code"], "invalid_field");
    assert_eq!(unknown["error"]["field"], "type");
    send(
        &mut agent,
        json!({"id": "6", "type": "send_message", "conversation_id": id}),
    )
    .await;
    assert_eq!(
        answer(&mut agent, "6").await["error"]["code"],
        "missing_field"
    );
    agent.send(Message::Text("not json".into())).await.unwrap();
    // Events of the conversation may still arrive first; the refusal is the next error.
    let malformed = until(&mut agent, |frame| frame["type"] == "error")
        .await
        .pop()
        .unwrap();
    assert_eq!(malformed["error"]["code"], "malformed_json");

    // Presence and typing reach the other console; typing is not echoed to its author.
    send(
        &mut agent,
        json!({"id": "7", "type": "set_presence", "presence": "online"}),
    )
    .await;
    assert_eq!(answer(&mut agent, "7").await["data"]["presence"], "online");
    let presence = until(&mut owner, |frame| frame["type"] == "presence.changed").await;
    let presence = presence.last().unwrap();
    assert_eq!(presence["data"]["user_id"], maria.as_str());
    assert_eq!(presence["data"]["presence"], "online");
    send(
        &mut agent,
        json!({"id": "8", "type": "typing", "conversation_id": id}),
    )
    .await;
    assert_eq!(answer(&mut agent, "8").await["type"], "ack");
    let typing = until(&mut owner, |frame| frame["type"] == "typing").await;
    let typing = typing.last().unwrap();
    assert_eq!(typing["data"]["name"], "maria");
    assert!(typing.get("seq").is_none(), "typing is not logged");
    send(
        &mut agent,
        json!({"id": "9", "type": "mark_read", "conversation_id": id}),
    )
    .await;
    let read = until(&mut agent, |frame| {
        frame["id"] == "9" || frame["type"] == "typing"
    })
    .await;
    assert_eq!(
        read.last().unwrap()["type"],
        "ack",
        "the author does not see their own typing"
    );
    // The guest sees the team typing: WhatsApp's typing indicator on their latest message.
    let receipts = app.graph.wait_for_receipts(2, PATIENCE).await;
    assert!(
        receipts.iter().any(
            |(_, body)| body["typing_indicator"] == json!({"type": "text"})
                && body["message_id"] == "wamid.c1"
        ),
        "{receipts:?}"
    );
}

#[actix_web::test]
async fn only_authenticated_staff_from_the_servers_own_origin_may_connect() {
    let app = TestApp::spawn().await;
    assert_eq!(
        open(&app, "pk_wrong", "", None).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    let foreign = open(&app, &app.api_key, "", Some("https://evil.example")).await;
    assert_eq!(foreign.err(), Some(StatusCode::FORBIDDEN));
    let own = format!("http://{}", app.address.trim_start_matches("http://"));
    assert!(open(&app, &app.api_key, "", Some(&own)).await.is_ok());
    let (_, bot_key) = team_member(&app, "bot@casa-azul.example", "bot").await;
    assert_eq!(
        open(&app, &bot_key, "", None).await.err(),
        Some(StatusCode::FORBIDDEN)
    );
}

#[actix_web::test]
async fn a_console_that_stops_reading_is_cut_off_and_the_others_get_everything() {
    let app = TestApp::spawn().await;
    let mut reader = open(&app, &app.api_key, "", None).await.unwrap();
    let mut stalled = connect(&app, &app.api_key, "", None, Some(4096))
        .await
        .unwrap();
    let start = next(&mut reader).await["seq"].as_i64().unwrap();
    next(&mut stalled).await;
    // The reading console reads all along.
    let reading = tokio::spawn(async move {
        let mut numbers = Vec::new();
        while numbers.len() < 12_000 {
            let frame = next(&mut reader).await;
            if let Some(seq) = frame["seq"].as_i64() {
                numbers.push(seq);
            }
        }
        numbers
    });

    // Far more than the stalled console's buffers hold: 12,000 events of 1 KiB.
    let org_id = app.credentials.organization_id;
    let conversation_id = ConversationId::new();
    let padding = "x".repeat(1024);
    for _ in 0..60 {
        let events: Vec<Event> = (0..200)
            .map(|_| Event::Typing {
                conversation_id,
                user_id: UserId::new(),
                name: padding.clone(),
            })
            .collect();
        // Stamped now: the scheduler's pruning, which may run at any moment, keeps them.
        let script = log_script(org_id, &events, app.app.clock.now());
        app.app.store.write_script(script).await.unwrap();
        app.app
            .bus
            .publish(org_id, Event::ConversationDeleted { conversation_id });
    }

    // The reading console gets all 12,000, in order.
    let numbers = reading.await.unwrap();
    assert_eq!(numbers, (start + 1..=start + 12_000).collect::<Vec<_>>());

    // The stalled one, read at last, gets what was buffered and then a close for being slow.
    let mut received = 0;
    let close = loop {
        match tokio::time::timeout(PATIENCE, stalled.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Text(_))) => received += 1,
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    let close = close.expect("a close reason");
    assert_eq!(u16::from(close.code), 1008, "{close:?}");
    assert!(
        received < 12_000,
        "cut off before the end, after {received}"
    );
}

#[actix_web::test]
async fn through_redis_a_webhook_into_one_node_reaches_a_console_on_another() {
    // Two nodes share one Postgres and one Redis.
    let (node_a, node_b) = crate::support::two_nodes(None).await;
    let channel = node_a.create_whatsapp_channel().await;
    let mut console = open(&node_b, &node_b.api_key, "", None).await.unwrap();
    let start = next(&mut console).await["seq"].as_i64().unwrap();

    node_a
        .customer_says(&channel, "447700900777", "wamid.r1", "hello from node A")
        .await;
    let frames = until(&mut console, |frame| {
        frame["type"] == "message.created" && frame["data"]["sender_kind"] == "bot"
    })
    .await;
    assert_eq!(seqs(&frames)[0], start + 1, "no gap: {frames:#?}");
    assert!(frames.iter().any(|frame| {
        frame["type"] == "message.created"
            && frame["data"]["content"]["body"] == "hello from node A"
    }));
    // Typing crosses nodes too.
    let (maria_id, maria_key) = team_member(&node_a, "maria@casa-azul.example", "user").await;
    let conversation = node_a.conversation_with("447700900777").await;
    let mut on_a = open(&node_a, &maria_key, "", None).await.unwrap();
    next(&mut on_a).await;
    send(
        &mut on_a,
        json!({"id": "t", "type": "typing", "conversation_id": conversation["id"]}),
    )
    .await;
    let typing = until(&mut console, |frame| frame["type"] == "typing").await;
    assert_eq!(typing.last().unwrap()["data"]["user_id"], maria_id.as_str());
}

#[actix_web::test]
async fn events_two_nodes_write_at_once_are_numbered_once_each_in_each_writers_order() {
    // Two nodes on one Postgres: writers on both log events concurrently while both number
    // them. Every event gets one number, the numbers run without a gap, each writer's events
    // keep their order, and a console sees exactly that, live and on reconnect.
    let (node_a, node_b) = crate::support::two_nodes(None).await;
    let org_id = node_a.credentials.organization_id;
    let mut console = open(&node_b, &node_b.api_key, "", None).await.unwrap();
    let start = next(&mut console).await["seq"].as_i64().unwrap();

    const WRITERS: usize = 8;
    const TURNS: usize = 20;
    let stores = [node_a.app.store.clone(), node_b.app.store.clone()];
    let writing = std::cell::Cell::new(WRITERS);
    let writers = (0..WRITERS).map(|writer| {
        let store = stores[writer % 2].clone();
        let writing = &writing;
        async move {
            for turn in 0..TURNS {
                // One to three events per write.
                let events: Vec<NewEvent> = (0..1 + (writer + turn) % 3)
                    .map(|n| NewEvent {
                        kind: "conversation.updated",
                        conversation_id: None,
                        data: json!({"writer": writer, "turn": turn, "n": n}),
                    })
                    .collect();
                let mut script = Script::new();
                // Stamped in the future, out of reach of the scheduler's pruning.
                append_events_into(&mut script, org_id, events, 4_000_000_000_000);
                store.write_script(script).await.unwrap();
            }
            writing.set(writing.get() - 1);
        }
    });
    let numbering = stores.iter().map(|store| {
        let writing = &writing;
        async move {
            while writing.get() > 0 {
                store.sequence_events(org_id).await.unwrap();
                tokio::task::yield_now().await;
            }
        }
    });
    futures::future::join(
        futures::future::join_all(writers),
        futures::future::join_all(numbering),
    )
    .await;
    for store in &stores {
        store.sequence_events(org_id).await.unwrap();
    }
    let total: i64 = (0..WRITERS)
        .flat_map(|writer| (0..TURNS).map(move |turn| 1 + (writer + turn) % 3))
        .sum::<usize>() as i64;
    for store in &stores {
        assert_eq!(store.last_event_seq(org_id).await.unwrap(), start + total);
    }
    node_a.app.bus.publish(
        org_id,
        Event::ConversationDeleted {
            conversation_id: ConversationId::new(),
        },
    );

    let mut live = Vec::new();
    while (live.len() as i64) < total {
        live.push(next(&mut console).await);
    }
    let expected: Vec<i64> = (start + 1..=start + total).collect();
    assert_eq!(seqs(&live), expected);
    for writer in 0..WRITERS {
        let order: Vec<(u64, u64)> = live
            .iter()
            .filter(|frame| frame["data"]["writer"] == writer)
            .map(|frame| {
                let data = &frame["data"];
                (data["turn"].as_u64().unwrap(), data["n"].as_u64().unwrap())
            })
            .collect();
        let written: Vec<(u64, u64)> = (0..TURNS as u64)
            .flat_map(|turn| (0..1 + (writer as u64 + turn) % 3).map(move |n| (turn, n)))
            .collect();
        assert_eq!(order, written, "writer {writer}");
    }
    // A console on the other node that saw half of it gets exactly the rest.
    let half = start + total / 2;
    let mut back = open(&node_a, &node_a.api_key, &format!("?since={half}"), None)
        .await
        .unwrap();
    assert_eq!(next(&mut back).await["seq"], start + total);
    let mut missed = Vec::new();
    while (missed.len() as i64) < start + total - half {
        missed.push(next(&mut back).await);
    }
    assert_eq!(
        missed,
        live[usize::try_from(half - start).unwrap()..].to_vec()
    );
}

#[actix_web::test]
async fn on_postgres_events_are_numbered_with_no_console_connected() {
    let app = TestApp::spawn_with(crate::support::Options {
        database_url: Some(crate::support::postgres::fresh_database().await),
        ..Default::default()
    })
    .await;
    let org_id = app.credentials.organization_id;
    let before = app.app.store.last_event_seq(org_id).await.unwrap();
    let events: Vec<Event> = (0..3)
        .map(|_| Event::ConversationDeleted {
            conversation_id: ConversationId::new(),
        })
        .collect();
    app.app
        .store
        .write_script(log_script(org_id, &events, 4_000_000_000_000))
        .await
        .unwrap();
    // Nobody reads the log: the scheduler numbers the events within a second or so.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app.app.store.last_event_seq(org_id).await.unwrap() < before + 3 {
        assert!(tokio::time::Instant::now() < deadline, "never numbered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logged = app
        .app
        .store
        .events_after(org_id, before, 10)
        .await
        .unwrap();
    assert_eq!(
        logged.iter().map(|event| event.seq).collect::<Vec<_>>(),
        [before + 1, before + 2, before + 3]
    );
}

#[actix_web::test]
async fn a_console_asking_for_events_the_log_no_longer_keeps_is_told_to_reload() {
    let app = TestApp::spawn().await;
    let org_id = app.credentials.organization_id;
    let conversation_id = ConversationId::new();
    let old: Vec<Event> = (0..5)
        .map(|_| Event::ConversationDeleted { conversation_id })
        .collect();
    // Logged an hour ago, numbered (on Postgres, after the commit, as the agent hubs and the
    // scheduler do), then pruned. The scheduler's own pruning, which runs at start-up at a
    // moment of its own, keeps a week: it takes none of these events, numbered or not.
    let now = app.app.clock.now();
    app.app
        .store
        .write_script(log_script(org_id, &old, now - 3_600_000))
        .await
        .unwrap();
    app.app.store.sequence_events(org_id).await.unwrap();
    app.app.store.prune_events(now).await.unwrap();
    assert_eq!(app.app.store.first_event_seq(org_id).await.unwrap(), None);
    assert_eq!(app.app.store.last_event_seq(org_id).await.unwrap(), 5);

    let mut console = open(&app, &app.api_key, "?since=2", None).await.unwrap();
    let hello = next(&mut console).await;
    assert_eq!(hello["seq"], 5);
    assert_eq!(next(&mut console).await["type"], "resync");

    // Up to date, it is not.
    let mut current = open(&app, &app.api_key, "?since=5", None).await.unwrap();
    assert_eq!(next(&mut current).await["seq"], 5);
    app.app
        .store
        .write_script(log_script(org_id, &old[..1], app.app.clock.now()))
        .await
        .unwrap();
    app.app
        .bus
        .publish(org_id, Event::ConversationDeleted { conversation_id });
    let live = next(&mut current).await;
    assert_eq!(
        (live["seq"].as_i64(), live["type"].as_str()),
        (Some(6), Some("conversation.deleted"))
    );
}

#[actix_web::test]
async fn what_a_journey_timer_makes_the_bot_say_reaches_the_console() {
    let app = TestApp::spawn_with(crate::support::Options {
        manual_clock: true,
        ..Default::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let channel = app.create_whatsapp_channel().await;
    let (bot, _) = team_member(&app, "timer-bot@casa-azul.example", "bot").await;
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Nights"}))
        .await;
    let path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "nights", "name": "Nights", "kind": "prompt", "config": {
                "question": "How many nights?", "validation": {"mode": "number"},
                "timeout_secs": 60}},
            {"id": "later", "name": "Later", "kind": "text",
             "config": {"text": "No rush, write when you are ready."}}
        ],
        "connections": [
            {"from": "start", "to": "nights"},
            {"from": "nights", "to": "later", "label": "timeout"}
        ]
    });
    assert_eq!(app.put_json(&path, &graph).await.0, StatusCode::OK);
    let (status, body) = app.post_json(&format!("{path}/deploy"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put_json(
            &format!("/api/v1/channels/{}/journey", channel.id),
            &json!({"journey_id": journey["id"], "bot_user_id": bot}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut console = open(&app, &app.api_key, "", None).await.unwrap();
    next(&mut console).await;
    app.customer_says(&channel, "447700900555", "wamid.t1", "hi")
        .await;
    until(&mut console, |frame| {
        frame["data"]["content"]["body"] == "How many nights?"
    })
    .await;

    // The prompt times out: the timer's turn is logged and pushed like any other.
    clock.advance(Duration::from_secs(61));
    let frames = until(&mut console, |frame| {
        frame["type"] == "message.created"
            && frame["data"]["content"]["body"] == "No rush, write when you are ready."
    })
    .await;
    assert!(frames.last().unwrap()["seq"].is_i64());
}
