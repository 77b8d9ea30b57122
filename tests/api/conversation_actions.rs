//! Close, archive, reopen, the AI switch and delete, over HTTP: each moves the conversation
//! as the WhatsApp page describes, with its system line, and the server enforces who may.

use crate::support::{set_presence, team_member, TestApp, WhatsappChannel, PATIENCE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const GUEST: &str = "447700900999";

async fn act(app: &TestApp, key: &str, conversation: &str, action: &str) -> (StatusCode, Value) {
    app.request(
        reqwest::Method::POST,
        &format!("/api/v1/conversations/{conversation}/{action}"),
        key,
        Some(&json!({})),
    )
    .await
}

async fn set_ai(app: &TestApp, key: &str, conversation: &str, body: Value) -> (StatusCode, Value) {
    app.request(
        reqwest::Method::PATCH,
        &format!("/api/v1/conversations/{conversation}"),
        key,
        Some(&body),
    )
    .await
}

/// The guest writes and is greeted; answers the conversation's id.
async fn greeted(app: &TestApp, channel: &WhatsappChannel) -> String {
    app.customer_says(channel, GUEST, "wamid.a1", "hi").await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    app.conversation_with(GUEST).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn last_system_line(app: &TestApp, conversation: &str, expected: &str) {
    app.messages_until(conversation, |messages| {
        messages
            .iter()
            .rfind(|m| m["sender_kind"] == "system")
            .is_some_and(|m| m["content"]["body"] == expected)
    })
    .await;
}

fn listed(list: &Value, conversation: &str) -> bool {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == conversation)
}

#[actix_web::test]
async fn a_closed_conversation_is_archived_out_of_the_inbox_and_comes_back_when_reopened_or_the_guest_writes(
) {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (maria, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let conversation = greeted(&app, &channel).await;

    // Only a closed conversation can be archived or reopened.
    for action in ["archive", "reopen"] {
        let (status, body) = act(&app, &maria_key, &conversation, action).await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {body}");
        assert_eq!(body["error"]["code"], "invalid_transition");
    }
    let (status, closed) = act(&app, &maria_key, &conversation, "close").await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "resolved");
    last_system_line(&app, &conversation, "maria closed the conversation").await;
    // Closing draws the conversation's sentiment and summary.
    let insight = app
        .get_until(
            &format!("/api/v1/conversations/{conversation}/insights"),
            |body| !body["insight"].is_null(),
        )
        .await;
    assert_eq!(insight["insight"]["conversation_id"], conversation.as_str());
    assert!(insight["insight"]["sentiment"].is_string(), "{insight}");
    let (status, _) = act(&app, &maria_key, &conversation, "close").await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, archived) = act(&app, &maria_key, &conversation, "archive").await;
    assert_eq!(status, StatusCode::OK, "{archived}");
    assert!(archived["archived_at"].is_i64(), "{archived}");
    assert_eq!(archived["status"], "resolved");
    last_system_line(&app, &conversation, "maria archived the conversation").await;
    let (_, inbox) = app.get("/api/v1/conversations").await;
    assert!(!listed(&inbox, &conversation));
    let (_, shelf) = app.get("/api/v1/conversations?archived=true").await;
    assert!(listed(&shelf, &conversation));

    // Reopening brings it back, with Maria.
    let (status, reopened) = act(&app, &maria_key, &conversation, "reopen").await;
    assert_eq!(status, StatusCode::OK, "{reopened}");
    assert_eq!(reopened["status"], "agent_assigned");
    assert_eq!(reopened["assigned_user_id"], maria.as_str());
    assert!(reopened["archived_at"].is_null());
    last_system_line(&app, &conversation, "maria reopened the conversation").await;

    // Closed and archived again, the guest's next message brings it back to the bot.
    act(&app, &maria_key, &conversation, "close").await;
    act(&app, &maria_key, &conversation, "archive").await;
    app.customer_says(&channel, GUEST, "wamid.a2", "hello again")
        .await;
    app.graph.wait_for_accepted(2, PATIENCE).await;
    let back = app
        .get_until(&format!("/api/v1/conversations/{conversation}"), |body| {
            body["status"] == "bot_handling"
        })
        .await;
    assert!(back["archived_at"].is_null(), "{back}");
    let (_, inbox) = app.get("/api/v1/conversations").await;
    assert!(listed(&inbox, &conversation));
}

