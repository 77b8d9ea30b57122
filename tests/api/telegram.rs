//! Telegram channels end to end: a bot added with its token (checked with getMe, its webhook
//! set with a secret), updates posted by the mock Bot API through that webhook, and replies
//! sent back through the mock, with its faults (throttling, a revoked token, a blocked guest).

use crate::support::{assert_error, Options, TestApp, PATIENCE};
use parley::mock::telegram::MockTelegram;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// The server's public address in these tests; the mock reaches the server through it.
const PUBLIC_URL: &str = "https://parley.example";
/// The guest's private chat (in a private chat, the chat id is the guest's user id).
const GUEST: i64 = 5_110_223_344;

async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        public_url: Some(PUBLIC_URL.into()),
        ..Options::default()
    })
    .await
}

/// A bot added as a channel: (token, the channel as the API shows it).
async fn telegram_channel(app: &TestApp) -> (String, Value) {
    let token = app.telegram.add_bot("casa_azul_bot");
    let (status, channel) = create(app, &token).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    (token, channel)
}

async fn create(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.post_json(
        "/api/v1/channels",
        &json!({"kind": "telegram", "name": "Casa Azul bot", "config": {"bot_token": token}}),
    )
    .await
}

/// The texts of the bot's accepted `sendMessage` calls.
fn texts(app: &TestApp, token: &str) -> Vec<String> {
    app.telegram
        .accepted(token, "sendMessage")
        .iter()
        .map(|call| call.params["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn guest_says(app: &TestApp, token: &str, text: &str) -> Value {
    let (delivery, _) = app
        .telegram
        .guest_sends(token, GUEST, "Ana", json!({"text": text, "from": {"id": GUEST, "is_bot": false, "first_name": "Ana", "last_name": "Silva"}}))
        .await;
    assert_eq!(delivery.status, 200, "{delivery:?}");
    delivery.body
}

async fn conversation_id(app: &TestApp) -> String {
    let conversation = app.conversation_with(&GUEST.to_string()).await;
    conversation["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_bot_token_is_checked_and_its_webhook_set_with_a_secret() {
    let app = spawn().await;
    let (token, channel) = telegram_channel(&app).await;
    let id = channel["id"].as_str().unwrap();
    let bot_id = MockTelegram::bot_id(&token).to_string();
    assert_eq!(channel["kind"], "telegram");
    assert_eq!(channel["status"], "connected");
    assert_eq!(channel["account_id"], bot_id.as_str());
    assert_eq!(channel["metadata"]["username"], "casa_azul_bot");
    assert_eq!(
        channel["config"],
        json!({"bot_id": bot_id, "username": "casa_azul_bot"})
    );
    assert_eq!(
        channel["webhook_attached"], true,
        "read back with getWebhookInfo"
    );
    let webhook_url = format!("{PUBLIC_URL}/webhooks/telegram/{id}");
    assert_eq!(channel["webhook_url"], webhook_url.as_str());
    // The credentials are never shown.
    let (_, read) = app.get(&format!("/api/v1/channels/{id}")).await;
    let (secret_url, secret, allowed) = app.telegram.webhook(&token).unwrap();
    let secret = secret.unwrap();
    for shown in [&channel, &read] {
        let text = shown.to_string();
        assert!(
            !text.contains(&token[token.find(':').unwrap() + 1..]),
            "{text}"
        );
        assert!(!text.contains(&secret), "{text}");
    }
    assert_eq!(secret_url, webhook_url);
    assert!(secret.len() >= 32);
    assert!(secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    assert_eq!(allowed, ["message", "callback_query"]);
    let methods: Vec<String> = app
        .telegram
        .calls()
        .iter()
        .map(|call| call.method.clone())
        .collect();
    assert_eq!(methods, ["getMe", "setWebhook", "getWebhookInfo"]);
}

#[actix_web::test]
async fn bad_tokens_are_refused_with_a_code_and_nothing_is_stored() {
    let app = spawn().await;
    let missing = app
        .post_json(
            "/api/v1/channels",
            &json!({"kind": "telegram", "name": "Bot", "config": {}}),
        )
        .await;
    assert_error(&missing, StatusCode::UNPROCESSABLE_ENTITY, "missing_field");
    assert_eq!(
        missing.1["error"]["field"], "config.bot_token",
        "{}",
        missing.1
    );
    let malformed = create(&app, "not-a-token").await;
    assert_error(
        &malformed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(malformed.1["error"]["field"], "config.bot_token");
    let unknown = create(&app, "123456:AAE0123456789abcdef0123456789abcdef").await;
    assert_error(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider_rejected_credentials",
    );
    let revoked = app.telegram.add_bot("revoked_bot");
    app.telegram.revoke(&revoked);
    let refused = create(&app, &revoked).await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider_rejected_credentials",
    );
    let (_, channels) = app.get("/api/v1/channels").await;
    assert!(
        channels["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|channel| channel["kind"] != "telegram"),
        "{channels}"
    );
    assert!(app
        .telegram
        .calls()
        .iter()
        .all(|call| !call.is("setWebhook")));
    // Telegram unreachable.
    let token = app.telegram.add_bot("later_bot");
    app.telegram.stop().await;
    let unreachable = create(&app, &token).await;
    assert_error(
        &unreachable,
        StatusCode::BAD_GATEWAY,
        "provider_unavailable",
    );
}

#[actix_web::test]
async fn a_bot_speaks_for_one_channel_only() {
    let app = spawn().await;
    let (token, first) = telegram_channel(&app).await;
    let again = create(&app, &token).await;
    assert_error(&again, StatusCode::CONFLICT, "channel_account_taken");
    // The first channel keeps the bot's webhook.
    let (url, _, _) = app.telegram.webhook(&token).unwrap();
    assert!(url.ends_with(first["id"].as_str().unwrap()), "{url}");
    assert_eq!(app.telegram.accepted(&token, "setWebhook").len(), 1);
}

#[actix_web::test]
async fn updates_without_the_channels_secret_are_refused_and_not_read() {
    let app = spawn().await;
    let (token, channel) = telegram_channel(&app).await;
    let path = format!("/webhooks/telegram/{}", channel["id"].as_str().unwrap());
    let update = json!({"update_id": 1, "message": {
        "message_id": 1, "date": 1_780_000_000, "text": "forged",
        "from": {"id": GUEST, "is_bot": false, "first_name": "Eve"},
        "chat": {"id": GUEST, "type": "private"}
    }});
    for (secret, code) in [
        (None, "missing_signature"),
        (Some("wrong-secret"), "invalid_signature"),
    ] {
        let mut request = app.http.post(app.url(&path)).json(&update);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_error(&(status, body), StatusCode::UNAUTHORIZED, code);
    }
    let (_, conversations) = app.get("/api/v1/conversations").await;
    assert_eq!(conversations["data"], json!([]), "nothing was processed");
    // With the secret the mock registered, the same update goes through.
    let delivery = app.telegram.deliver(&token, &update).await;
    assert_eq!(delivery.status, 200);
    app.conversation_with(&GUEST.to_string()).await;
}

#[actix_web::test]
async fn every_kind_of_guest_message_reaches_the_conversation_once() {
    let app = spawn().await;
    let (token, _) = telegram_channel(&app).await;
    let card = json!({"phone_number": "+5511999998888", "first_name": "Ana", "user_id": GUEST});
    let payloads = [
        json!({"text": "Hi, I need help"}),
        json!({"caption": "the receipt", "photo": [
            {"file_id": "photo-small", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": "photo-large", "file_unique_id": "l", "width": 1280, "height": 1280}]}),
        json!({"document": {"file_id": "doc", "file_unique_id": "d", "file_name": "invoice.pdf", "mime_type": "application/pdf"}}),
        json!({"video": {"file_id": "vid", "file_unique_id": "v", "width": 1, "height": 1, "duration": 7, "mime_type": "video/mp4"}}),
        json!({"voice": {"file_id": "voice", "file_unique_id": "o", "duration": 4, "mime_type": "audio/ogg"}}),
        json!({"audio": {"file_id": "song", "file_unique_id": "a", "duration": 200, "mime_type": "audio/mpeg"}}),
        json!({"location": {"latitude": -23.55052, "longitude": -46.633308}}),
        json!({"contact": card}),
    ];
    for payload in payloads {
        let mut payload = payload;
        payload["from"] = json!({"id": GUEST, "is_bot": false, "first_name": "Ana", "last_name": "Silva", "username": "anasilva"});
        let (delivery, _) = app
            .telegram
            .guest_sends(&token, GUEST, "Ana", payload)
            .await;
        assert_eq!(delivery.status, 200);
    }
    let conversation = app.conversation_with(&GUEST.to_string()).await;
    assert_eq!(conversation["contact"]["name"], "Ana Silva");
    let id = conversation["id"].as_str().unwrap().to_owned();
    let inbound = |messages: &[Value]| -> Vec<Value> {
        messages
            .iter()
            .filter(|message| message["direction"] == "inbound")
            .map(|message| message["content"].clone())
            .collect()
    };
    let messages = app
        .messages_until(&id, |messages| inbound(messages).len() == 8)
        .await;
    let contents = inbound(&messages);
    let kinds: Vec<String> = contents
        .iter()
        .map(|content| {
            let kind = content["type"].as_str().unwrap();
            match content["media_kind"].as_str() {
                Some(media) => format!("{kind}:{media}"),
                None => kind.to_owned(),
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "text",
            "media:image",
            "media:document",
            "media:video",
            "media:audio",
            "media:audio",
            "location",
            "contacts"
        ]
    );
    assert_eq!(contents[0]["body"], "Hi, I need help");
    assert_eq!(contents[1]["media_id"], "photo-large");
    assert_eq!(contents[1]["caption"], "the receipt");
    assert_eq!(contents[2]["filename"], "invoice.pdf");
    assert_eq!(contents[4]["voice"], true);
    assert_eq!(contents[6]["latitude"], -23.55052);
    assert_eq!(contents[7]["contacts"][0]["phone_number"], "+5511999998888");
    let first = messages
        .iter()
        .find(|message| message["direction"] == "inbound")
        .unwrap();
    assert_eq!(first["provider_message_id"], format!("{GUEST}:1"));
}

#[actix_web::test]
async fn a_redelivered_update_is_stored_once() {
    let app = spawn().await;
    let (token, _) = telegram_channel(&app).await;
    let update = json!({"update_id": 900, "message": {
        "message_id": 77, "date": 1_780_000_000, "text": "only once",
        "from": {"id": GUEST, "is_bot": false, "first_name": "Ana"},
        "chat": {"id": GUEST, "type": "private"}
    }});
    let first = app.telegram.deliver(&token, &update).await;
    let again = app.telegram.deliver(&token, &update).await;
    assert_eq!(first.body, json!({"new": 1, "duplicates": 0, "dropped": 0}));
    assert_eq!(again.body, json!({"new": 0, "duplicates": 1, "dropped": 0}));
    let id = conversation_id(&app).await;
    // The greeting answers once, so the guest's message was taken once.
    app.telegram.wait_for(&token, "sendMessage", 1).await;
    let messages = app
        .messages_until(&id, |messages| messages.len() >= 2)
        .await;
    let inbound = messages
        .iter()
        .filter(|message| message["direction"] == "inbound")
        .count();
    assert_eq!(inbound, 1, "{messages:#?}");
}

#[actix_web::test]
async fn an_inactive_channel_acknowledges_updates_and_drops_them() {
    let app = spawn().await;
    let (token, channel) = telegram_channel(&app).await;
    let (status, _) = app
        .post_json(
            &format!(
                "/api/v1/channels/{}/deactivate",
                channel["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer = guest_says(&app, &token, "anyone there?").await;
    assert_eq!(answer, json!({"new": 0, "duplicates": 0, "dropped": 1}));
    let (_, conversations) = app.get("/api/v1/conversations").await;
    assert_eq!(conversations["data"], json!([]));
}

/// A bot user and a live journey with `graph`, assigned to the channel.
async fn live_journey(app: &TestApp, channel_id: &str, graph: &Value) {
    let (status, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Telegram menu"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    let id = journey["id"].as_str().unwrap();
    let (status, body) = app.put_json(&format!("/api/v1/journeys/{id}"), graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post_json(&format!("/api/v1/journeys/{id}/deploy"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (bot_id, _) = crate::support::team_member(app, "bot@casa-azul.example", "bot").await;
    let (status, body) = app
        .put_json(
            &format!("/api/v1/channels/{channel_id}/journey"),
            &json!({"journey_id": id, "bot_user_id": bot_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn a_journeys_buttons_are_an_inline_keyboard_and_a_tap_is_answered_and_routed() {
    let app = spawn().await;
    let (token, channel) = telegram_channel(&app).await;
    // Longer than the 64 bytes `callback_data` holds.
    let late = "late-checkout-for-the-sea-view-suite-on-the-second-floor-with-breakfast";
    assert!(late.len() > 64);
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "menu", "name": "menu", "kind": "reply", "config": {
                "body": "How can we help?",
                "choices": [{"id": "book", "title": "Book a stay"}, {"id": late, "title": "Late checkout"}]}},
            {"id": "booked", "name": "booked", "kind": "text", "config": {"text": "Let's book your stay."}},
            {"id": "late", "name": "late", "kind": "text", "config": {"text": "We will arrange a late checkout."}}
        ],
        "connections": [
            {"from": "start", "to": "menu"},
            {"from": "menu", "to": "booked", "label": "book"},
            {"from": "menu", "to": "late", "label": late}
        ]
    });
    live_journey(&app, channel["id"].as_str().unwrap(), &graph).await;
    guest_says(&app, &token, "hello").await;
    let sends = app.telegram.wait_for(&token, "sendMessage", 1).await;
    let menu = &sends[0];
    assert_eq!(menu.params["text"], "How can we help?");
    let buttons = &menu.params["reply_markup"]["inline_keyboard"][0];
    assert_eq!(
        buttons[0],
        json!({"text": "Book a stay", "callback_data": "book"})
    );
    assert_eq!(buttons[1]["text"], "Late checkout");
    let data = buttons[1]["callback_data"].as_str().unwrap();
    assert!(data.starts_with('#') && data.len() <= 64, "{data}");
    let message_id = menu.result["message_id"].as_i64().unwrap();
    // A guest taps once the keyboard is on their screen, by when Parley has recorded the send.
    let id = conversation_id(&app).await;
    app.messages_until(&id, |messages| {
        messages
            .iter()
            .any(|message| message["provider_message_id"] == format!("{GUEST}:{message_id}"))
    })
    .await;

    let (delivery, callback_id) = app.telegram.press(&token, GUEST, message_id, data).await;
    assert_eq!(delivery.status, 200, "{delivery:?}");
    app.telegram
        .wait_until(PATIENCE, |calls| {
            calls.iter().any(|call| {
                call.is("answerCallbackQuery")
                    && call.params["callback_query_id"] == callback_id.as_str()
                    && call.status == 200
            })
        })
        .await;
    let sends = app.telegram.wait_for(&token, "sendMessage", 2).await;
    assert_eq!(sends[1].params["text"], "We will arrange a late checkout.");
    let messages = app
        .messages_until(&id, |messages| {
            messages
                .iter()
                .any(|message| message["content"]["type"] == "interactive_reply")
        })
        .await;
    let tap = messages
        .iter()
        .find(|message| message["content"]["type"] == "interactive_reply")
        .unwrap();
    assert_eq!(tap["content"]["reply_id"], late);
    assert_eq!(tap["content"]["title"], "Late checkout");
}

#[actix_web::test]
async fn a_reply_longer_than_telegram_allows_goes_as_several_messages() {
    let app = spawn().await;
    let (token, _) = telegram_channel(&app).await;
    guest_says(&app, &token, "hi").await;
    app.telegram.wait_for(&token, "sendMessage", 1).await;
    let id = conversation_id(&app).await;
    // 4,000 characters for Parley, 6,000 UTF-16 units for Telegram.
    let long = "🙂 ".repeat(2_000).trim_end().to_owned();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/conversations/{id}/messages"),
            &json!({"text": long}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    app.telegram.wait_for(&token, "sendMessage", 3).await;
    let parts = &texts(&app, &token)[1..];
    assert_eq!(parts.len(), 2, "{parts:?}");
    for part in parts {
        assert!(part.encode_utf16().count() <= 4_096);
    }
    assert_eq!(parts.join(" "), long);
    let messages = app
        .messages_until(&id, |messages| {
            messages
                .last()
                .is_some_and(|message| message["delivery_status"] == "sent")
        })
        .await;
    let last_part = app.telegram.accepted(&token, "sendMessage")[2].result["message_id"].clone();
    assert_eq!(
        messages.last().unwrap()["provider_message_id"],
        format!("{GUEST}:{last_part}")
    );
}

#[actix_web::test]
async fn a_throttled_send_is_retried_after_retry_after() {
    let app = spawn().await;
    let (token, _) = telegram_channel(&app).await;
    app.telegram.throttle(1, 1);
    guest_says(&app, &token, "hi").await;
    app.telegram.wait_for(&token, "sendMessage", 1).await;
    let attempts: Vec<_> = app
        .telegram
        .calls()
        .into_iter()
        .filter(|call| call.is("sendMessage"))
        .collect();
    let statuses: Vec<u16> = attempts.iter().map(|call| call.status).collect();
    assert_eq!(statuses, [429, 200]);
    let waited = attempts[1].at.duration_since(attempts[0].at);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
}

#[actix_web::test]
async fn a_revoked_token_fails_the_message_and_asks_for_a_reconnect() {
    let app = spawn().await;
    let (token, channel) = telegram_channel(&app).await;
    app.telegram.revoke(&token);
    guest_says(&app, &token, "hi").await;
    let id = conversation_id(&app).await;
    let messages = app
        .messages_until(&id, |messages| {
            messages.len() == 2 && messages[1]["delivery_status"] == "failed"
        })
        .await;
    assert_eq!(messages[1]["failure_reason"], "401: Unauthorized");
    let path = format!("/api/v1/channels/{}", channel["id"].as_str().unwrap());
    let channel = app
        .get_until(&path, |channel| channel["status"] == "needs_reconnect")
        .await;
    assert_eq!(channel["status_reason"], "401: Unauthorized");
}

#[actix_web::test]
async fn a_guest_who_blocked_the_bot_fails_that_message_only() {
    let app = spawn().await;
    let (token, channel) = telegram_channel(&app).await;
    app.telegram.block(GUEST);
    guest_says(&app, &token, "hi").await;
    let id = conversation_id(&app).await;
    let messages = app
        .messages_until(&id, |messages| {
            messages.len() == 2 && messages[1]["delivery_status"] == "failed"
        })
        .await;
    let reason = messages[1]["failure_reason"].as_str().unwrap();
    assert!(reason.contains("bot was blocked by the user"), "{reason}");
    let attempts = app
        .telegram
        .calls()
        .iter()
        .filter(|call| call.is("sendMessage"))
        .count();
    assert_eq!(attempts, 1, "a blocked guest is not retried");
    let (_, channel) = app
        .get(&format!(
            "/api/v1/channels/{}",
            channel["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(channel["status"], "connected");
}

#[actix_web::test]
async fn disconnect_deletes_the_webhook_and_a_reconnect_sets_it_again_in_place() {
    let app = spawn().await;
    let (token, channel) = telegram_channel(&app).await;
    let id = channel["id"].as_str().unwrap();
    let (_, old_secret, _) = app.telegram.webhook(&token).unwrap();
    let (status, disconnected) = app
        .post_json(&format!("/api/v1/channels/{id}/disconnect"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{disconnected}");
    assert_eq!(disconnected["status"], "disconnected");
    assert_eq!(disconnected["webhook_attached"], false);
    assert_eq!(app.telegram.webhook(&token), None);
    assert_eq!(app.telegram.accepted(&token, "deleteWebhook").len(), 1);
    // An update still in flight is acknowledged and dropped.
    let late = app
        .http
        .post(app.url(&format!("/webhooks/telegram/{id}")))
        .header("X-Telegram-Bot-Api-Secret-Token", old_secret.clone().unwrap())
        .json(&json!({"update_id": 5, "message": {"message_id": 5, "date": 1, "text": "late",
            "from": {"id": GUEST, "is_bot": false, "first_name": "Ana"}, "chat": {"id": GUEST, "type": "private"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), StatusCode::OK);
    assert_eq!(late.json::<Value>().await.unwrap()["dropped"], 1);

    // Another bot's token cannot take the channel over.
    let other = app.telegram.add_bot("other_bot");
    let refused = app
        .post_json(
            &format!("/api/v1/channels/{id}/reconnect"),
            &json!({"config": {"bot_token": other}}),
        )
        .await;
    assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(app.telegram.webhook(&other), None);

    let (status, reconnected) = app
        .post_json(
            &format!("/api/v1/channels/{id}/reconnect"),
            &json!({"config": {"bot_token": token}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reconnected}");
    assert_eq!(reconnected["id"], id);
    assert_eq!(reconnected["status"], "connected");
    assert_eq!(reconnected["webhook_attached"], true);
    let (url, new_secret, _) = app.telegram.webhook(&token).unwrap();
    assert!(url.ends_with(id));
    assert_ne!(new_secret, old_secret, "a reconnect draws a new secret");
    guest_says(&app, &token, "back again").await;
    app.conversation_with(&GUEST.to_string()).await;
}

#[actix_web::test]
async fn a_guests_photo_is_streamed_to_the_console_through_get_file() {
    let app = spawn().await;
    let (token, _) = telegram_channel(&app).await;
    let bytes = b"\x89PNG fake image bytes";
    let file_id = app.telegram.add_file("photos/file_7.jpg", bytes);
    let (delivery, _) = app
        .telegram
        .guest_sends(
            &token,
            GUEST,
            "Ana",
            json!({"photo": [{"file_id": file_id, "file_unique_id": "u", "width": 1, "height": 1}]}),
        )
        .await;
    assert_eq!(delivery.status, 200);
    let id = conversation_id(&app).await;
    let messages = app
        .messages_until(&id, |messages| {
            messages
                .iter()
                .any(|message| message["content"]["type"] == "media")
        })
        .await;
    let photo = messages
        .iter()
        .find(|message| message["content"]["type"] == "media")
        .unwrap();
    let response = app
        .http
        .get(app.url(&format!(
            "/api/v1/conversations/{id}/messages/{}/media",
            photo["id"].as_str().unwrap()
        )))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes);
    let asked = app.telegram.accepted(&token, "getFile");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].params["file_id"], file_id.as_str());
}

/// Calls the mock Bot API directly: (status, envelope).
async fn bot_api(
    app: &TestApp,
    token: &str,
    method: &str,
    form: Option<&[(&str, &str)]>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/bot{token}/{method}", app.telegram.url()));
    if let Some(form) = form {
        request = request.form(form);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[actix_web::test]
async fn the_mock_bot_api_refuses_what_telegram_refuses() {
    let app = TestApp::spawn().await;
    let token = app.telegram.add_bot("mock_bot");
    let (status, malformed) = bot_api(&app, "not-a-token", "getMe", None, None).await;
    assert_eq!(
        (status, malformed),
        (
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found"})
        )
    );
    let (status, _) = bot_api(
        &app,
        "42:AAE0123456789abcdef0123456789abcdef",
        "getMe",
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
    // Methods are case-insensitive; forms carry nested objects as JSON strings.
    let (status, me) = bot_api(&app, &token, "GETME", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["result"]["username"], "mock_bot");
    let keyboard =
        json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}]]}).to_string();
    let (status, sent) = bot_api(
        &app,
        &token,
        "sendmessage",
        Some(&[
            ("chat_id", "77"),
            ("text", "Pick"),
            ("reply_markup", &keyboard),
        ]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        sent["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "y"
    );
    let cases = [
        (
            json!({"chat_id": 77, "text": "x".repeat(4_097)}),
            "Bad Request: message is too long",
        ),
        (
            json!({"chat_id": 77, "text": ""}),
            "Bad Request: message text is empty",
        ),
        (
            json!({"chat_id": 77, "text": "Pick", "reply_markup": {"inline_keyboard": [[{"text": "Yes", "callback_data": "y".repeat(65)}]]}}),
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            json!({"chat_id": 77, "photo": "https://example.com/p.jpg", "caption": "c".repeat(1_025)}),
            "Bad Request: message caption is too long",
        ),
    ];
    for (body, description) in cases {
        let method = if body.get("photo").is_some() {
            "sendPhoto"
        } else {
            "sendMessage"
        };
        let (status, refused) = bot_api(&app, &token, method, None, Some(&body)).await;
        assert_eq!(
            (status, refused["description"].as_str()),
            (400, Some(description)),
            "{body}"
        );
    }
    for (url, secret) in [
        ("http://parley.example/hook", "ok"),
        ("https://parley.example/hook", "bad secret!"),
    ] {
        let (status, _) = bot_api(
            &app,
            &token,
            "setWebhook",
            None,
            Some(&json!({"url": url, "secret_token": secret})),
        )
        .await;
        assert_eq!(status, 400, "{url} {secret}");
    }
    app.telegram.throttle(1, 17);
    let (status, throttled) = bot_api(
        &app,
        &token,
        "sendMessage",
        None,
        Some(&json!({"chat_id": 77, "text": "hi"})),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(throttled["parameters"]["retry_after"], 17);
    let (status, _) = bot_api(
        &app,
        &token,
        "answerCallbackQuery",
        None,
        Some(&json!({"callback_query_id": "never-delivered"})),
    )
    .await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn without_a_public_url_a_bot_is_refused_before_its_webhook_is_touched() {
    let app = TestApp::spawn().await;
    let token = app.telegram.add_bot("casa_azul_bot");
    let refused = create(&app, &token).await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider_rejected",
    );
    let message = refused.1["error"]["message"].as_str().unwrap();
    assert!(message.contains("PARLEY_PUBLIC_URL"), "{message}");
    assert_eq!(app.telegram.webhook(&token), None);
    assert!(app
        .telegram
        .calls()
        .iter()
        .all(|call| !call.is("setWebhook")));
}

#[actix_web::test]
async fn the_openapi_document_lists_telegram_channels() {
    let app = TestApp::spawn().await;
    let document: Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds = document["components"]["schemas"]["ChannelKind"].to_string();
    assert!(kinds.contains("\"telegram\""), "{kinds}");
    let create = document["paths"]["/api/v1/channels"]["post"]["requestBody"].to_string();
    assert!(create.contains("bot_token"), "{create}");
}

#[actix_web::test]
async fn a_throttled_later_part_of_a_long_reply_is_resent_alone() {
    let app = spawn().await;
    let (token, _) = telegram_channel(&app).await;
    guest_says(&app, &token, "hi").await;
    app.telegram.wait_for(&token, "sendMessage", 1).await;
    let id = conversation_id(&app).await;
    // The first part goes through; the second is throttled once.
    app.telegram.throttle_after(1, 1, 1);
    let long = "🙂 ".repeat(2_000).trim_end().to_owned();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/conversations/{id}/messages"),
            &json!({"text": long}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    app.telegram.wait_for(&token, "sendMessage", 3).await;
    let attempts: Vec<_> = app
        .telegram
        .calls()
        .into_iter()
        .filter(|call| call.is("sendMessage"))
        .skip(1)
        .collect();
    let statuses: Vec<u16> = attempts.iter().map(|call| call.status).collect();
    assert_eq!(
        statuses,
        [200, 429, 200],
        "the first part is not sent twice"
    );
    assert_eq!(attempts[1].params["text"], attempts[2].params["text"]);
    assert!(attempts[2].at.duration_since(attempts[1].at) >= Duration::from_secs(1));
    assert_eq!(texts(&app, &token)[1..].join(" "), long);
}

#[actix_web::test]
async fn a_team_member_typing_shows_the_guest_the_bot_typing() {
    use futures::SinkExt;
    let app = spawn().await;
    let (token, _) = telegram_channel(&app).await;
    guest_says(&app, &token, "hi").await;
    let id = conversation_id(&app).await;
    let mut console = crate::agent_ws::open(&app, &app.api_key, "", None)
        .await
        .unwrap();
    let typing = json!({"id": "1", "type": "typing", "conversation_id": id});
    console
        .send(tokio_tungstenite::tungstenite::Message::Text(
            typing.to_string(),
        ))
        .await
        .unwrap();
    let calls = app
        .telegram
        .wait_until(PATIENCE, |calls| {
            calls
                .iter()
                .any(|call| call.is("sendChatAction") && call.status == 200)
        })
        .await;
    let action = calls.iter().find(|call| call.is("sendChatAction")).unwrap();
    assert_eq!(action.params, json!({"chat_id": GUEST, "action": "typing"}));
}

#[actix_web::test]
async fn a_bot_whose_channel_cannot_be_stored_keeps_no_webhook_pointing_at_nothing() {
    let app = spawn().await;
    let token = app.telegram.add_bot("casa_azul_bot");
    // The database refuses the new channel after Telegram was set up.
    if app.database_url.starts_with("postgres") {
        app.sabotage(
            "ALTER TABLE channels ADD CONSTRAINT sabotaged CHECK (name <> 'Casa Azul bot')",
        )
        .await;
    } else {
        app.sabotage(
            "CREATE TRIGGER sabotaged BEFORE INSERT ON channels \
             BEGIN SELECT RAISE(ABORT, 'sabotaged'); END",
        )
        .await;
    }
    let (status, body) = create(&app, &token).await;
    assert!(status.is_server_error(), "{status} {body}");
    assert!(
        app.telegram
            .calls()
            .iter()
            .any(|call| call.is("setWebhook")),
        "the webhook was set before the channel was stored"
    );
    assert_eq!(app.telegram.webhook(&token), None);
    let (_, channels) = app.get("/api/v1/channels").await;
    assert!(
        !channels.to_string().contains("casa_azul_bot"),
        "{channels}"
    );
}

#[actix_web::test]
async fn a_team_members_file_goes_to_telegram_by_a_signed_link_that_opens_only_that_file() {
    let app = spawn().await;
    let (token, _) = telegram_channel(&app).await;
    let (delivery, _) = app
        .telegram
        .guest_sends(
            &token,
            GUEST,
            "Ana",
            json!({"text": "Can I have the invoice?"}),
        )
        .await;
    assert_eq!(delivery.status, 200);
    let id = conversation_id(&app).await;
    let pdf = b"%PDF-1.4 invoice 12".to_vec();
    let response = app
        .http
        .post(app.url(&format!(
            "/api/v1/conversations/{id}/attachments?filename=invoice.pdf&caption=Your%20invoice"
        )))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.unwrap();
    let link = message["content"]["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{PUBLIC_URL}/files/")), "{link}");

    // Telegram is given the link, and the link opens the file.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let sent = loop {
        if let Some(call) = app.telegram.accepted(&token, "sendDocument").pop() {
            break call;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the file was never sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(sent.params["document"], link.as_str());
    assert_eq!(sent.params["caption"], "Your invoice");
    let local = link.replacen(PUBLIC_URL, &app.address, 1);
    let fetched = app.http.get(&local).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), pdf.as_slice());

    // A link with its signature changed, or another file's id, opens nothing.
    let tampered = format!(
        "{}0",
        local.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    assert_eq!(
        app.http.get(&tampered).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let (path, query) = local.split_once('?').unwrap();
    let other = format!(
        "{}/{}?{query}",
        path.rsplit_once('/').unwrap().0,
        "0".repeat(32)
    );
    assert_eq!(
        app.http.get(&other).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let unsigned = app.http.get(path).send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);

    // The console opens it through the same link.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(&format!(
            "/api/v1/conversations/{id}/messages/{}/media",
            message["id"].as_str().unwrap()
        )))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], link.as_str());
}
