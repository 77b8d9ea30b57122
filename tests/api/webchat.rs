use crate::support::{TestApp, PATIENCE};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app: &TestApp, query: &str) -> Socket {
    let url = format!(
        "ws://127.0.0.1:{}/webchat/{}{query}",
        app.address.rsplit(':').next().unwrap(),
        app.credentials.webchat_channel_id
    );
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
}

/// The next JSON frame of the given type, skipping others.
async fn next_frame(socket: &mut Socket, kind: &str) -> Value {
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
