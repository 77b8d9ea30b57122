//! AI insights of conversations: `/api/v1/conversations/{id}/insights`. Staff generate a
//! sentiment (from the guest's messages) and a summary (from everyone's) with the local
//! engine and read the stored one back; a read before the first generation answers
//! `{"insight": null}`; the bot identity and other organisations get nothing.

use crate::support::{team_member, Options, TestApp, WhatsappChannel, PATIENCE};
use parley::mock::whatsapp_webhooks;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const GUEST: &str = "351966666666";
const COMPLAINT: &str = "The room was dirty and the staff were rude, I want a refund";

fn insights_path(conversation: &str) -> String {
    format!("/api/v1/conversations/{conversation}/insights")
}

/// The conversation of `GUEST` once the guest's `text` and the bot's greeting are stored.
async fn conversation_after(app: &TestApp, channel: &WhatsappChannel, text: &str) -> String {
    app.customer_says(channel, GUEST, "wamid.insights-1", text)
        .await;
    let conversation = app.conversation_with(GUEST).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.messages_until(&conversation, |messages| messages.len() >= 2)
        .await;
    conversation
}

async fn generate(app: &TestApp, key: &str, conversation: &str) -> (StatusCode, Value) {
    app.request(Method::POST, &insights_path(conversation), key, None)
        .await
}

async fn generated(app: &TestApp, conversation: &str) -> Value {
    let (status, body) = generate(app, &app.api_key, conversation).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn manual_clock() -> Options {
    Options {
        manual_clock: true,
        ..Options::default()
    }
}

#[actix_web::test]
async fn an_unhappy_guest_gets_a_negative_insight_with_the_complaint_in_its_summary() {
    let app = TestApp::spawn_with(manual_clock()).await;
    let channel = app.create_whatsapp_channel().await;
    let conversation = conversation_after(&app, &channel, COMPLAINT).await;

    // Nothing was generated yet: the read says so with a null insight.
    let (status, before) = app.get(&insights_path(&conversation)).await;
    insta::assert_json_snapshot!((status.as_u16(), before), @r###"
    [
      200,
      {
        "insight": null
      }
    ]
    "###);

    // Generated from the guest's complaint. Mentioning the staff, the guest was offered the
    // team (buttons, no text to draw from).
    let insight = generated(&app, &conversation).await;
    assert_eq!(insight["insight"]["conversation_id"], conversation.as_str());
    insta::assert_json_snapshot!(insight, {".insight.conversation_id" => "[id]"}, @r###"
    {
      "insight": {
        "conversation_id": "[id]",
        "generated_at": 1780000000000,
        "message_count": 1,
        "sentiment": "negative",
        "sentiment_score": -859,
        "summary": "Guest: The room was dirty and the staff were rude, I want a refund."
      }
    }
    "###);

    // The read returns what was stored, as the generation answered it.
    let (status, stored) = app.get(&insights_path(&conversation)).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored, insight);
}

#[actix_web::test]
async fn a_happy_guest_gets_a_positive_insight() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let conversation = conversation_after(
        &app,
        &channel,
        "Thank you so much, the room was lovely and the staff were amazing! 😍",
    )
    .await;

    let insight = &generated(&app, &conversation).await["insight"];
    assert_eq!(insight["sentiment"], "positive", "{insight}");
    assert!(
        insight["sentiment_score"].as_i64().unwrap() >= 150,
        "{insight}"
    );
    assert_eq!(
        insight["summary"],
        "Guest: Thank you so much, the room was lovely and the staff were amazing!"
    );
}

#[actix_web::test]
async fn the_stored_insight_changes_only_when_generated_again() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let conversation = conversation_after(&app, &channel, COMPLAINT).await;
    let first = generated(&app, &conversation).await;

    // The guest cheers up; the read keeps the stored insight until the next generation.
    let thanks = "Thanks, the new room is perfect! 👍";
    app.customer_says(&channel, GUEST, "wamid.insights-2", thanks)
        .await;
    app.messages_until(&conversation, |messages| {
        messages
            .iter()
            .any(|message| message["content"]["body"] == thanks)
    })
    .await;
    let (_, stored) = app.get(&insights_path(&conversation)).await;
    assert_eq!(stored, first);

    let second = generated(&app, &conversation).await;
    let (_, stored) = app.get(&insights_path(&conversation)).await;
    assert_eq!(stored, second);
    let score = |body: &Value| body["insight"]["sentiment_score"].as_i64().unwrap();
    assert!(score(&second) > score(&first), "{first} then {second}");
    assert!(
        second["insight"]["message_count"].as_i64().unwrap()
            > first["insight"]["message_count"].as_i64().unwrap()
    );
}