#[actix_web::test]
async fn with_the_ai_off_only_the_team_answers() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (maria, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let conversation = greeted(&app, &channel).await;

    // Bad bodies are refused with the field named.
    for (body, field) in [
        (json!({}), "ai_enabled"),
        (json!({"ai_enabled": "no"}), "ai_enabled"),
        (json!({"status": "resolved"}), "status"),
    ] {
        let (status, answer) = set_ai(&app, &maria_key, &conversation, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }

    // Off while the bot handles it: the conversation waits for the team. Maria is online, so
    // it is hers at once.
    set_presence(&app, &maria_key, "online").await;
    let (status, off) = set_ai(
        &app,
        &maria_key,
        &conversation,
        json!({"ai_enabled": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{off}");
    assert_eq!(off["ai_enabled"], false);
    assert_eq!(off["status"], "agent_assigned", "{off}");
    assert_eq!(off["assigned_user_id"], maria.as_str());
    let messages = app
        .messages_until(&conversation, |messages| {
            messages
                .iter()
                .filter(|m| m["sender_kind"] == "system")
                .count()
                >= 2
        })
        .await;
    let lines: Vec<&str> = messages
        .iter()
        .filter(|m| m["sender_kind"] == "system")
        .map(|m| m["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "maria turned the AI off; only the team answers",
            "Assigned to maria automatically"
        ]
    );

    // It cannot go back to the bot while the AI is off.
    let (status, refused) = act(&app, &maria_key, &conversation, "hand-back").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_transition");

    // Closed, and the guest writes: it waits for the team, and no bot says a word.
    act(&app, &maria_key, &conversation, "resolve").await;
    set_presence(&app, &maria_key, "offline").await;
    app.customer_says(&channel, GUEST, "wamid.a3", "one more question")
        .await;
    let waiting = app
        .get_until(&format!("/api/v1/conversations/{conversation}"), |body| {
            body["status"] == "awaiting_agent"
        })
        .await;
    assert_eq!(waiting["ai_enabled"], false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.graph.accepted().len(),
        1,
        "only the first greeting was sent"
    );

    // On again: the team keeps it until it is handed back, then the bot greets.
    let (status, on) = set_ai(&app, &maria_key, &conversation, json!({"ai_enabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{on}");
    assert_eq!(on["status"], "awaiting_agent");
    last_system_line(&app, &conversation, "maria turned the AI on").await;
    let (status, _) = act(&app, &maria_key, &conversation, "hand-back").await;
    assert_eq!(status, StatusCode::OK);
    app.customer_says(&channel, GUEST, "wamid.a4", "hello?")
        .await;
    app.graph.wait_for_accepted(2, PATIENCE).await;
}

#[actix_web::test]
async fn only_owners_and_admins_delete_and_the_guest_then_starts_afresh() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (_, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let (_, admin_key) = team_member(&app, "ana@casa-azul.example", "admin").await;
    let conversation = greeted(&app, &channel).await;
    let (status, note) = app
        .post_json(
            &format!("/api/v1/conversations/{conversation}/notes"),
            &json!({"body": "VIP guest"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    let path = format!("/api/v1/conversations/{conversation}");

    let (status, refused) = app
        .request(reqwest::Method::DELETE, &path, &maria_key, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "forbidden");
    let (status, _) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "still there");

    // Another organisation cannot delete it either.
    let other = app.other_organization().await;
    let (status, _) = app
        .request(reqwest::Method::DELETE, &path, &other, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .request(reqwest::Method::DELETE, &path, &admin_key, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for gone in [
        path.clone(),
        format!("{path}/messages"),
        format!("{path}/notes"),
        format!("{path}/thread"),
    ] {
        let (status, body) = app.get(&gone).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{gone}: {body}");
        assert_eq!(body["error"]["code"], "conversation_not_found");
    }
    let (_, inbox) = app.get("/api/v1/conversations?archived=all").await;
    assert!(!listed(&inbox, &conversation));
    let (status, _) = app
        .request(reqwest::Method::DELETE, &path, &admin_key, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The guest writes again: a new conversation, greeted by the bot.
    app.customer_says(&channel, GUEST, "wamid.a5", "hi again")
        .await;
    app.graph.wait_for_accepted(2, PATIENCE).await;
    let fresh = app.conversation_with(GUEST).await;
    assert_ne!(fresh["id"], conversation.as_str());
    let messages = app
        .messages_until(fresh["id"].as_str().unwrap(), |messages| {
            messages.len() >= 2
        })
        .await;
    assert_eq!(messages[0]["content"]["body"], "hi again");
}
