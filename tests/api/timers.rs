use crate::support::{Options, TestApp, PATIENCE};
use std::time::Duration;

/// Where the manual clock of the test application starts.
const START: i64 = 1_780_000_000_000;

#[actix_web::test]
async fn a_quiet_bot_conversation_expires_after_an_hour_and_a_new_message_reopens_it() {
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let channel = app.create_whatsapp_channel().await;
    app.customer_says(&channel, "16505551234", "wamid.t1", "hi")
        .await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    let conversation = app.conversation_with("16505551234").await;
    let path = format!(
        "/api/v1/conversations/{}",
        conversation["id"].as_str().unwrap()
    );

    // Thirty minutes later the contact writes again: the timer restarts from there.
    clock.advance(Duration::from_secs(30 * 60));
    app.customer_says(&channel, "16505551234", "wamid.t2", "still deciding")
        .await;
    app.graph.wait_for_accepted(2, PATIENCE).await;
    let second_message_at = START + 30 * 60 * 1_000;
    assert_eq!(
        app.app.store.next_timer_due().await.unwrap(),
        Some(second_message_at + 60 * 60 * 1_000),
        "the inactivity timer restarts with every message"
    );
    let (_, body) = app.get(&path).await;
    assert_eq!(body["status"], "bot_handling");

    clock.advance(Duration::from_secs(61 * 60));
    let expired = app
        .get_until(&path, |body| body["status"] == "expired")
        .await;
    assert_eq!(expired["status"], "expired");
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages
                .last()
                .is_some_and(|m| m["sender_kind"] == "system")
        })
        .await;
    assert_eq!(messages.len(), 5);

    app.customer_says(&channel, "16505551234", "wamid.t3", "back again")
        .await;
    let reopened = app
        .get_until(&path, |body| body["status"] == "bot_handling")
        .await;
    assert_eq!(reopened["status"], "bot_handling");
    app.graph.wait_for_accepted(3, PATIENCE).await;
}
