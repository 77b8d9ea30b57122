//! Twilio WhatsApp and SMS channels against the Twilio mock: credentials checked on add,
//! webhooks signed over Parley's public URL (as a proxy would see them), every inbound kind,
//! status callbacks, the 24-hour window, error codes, and SMS as an outbound-only channel.

use crate::support::{assert_error, Options, TestApp, PATIENCE};
use parley::mock::twilio::{MockTwilio, TwilioFault};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Parley's address as Twilio is told it: a proxy in front of the test server.
const PUBLIC: &str = "https://parley.example";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "f3a1c0ffee0123456789abcdef012345";
const SENDER: &str = "+14155238886";
const SMS_NUMBER: &str = "+14155550100";
const GUEST: &str = "+5511999998888";

async fn spawn_with(manual_clock: bool) -> (TestApp, MockTwilio) {
    let twilio = MockTwilio::start().unwrap();
    twilio.add_account(ACCOUNT, TOKEN, &[SMS_NUMBER]);
    let app = TestApp::spawn_with(Options {
        public_url: Some(PUBLIC.into()),
        twilio_api_url: Some(twilio.url().into()),
        manual_clock,
        ..Options::default()
    })
    .await;
    twilio.route(PUBLIC, &app.address);
    (app, twilio)
}

async fn spawn() -> (TestApp, MockTwilio) {
    spawn_with(false).await
}

fn whatsapp_config() -> Value {
    json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": format!("whatsapp:{SENDER}")})
}

