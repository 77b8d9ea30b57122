//! Handover between the bot and the team, over HTTP: take over, claim, assign, reply, resolve
//! and hand back, each with its system line; the bot never answers while a human owns the
//! conversation, and stays quiet for three days after a human reply.

use crate::support::{set_presence, team_member, Options, TestApp, WhatsappChannel, PATIENCE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const GUEST: &str = "351944444444";

async fn act(
    app: &TestApp,
    key: &str,
    conversation: &str,
    action: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.request(
        reqwest::Method::POST,
        &format!("/api/v1/conversations/{conversation}/{action}"),
        key,
        Some(&body),
    )
    .await
}

/// The system lines of the conversation, once there are `count`.
async fn system_lines(app: &TestApp, conversation: &str, count: usize) -> Vec<String> {
    let is_system = |message: &&Value| message["sender_kind"] == "system";
    let messages = app
        .messages_until(conversation, |messages| {
            messages.iter().filter(is_system).count() >= count
        })
        .await;
    messages
        .iter()
        .filter(is_system)
        .map(|message| message["content"]["body"].as_str().unwrap().to_owned())
        .collect()
}

/// The text of what the mock Graph API accepted from the `from`-th send on, once there are
/// `count` sends in all.
async fn texts(app: &TestApp, from: usize, count: usize) -> Vec<String> {
    let sends = app.graph.wait_for_accepted(count, PATIENCE).await;
    assert_eq!(sends.len(), count, "{sends:#?}");
    sends[from..]
        .iter()
        .map(|send| {
            send.body["text"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn greeted(app: &TestApp, channel: &WhatsappChannel, wamid: &str) -> String {
    app.customer_says(channel, GUEST, wamid, "hi").await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    app.conversation_with(GUEST).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn a_human_takes_over_replies_and_hands_back_to_the_bot() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (maria, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let conversation = greeted(&app, &channel, "wamid.h1").await;
    let greeting = texts(&app, 0, 1).await;

    // Maria takes over; the bot falls silent.
    let (status, body) = act(&app, &maria_key, &conversation, "take-over", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "agent_assigned");
    assert_eq!(body["assigned_user_id"], maria.as_str());
    app.customer_says(&channel, GUEST, "wamid.h2", "is anyone there?")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.graph.accepted().len(),
        1,
        "the bot does not answer a human's conversation"
    );

    // Her reply reaches the guest.
    let (status, message) = act(
        &app,
        &maria_key,
        &conversation,
        "messages",
        json!({"text": "Hi, Maria here!"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["sender_kind"], "agent");
    assert_eq!(texts(&app, 1, 2).await, ["Hi, Maria here!"]);

    // Claiming what is not waiting for an agent is refused; so is an empty reply.
    let refused = act(&app, &maria_key, &conversation, "claim", json!({})).await;
    assert_eq!(refused.0, StatusCode::CONFLICT, "{}", refused.1);
    assert_eq!(refused.1["error"]["code"], "invalid_transition");
    let empty = act(
        &app,
        &maria_key,
        &conversation,
        "messages",
        json!({"text": "  "}),
    )
    .await;
    assert_eq!(empty.1["error"]["code"], "invalid_field");

    // Another agent may not resolve Maria's conversation or assign it; the owner may.
    let (_, john_key) = team_member(&app, "john@casa-azul.example", "user").await;
    let refused = act(&app, &john_key, &conversation, "resolve", json!({})).await;
    assert_eq!(refused.0, StatusCode::FORBIDDEN);
    assert_eq!(refused.1["error"]["code"], "not_your_conversation");
    let refused = act(
        &app,
        &john_key,
        &conversation,
        "assign",
        json!({"user_id": maria}),
    )
    .await;
    assert_eq!(refused.1["error"]["code"], "forbidden");

    // Handed back, the bot greets the guest on the next message.
    let (status, body) = act(&app, &maria_key, &conversation, "hand-back", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "bot_handling");
    assert_eq!(body["assigned_user_id"], Value::Null);
    app.customer_says(&channel, GUEST, "wamid.h3", "hello again")
        .await;
    assert_eq!(texts(&app, 2, 3).await, greeting);

    assert_eq!(
        system_lines(&app, &conversation, 2).await,
        [
            "maria took over from the bot",
            "maria handed the conversation back to the bot"
        ]
    );
    // The bot identity may not act, and another organisation does not see the conversation.
    let (_, bot_key) = team_member(&app, "bot@casa-azul.example", "bot").await;
    assert_eq!(
        act(&app, &bot_key, &conversation, "take-over", json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let other = app.other_organization().await;
    assert_eq!(
        act(&app, &other, &conversation, "take-over", json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn an_escalation_is_claimed_assigned_and_resolved() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (maria, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let (john, _) = team_member(&app, "john@casa-azul.example", "user").await;
    let (bot, _) = team_member(&app, "concierge@casa-azul.example", "bot").await;

    // A journey that hands every guest to the front desk.
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Desk"}))
        .await;
    let path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "desk", "name": "Desk", "kind": "agent_transfer",
             "config": {"target": {"type": "team", "team_id": "front-desk"}, "message": "One moment please."}}
        ],
        "connections": [{"from": "start", "to": "desk"}]
    });
    assert_eq!(app.put_json(&path, &graph).await.0, StatusCode::OK);
    assert_eq!(
        app.post_json(&format!("{path}/deploy"), &json!({})).await.0,
        StatusCode::OK
    );
    app.put_json(
        &format!("/api/v1/channels/{}/journey", channel.id),
        &json!({"journey_id": journey["id"], "bot_user_id": bot}),
    )
    .await;
    let conversation = greeted(&app, &channel, "wamid.e1").await;
    let waiting = app
        .get_until(&format!("/api/v1/conversations/{conversation}"), |body| {
            body["status"] == "awaiting_agent"
        })
        .await;
    assert_eq!(waiting["assigned_team_id"], "front-desk");

    let (status, body) = act(&app, &maria_key, &conversation, "claim", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assigned_user_id"], maria.as_str());
    // The owner reassigns it to John; the bot identity cannot be given conversations.
    let refused = app
        .post_json(
            &format!("/api/v1/conversations/{conversation}/assign"),
            &json!({"user_id": bot}),
        )
        .await;
    assert_eq!(refused.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.1);
    let (status, body) = app
        .post_json(
            &format!("/api/v1/conversations/{conversation}/assign"),
            &json!({"user_id": john}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assigned_user_id"], john.as_str());
    let (status, body) = app
        .post_json(
            &format!("/api/v1/conversations/{conversation}/resolve"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");

    let lines = system_lines(&app, &conversation, 4).await;
    assert_eq!(
        lines[0],
        "The bot handed the conversation to team front-desk."
    );
    assert_eq!(lines[1], "maria claimed the conversation");
    assert!(
        lines[2].ends_with("assigned the conversation to john"),
        "{lines:?}"
    );
    assert!(lines[3].ends_with("resolved the conversation"), "{lines:?}");

    // The next guest message starts a fresh bot conversation (which hands over again).
    app.customer_says(&channel, GUEST, "wamid.e2", "one more thing")
        .await;
    app.get_until(&format!("/api/v1/conversations/{conversation}"), |body| {
        body["status"] == "awaiting_agent"
    })
    .await;
    assert_eq!(
        texts(&app, 0, 4).await,
        [
            "One moment please.",
            "Our team will respond shortly.",
            "One moment please.",
            "Our team will respond shortly."
        ]
    );
}

#[actix_web::test]
async fn the_bot_answers_again_three_days_after_the_last_human_reply() {
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let channel = app.create_whatsapp_channel().await;
    let (_, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let conversation = greeted(&app, &channel, "wamid.s1").await;
    let greeting = texts(&app, 0, 1).await;
    let (status, _) = act(
        &app,
        &maria_key,
        &conversation,
        "messages",
        json!({"text": "Maria here"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    texts(&app, 1, 2).await;

    // Two days on, a reply restarts the three days.
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    act(
        &app,
        &maria_key,
        &conversation,
        "messages",
        json!({"text": "Still here"}),
    )
    .await;
    texts(&app, 2, 3).await;
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = app
        .get(&format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(
        body["status"], "agent_assigned",
        "one day of the silence is left"
    );

    clock.advance(Duration::from_secs(24 * 3600 + 60));
    let back = app
        .get_until(&format!("/api/v1/conversations/{conversation}"), |body| {
            body["status"] == "bot_handling"
        })
        .await;
    assert_eq!(back["assigned_user_id"], Value::Null);
    let lines = system_lines(&app, &conversation, 2).await;
    assert_eq!(
        lines[1],
        "No team member has replied for 3 days; the bot answers again."
    );
    app.customer_says(&channel, GUEST, "wamid.s2", "hello?")
        .await;
    assert_eq!(texts(&app, 3, 4).await, greeting, "the bot greets afresh");
}

/// Deploys a journey that hands every guest to the front desk, on `channel`.
async fn front_desk_journey(app: &TestApp, channel: &WhatsappChannel) {
    let (bot, _) = team_member(app, "desk-bot@casa-azul.example", "bot").await;
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Desk"}))
        .await;
    let path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "desk", "name": "Desk", "kind": "agent_transfer",
             "config": {"target": {"type": "team", "team_id": "front-desk"}, "message": "One moment please."}}
        ],
        "connections": [{"from": "start", "to": "desk"}]
    });
    assert_eq!(app.put_json(&path, &graph).await.0, StatusCode::OK);
    assert_eq!(
        app.post_json(&format!("{path}/deploy"), &json!({})).await.0,
        StatusCode::OK
    );
    app.put_json(
        &format!("/api/v1/channels/{}/journey", channel.id),
        &json!({"journey_id": journey["id"], "bot_user_id": bot}),
    )
    .await;
}

#[actix_web::test]
async fn escalations_go_to_the_least_loaded_online_agent_within_their_limit() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    front_desk_journey(&app, &channel).await;
    let (maria, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let (john, john_key) = team_member(&app, "john@casa-azul.example", "user").await;
    let (_, away_key) = team_member(&app, "ana@casa-azul.example", "user").await;
    set_presence(&app, &maria_key, "online").await;
    set_presence(&app, &john_key, "online").await;
    set_presence(&app, &away_key, "away").await;
    // An agent may not set another's presence; a bad value is refused.
    let refused = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{john}"),
            &maria_key,
            Some(&json!({"presence": "offline"})),
        )
        .await;
    assert_eq!(refused.0, StatusCode::FORBIDDEN);
    let refused = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            &maria_key,
            Some(&json!({"presence": "busy"})),
        )
        .await;
    assert_eq!(refused.1["error"]["code"], "invalid_field");

    // Three guests escalate: the first two go one to each (both idle, no load), the third to
    // whoever has fewer — the owner then caps Maria at one, so John takes it.
    let (status, _) = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{maria}"),
            &app.api_key,
            Some(&json!({"max_active_conversations": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut owners = Vec::new();
    for (index, guest) in ["351950000001", "351950000002", "351950000003"]
        .iter()
        .enumerate()
    {
        app.customer_says(&channel, guest, &format!("wamid.a{index}"), "hello")
            .await;
        let conversation = app.conversation_with(guest).await;
        let assigned = app
            .get_until(
                &format!(
                    "/api/v1/conversations/{}",
                    conversation["id"].as_str().unwrap()
                ),
                |body| body["status"] == "agent_assigned",
            )
            .await;
        owners.push(assigned["assigned_user_id"].as_str().unwrap().to_owned());
        let lines = system_lines(&app, conversation["id"].as_str().unwrap(), 2).await;
        assert!(
            lines[1].starts_with("Assigned to ") && lines[1].ends_with(" automatically"),
            "{lines:?}"
        );
    }
    assert_eq!(
        owners.iter().filter(|owner| **owner == maria).count(),
        1,
        "{owners:?}"
    );
    assert_eq!(
        owners.iter().filter(|owner| **owner == john).count(),
        2,
        "{owners:?}"
    );
}

#[actix_web::test]
async fn with_nobody_online_the_guest_is_told_and_the_bot_returns_after_30_minutes() {
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let channel = app.create_whatsapp_channel().await;
    front_desk_journey(&app, &channel).await;
    app.customer_says(&channel, GUEST, "wamid.w1", "hello")
        .await;
    assert_eq!(
        texts(&app, 0, 2).await,
        ["One moment please.", "Our team will respond shortly."]
    );
    let conversation = app.conversation_with(GUEST).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .get(&format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(body["status"], "awaiting_agent");

    clock.advance(Duration::from_secs(30 * 60 + 1));
    app.get_until(&format!("/api/v1/conversations/{conversation}"), |body| {
        body["status"] == "bot_handling"
    })
    .await;
    let lines = system_lines(&app, &conversation, 2).await;
    assert_eq!(
        lines[1],
        "No one claimed the conversation within 30 minutes; the bot answers again."
    );
}
