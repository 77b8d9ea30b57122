use crate::support::{TestApp, PATIENCE};
use parley::mock::whatsapp_webhooks;
use reqwest::StatusCode;
use serde_json::json;

#[actix_web::test]
async fn a_signed_webhook_is_answered_through_the_graph_api() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.customer_says(
        &channel,
        "16505551234",
        "wamid.first",
        "Do you have a room for Friday?",
    )
    .await;

    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends.len(), 1);
    let send = &sends[0];
    assert_eq!(send.bearer.as_deref(), Some(channel.access_token.as_str()));
    assert_eq!(send.phone_number_id, channel.phone_number_id);
    assert_eq!(send.body["to"], "16505551234");
    assert_eq!(send.body["type"], "text");
    assert_eq!(
        send.body["text"]["body"],
        parley::bootstrap::DEFAULT_GREETING
    );

    let conversation = app.conversation_with("16505551234").await;
    assert_eq!(conversation["status"], "bot_handling");
    assert_eq!(conversation["contact"]["name"], "Sheena Nelson");
    assert_eq!(conversation["contact"]["phone"], "+16505551234");
    let wamid = send.wamid.clone().unwrap();
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.len() == 2 && messages[1]["delivery_status"] == "sent"
        })
        .await;
    assert_eq!(messages[0]["direction"], "inbound");
    assert_eq!(messages[0]["sender_kind"], "contact");
    assert_eq!(
        messages[0]["content"],
        json!({"type": "text", "body": "Do you have a room for Friday?"})
    );
    assert_eq!(messages[0]["provider_message_id"], "wamid.first");
    assert_eq!(messages[0]["provider_timestamp"], 1_780_000_000_000_i64);
    assert!(messages[0]["received_at"].as_i64().unwrap() > 0);
    assert_eq!(messages[1]["direction"], "outbound");
    assert_eq!(messages[1]["sender_kind"], "bot");
    assert_eq!(messages[1]["journey_step"], "greeting");
    assert_eq!(messages[1]["provider_message_id"], wamid.as_str());
}

#[actix_web::test]
async fn the_same_webhook_sent_five_times_at_once_is_stored_and_answered_once() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let body = whatsapp_webhooks::text_message(
        &channel.phone_number_id,
        "15550001111",
        "Ana",
        "wamid.dup",
        "hello",
        1_780_000_000,
    );
    let answers =
        futures::future::join_all((0..5).map(|_| app.post_webhook(&channel, &body))).await;
    let mut new = 0;
    let mut duplicates = 0;
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        new += answer["new"].as_i64().unwrap();
        duplicates += answer["duplicates"].as_i64().unwrap();
    }
    assert_eq!((new, duplicates), (1, 4));
    assert_eq!(
        app.app
            .store
            .count_inbound(channel.id.parse().unwrap())
            .await
            .unwrap(),
        1
    );
    app.graph.wait_for_accepted(1, PATIENCE).await;

    // A later message gets its reply only after every earlier one: if a duplicate had been
    // answered, a third reply would be there too.
    app.customer_says(&channel, "15550001111", "wamid.next", "still there?")
        .await;
    let conversation = app.conversation_with("15550001111").await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages
                .iter()
                .filter(|m| m["delivery_status"] == "sent")
                .count()
                == 2
        })
        .await;
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert_eq!(app.graph.accepted().len(), 2);
}

#[actix_web::test]
async fn a_bad_or_missing_signature_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let body = whatsapp_webhooks::text_message(
        &channel.phone_number_id,
        "1555",
        "Ana",
        "wamid.forged",
        "hi",
        1,
    );
    let wrong_key = whatsapp_webhooks::signature("not-the-secret", &body);
    let cases = [
        (Some(wrong_key.as_str()), "invalid_signature"),
        (Some("sha256=zz"), "invalid_signature"),
        (None, "missing_signature"),
    ];
    for (signature, code) in cases {
        let (status, answer) = app.post_webhook_signed(&channel, &body, signature).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{signature:?}");
        assert_eq!(answer["error"]["code"], code, "{signature:?}");
    }
    let mut tampered = body.clone();
    let position = tampered.windows(2).position(|w| w == b"hi").unwrap();
    tampered[position] = b'H';
    let (status, _) = app
        .post_webhook_signed(
            &channel,
            &tampered,
            Some(&whatsapp_webhooks::signature(&channel.app_secret, &body)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.app
            .store
            .count_inbound(channel.id.parse().unwrap())
            .await
            .unwrap(),
        0
    );
    assert!(app.graph.attempts().is_empty());
}

#[actix_web::test]
async fn malformed_json_is_refused_with_a_code_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    for body in [
        &b"{\"object\": \"whatsapp_business_account\", \"entry\": ["[..],
        b"[]",
        b"{\"object\":\"page\"}",
    ] {
        let (status, answer) = app.post_webhook(&channel, body).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(answer["error"]["code"], "malformed_payload");
    }
    assert_eq!(
        app.app
            .store
            .count_inbound(channel.id.parse().unwrap())
            .await
            .unwrap(),
        0
    );
}

