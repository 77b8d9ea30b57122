use crate::support::{TestApp, PATIENCE};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn open(app: &TestApp, query: &str) -> Socket {
    let url = format!(
        "ws://127.0.0.1:{}/webchat/{}{query}",
        app.address.rsplit(':').next().unwrap(),
        app.credentials.webchat_channel_id
    );
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
}

/// The next JSON frame of the given type, skipping others.
pub(crate) async fn next_frame(socket: &mut Socket, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("no frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == kind {
                return frame;
            }
        }
    }
}

#[actix_web::test]
async fn a_visitor_talks_to_the_bot_and_a_reload_continues_the_conversation() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app, "").await;
    let ready = next_frame(&mut socket, "ready").await;
    let token = ready["visitor_token"].as_str().unwrap().to_owned();
    let history = next_frame(&mut socket, "history").await;
    assert_eq!(history["messages"], json!([]));

    socket
        .send(Message::Text(
            json!({"type": "message", "client_id": "c1", "text": "Is breakfast included?"})
                .to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut socket, "ack").await["client_id"], "c1");
    let reply = next_frame(&mut socket, "message").await;
    assert_eq!(reply["message"]["from"], "business");
    assert_eq!(
        reply["message"]["content"]["body"],
        parley::bootstrap::DEFAULT_GREETING
    );
    socket.close(None).await.unwrap();

    // The same visitor comes back: same conversation, whole history.
    let mut socket = open(&app, &format!("?token={token}")).await;
    let ready = next_frame(&mut socket, "ready").await;
    assert_eq!(
        ready["visitor_id"],
        ready["visitor_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
    );
    let history = next_frame(&mut socket, "history").await;
    let froms: Vec<_> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from"].clone())
        .collect();
    assert_eq!(froms, [json!("visitor"), json!("business")]);

    // Resending a message with the same client id (after a flaky connection) stores it once.
    socket
        .send(Message::Text(
            json!({"type": "message", "client_id": "c1", "text": "Is breakfast included?"})
                .to_string(),
        ))
        .await
        .unwrap();
    next_frame(&mut socket, "ack").await;
    let conversation = app
        .conversation_with(ready["visitor_id"].as_str().unwrap())
        .await;
    let (_, messages) = app
        .get(&format!(
            "/api/v1/conversations/{}/messages",
            conversation["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(messages["data"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn a_forged_visitor_token_starts_a_new_visitor() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app, "?token=v1.someone-else.00ff").await;
    let ready = next_frame(&mut socket, "ready").await;
    assert_ne!(ready["visitor_id"], "someone-else");
}

#[actix_web::test]
async fn foreign_origins_may_not_open_the_web_chat() {
    let app = TestApp::spawn().await;
    let url = format!(
        "ws://127.0.0.1:{}/webchat/{}",
        app.address.rsplit(':').next().unwrap(),
        app.credentials.webchat_channel_id
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    let error = tokio_tungstenite::connect_async(request).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = error else {
        panic!("expected an HTTP refusal, got {error:?}");
    };
    assert_eq!(response.status(), 403);
}

#[actix_web::test]
async fn the_demo_page_points_at_the_web_chat_channel() {
    let app = TestApp::spawn().await;
    let page = app
        .http
        .get(app.url("/webchat/demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&app.credentials.webchat_channel_id.to_string()));
    assert!(page.contains("new WebSocket"));
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::Text(frame.to_string())).await.unwrap();
}

#[actix_web::test]
async fn a_tap_on_a_choice_is_stored_as_an_interactive_reply() {
    // Arrange
    let app = TestApp::spawn().await;
    let mut socket = open(&app, "").await;
    let ready = next_frame(&mut socket, "ready").await;
    let visitor_id = ready["visitor_id"].as_str().unwrap().to_owned();

    // Act
    send(
        &mut socket,
        json!({"type": "reply", "client_id": "c1", "reply_id": "breakfast", "title": "Breakfast"}),
    )
    .await;

    // Assert
    assert_eq!(next_frame(&mut socket, "ack").await["client_id"], "c1");
    let conversation = app.conversation_with(&visitor_id).await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages
                .iter()
                .any(|message| message["direction"] == "inbound")
        })
        .await;
    let inbound: Vec<_> = messages
        .iter()
        .filter(|message| message["direction"] == "inbound")
        .collect();
    assert_eq!(inbound.len(), 1, "{messages:#?}");
    assert_eq!(
        inbound[0]["content"],
        json!({"type": "interactive_reply", "reply_id": "breakfast", "title": "Breakfast"})
    );
}

#[actix_web::test]
async fn a_reply_without_a_reply_id_gets_an_error_frame_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app, "").await;
    let ready = next_frame(&mut socket, "ready").await;
    let visitor_id = ready["visitor_id"].as_str().unwrap().to_owned();

    send(
        &mut socket,
        json!({"type": "reply", "client_id": "c1", "reply_id": "", "title": "Breakfast"}),
    )
    .await;
    let error = next_frame(&mut socket, "error").await;
    assert_eq!(
        error,
        json!({"type": "error", "code": "empty_reply",
               "message": "a reply needs the reply_id and the title of the choice tapped"})
    );

    // A valid message afterwards is the only one stored: the socket handles frames in order,
    // so once it is acknowledged the refused reply would have been stored too.
    send(
        &mut socket,
        json!({"type": "message", "client_id": "c2", "text": "Hello"}),
    )
    .await;
    assert_eq!(next_frame(&mut socket, "ack").await["client_id"], "c2");
    let conversation = app.conversation_with(&visitor_id).await;
    let (_, messages) = app
        .get(&format!(
            "/api/v1/conversations/{}/messages",
            conversation["id"].as_str().unwrap()
        ))
        .await;
    let inbound: Vec<_> = messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["direction"] == "inbound")
        .map(|message| message["content"].clone())
        .collect();
    assert_eq!(inbound, [json!({"type": "text", "body": "Hello"})]);
}