#[actix_web::test]
async fn a_conversation_without_guest_text_is_neutral_with_an_empty_summary() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let sticker = whatsapp_webhooks::envelope(
        &channel.phone_number_id,
        json!({
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": GUEST}],
            "messages": [{"from": GUEST, "id": "wamid.sticker", "timestamp": "1780000000",
                "type": "sticker", "sticker": {"id": "sticker-1", "mime_type": "image/webp"}}]
        }),
    );
    let (status, answer) = app.post_webhook(&channel, &sticker).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let conversation = app.conversation_with(GUEST).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.messages_until(&conversation, |messages| messages.len() >= 2)
        .await;

    let insight = &generated(&app, &conversation).await["insight"];
    assert_eq!(
        (
            &insight["sentiment"],
            &insight["sentiment_score"],
            &insight["summary"]
        ),
        (&json!("neutral"), &json!(0), &json!("")),
        "{insight}"
    );
}

#[actix_web::test]
async fn another_organisation_s_or_an_unknown_conversation_is_not_found() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let conversation = conversation_after(&app, &channel, COMPLAINT).await;
    let other_key = app.other_organization().await;

    let unknown = uuid::Uuid::now_v7().to_string();
    let cases = [
        (
            other_key.as_str(),
            conversation.as_str(),
            "another organisation's",
        ),
        (app.api_key.as_str(), unknown.as_str(), "an unknown id"),
        (app.api_key.as_str(), "not-an-id", "a malformed id"),
    ];
    for (key, id, case) in cases {
        for method in [Method::GET, Method::POST] {
            let (status, body) = app
                .request(method.clone(), &insights_path(id), key, None)
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {case}: {body}");
            assert_eq!(
                body["error"]["code"], "conversation_not_found",
                "{method} {case}: {body}"
            );
        }
    }

    // The other organisation's attempt stored nothing.
    let (_, stored) = app.get(&insights_path(&conversation)).await;
    assert_eq!(stored, json!({"insight": null}));
}

#[actix_web::test]
async fn staff_read_and_generate_insights_but_the_bot_identity_may_not() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let conversation = conversation_after(&app, &channel, COMPLAINT).await;
    let (_, bot_key) = team_member(&app, "concierge@casa-azul.example", "bot").await;
    let (_, user_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let (_, admin_key) = team_member(&app, "ana@casa-azul.example", "admin").await;

    for method in [Method::POST, Method::GET] {
        let (status, body) = app
            .request(
                method.clone(),
                &insights_path(&conversation),
                &bot_key,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{method}: {body}");
    }
    let (_, stored) = app.get(&insights_path(&conversation)).await;
    assert_eq!(
        stored,
        json!({"insight": null}),
        "the bot generated nothing"
    );

    for key in [&user_key, &admin_key, &app.api_key] {
        let (status, generated) = generate(&app, key, &conversation).await;
        assert_eq!(status, StatusCode::OK, "{generated}");
        let (status, stored) = app.get_as(&insights_path(&conversation), key).await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        assert_eq!(stored["insight"]["sentiment"], "negative");
    }
}

#[actix_web::test]
async fn an_organisation_with_an_llm_gets_its_reading_and_keeps_the_local_one_when_it_fails() {
    use parley::mock::llm::{MockLlm, Reply};
    let app = TestApp::spawn().await;
    let llm = MockLlm::start().unwrap();
    llm.add_key("sk-test");
    let channel = app.create_whatsapp_channel().await;
    let conversation = conversation_after(&app, &channel, COMPLAINT).await;
    let (status, body) = app
        .put_json(
            "/api/v1/ai/settings",
            &json!({"provider": "openai", "model": "gpt-test", "api_key": "sk-test",
                    "base_url": llm.openai_base_url(), "max_retries": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    llm.script([Reply::Text(
        r#"{"sentiment_score": -820, "summary": "The guest found the room dirty and asks for a refund."}"#
            .into(),
    )]);
    let body = generated(&app, &conversation).await;
    assert_eq!(body["insight"]["sentiment"], "negative", "{body}");
    assert_eq!(body["insight"]["sentiment_score"], -820);
    assert_eq!(
        body["insight"]["summary"],
        "The guest found the room dirty and asks for a refund."
    );
    let requests = llm.wait_for_requests(1, PATIENCE).await;
    let transcript = requests[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        transcript.starts_with(&format!("Guest: {COMPLAINT}")),
        "{transcript}"
    );

    // The provider fails: the local reading stands.
    llm.script([Reply::Status {
        status: 500,
        retry_after_secs: None,
    }]);
    let body = generated(&app, &conversation).await;
    assert_eq!(body["insight"]["sentiment"], "negative", "{body}");
    assert_ne!(body["insight"]["sentiment_score"], -820, "{body}");
    assert!(body["insight"]["summary"]
        .as_str()
        .unwrap()
        .contains("dirty"));
    llm.stop().await;
}