async fn add(app: &TestApp, kind: &str, config: Value) -> Value {
    let (status, channel) = app
        .post_json(
            "/api/v1/channels",
            &json!({"kind": kind, "name": "Villa Serena", "config": config}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel
}

/// A guest's WhatsApp message through Twilio, signed as Twilio signs it.
async fn guest_says(twilio: &MockTwilio, channel: &Value, params: &[(&str, &str)]) -> u16 {
    let from = format!("whatsapp:{GUEST}");
    let to = format!("whatsapp:{SENDER}");
    let mut form = vec![
        ("AccountSid", ACCOUNT),
        ("From", from.as_str()),
        ("To", to.as_str()),
        ("WaId", "5511999998888"),
        ("ProfileName", "Ana Silva"),
    ];
    form.extend_from_slice(params);
    twilio
        .inbound(channel["webhook_url"].as_str().unwrap(), TOKEN, &form, None)
        .await
}

/// The accepted send with this `Body`, once it arrives.
async fn sent_with_body(twilio: &MockTwilio, body: &str) -> parley::mock::twilio::TwilioSend {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(send) = twilio
            .sends()
            .into_iter()
            .find(|send| send.status == 201 && send.param("Body") == Some(body))
        {
            return send;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{body}` was never sent"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A file host that is not Twilio, keeping the `Authorization` header of each request.
struct Elsewhere {
    url: String,
    authorizations: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

impl Elsewhere {
    fn start() -> Self {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let authorizations = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&authorizations);
        let server = HttpServer::new(move || {
            let seen = std::sync::Arc::clone(&seen);
            App::new().route(
                "/file.pdf",
                web::get().to(move |request: HttpRequest| {
                    let seen = std::sync::Arc::clone(&seen);
                    async move {
                        seen.lock().unwrap().push(
                            request
                                .headers()
                                .get("authorization")
                                .map(|value| value.to_str().unwrap_or_default().to_owned()),
                        );
                        HttpResponse::Ok()
                            .content_type("application/pdf")
                            .body("%PDF-1.4 elsewhere")
                    }
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Self {
            url: format!("http://127.0.0.1:{port}/file.pdf"),
            authorizations,
        }
    }
}

#[actix_web::test]
async fn a_twilio_channel_is_checked_with_twilio_and_names_each_bad_field() {
    let (app, twilio) = spawn().await;
    let create = |kind: &str, config: Value| {
        let body = json!({"kind": kind, "name": "Front desk", "config": config});
        let app = &app;
        async move { app.post_json("/api/v1/channels", &body).await }
    };
    let cases = [
        (
            json!({"auth_token": TOKEN, "from": SENDER}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "config.account_sid",
        ),
        (
            json!({"account_sid": "AC123", "auth_token": TOKEN, "from": SENDER}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "config.account_sid",
        ),
        (
            json!({"account_sid": ACCOUNT, "from": SENDER}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "config.auth_token",
        ),
        (
            json!({"account_sid": ACCOUNT, "auth_token": TOKEN}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "config.from",
        ),
        (
            json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": "0044 20 7946"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "config.from",
        ),
        (
            json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": SENDER, "api_key_sid": "SK0123456789abcdef0123456789abcdef"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "config.api_key_secret",
        ),
        (
            json!({"account_sid": ACCOUNT, "auth_token": "wrong", "from": SENDER}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "provider_rejected_credentials",
            "config.auth_token",
        ),
    ];
    for (config, status, code, field) in cases {
        let answer = create("twilio_whatsapp", config.clone()).await;
        assert_error(&answer, status, code);
        assert_eq!(answer.1["error"]["field"], field, "{config}");
    }
    let answer = create(
        "twilio_sms",
        json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": "+14155550199"}),
    )
    .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(answer.1["error"]["field"], "config.from");
    assert!(twilio.sends().is_empty(), "nothing was sent while checking");

    let channel = add(&app, "twilio_whatsapp", whatsapp_config()).await;
    let id = channel["id"].as_str().unwrap();
    assert_eq!(channel["status"], "connected");
    assert_eq!(
        channel["webhook_url"],
        format!("{PUBLIC}/webhooks/twilio_whatsapp/{id}")
    );
    assert_eq!(channel["config"]["from"], SENDER);
    assert_eq!(channel["metadata"]["account_name"], "Villa Serena");
    assert!(!channel.to_string().contains(TOKEN), "{channel}");
    let again = create("twilio_whatsapp", whatsapp_config()).await;
    assert_error(&again, StatusCode::CONFLICT, "channel_account_taken");

    twilio.set_account_status(ACCOUNT, "suspended");
    let suspended = create(
        "twilio_sms",
        json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": SMS_NUMBER}),
    )
    .await;
    assert_error(
        &suspended,
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider_rejected_credentials",
    );
}

#[actix_web::test]
async fn whatsapp_through_twilio_takes_signed_messages_of_every_kind_and_tracks_replies() {
    let (app, twilio) = spawn().await;
    let channel = add(&app, "twilio_whatsapp", whatsapp_config()).await;
    let id = channel["id"].as_str().unwrap().to_owned();
    let webhook = channel["webhook_url"].as_str().unwrap().to_owned();

    // Unsigned or wrongly signed posts are refused and nothing is stored.
    let forged = twilio
        .inbound(
            &webhook,
            TOKEN,
            &[
                ("From", "whatsapp:+5511999998888"),
                ("To", "whatsapp:+14155238886"),
                ("Body", "hi"),
            ],
            Some("bm90IGEgc2lnbmF0dXJl"),
        )
        .await;
    assert_eq!(forged, 401);
    let other_key = twilio
        .inbound(
            &webhook,
            "not-the-token",
            &[
                ("From", "whatsapp:+5511999998888"),
                ("To", "whatsapp:+14155238886"),
                ("Body", "hi"),
            ],
            None,
        )
        .await;
    assert_eq!(other_key, 401);
    let (_, listed) = app.get("/api/v1/conversations").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "{listed}");

    assert_eq!(
        guest_says(
            &twilio,
            &channel,
            &[
                ("Body", "Is breakfast included?"),
                ("MessageSid", "SMaaaa0000000000000000000000000001")
            ]
        )
        .await,
        200
    );
    // Twilio retries a webhook it thinks failed: the same message is taken once.
    assert_eq!(
        guest_says(
            &twilio,
            &channel,
            &[
                ("Body", "Is breakfast included?"),
                ("MessageSid", "SMaaaa0000000000000000000000000001")
            ]
        )
        .await,
        200
    );
    let elsewhere = Elsewhere::start();
    let jpeg = b"\xff\xd8\xff\xe0 the receipt".to_vec();
    let receipt_url = twilio.add_media(ACCOUNT, "image/jpeg", &jpeg);
    guest_says(
        &twilio,
        &channel,
        &[
            ("Body", "Here is the receipt"),
            ("NumMedia", "2"),
            ("MediaUrl0", receipt_url.as_str()),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", elsewhere.url.as_str()),
            ("MediaContentType1", "application/pdf"),
        ],
    )
    .await;
    guest_says(
        &twilio,
        &channel,
        &[
            ("MessageType", "location"),
            ("Latitude", "38.7223"),
            ("Longitude", "-9.1393"),
            ("Label", "Our car"),
        ],
    )
    .await;
    guest_says(
        &twilio,
        &channel,
        &[
            ("MessageType", "button"),
            ("ButtonText", "Late check-in"),
            ("ButtonPayload", "LATE_CHECKIN"),
        ],
    )
    .await;
    let conversation = app.conversation_with(GUEST).await;
    assert_eq!(conversation["contact"]["name"], "Ana Silva");
    assert_eq!(conversation["channel_kind"], "twilio_whatsapp");
    let conversation_id = conversation["id"].as_str().unwrap().to_owned();
    let messages = app
        .messages_until(&conversation_id, |messages| {
            messages
                .iter()
                .filter(|m| m["direction"] == "inbound")
                .count()
                >= 5
        })
        .await;
    let inbound: Vec<&Value> = messages
        .iter()
        .filter(|message| message["direction"] == "inbound")
        .collect();
    assert_eq!(inbound.len(), 5, "{inbound:?}");
    assert_eq!(
        inbound[0]["content"],
        json!({"type": "text", "body": "Is breakfast included?"})
    );
    assert_eq!(inbound[1]["content"]["media_kind"], "image");
    assert_eq!(inbound[1]["content"]["caption"], "Here is the receipt");
    assert_eq!(inbound[2]["content"]["media_kind"], "document");
    assert_eq!(inbound[3]["content"]["type"], "location");
    assert_eq!(inbound[3]["content"]["latitude"], 38.7223);
    assert_eq!(
        inbound[4]["content"],
        json!({"type": "template_button", "payload": "LATE_CHECKIN", "text": "Late check-in"})
    );
    // The console shows the photo: Parley fetches it with the account's Basic auth and
    // follows Twilio's redirect to its CDN.
    let media_path = format!(
        "/api/v1/conversations/{conversation_id}/messages/{}/media",
        inbound[1]["id"].as_str().unwrap()
    );
    let response = app
        .http
        .get(app.url(&media_path))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.bytes().await.unwrap().as_ref(), jpeg.as_slice());
    assert_eq!(twilio.media_downloads(), 1);
    // Twilio's media URL is refused without the account's credentials.
    let bare = app.http.get(&receipt_url).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    // A media URL on another host is fetched without the account's credentials.
    let response = app
        .http
        .get(app.url(&format!(
            "/api/v1/conversations/{conversation_id}/messages/{}/media",
            inbound[2]["id"].as_str().unwrap()
        )))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        b"%PDF-1.4 elsewhere"
    );
    assert_eq!(*elsewhere.authorizations.lock().unwrap(), [None::<String>]);

    let (_, read) = app.get(&format!("/api/v1/channels/{id}")).await;
    assert_eq!(
        read["webhook_attached"], true,
        "the first webhook shows it is wired"
    );

    // A team member's reply goes through the Messages API and follows Twilio's callbacks.
    let (status, reply) = app
        .post_json(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &json!({"text": "Yes, from 7 to 10."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let sent = sent_with_body(&twilio, "Yes, from 7 to 10.").await;
    assert_eq!(sent.param("To"), Some("whatsapp:+5511999998888"));
    assert_eq!(sent.param("From"), Some("whatsapp:+14155238886"));
    assert_eq!(
        sent.param("StatusCallback"),
        Some(format!("{PUBLIC}/webhooks/twilio_whatsapp/{id}/status").as_str())
    );
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    app.messages_until(&conversation_id, |messages| {
        messages
            .iter()
            .any(|m| m["id"] == reply_id.as_str() && m["delivery_status"] == "read")
    })
    .await;
}

#[actix_web::test]
async fn the_whatsapp_window_is_kept_by_parley_and_a_late_63016_from_twilio_fails_the_message() {
    let (app, twilio) = spawn_with(true).await;
    let channel = add(&app, "twilio_whatsapp", whatsapp_config()).await;
    guest_says(&twilio, &channel, &[("Body", "hello")]).await;
    let conversation = app.conversation_with(GUEST).await;
    let conversation_id = conversation["id"].as_str().unwrap().to_owned();
    let reply = |text: &'static str| {
        let path = format!("/api/v1/conversations/{conversation_id}/messages");
        let app = &app;
        async move {
            let (status, message) = app.post_json(&path, &json!({"text": text})).await;
            assert_eq!(status, StatusCode::CREATED, "{message}");
            message["id"].as_str().unwrap().to_owned()
        }
    };
    let failed_with = |message_id: String| {
        let app = &app;
        let conversation_id = conversation_id.clone();
        async move {
            let messages = app
                .messages_until(&conversation_id, |messages| {
                    messages
                        .iter()
                        .any(|m| m["id"] == message_id.as_str() && m["delivery_status"] == "failed")
                })
                .await;
            messages
                .into_iter()
                .find(|m| m["id"] == message_id.as_str())
                .unwrap()["failure_reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };

    // Twilio's view of the window closed (the guest wrote long ago, as far as it knows):
    // the send is taken, and the failure arrives later as a status callback.
    twilio.close_window(&format!("whatsapp:{SENDER}"), &format!("whatsapp:{GUEST}"));
    let late = reply("Are you still there?").await;
    let reason = failed_with(late).await;
    assert!(reason.starts_with("63016"), "{reason}");

    // 25 hours later Parley knows the window is closed and sends nothing free-form.
    let before = twilio.sends().len();
    app.clock
        .as_ref()
        .unwrap()
        .advance(Duration::from_secs(25 * 60 * 60));
    let closed = reply("Good morning!").await;
    let reason = failed_with(closed).await;
    assert!(reason.starts_with("63016"), "{reason}");
    assert_eq!(twilio.sends().len(), before, "nothing reached Twilio");
}

#[actix_web::test]
async fn twilio_throttling_is_retried_and_a_rotated_auth_token_needs_a_reconnect() {
    let (app, twilio) = spawn().await;
    let channel = add(&app, "twilio_whatsapp", whatsapp_config()).await;
    let id = channel["id"].as_str().unwrap().to_owned();
    guest_says(&twilio, &channel, &[("Body", "hi")]).await;
    let conversation = app.conversation_with(GUEST).await;
    let path = format!(
        "/api/v1/conversations/{}/messages",
        conversation["id"].as_str().unwrap()
    );
    let baseline = twilio.sends().len();
    twilio.fail_next([TwilioFault::TooManyRequests, TwilioFault::ServerError]);
    app.post_json(&path, &json!({"text": "one moment"})).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let sends = twilio.sends();
        if sends[baseline..]
            .iter()
            .any(|send| send.status == 201 && send.param("Body") == Some("one moment"))
        {
            let statuses: Vec<u16> = sends[baseline..].iter().map(|send| send.status).collect();
            assert_eq!(&statuses[..2], &[429, 500], "{statuses:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    twilio.rotate_auth_token(ACCOUNT, "a-new-token-0123456789abcdef0000");
    app.post_json(&path, &json!({"text": "are you there?"}))
        .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, read) = app.get(&format!("/api/v1/channels/{id}")).await;
        if read["status"] == "needs_reconnect" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{read}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut config = whatsapp_config();
    config["auth_token"] = json!("a-new-token-0123456789abcdef0000");
    let (status, reconnected) = app
        .post_json(
            &format!("/api/v1/channels/{id}/reconnect"),
            &json!({"config": config}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reconnected}");
    assert_eq!(reconnected["id"], id.as_str());
    assert_eq!(reconnected["status"], "connected");
}

#[actix_web::test]
async fn an_sms_channel_sends_to_numbers_counts_segments_and_keeps_out_of_the_inbox() {
    let (app, twilio) = spawn().await;
    let sms = add(
        &app,
        "twilio_sms",
        json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": SMS_NUMBER}),
    )
    .await;
    let id = sms["id"].as_str().unwrap().to_owned();

    let (status, counted) = app
        .post_json("/api/v1/sms/segments", &json!({"text": "It’s ok"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counted["encoding"], "ucs2");
    assert_eq!(counted["segments"], 1);
    let (_, long) = app
        .post_json("/api/v1/sms/segments", &json!({"text": "a".repeat(161)}))
        .await;
    assert_eq!(
        (long["encoding"].clone(), long["segments"].clone()),
        (json!("gsm7"), json!(2))
    );

    let send = |body: Value| {
        let path = format!("/api/v1/channels/{id}/messages");
        let app = &app;
        async move { app.post_json(&path, &body).await }
    };
    let bad_number = send(json!({"to": "call me", "text": "hi"})).await;
    assert_error(
        &bad_number,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    let too_long = send(json!({"to": "+351 912 345 678", "text": "a".repeat(1_601)})).await;
    assert_error(&too_long, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(too_long.1["error"]["field"], "text");

    let (status, sent) =
        send(json!({"to": "+351 912 345 678", "text": "Your room is ready.", "name": "Ana"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["segments"]["segments"], 1);
    let sends = twilio.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].param("To"), Some("+351912345678"));
    assert_eq!(sends[0].param("From"), Some(SMS_NUMBER));
    assert_eq!(sends[0].param("Body"), Some("Your room is ready."));
    let conversation_id = sent["message"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message_id = sent["message"]["id"].as_str().unwrap().to_owned();
    app.messages_until(&conversation_id, |messages| {
        messages
            .iter()
            .any(|m| m["id"] == message_id.as_str() && m["delivery_status"] == "delivered")
    })
    .await;

    // Not in the unified inbox; listed under its channel.
    let (_, inbox) = app.get("/api/v1/conversations").await;
    assert!(inbox["data"].as_array().unwrap().is_empty(), "{inbox}");
    let (_, by_channel) = app
        .get(&format!("/api/v1/conversations?channel_id={id}"))
        .await;
    assert_eq!(
        by_channel["data"].as_array().unwrap().len(),
        1,
        "{by_channel}"
    );

    // A contact's SMS is acknowledged and dropped: SMS sends only.
    let status = twilio
        .inbound(
            sms["webhook_url"].as_str().unwrap(),
            TOKEN,
            &[
                ("From", "+351912345678"),
                ("To", SMS_NUMBER),
                ("Body", "thanks!"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, messages) = app
        .get(&format!("/api/v1/conversations/{conversation_id}/messages"))
        .await;
    assert_eq!(messages["data"].as_array().unwrap().len(), 1, "{messages}");

    let whatsapp = add(&app, "twilio_whatsapp", whatsapp_config()).await;
    let refused = app
        .post_json(
            &format!(
                "/api/v1/channels/{}/messages",
                whatsapp["id"].as_str().unwrap()
            ),
            &json!({"to": "+351912345678", "text": "hi"}),
        )
        .await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "outbound_not_supported",
    );
}
