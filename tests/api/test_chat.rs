//! Test chat as a journey builder uses it: a sandbox on the current draft, over HTTP and over
//! its WebSocket. Every bot message names its step; timers fire on request or on the clock;
//! goals are recorded as test events; and no channel, contact or conversation is touched.

use crate::support::{assert_error, Options, TestApp, PATIENCE};
use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const DAY: Duration = Duration::from_secs(86_400);

fn step(id: &str, name: &str, kind: &str, config: Value) -> Value {
    let mut step = json!({"id": id, "name": name, "kind": kind});
    step["config"] = config;
    step
}

/// Start → Greeting → Menu; "Later" waits a day and says so, "Book" reaches the goal's first
/// milestone and thanks the guest.
fn front_desk(greeting: &str, goal: &Value) -> Value {
    json!({
        "name": "Front desk",
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            step("hello", "Greeting", "text", json!({"text": greeting})),
            step("menu", "Menu", "reply", json!({"body": "What can we do?",
                "choices": [{"id": "later", "title": "Later"}, {"id": "book", "title": "Book"}]})),
            step("pause", "Wait a day", "delay", json!({"seconds": 86400})),
            step("again", "Follow-up", "text", json!({"text": "Still thinking about it?"})),
            step("won", "Qualified", "goal", json!({"goal_id": goal["id"],
                "milestone_id": goal["milestones"][0]["id"], "trackers": {"choice": "{{last_input}}"}})),
            step("thanks", "Thanks", "text", json!({"text": "Booked, thank you!"})),
        ],
        "connections": [
            {"from": "start", "to": "hello"}, {"from": "hello", "to": "menu"},
            {"from": "menu", "to": "pause", "label": "later"}, {"from": "pause", "to": "again"},
            {"from": "menu", "to": "won", "label": "book"}, {"from": "won", "to": "thanks"},
        ]
    })
}