#[actix_web::test]
async fn a_switched_off_web_chat_takes_no_visitor_messages_and_no_new_visitors() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app, "").await;
    next_frame(&mut socket, "ready").await;
    let path = format!("/api/v1/channels/{}", app.credentials.webchat_channel_id);
    let (status, _) = app
        .post_json(&format!("{path}/deactivate"), &json!({}))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);

    send(
        &mut socket,
        json!({"type": "message", "client_id": "c1", "text": "Hello?"}),
    )
    .await;
    let error = next_frame(&mut socket, "error").await;
    assert_eq!(error["code"], "channel_inactive");

    let url = format!(
        "ws://127.0.0.1:{}/webchat/{}",
        app.address.rsplit(':').next().unwrap(),
        app.credentials.webchat_channel_id
    );
    let error = tokio_tungstenite::connect_async(url).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = error else {
        panic!("expected an HTTP refusal, got {error:?}");
    };
    assert_eq!(response.status(), 503);

    let (status, _) = app.post_json(&format!("{path}/activate"), &json!({})).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let mut socket = open(&app, "").await;
    next_frame(&mut socket, "ready").await;
    send(
        &mut socket,
        json!({"type": "message", "client_id": "c2", "text": "Hello"}),
    )
    .await;
    assert_eq!(next_frame(&mut socket, "ack").await["client_id"], "c2");
}

#[actix_web::test]
async fn a_team_member_typing_shows_the_visitor_a_typing_indicator() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app, "").await;
    let ready = next_frame(&mut socket, "ready").await;
    socket
        .send(Message::Text(
            json!({"type": "message", "client_id": "t1", "text": "Anyone there?"}).to_string(),
        ))
        .await
        .unwrap();
    next_frame(&mut socket, "ack").await;
    let conversation = app
        .conversation_with(ready["visitor_id"].as_str().unwrap())
        .await;
    let mut console = crate::agent_ws::open(&app, &app.api_key, "", None)
        .await
        .unwrap();
    console
        .send(Message::Text(
            json!({"id": "1", "type": "typing", "conversation_id": conversation["id"]}).to_string(),
        ))
        .await
        .unwrap();
    let typing = next_frame(&mut socket, "typing").await;
    assert_eq!(typing, json!({"type": "typing"}));
}