#[actix_web::test]
async fn webhooks_for_unknown_channels_are_not_found() {
    let app = TestApp::spawn().await;
    let mut channel = app.create_whatsapp_channel().await;
    channel.webhook_path = format!("/webhooks/whatsapp_cloud/{}", uuid::Uuid::now_v7());
    let (status, answer) = app.post_webhook(&channel, b"{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "channel_not_found");
    // A channel of another kind is not a WhatsApp webhook target either.
    channel.webhook_path = format!(
        "/webhooks/whatsapp_cloud/{}",
        app.credentials.webchat_channel_id
    );
    let (status, answer) = app.post_webhook(&channel, b"{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "channel_not_found");
}

#[actix_web::test]
async fn the_verification_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let url = |token: &str| {
        app.url(&format!(
            "{}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            channel.webhook_path
        ))
    };
    let response = app
        .http
        .get(url(&channel.verify_token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "1158201444");
    let response = app.http.get(url("guess")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "verification_failed");
}

#[actix_web::test]
async fn a_batch_of_many_entries_creates_one_conversation_per_contact() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let messages: Vec<_> = (0..20)
        .map(|i| json!({"from": format!("3519100000{:02}", i % 4), "id": format!("wamid.batch{i}"), "timestamp": "1780000000", "type": "text", "text": {"body": format!("message {i}")}}))
        .collect();
    let body = whatsapp_webhooks::envelope(&channel.phone_number_id, json!({"messages": messages}));
    let (status, answer) = app.post_webhook(&channel, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["new"], 20);
    let sends = app.graph.wait_for_accepted(20, PATIENCE).await;
    assert_eq!(sends.len(), 20);
    let (_, conversations) = app
        .get(&format!("/api/v1/conversations?channel_id={}", channel.id))
        .await;
    assert_eq!(conversations["data"].as_array().unwrap().len(), 4);
}

#[actix_web::test]
async fn delivery_statuses_move_forward_and_never_back() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.customer_says(&channel, "16505550000", "wamid.in", "hi")
        .await;
    let wamid = app.graph.wait_for_accepted(1, PATIENCE).await[0]
        .wamid
        .clone()
        .unwrap();
    let conversation = app.conversation_with("16505550000").await;
    let id = conversation["id"].as_str().unwrap().to_owned();
    app.messages_until(&id, |messages| {
        messages.len() == 2 && messages[1]["delivery_status"] == "sent"
    })
    .await;
    for status in ["read", "delivered", "sent"] {
        let body = whatsapp_webhooks::statuses(
            &channel.phone_number_id,
            &json!([{"id": wamid, "status": status, "timestamp": "1780000100", "recipient_id": "16505550000"}]),
        );
        let (code, answer) = app.post_webhook(&channel, &body).await;
        assert_eq!(code, StatusCode::OK, "{answer}");
    }
    // "read" arrived first; the later, lower statuses must not overwrite it.
    let messages = app
        .messages_until(&id, |messages| messages[1]["delivery_status"] == "read")
        .await;
    assert_eq!(messages[1]["provider_timestamp"], 1_780_000_100_000_i64);
    let failed = whatsapp_webhooks::statuses(
        &channel.phone_number_id,
        &json!([{"id": wamid, "status": "failed", "timestamp": "1780090000", "recipient_id": "16505550000",
                "errors": [{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "More than 24 hours have passed"}}]}]),
    );
    app.post_webhook(&channel, &failed).await;
    let messages = app
        .messages_until(&id, |messages| messages[1]["delivery_status"] == "failed")
        .await;
    assert_eq!(
        messages[1]["failure_reason"],
        "131047 Re-engagement message: More than 24 hours have passed"
    );
}

#[actix_web::test]
async fn the_greeting_is_configurable_and_fills_in_the_contact_name() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (status, body) = app
        .patch_json(
            "/api/v1/organization",
            &json!({"greeting_text": "Welcome to Casa Azul, {{contact.name}}!"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["greeting_text"],
        "Welcome to Casa Azul, {{contact.name}}!"
    );
    app.customer_says(&channel, "16505551234", "wamid.greet", "hi")
        .await;
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(
        sends[0].body["text"]["body"],
        "Welcome to Casa Azul, Sheena Nelson!"
    );
    let (status, body) = app
        .patch_json(
            "/api/v1/organization",
            &json!({"greeting_text": "x".repeat(4_097)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "greeting_text");
}

#[actix_web::test]
async fn when_storage_fails_the_webhook_is_refused_with_503_and_the_retry_is_answered() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.sabotage("ALTER TABLE inbound RENAME TO inbound_broken")
        .await;
    let body = whatsapp_webhooks::text_message(
        &channel.phone_number_id,
        "16505551234",
        "Ana",
        "wamid.unstored",
        "hi",
        1_780_000_000,
    );
    let (status, answer) = app.post_webhook(&channel, &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], "unavailable");

    // The provider retries once storage is back: the message is stored and answered once.
    app.sabotage("ALTER TABLE inbound_broken RENAME TO inbound")
        .await;
    let (status, answer) = app.post_webhook(&channel, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["new"], 1);
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends.len(), 1);
}