async fn create_goal(app: &TestApp) -> Value {
    let (status, goal) = app
        .post_json(
            "/api/v1/goals",
            &json!({"name": "Booking", "milestones": [{"name": "Qualified", "trackers": ["choice"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{goal}");
    goal
}

/// A journey whose draft is the front desk; answers its id and the goal it reaches.
async fn draft(app: &TestApp) -> (String, Value) {
    let goal = create_goal(app).await;
    let (status, journey) = app
        .post_json(
            "/api/v1/journeys",
            &front_desk("Hi {{contact_name}}", &goal),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    (journey["id"].as_str().unwrap().to_owned(), goal)
}

async fn start_as(
    app: &TestApp,
    api_key: &str,
    journey_id: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    app.request(
        Method::POST,
        &format!("/api/v1/journeys/{journey_id}/test-sessions"),
        api_key,
        body,
    )
    .await
}

async fn start(app: &TestApp, journey_id: &str, body: Option<&Value>) -> Value {
    let (status, session) = start_as(app, &app.api_key, journey_id, body).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    session
}

fn session_path(session: &Value, rest: &str) -> String {
    format!(
        "/api/v1/test-sessions/{}{rest}",
        session["id"].as_str().unwrap()
    )
}

/// Posts to a session route and answers the turn, asserting it was accepted.
async fn post(app: &TestApp, session: &Value, rest: &str, body: &Value) -> Value {
    let (status, turn) = app.post_json(&session_path(session, rest), body).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    turn
}

/// Entries as `[from step_id/step_name] content-or-note` lines.
fn lines(entries: &Value) -> Vec<String> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let from = match (&entry["step_id"], &entry["step_name"]) {
                (Value::String(id), Value::String(name)) => {
                    format!("{} {id}/{name}", entry["from"].as_str().unwrap())
                }
                _ => entry["from"].as_str().unwrap().to_owned(),
            };
            let content = &entry["content"];
            let what = match content["type"].as_str() {
                Some("text") => content["body"].as_str().unwrap().to_owned(),
                Some("interactive_reply") => format!("tap {}", content["reply_id"]),
                Some("choices") => format!(
                    "{} {}",
                    content["body"],
                    content["choices"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|choice| format!("[{}]", choice["title"].as_str().unwrap()))
                        .collect::<String>()
                ),
                Some(other) => format!("{other}: {content}"),
                None => entry["note"].as_str().unwrap().to_owned(),
            };
            format!("[{from}] {what}")
        })
        .collect()
}

/// No channel was used: the Graph API heard nothing and no conversation exists.
async fn assert_no_channel_touched(app: &TestApp) {
    assert!(
        app.graph.attempts().is_empty(),
        "{:?}",
        app.graph.attempts()
    );
    let (status, conversations) = app.get("/api/v1/conversations").await;
    assert_eq!(status, StatusCode::OK, "{conversations}");
    assert_eq!(conversations["data"], json!([]), "{conversations}");
}

#[actix_web::test]
async fn a_test_session_runs_the_draft_and_names_the_step_of_every_bot_message() {
    // Arrange
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let (journey_id, _) = draft(&app).await;

    // Act
    let session = start(&app, &journey_id, Some(&json!({"contact_name": "Ana"}))).await;
    let hello = post(&app, &session, "/messages", &json!({"text": "hi"})).await;
    let later = post(
        &app,
        &session,
        "/messages",
        &json!({"reply_id": "later", "title": "Later"}),
    )
    .await;
    let early = post(&app, &session, "/messages", &json!({"text": "hello?"})).await;
    let fired = post(&app, &session, "/fire-timer", &json!({})).await;
    let nothing_pending = app
        .post_json(&session_path(&session, "/fire-timer"), &json!({}))
        .await;

    // Assert
    insta::assert_json_snapshot!(session, {".id" => "[id]", ".journey_id" => "[id]",
        ".ws_url" => "[url]", ".ws_ticket" => "[ticket]"}, @r###"
    {
      "id": "[id]",
      "journey_id": "[id]",
      "state": {
        "current_step": null,
        "current_step_name": null,
        "variables": {},
        "waiting": {
          "for": "new_run"
        }
      },
      "transcript": [],
      "ws_ticket": "[ticket]",
      "ws_url": "[url]"
    }
    "###);
    insta::assert_json_snapshot!(hello, {".entries[].at" => "[time]"}, @r###"
    {
      "entries": [
        {
          "at": "[time]",
          "content": {
            "body": "hi",
            "type": "text"
          },
          "from": "guest",
          "seq": 1
        },
        {
          "at": "[time]",
          "content": {
            "body": "Hi Ana",
            "type": "text"
          },
          "from": "bot",
          "seq": 2,
          "step_id": "hello",
          "step_name": "Greeting"
        },
        {
          "at": "[time]",
          "content": {
            "body": "What can we do?",
            "choices": [
              {
                "id": "later",
                "title": "Later"
              },
              {
                "id": "book",
                "title": "Book"
              }
            ],
            "style": "buttons",
            "type": "choices"
          },
          "from": "bot",
          "seq": 3,
          "step_id": "menu",
          "step_name": "Menu"
        }
      ],
      "state": {
        "current_step": "menu",
        "current_step_name": "Menu",
        "variables": {
          "last_input": "hi"
        },
        "waiting": {
          "failures": 0,
          "for": "reply"
        }
      }
    }
    "###);
    let transcript = [&later, &early, &fired]
        .iter()
        .flat_map(|turn| lines(&turn["entries"]))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(transcript, @r###"
    [guest] tap "later"
    [system pause/Wait a day] Timer set for 2026-05-29T20:26:40Z (in 1d)
    [guest] hello?
    [system] The journey waits for a timer (fire it with fire-timer); this message changes nothing
    [system] Timer fired by the tester (it was due 2026-05-29T20:26:40Z)
    [bot again/Follow-up] Still thinking about it?
    [system] Run ended: completed
    "###);
    assert_eq!(fired["state"]["waiting"], json!({"for": "new_run"}));
    assert_error(
        &nothing_pending,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    let (status, read) = app.get(&session_path(&session, "")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["transcript"].as_array().unwrap().len(), 10, "{read:#}");
    assert_eq!(read["state"], fired["state"]);
    assert_no_channel_touched(&app).await;
}

#[actix_web::test]
async fn a_goal_step_records_a_test_goal_event_of_the_session() {
    let app = TestApp::spawn().await;
    let (journey_id, goal) = draft(&app).await;
    let session = start(&app, &journey_id, None).await;
    post(&app, &session, "/messages", &json!({"text": "hi"})).await;

    let booked = post(
        &app,
        &session,
        "/messages",
        &json!({"reply_id": "book", "title": "Book"}),
    )
    .await;

    assert_eq!(
        lines(&booked["entries"])[1..],
        [
            format!(
                "[system won/Qualified] Goal {}/{} recorded (choice: Book)",
                goal["id"].as_str().unwrap(),
                goal["milestones"][0]["id"].as_str().unwrap()
            ),
            "[bot thanks/Thanks] Booked, thank you!".to_owned(),
            "[system] Run ended: completed".to_owned(),
        ]
    );
    let goal_id = goal["id"].as_str().unwrap();
    let (_, tests) = app
        .get(&format!("/api/v1/goals/{goal_id}/events?mode=test"))
        .await;
    let events = tests["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{tests}");
    assert_eq!(events[0]["is_test"], true);
    assert_eq!(events[0]["test_session_id"], session["id"]);
    assert_eq!(events[0]["journey_id"], journey_id.as_str());
    assert_eq!(events[0]["conversation_id"], Value::Null);
    assert_eq!(events[0]["trackers"], json!({"choice": "Book"}));
    let (_, live) = app
        .get(&format!("/api/v1/goals/{goal_id}/events?mode=live"))
        .await;
    assert_eq!(live["data"], json!([]));
    assert_no_channel_touched(&app).await;
}

#[actix_web::test]
async fn a_delay_fires_by_itself_when_the_clock_reaches_it() {
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let (journey_id, _) = draft(&app).await;
    let session = start(&app, &journey_id, None).await;
    post(&app, &session, "/messages", &json!({"text": "hi"})).await;
    post(
        &app,
        &session,
        "/messages",
        &json!({"reply_id": "later", "title": "Later"}),
    )
    .await;

    app.clock.as_ref().unwrap().advance(DAY);

    let read = app
        .get_until(&session_path(&session, ""), |read| {
            read["state"]["waiting"]["for"] == "new_run"
        })
        .await;
    let transcript = lines(&read["transcript"]);
    assert_eq!(
        transcript[transcript.len() - 3..],
        [
            "[system] Timer fired",
            "[bot again/Follow-up] Still thinking about it?",
            "[system] Run ended: completed"
        ]
    );
}

#[actix_web::test]
async fn a_draft_edited_after_the_start_does_not_change_a_running_session() {
    let app = TestApp::spawn().await;
    let (journey_id, goal) = draft(&app).await;
    let session = start(&app, &journey_id, None).await;

    let (status, body) = app
        .put_json(
            &format!("/api/v1/journeys/{journey_id}"),
            &front_desk("Welcome back, {{contact_name}}", &goal),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let old = post(&app, &session, "/messages", &json!({"text": "hi"})).await;
    let newer = start(&app, &journey_id, None).await;
    let new = post(&app, &newer, "/messages", &json!({"text": "hi"})).await;

    assert_eq!(
        lines(&old["entries"])[1],
        "[bot hello/Greeting] Hi Test guest"
    );
    assert_eq!(
        lines(&new["entries"])[1],
        "[bot hello/Greeting] Welcome back, Test guest"
    );
}

#[actix_web::test]
async fn an_event_reaches_a_session_that_waits_for_it() {
    let app = TestApp::spawn().await;
    let (status, journey) = app
        .post_json(
            "/api/v1/journeys",
            &json!({"name": "Payment", "steps": [
                {"id": "start", "name": "Start", "kind": "start"},
                step("wait", "Wait for payment", "wait_for_events", json!({"event": "paid", "variable": "payment"})),
                step("done", "Receipt", "text", json!({"text": "Received {{payment}}"})),
            ], "connections": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    let session = start(&app, journey["id"].as_str().unwrap(), None).await;
    post(&app, &session, "/messages", &json!({"text": "I paid"})).await;

    let other = post(&app, &session, "/events", &json!({"name": "refunded"})).await;
    let paid = post(
        &app,
        &session,
        "/events",
        &json!({"name": "paid", "payload": 120}),
    )
    .await;

    assert_eq!(
        lines(&other["entries"]),
        [
            "[system] Event refunded arrived",
            "[system] Nothing waits for the event refunded"
        ]
    );
    assert_eq!(
        lines(&paid["entries"]),
        [
            "[system] Event paid arrived with 120",
            "[bot done/Receipt] Received 120",
            "[system] Run ended: completed"
        ]
    );
}

#[actix_web::test]
async fn inputs_a_session_cannot_take_are_refused_with_the_field_to_fix() {
    let app = TestApp::spawn().await;
    let (journey_id, _) = draft(&app).await;
    let session = start(&app, &journey_id, None).await;
    let messages = session_path(&session, "/messages");
    let events = session_path(&session, "/events");
    let raw = |path: String, body: &'static str| {
        let request = app
            .http
            .post(app.url(&path))
            .bearer_auth(&app.api_key)
            .header("Content-Type", "application/json")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let cases = [
        (
            raw(messages.clone(), "{").await,
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
            "not JSON",
        ),
        (
            app.post_json(&messages, &json!({})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            Some("text"),
            "nothing sent",
        ),
        (
            app.post_json(&messages, &json!({"text": " "})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("text"),
            "blank",
        ),
        (
            app.post_json(&messages, &json!({"reply_id": "book"})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            Some("title"),
            "a tap without a title",
        ),
        (
            app.post_json(&messages, &json!({"latitude": 100, "longitude": 0}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("latitude"),
            "off the globe",
        ),
        (
            app.post_json(&events, &json!({"payload": 1})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            Some("name"),
            "an event without a name",
        ),
        (
            app.post_json(
                &format!("/api/v1/journeys/{journey_id}/test-sessions"),
                &json!({"contact_name": 7}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("contact_name"),
            "a name that is no string",
        ),
        (
            app.post_json(
                "/api/v1/test-sessions/not-an-id/messages",
                &json!({"text": "hi"}),
            )
            .await,
            StatusCode::NOT_FOUND,
            "test_session_not_found",
            None,
            "no such session",
        ),
        (
            app.post_json(
                &format!("/api/v1/journeys/{}/test-sessions", uuid::Uuid::now_v7()),
                &json!({}),
            )
            .await,
            StatusCode::NOT_FOUND,
            "journey_not_found",
            None,
            "no such journey",
        ),
    ];
    for ((status, body), expected_status, code, field, why) in cases {
        assert_eq!(status, expected_status, "{why}: {body}");
        assert_eq!(body["error"]["code"], code, "{why}: {body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{why}: {body}");
    }
    let located = post(
        &app,
        &session,
        "/messages",
        &json!({"latitude": 38.7, "longitude": -9.1}),
    )
    .await;
    assert_eq!(located["entries"][0]["content"]["type"], "location");
}

#[actix_web::test]
async fn users_may_run_test_sessions_and_the_bot_identity_may_not() {
    let app = TestApp::spawn().await;
    let (journey_id, _) = draft(&app).await;
    let key = |role: &'static str| {
        let app = &app;
        async move {
            let (status, user) = app
                .post_json(
                    "/api/v1/users",
                    &json!({"email": format!("{role}@casa-azul.example"), "role": role, "with_api_key": true}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{user}");
            user["api_key"].as_str().unwrap().to_owned()
        }
    };
    let (user, bot) = (key("user").await, key("bot").await);

    let (status, session) = start_as(&app, &user, &journey_id, None).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let said = app
        .request(
            Method::POST,
            &session_path(&session, "/messages"),
            &user,
            Some(&json!({"text": "hi"})),
        )
        .await;
    assert_eq!(said.0, StatusCode::OK, "{}", said.1);

    assert_error(
        &start_as(&app, &bot, &journey_id, None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    for (method, rest) in [
        (Method::GET, ""),
        (Method::POST, "/messages"),
        (Method::POST, "/fire-timer"),
        (Method::DELETE, ""),
    ] {
        let answer = app
            .request(
                method,
                &session_path(&session, rest),
                &bot,
                Some(&json!({"text": "hi"})),
            )
            .await;
        assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    }
}

#[actix_web::test]
async fn another_organisation_cannot_see_or_run_a_test_session() {
    let app = TestApp::spawn().await;
    let (journey_id, _) = draft(&app).await;
    let session = start(&app, &journey_id, None).await;
    let other = app.other_organization().await;

    assert_error(
        &start_as(&app, &other, &journey_id, None).await,
        StatusCode::NOT_FOUND,
        "journey_not_found",
    );
    for (method, rest) in [
        (Method::GET, ""),
        (Method::POST, "/messages"),
        (Method::POST, "/events"),
        (Method::POST, "/fire-timer"),
        (Method::DELETE, ""),
    ] {
        let answer = app
            .request(
                method.clone(),
                &session_path(&session, rest),
                &other,
                Some(&json!({"text": "hi", "name": "x"})),
            )
            .await;
        assert_error(&answer, StatusCode::NOT_FOUND, "test_session_not_found");
    }
    let (status, read) = app.get(&session_path(&session, "")).await;
    assert_eq!(status, StatusCode::OK, "the session is still there: {read}");
}

async fn connect(app: &TestApp, ws_url: &str, origin: Option<&str>) -> Result<Socket, u16> {
    let url = format!(
        "ws://127.0.0.1:{}{ws_url}",
        app.address.rsplit(':').next().unwrap()
    );
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(error) => panic!("expected a socket or an HTTP refusal, got {error:?}"),
    }
}

/// The next text frame as JSON.
async fn next_frame(socket: &mut Socket) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("no frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The entries sent before the next `state` frame, as lines.
async fn entries_until_state(socket: &mut Socket) -> Vec<String> {
    let mut entries = Vec::new();
    loop {
        let frame = next_frame(socket).await;
        match frame["type"].as_str().unwrap() {
            "entry" => entries.push(frame["entry"].clone()),
            "state" => return lines(&Value::Array(entries)),
            other => panic!("unexpected {other} frame: {frame}"),
        }
    }
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::Text(frame.to_string())).await.unwrap();
}

#[actix_web::test]
async fn the_socket_gets_the_transcript_on_connect_and_every_new_entry() {
    let app = TestApp::spawn().await;
    let (journey_id, _) = draft(&app).await;
    let session = start(&app, &journey_id, None).await;
    let ws_url = session["ws_url"].as_str().unwrap();
    post(&app, &session, "/messages", &json!({"text": "hi"})).await;

    let mut socket = connect(&app, ws_url, None).await.unwrap();
    let on_connect = entries_until_state(&mut socket).await;
    send(
        &mut socket,
        json!({"type": "reply", "reply_id": "later", "title": "Later"}),
    )
    .await;
    let tapped = entries_until_state(&mut socket).await;
    send(&mut socket, json!({"type": "dance"})).await;
    let refused = next_frame(&mut socket).await;
    send(&mut socket, json!({"type": "fire_timer"})).await;
    let fired = entries_until_state(&mut socket).await;
    send(&mut socket, json!({"type": "fire_timer"})).await;
    let nothing_pending = next_frame(&mut socket).await;
    let mut again = connect(&app, ws_url, Some(&app.address)).await.unwrap();
    let replayed = entries_until_state(&mut again).await;

    assert_eq!(
        on_connect,
        [
            "[guest] hi",
            "[bot hello/Greeting] Hi Test guest",
            "[bot menu/Menu] \"What can we do?\" [Later][Book]"
        ]
    );
    assert_eq!(tapped[0], "[guest] tap \"later\"");
    assert!(
        tapped[1].starts_with("[system pause/Wait a day] Timer set for "),
        "{tapped:?}"
    );
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "invalid_field");
    assert_eq!(
        fired[1..],
        [
            "[bot again/Follow-up] Still thinking about it?",
            "[system] Run ended: completed"
        ]
    );
    assert_eq!(nothing_pending["code"], "invalid_field");
    assert_eq!(
        replayed.len(),
        on_connect.len() + tapped.len() + fired.len()
    );

    // Ending the session closes its sockets.
    let (status, _) = app.delete(&session_path(&session, "")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the socket was not closed");
    assert_error(
        &app.get(&session_path(&session, "")).await,
        StatusCode::NOT_FOUND,
        "test_session_not_found",
    );
    assert_no_channel_touched(&app).await;
}

#[actix_web::test]
async fn the_socket_needs_the_sessions_ticket_and_a_same_origin_page() {
    let app = TestApp::spawn().await;
    let (journey_id, _) = draft(&app).await;
    let session = start(&app, &journey_id, None).await;
    let other = start(&app, &journey_id, None).await;
    let path = session_path(&session, "/ws");
    let ticket = session["ws_ticket"].as_str().unwrap();

    let cases = [
        (path.clone(), None, 401, "no ticket"),
        (
            format!("{path}?ticket=tst_guess"),
            None,
            401,
            "a wrong ticket",
        ),
        (
            format!("{path}?ticket={}", other["ws_ticket"].as_str().unwrap()),
            None,
            401,
            "another session's ticket",
        ),
        (
            format!("{path}?ticket={ticket}"),
            Some("https://evil.example"),
            403,
            "a foreign page",
        ),
        (
            format!(
                "/api/v1/test-sessions/{}/ws?ticket={ticket}",
                uuid::Uuid::now_v7()
            ),
            None,
            404,
            "no such session",
        ),
    ];
    for (url, origin, status, why) in cases {
        assert_eq!(
            connect(&app, &url, origin).await.err(),
            Some(status),
            "{why}"
        );
    }
    assert!(connect(&app, &format!("{path}?ticket={ticket}"), None)
        .await
        .is_ok());
}

/// A property system on loopback answering `POST /quote` with a price.
async fn property_system() -> (String, actix_web::dev::ServerHandle) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let server = HttpServer::new(|| {
        App::new().route(
            "/quote",
            web::post().to(|| async { HttpResponse::Ok().json(json!({"price": 315})) }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://127.0.0.1:{}", server.addrs()[0].port());
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (url, handle)
}

#[actix_web::test]
async fn an_api_steps_response_arrives_as_later_entries_on_the_socket() {
    let app = TestApp::spawn_with(Options {
        api_step_allow: Some("127.0.0.0/8".into()),
        ..Options::default()
    })
    .await;
    let (pms, pms_handle) = property_system().await;
    let (status, journey) = app
        .post_json(
            "/api/v1/journeys",
            &json!({"name": "Quote", "steps": [
                {"id": "start", "name": "Start", "kind": "start"},
                step("quote", "Ask the PMS", "api", json!({"request": {"method": "POST",
                    "url": format!("{pms}/quote"), "mapping": [{"variable": "price", "path": "$.price"}]}})),
                step("price", "Price", "text", json!({"text": "That is {{price}} EUR"})),
            ], "connections": [{"from": "start", "to": "quote"}, {"from": "quote", "to": "price"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    let session = start(&app, journey["id"].as_str().unwrap(), None).await;
    let mut socket = connect(&app, session["ws_url"].as_str().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(entries_until_state(&mut socket).await, Vec::<String>::new());

    let asked = post(&app, &session, "/messages", &json!({"text": "price?"})).await;
    let sent = entries_until_state(&mut socket).await;
    let answered = entries_until_state(&mut socket).await;

    assert_eq!(asked["state"]["waiting"]["for"], "api");
    assert_eq!(
        sent,
        [
            "[guest] price?".to_owned(),
            format!("[system quote/Ask the PMS] API call POST {pms}/quote sent"),
        ]
    );
    assert_eq!(
        answered,
        [
            format!("[system] API call POST {pms}/quote → 200"),
            "[bot price/Price] That is 315 EUR".to_owned(),
            "[system] Run ended: completed".to_owned(),
        ]
    );
    let (_, read) = app.get(&session_path(&session, "")).await;
    assert_eq!(read["transcript"].as_array().unwrap().len(), 5, "{read:#}");
    assert_no_channel_touched(&app).await;
    pms_handle.stop(true).await;
}

#[actix_web::test]
async fn an_organisation_keeps_twenty_test_sessions_and_drops_the_longest_idle() {
    let app = TestApp::spawn().await;
    let (journey_id, _) = draft(&app).await;
    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(start(&app, &journey_id, None).await);
    }
    // The first session is used again, so the second is now the longest idle.
    post(&app, &sessions[0], "/messages", &json!({"text": "hi"})).await;

    sessions.push(start(&app, &journey_id, None).await);

    for (index, session) in sessions.iter().enumerate() {
        let (status, _) = app.get(&session_path(session, "")).await;
        let expected = if index == 1 {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected, "session {index}");
    }
}
