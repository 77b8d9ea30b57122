use crate::support::{TestApp, PATIENCE};
use parley::mock::graph::Scripted;
use std::time::Duration;

#[actix_web::test]
async fn server_errors_are_retried_until_exactly_one_reply_is_delivered() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.graph
        .script([Scripted::ServerError, Scripted::ServerError]);
    app.customer_says(&channel, "16505551234", "wamid.retry", "hi")
        .await;
    let conversation = app.conversation_with("16505551234").await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.len() == 2 && messages[1]["delivery_status"] == "sent"
        })
        .await;
    let attempts = app.graph.attempts();
    let statuses: Vec<_> = attempts.iter().map(|attempt| attempt.status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(app.graph.accepted().len(), 1);
    assert_eq!(
        messages[1]["provider_message_id"].as_str(),
        attempts[2].wamid.as_deref()
    );
}

#[actix_web::test]
async fn a_rate_limited_send_waits_for_retry_after() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.graph.script([Scripted::RateLimited {
        retry_after_secs: 2,
    }]);
    app.customer_says(&channel, "16505551234", "wamid.throttle", "hi")
        .await;
    let attempts = app.graph.wait_for_attempts(2, PATIENCE).await;
    assert_eq!(attempts[0].status, 429);
    assert_eq!(attempts[1].status, 200);
    let waited = attempts[1].at.duration_since(attempts[0].at);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
}

#[actix_web::test]
async fn an_expired_token_fails_the_message_and_asks_for_a_reconnect() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.graph.expire_token(&channel.access_token);
    app.customer_says(&channel, "16505551234", "wamid.expired", "hi")
        .await;
    let conversation = app.conversation_with("16505551234").await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.len() == 2 && messages[1]["delivery_status"] == "failed"
        })
        .await;
    let reason = messages[1]["failure_reason"].as_str().unwrap();
    assert!(reason.starts_with("190/463"), "{reason}");
    let channel_view = app
        .get_until(&format!("/api/v1/channels/{}", channel.id), |body| {
            body["status"] == "needs_reconnect"
        })
        .await;
    assert!(channel_view["status_reason"]
        .as_str()
        .unwrap()
        .contains("Session has expired"));
    // One attempt only: a dead token is not retried.
    assert_eq!(app.graph.attempts().len(), 1);

    // Messages arriving while the channel needs a reconnect fail at once with that reason,
    // without calling the provider.
    app.customer_says(&channel, "16505551234", "wamid.expired2", "hello?")
        .await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.len() == 4 && messages[3]["delivery_status"] == "failed"
        })
        .await;
    assert!(messages[3]["failure_reason"]
        .as_str()
        .unwrap()
        .contains("needs_reconnect"));
    assert_eq!(app.graph.attempts().len(), 1);
}

#[actix_web::test]
async fn a_send_the_provider_rejects_for_good_is_failed_with_its_reason() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.graph.script([Scripted::OutsideWindow]);
    app.customer_says(&channel, "16505551234", "wamid.window", "hi")
        .await;
    let conversation = app.conversation_with("16505551234").await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.len() == 2 && messages[1]["delivery_status"] == "failed"
        })
        .await;
    assert!(messages[1]["failure_reason"]
        .as_str()
        .unwrap()
        .starts_with("131047"));
    assert_eq!(app.graph.attempts().len(), 1);
    let (_, channel_view) = app.get(&format!("/api/v1/channels/{}", channel.id)).await;
    assert_eq!(channel_view["status"], "connected");
}

#[actix_web::test]
async fn replies_to_one_contact_are_sent_in_order() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.graph.set_latency(Duration::from_millis(5));
    for i in 0..10 {
        app.customer_says(&channel, "16505551234", &format!("wamid.order{i}"), "hi")
            .await;
    }
    app.graph.wait_for_accepted(10, PATIENCE).await;
    let conversation = app.conversation_with("16505551234").await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages
                .iter()
                .filter(|m| m["delivery_status"] == "sent")
                .count()
                == 10
        })
        .await;
    let sent_order: Vec<_> = app
        .graph
        .accepted()
        .iter()
        .map(|send| send.wamid.clone().unwrap())
        .collect();
    let stored_order: Vec<_> = messages
        .iter()
        .filter(|message| message["direction"] == "outbound")
        .map(|message| message["provider_message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent_order, stored_order);
}

/// The attempts recorded on the conversation's outbox rows, read behind the application's
/// back.
async fn recorded_attempts(app: &TestApp, conversation: &str) -> Vec<i64> {
    use sqlx::Connection;
    let mut connection = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let attempts =
        sqlx::query_scalar("SELECT attempts FROM outbox WHERE conversation_id = $1 ORDER BY id")
            .bind(conversation)
            .fetch_all(&mut connection)
            .await
            .unwrap();
    connection.close().await.unwrap();
    attempts
}

#[actix_web::test]
async fn a_send_whose_retry_could_not_be_recorded_is_retried_all_the_same() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.graph.script([Scripted::RateLimited {
        retry_after_secs: 2,
    }]);
    // Recording the retry fails: the column it writes the provider's error to is gone.
    app.sabotage("ALTER TABLE outbox RENAME COLUMN last_error TO last_error_gone")
        .await;
    app.customer_says(&channel, "16505551234", "wamid.unrecorded", "hi")
        .await;
    let first = app.graph.wait_for_attempts(1, PATIENCE).await;
    assert_eq!(first[0].status, 429);
    // Well before the retry is due, storage is back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.sabotage("ALTER TABLE outbox RENAME COLUMN last_error_gone TO last_error")
        .await;

    let attempts = app.graph.wait_for_attempts(2, PATIENCE).await;
    assert_eq!(attempts[1].status, 200);
    assert!(attempts[1].at.duration_since(attempts[0].at) >= Duration::from_secs(2));
    let conversation = app.conversation_with("16505551234").await;
    let conversation = conversation["id"].as_str().unwrap();
    app.messages_until(conversation, |messages| {
        messages.len() == 2 && messages[1]["delivery_status"] == "sent"
    })
    .await;
    // Only the successful attempt was recorded: the retry's own record had failed.
    assert_eq!(recorded_attempts(&app, conversation).await, [1]);
    assert_eq!(app.graph.accepted().len(), 1);
}
