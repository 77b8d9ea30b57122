//! The web chat widget in a real headless Chromium: a business's website (another origin)
//! embeds it with its one-line snippet; a visitor opens it, talks to a deployed journey by
//! tapping its choice chips, sends a file, gets the team's answer live, and finds the whole
//! conversation again after reloading the page. A screenshot of the open widget is kept at
//! `target/widget-screenshot.png`.

use crate::console::{browser, click, find, start_driver, wait_for_text};
use crate::support::{TestApp, PATIENCE};
use actix_web::{web, App, HttpResponse, HttpServer};
use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// The business's own website on loopback: one page that embeds the widget.
struct Website {
    origin: String,
    handle: actix_web::dev::ServerHandle,
}

impl Website {
    fn start(snippet: &str) -> Self {
        let page = format!(
            "<!doctype html><html><head><title>Villa Serena</title></head>\
             <body><h1>Villa Serena</h1><p>Sea-view rooms on the Algarve.</p>{snippet}</body></html>"
        );
        let server = HttpServer::new(move || {
            let page = page.clone();
            App::new().route(
                "/",
                web::get().to(move || {
                    let page = page.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .body(page)
                    }
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            origin: format!("http://127.0.0.1:{port}"),
            handle,
        }
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "called with `json!` values as written"
)]
fn step(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "name": id, "kind": kind, "config": config})
}

/// Deploys a journey with choices on the web chat channel.
async fn deploy_room_journey(app: &TestApp) {
    let (status, bot) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "host-bot@villa-serena.example", "name": "Serena", "role": "bot"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bot}");
    let (status, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Rooms"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    let path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let definition = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            step("welcome", "text", json!({"text": "Welcome to Villa Serena!"})),
            step("rooms", "reply", json!({
                "body": "Which room would you like?",
                "choices": [{"id": "sea", "title": "Sea view"}, {"id": "garden", "title": "Garden"}]
            })),
            step("sea", "text", json!({"text": "The sea-view room it is."})),
            step("garden", "text", json!({"text": "The garden room it is."})),
            step("handoff", "agent_transfer", json!({
                "target": {"type": "team", "team_id": "reservations"},
                "message": "A host will be with you shortly."
            })),
        ],
        "connections": [
            {"from": "start", "to": "welcome"},
            {"from": "welcome", "to": "rooms"},
            {"from": "rooms", "to": "sea", "label": "sea"},
            {"from": "rooms", "to": "garden", "label": "garden"},
            {"from": "sea", "to": "handoff"},
            {"from": "garden", "to": "handoff"}
        ]
    });
    let (status, body) = app.put_json(&path, &definition).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post_json(&format!("{path}/deploy"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put_json(
            &format!(
                "/api/v1/channels/{}/journey",
                app.credentials.webchat_channel_id
            ),
            &json!({"journey_id": journey["id"], "bot_user_id": bot["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Clicks the enabled choice chip titled `title`.
async fn tap_chip(client: &Client, title: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        for chip in client
            .find_all(Locator::Css(".chips button"))
            .await
            .unwrap_or_default()
        {
            let enabled = chip.prop("disabled").await.ok().flatten().as_deref() != Some("true");
            if enabled && chip.text().await.unwrap_or_default().trim() == title {
                chip.click().await.unwrap();
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no `{title}` chip in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens the widget from the website's launcher and moves into its frame.
async fn open_widget(client: &Client, website: &Website) {
    client.goto(&format!("{}/", website.origin)).await.unwrap();
    click(client, "#parley-webchat-launcher").await;
    find(client, "#parley-webchat-frame")
        .await
        .enter_frame()
        .await
        .unwrap();
    wait_for_text(client, "#state", "online").await;
}

#[actix_web::test]
async fn a_visitor_uses_the_embedded_widget_taps_chips_sends_a_file_and_resumes_after_a_reload() {
    let app = TestApp::spawn().await;
    let channel_id = app.credentials.webchat_channel_id.to_string();
    deploy_room_journey(&app).await;
    let (_, channel) = app.get(&format!("/api/v1/channels/{channel_id}")).await;
    let snippet = channel["embed_snippet"]
        .as_str()
        .unwrap()
        .replace("src=\"/", &format!("src=\"{}/", app.address));
    let website = Website::start(&snippet);
    // The website's origin is allowed to frame the chat.
    let (status, body) = app
        .post_json(
            &format!("/api/v1/channels/{channel_id}/reconnect"),
            &json!({"config": {"allowed_origins": [website.origin]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let upload = std::env::temp_dir().join(format!("parley-widget-{}.pdf", uuid::Uuid::new_v4()));
    let pdf = b"%PDF-1.4 booking confirmation".to_vec();
    std::fs::write(&upload, &pdf).unwrap();

    let driver = start_driver().await;
    let client = browser(&driver).await;
    let outcome = async {
        open_widget(&client, &website).await;
        find(&client, "#text")
            .await
            .send_keys("Hi, do you have rooms in May?")
            .await
            .unwrap();
        click(&client, "#send").await;
        wait_for_text(&client, ".bubble.visitor", "rooms in May").await;
        wait_for_text(&client, ".bubble.business", "Welcome to Villa Serena!").await;
        wait_for_text(&client, ".bubble.business", "Which room would you like?").await;

        // A tap on a chip is the visitor's answer; the journey goes on down that branch.
        tap_chip(&client, "Sea view").await;
        wait_for_text(&client, ".bubble.visitor", "Sea view").await;
        wait_for_text(&client, ".bubble.business", "The sea-view room it is.").await;
        wait_for_text(
            &client,
            ".bubble.business",
            "A host will be with you shortly.",
        )
        .await;
        let visitor = client
            .execute(
                &format!(
                    "const token = localStorage.getItem('parley-visitor-{channel_id}'); \
                     return token.split('.')[1];"
                ),
                Vec::new(),
            )
            .await
            .unwrap();
        let visitor = visitor.as_str().unwrap().to_owned();
        let conversation = app.conversation_with(&visitor).await;
        let id = conversation["id"].as_str().unwrap().to_owned();
        let messages = app
            .messages_until(&id, |messages| {
                messages
                    .iter()
                    .any(|message| message["content"]["reply_id"] == "sea")
            })
            .await;
        assert!(
            messages
                .iter()
                .any(|message| message["direction"] == "inbound"
                    && message["content"]["type"] == "interactive_reply"
                    && message["content"]["title"] == "Sea view"),
            "{messages:#?}"
        );

        // The visitor picks a file; the team sees it and opens it.
        client
            .execute(
                "document.getElementById('file').hidden = false;",
                Vec::new(),
            )
            .await
            .unwrap();
        find(&client, "#file")
            .await
            .send_keys(upload.to_str().unwrap())
            .await
            .unwrap();
        let file_name = upload.file_name().unwrap().to_str().unwrap().to_owned();
        wait_for_text(&client, ".bubble.visitor a", &file_name).await;
        let messages = app
            .messages_until(&id, |messages| {
                messages
                    .iter()
                    .any(|message| message["content"]["type"] == "media")
            })
            .await;
        let file = messages
            .iter()
            .find(|message| message["content"]["type"] == "media")
            .unwrap();
        assert_eq!(file["content"]["filename"], file_name.as_str());
        let response = app
            .http
            .get(app.url(&format!(
                "/api/v1/conversations/{id}/messages/{}/media",
                file["id"].as_str().unwrap()
            )))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.bytes().await.unwrap().as_ref(), pdf.as_slice());

        // The team answers; the widget shows it live.
        let (status, reply) = app
            .post_json(
                &format!("/api/v1/conversations/{id}/messages"),
                &json!({"text": "Got your confirmation, see you in May!"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        wait_for_text(&client, ".bubble.business", "see you in May").await;
        let png = client.screenshot().await.unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("widget-screenshot.png");
        std::fs::write(&path, png).unwrap();

        // A reload of the website resumes the same conversation, with everything in it.
        client.enter_parent_frame().await.unwrap();
        open_widget(&client, &website).await;
        for text in [
            "rooms in May",
            "Welcome to Villa Serena!",
            "Sea view",
            "see you in May",
        ] {
            wait_for_text(&client, ".bubble", text).await;
        }
        wait_for_text(&client, ".bubble.visitor a", &file_name).await;
        // The choices answered before are not tappable again.
        for chip in client
            .find_all(Locator::Css(".chips button"))
            .await
            .unwrap()
        {
            assert_eq!(
                chip.prop("disabled").await.unwrap().as_deref(),
                Some("true"),
                "an old chip is still live"
            );
        }
    }
    .await;
    let _ = client.close().await;
    let _ = std::fs::remove_file(&upload);
    website.handle.stop(true).await;
    outcome
}