#[actix_web::test]
async fn a_website_embeds_the_widget_with_one_line_and_names_identified_visitors() {
    let app = TestApp::spawn().await;
    let id = app.credentials.webchat_channel_id.to_string();
    let (_, channel) = app.get(&format!("/api/v1/channels/{id}")).await;
    let snippet = channel["embed_snippet"].as_str().unwrap();
    assert_eq!(
        snippet,
        format!("<script src=\"/webchat/{id}/widget.js\" async></script>")
    );

    let script = app
        .http
        .get(app.url(&format!("/webchat/{id}/widget.js")))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), reqwest::StatusCode::OK);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
    let body = script.text().await.unwrap();
    assert!(
        body.contains(&format!("var channelId = \"{id}\"")),
        "{body}"
    );
    assert!(
        body.contains(&format!("var origin = \"{}\"", app.address)),
        "{body}"
    );

    // Only the channel's allowed origins may frame the chat.
    let csp = |app: &TestApp| {
        let url = app.url(&format!("/webchat/{id}/frame"));
        let http = app.http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            response.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(csp(&app).await, "frame-ancestors 'self'");
    let (status, _) = app
        .post_json(
            &format!("/api/v1/channels/{id}/reconnect"),
            &json!({"config": {"allowed_origins": ["https://villa.example"]}}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(
        csp(&app).await,
        "frame-ancestors 'self' https://villa.example"
    );

    // An identified visitor: the business signs its user id with the channel's secret.
    let (status, made) = app
        .post_json(
            &format!("/api/v1/channels/{id}/identity-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{made}");
    let secret = made["identity_secret"].as_str().unwrap().to_owned();
    let hash = hex::encode(parley::crypto::hmac_sha256(secret.as_bytes(), b"guest-42"));
    let url = |query: &str| {
        format!(
            "ws://127.0.0.1:{}/webchat/{id}{query}",
            app.address.rsplit(':').next().unwrap()
        )
    };
    match tokio_tungstenite::connect_async(url("?user_id=guest-42&user_hash=00ff")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!("a forged identity was let in: {other:?}"),
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(url(&format!(
        "?user_id=guest-42&user_hash={hash}&name=Ana%20Costa"
    )))
    .await
    .unwrap();
    let ready = next_frame(&mut socket, "ready").await;
    assert_eq!(ready["visitor_id"], "user.guest-42");
    socket
        .send(Message::Text(
            json!({"type": "message", "client_id": "i1", "text": "Late check-in please"})
                .to_string(),
        ))
        .await
        .unwrap();
    next_frame(&mut socket, "ack").await;
    let conversation = app.conversation_with("user.guest-42").await;
    assert_eq!(conversation["contact"]["name"], "Ana Costa");

    // The same person on another device continues the same conversation.
    let (mut other_device, _) =
        tokio_tungstenite::connect_async(url(&format!("?user_id=guest-42&user_hash={hash}")))
            .await
            .unwrap();
    let history = next_frame(&mut other_device, "history").await;
    assert!(
        history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|message| message["content"]["body"] == "Late check-in please"),
        "{history}"
    );
}

#[actix_web::test]
async fn a_visitor_typing_shows_on_the_teams_consoles() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app, "").await;
    let ready = next_frame(&mut socket, "ready").await;
    socket
        .send(Message::Text(
            json!({"type": "message", "client_id": "t1", "text": "Hello"}).to_string(),
        ))
        .await
        .unwrap();
    next_frame(&mut socket, "ack").await;
    let conversation = app
        .conversation_with(ready["visitor_id"].as_str().unwrap())
        .await;
    let mut console = crate::agent_ws::open(&app, &app.api_key, "", None)
        .await
        .unwrap();
    // The console has joined once it is greeted.
    crate::agent_ws::until(&mut console, |frame| frame["type"] == "hello").await;
    socket
        .send(Message::Text(json!({"type": "typing"}).to_string()))
        .await
        .unwrap();
    let frames =
        crate::agent_ws::until(&mut console, |frame| frame["type"] == "contact.typing").await;
    let typing = frames.last().unwrap();
    assert_eq!(typing["data"]["conversation_id"], conversation["id"]);
    assert!(typing.get("seq").is_none(), "typing is not logged");
}

/// Posts a file as a web chat visitor (or anyone holding `token`).
async fn upload(
    app: &TestApp,
    query: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (reqwest::StatusCode, Value) {
    let mut request = app
        .http
        .post(app.url(&format!(
            "/webchat/{}/files{query}",
            app.credentials.webchat_channel_id
        )))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Fetches a web chat file as the visitor holding `token`.
async fn fetch_file(app: &TestApp, file_id: &str, token: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!(
            "/webchat/{}/files/{file_id}?token={}",
            app.credentials.webchat_channel_id,
            urlencoding(token)
        )))
        .send()
        .await
        .unwrap()
}

fn urlencoding(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

#[actix_web::test]
async fn a_visitor_sends_a_file_the_team_sees_and_only_that_visitor_can_fetch() {
    use crate::support::assert_error;
    use reqwest::StatusCode;
    let app = TestApp::spawn().await;
    let mut socket = open(&app, "").await;
    let ready = next_frame(&mut socket, "ready").await;
    let token = ready["visitor_token"].as_str().unwrap().to_owned();
    let visitor = ready["visitor_id"].as_str().unwrap().to_owned();
    let with_token = |extra: &str| format!("?token={}{extra}", urlencoding(&token));

    // Without a visitor token nothing is taken.
    let pdf = b"%PDF-1.4 my passport scan".to_vec();
    let anonymous = upload(&app, "", Some("application/pdf"), pdf.clone()).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
    let forged = upload(&app, "?token=v1.x.00", Some("application/pdf"), pdf.clone()).await;
    assert_error(&forged, StatusCode::UNAUTHORIZED, "unauthorized");
    // Files a browser would run, untyped and oversized files are refused.
    for (content_type, body) in [
        (Some("text/html"), b"<script>alert(1)</script>".to_vec()),
        (Some("image/svg+xml"), b"<svg/>".to_vec()),
        (None, pdf.clone()),
    ] {
        let refused = upload(&app, &with_token(""), content_type, body).await;
        assert_error(
            &refused,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
    }
    let huge = upload(
        &app,
        &with_token(""),
        Some("image/png"),
        vec![0_u8; 10 * 1024 * 1024 + 1],
    )
    .await;
    assert_error(&huge, StatusCode::PAYLOAD_TOO_LARGE, "attachment_too_large");
    let foreign = app
        .http
        .post(app.url(&format!(
            "/webchat/{}/files{}",
            app.credentials.webchat_channel_id,
            with_token("")
        )))
        .header("origin", "https://elsewhere.example")
        .header("content-type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let empty = upload(&app, &with_token(""), Some("application/pdf"), Vec::new()).await;
    assert_error(&empty, StatusCode::UNPROCESSABLE_ENTITY, "missing_field");

    let query = with_token("&client_id=f1&filename=passport.pdf&caption=For%20check-in");
    let (status, sent) = upload(&app, &query, Some("application/pdf"), pdf.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["content"]["type"], "media");
    assert_eq!(sent["content"]["media_kind"], "document");
    assert_eq!(sent["content"]["filename"], "passport.pdf");
    assert_eq!(sent["content"]["caption"], "For check-in");
    let file_id = sent["file_id"].as_str().unwrap().to_owned();
    // A resend after a dropped answer is the same file and the same message.
    let (status, again) = upload(&app, &query, Some("application/pdf"), pdf.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["file_id"], file_id.as_str());

    // The team sees the file as the visitor's message, once, and opens it.
    let conversation = app.conversation_with(&visitor).await;
    let id = conversation["id"].as_str().unwrap().to_owned();
    let messages = app
        .messages_until(&id, |messages| {
            messages
                .iter()
                .any(|message| message["content"]["type"] == "media")
        })
        .await;
    let files: Vec<&Value> = messages
        .iter()
        .filter(|message| message["content"]["type"] == "media")
        .collect();
    assert_eq!(files.len(), 1, "{messages:#?}");
    assert_eq!(files[0]["direction"], "inbound");
    assert_eq!(files[0]["content"]["media_id"], file_id.as_str());
    let response = app
        .http
        .get(app.url(&format!(
            "/api/v1/conversations/{id}/messages/{}/media",
            files[0]["id"].as_str().unwrap()
        )))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/pdf"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), pdf.as_slice());
    // Another organization's key does not open it.
    let other_key = app.other_organization().await;
    let answer = app
        .request(
            reqwest::Method::GET,
            &format!(
                "/api/v1/conversations/{id}/messages/{}/media",
                files[0]["id"].as_str().unwrap()
            ),
            &other_key,
            None,
        )
        .await;
    assert_eq!(answer.0, StatusCode::NOT_FOUND, "{}", answer.1);

    // The visitor fetches their file; another visitor cannot, even knowing its id.
    let mine = fetch_file(&app, &file_id, &token).await;
    assert_eq!(mine.status(), StatusCode::OK);
    assert_eq!(mine.headers()["x-content-type-options"], "nosniff");
    assert_eq!(mine.bytes().await.unwrap().as_ref(), pdf.as_slice());
    let mut stranger = open(&app, "").await;
    let stranger_token = next_frame(&mut stranger, "ready").await["visitor_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        fetch_file(&app, &file_id, &stranger_token).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch_file(&app, &file_id, "v1.forged.00").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The conversation's history, on a reload, carries the file.
    let mut reloaded = open(&app, &format!("?token={}", urlencoding(&token))).await;
    let history = next_frame(&mut reloaded, "history").await;
    assert!(
        history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|message| message["content"]["media_id"] == file_id.as_str()
                && message["from"] == "visitor"),
        "{history}"
    );

    // Deleting the conversation deletes the file.
    let (status, _) = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/conversations/{id}"),
            &app.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        fetch_file(&app, &file_id, &token).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn a_team_members_file_reaches_the_visitor_who_alone_can_fetch_it() {
    use reqwest::StatusCode;
    let app = TestApp::spawn().await;
    let mut socket = open(&app, "").await;
    let ready = next_frame(&mut socket, "ready").await;
    let token = ready["visitor_token"].as_str().unwrap().to_owned();
    let visitor = ready["visitor_id"].as_str().unwrap().to_owned();
    send(
        &mut socket,
        json!({"type": "message", "client_id": "c1", "text": "Can I see the room?"}),
    )
    .await;
    next_frame(&mut socket, "ack").await;
    let conversation = app.conversation_with(&visitor).await;
    let id = conversation["id"].as_str().unwrap().to_owned();

    let png = b"\x89PNG\r\n\x1a\n the sea-view room".to_vec();
    let response = app
        .http
        .post(app.url(&format!(
            "/api/v1/conversations/{id}/attachments?filename=room.png&caption=Room%2012"
        )))
        .bearer_auth(&app.api_key)
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["content"]["media_kind"], "image");
    let file_id = message["content"]["media_id"].as_str().unwrap().to_owned();

    // The visitor's page gets the message (the bot's greeting may come first).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let frame = tokio::time::timeout_at(deadline, next_frame(&mut socket, "message"))
            .await
            .expect("the file never reached the visitor");
        if frame["message"]["content"]["type"] == "media" {
            assert_eq!(frame["message"]["from"], "business");
            assert_eq!(frame["message"]["content"]["media_id"], file_id.as_str());
            assert_eq!(frame["message"]["content"]["caption"], "Room 12");
            break;
        }
    }
    let fetched = fetch_file(&app, &file_id, &token).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.headers()["content-type"], "image/png");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), png.as_slice());

    // A file the web chat would serve as a page is refused.
    let response = app
        .http
        .post(app.url(&format!("/api/v1/conversations/{id}/attachments")))
        .bearer_auth(&app.api_key)
        .header("content-type", "text/html")
        .body("<h1>hi</h1>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
