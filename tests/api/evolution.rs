//! Unofficial WhatsApp against a provider speaking the Evolution API v2 protocol: pairing by
//! QR code, webhooks carrying the channel's secret, the connection states and what each means
//! for the team, messages in and out, and the retry path when nobody scans in time.

use crate::support::{assert_error, Options, TestApp, PATIENCE};
use parley::mock::evolution::MockEvolution;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const PUBLIC: &str = "https://parley.example";
const PROVIDER_KEY: &str = "global-provider-key";

async fn spawn() -> (TestApp, MockEvolution) {
    let evolution = MockEvolution::start(PROVIDER_KEY).unwrap();
    let app = TestApp::spawn_with(Options {
        public_url: Some(PUBLIC.into()),
        evolution: Some((evolution.url().into(), PROVIDER_KEY.into())),
        ..Options::default()
    })
    .await;
    evolution.route(PUBLIC, &app.address);
    (app, evolution)
}

async fn add(app: &TestApp) -> Value {
    let (status, channel) = app
        .post_json(
            "/api/v1/channels",
            &json!({"kind": "whatsapp_unofficial", "name": "Reception phone",
                    "config": {"phone_number": "+351 912 000 000", "label": "Reception"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel
}

/// Polls the channel until `done` holds.
async fn channel_until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, channel) = app.get(&format!("/api/v1/channels/{id}")).await;
        if done(&channel) {
            return channel;
        }
        assert!(tokio::time::Instant::now() < deadline, "{channel}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_number_pairs_by_qr_code_then_talks_in_and_out() {
    let plain = TestApp::spawn().await;
    let answer = plain
        .post_json(
            "/api/v1/channels",
            &json!({"kind": "whatsapp_unofficial", "name": "x"}),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "provider_not_configured");

    let (app, evolution) = spawn().await;
    let bad = app
        .post_json(
            "/api/v1/channels",
            &json!({"kind": "whatsapp_unofficial", "name": "x", "config": {"phone_number": "912"}}),
        )
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(bad.1["error"]["field"], "config.phone_number");

    let channel = add(&app).await;
    let id = channel["id"].as_str().unwrap().to_owned();
    assert_eq!(channel["status"], "pending_verification");
    assert_eq!(
        channel["webhook_url"],
        format!("{PUBLIC}/webhooks/whatsapp_unofficial/{id}")
    );
    let instance = channel["config"]["instance"].as_str().unwrap().to_owned();
    assert_eq!(evolution.instances(), std::slice::from_ref(&instance));
    assert!(
        channel.get("secrets").is_none() && !channel.to_string().contains("MOCK"),
        "{channel}"
    );

    let (status, qr) = app.get(&format!("/api/v1/channels/{id}/qr")).await;
    assert_eq!(status, StatusCode::OK, "{qr}");
    assert_eq!(qr["state"], "connecting");
    assert!(qr["qr"]["base64"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    assert_eq!(qr["qr"]["pairing_code"], "WZYEH1YY");

    // A post without the channel's secret changes nothing.
    let forged = evolution
        .post_raw(
            &instance,
            &[("x-parley-secret", "guess")],
            &json!({"event": "connection.update", "instance": instance, "data": {"state": "open"}}),
        )
        .await;
    assert_eq!(forged, 401);

    evolution
        .scan(&instance, "351912000000", "Villa Serena")
        .await;
    let paired = channel_until(&app, &id, |channel| channel["status"] == "connected").await;
    assert_eq!(paired["metadata"]["phone_number"], "+351912000000");
    assert_eq!(paired["metadata"]["profile_name"], "Villa Serena");
    assert_eq!(paired["metadata"]["label"], "Reception");
    let (_, qr) = app.get(&format!("/api/v1/channels/{id}/qr")).await;
    assert_eq!(qr, json!({"state": "open"}));
    // A retry of a number that is still paired finds it connected: nothing to scan.
    let (status, retried) = app
        .post_json(&format!("/api/v1/channels/{id}/reconnect"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["status"], "connected");

    evolution
        .upsert(&instance, json!({
            "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0A0C1D2E3F4A5B6C7"},
            "pushName": "Ana Silva", "status": "DELIVERY_ACK",
            "message": {"conversation": "Oi, tem quarto livre?"}, "messageType": "conversation",
            "messageTimestamp": 1767225600, "source": "android"}))
        .await;
    evolution
        .upsert(&instance, json!({
            "key": {"remoteJid": "120363012345678901@g.us", "fromMe": false, "id": "3EB0A0C1D2E3F4A5B6C8", "participant": "5511777@s.whatsapp.net"},
            "pushName": "Rui", "message": {"conversation": "We land at 6"}, "messageType": "conversation"}))
        .await;
    let conversation = app.conversation_with("5511999998888").await;
    assert_eq!(conversation["contact"]["name"], "Ana Silva");
    let group = app.conversation_with("120363012345678901@g.us").await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    app.messages_until(&group_id, |messages| {
        messages
            .iter()
            .any(|m| m["content"]["body"] == "Rui: We land at 6")
    })
    .await;

    let conversation_id = conversation["id"].as_str().unwrap().to_owned();

    // A photo: the provider decrypts it on request, and the console shows it.
    let jpeg = b"\xff\xd8\xff\xe0 the pool at night".to_vec();
    evolution.add_media(&instance, "3EB0PHOTO0001", "image/jpeg", None, &jpeg);
    evolution
        .upsert(&instance, json!({
            "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0PHOTO0001"},
            "pushName": "Ana Silva",
            "message": {"imageMessage": {"url": "https://mmg.whatsapp.net/enc", "mimetype": "image/jpeg", "caption": "A piscina"}},
            "messageType": "imageMessage"}))
        .await;
    evolution
        .upsert(&instance, json!({
            "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0GONE0001"},
            "message": {"documentMessage": {"mimetype": "application/pdf", "fileName": "old.pdf"}},
            "messageType": "documentMessage"}))
        .await;
    let messages = app
        .messages_until(&conversation_id, |messages| {
            messages
                .iter()
                .filter(|m| m["content"]["type"] == "media")
                .count()
                == 2
        })
        .await;
    let media_path = |provider_id: &str| {
        let message = messages
            .iter()
            .find(|m| m["content"]["media_id"] == provider_id)
            .unwrap();
        format!(
            "/api/v1/conversations/{conversation_id}/messages/{}/media",
            message["id"].as_str().unwrap()
        )
    };
    let photo = app
        .http
        .get(app.url(&media_path("3EB0PHOTO0001")))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status(), StatusCode::OK);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    assert_eq!(photo.bytes().await.unwrap().as_ref(), jpeg.as_slice());
    // A file the provider no longer has is a clear "not found", not a server error.
    let gone = app.get(&media_path("3EB0GONE0001")).await;
    assert_error(&gone, StatusCode::NOT_FOUND, "media_not_found");

    let (status, reply) = app
        .post_json(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &json!({"text": "Temos sim!"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    let messages = app
        .messages_until(&conversation_id, |messages| {
            messages
                .iter()
                .any(|m| m["id"] == reply_id.as_str() && m["delivery_status"] == "read")
        })
        .await;
    assert!(!messages.is_empty());
    let sent = evolution
        .sends()
        .into_iter()
        .find(|send| send.body["text"] == "Temos sim!")
        .expect("the reply reached the provider");
    assert_eq!(sent.endpoint, "sendText");
    assert_eq!(sent.instance, instance);
    assert_eq!(sent.body["number"], "5511999998888");
}

#[actix_web::test]
async fn an_unscanned_code_fails_with_a_retry_path_and_each_disconnect_is_explained() {
    let (app, evolution) = spawn().await;
    evolution.set_qr_rotation(Duration::from_millis(40), 3);
    let channel = add(&app).await;
    let id = channel["id"].as_str().unwrap().to_owned();
    let instance = channel["config"]["instance"].as_str().unwrap().to_owned();

    let timed_out = channel_until(&app, &id, |channel| channel["status"] == "error").await;
    assert!(
        timed_out["status_reason"]
            .as_str()
            .unwrap()
            .contains("not scanned in time"),
        "{timed_out}"
    );

    evolution.set_qr_rotation(Duration::from_secs(45), 30);
    let (status, retried) = app
        .post_json(&format!("/api/v1/channels/{id}/reconnect"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["id"], id.as_str());
    assert_eq!(retried["status"], "pending_verification");
    let (_, qr) = app.get(&format!("/api/v1/channels/{id}/qr")).await;
    assert_eq!(qr["state"], "connecting", "{qr}");
    evolution
        .scan(&instance, "351912000000", "Villa Serena")
        .await;
    channel_until(&app, &id, |channel| channel["status"] == "connected").await;

    // The phone goes offline: an error that clears by itself when it is back.
    evolution.disconnect(&instance, 408).await;
    let offline = channel_until(&app, &id, |channel| channel["status"] == "error").await;
    assert!(
        offline["status_reason"]
            .as_str()
            .unwrap()
            .contains("offline"),
        "{offline}"
    );
    evolution.reopen(&instance).await;
    channel_until(&app, &id, |channel| channel["status"] == "connected").await;

    // Paired on another computer: this session was replaced, and only a new pairing helps.
    evolution.disconnect(&instance, 440).await;
    let replaced = channel_until(&app, &id, |channel| channel["status"] == "needs_reconnect").await;
    assert!(
        replaced["status_reason"]
            .as_str()
            .unwrap()
            .contains("paired elsewhere"),
        "{replaced}"
    );
    let (_, notifications) = app.get("/api/v1/notifications").await;
    assert!(
        notifications["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|notification| notification["kind"] == "channel_needs_reconnect"),
        "{notifications}"
    );

    // Disconnecting removes the instance at the provider.
    let (status, disconnected) = app
        .post_json(&format!("/api/v1/channels/{id}/disconnect"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{disconnected}");
    assert!(
        evolution.instances().is_empty(),
        "{:?}",
        evolution.instances()
    );
}
