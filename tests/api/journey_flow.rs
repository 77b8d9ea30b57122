//! A deployed journey walked end to end over HTTP: signed WhatsApp webhooks in, replies to the
//! mock Graph API out, with reply buttons, a prompt that retries, a condition, a Delay fired by
//! advancing the injected clock, an API step against a local property system, and an Agent
//! Transfer.

use crate::support::{Options, TestApp, PATIENCE};
use actix_web::{web, App, HttpResponse, HttpServer};
use parley::mock::whatsapp_webhooks;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A property management system on loopback: `GET /quote?nights=N` answers a price, and every
/// query string it received is kept.
struct PropertySystem {
    url: String,
    queries: Arc<Mutex<Vec<String>>>,
    handle: actix_web::dev::ServerHandle,
}

impl PropertySystem {
    fn start() -> Self {
        let queries = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&queries);
        let server = HttpServer::new(move || {
            let seen = Arc::clone(&seen);
            App::new().route(
                "/quote",
                web::get().to(move |request: actix_web::HttpRequest| {
                    let seen = Arc::clone(&seen);
                    async move {
                        seen.lock().unwrap().push(request.query_string().to_owned());
                        let nights: u32 = request
                            .query_string()
                            .strip_prefix("nights=")
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(1);
                        HttpResponse::Ok().json(json!({"price": nights * 105, "currency": "EUR"}))
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
            url: format!("http://127.0.0.1:{port}"),
            queries,
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

fn booking_journey(property_system: &str) -> Value {
    json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            step("welcome", "text", json!({"text": "Welcome to Casa Azul, {{contact_name}}!"})),
            step("menu", "reply", json!({
                "body": "How can we help?",
                "choices": [{"id": "book", "title": "Book a stay"}, {"id": "human", "title": "Talk to us"}]
            })),
            step("nights", "prompt", json!({
                "question": "How many nights?", "validation": {"mode": "number"}, "retries": 1,
                "failure_message": "Please answer with a number of nights.", "variable": "nights"
            })),
            step("length", "condition", json!({"branches": [
                {"id": "long", "rules": [{"variable": "nights", "operator": "greater_than", "value": "6"}]}
            ]})),
            step("discount", "text", json!({"text": "Long stays get 10% off. Let me check the rates…"})),
            step("pause", "delay", json!({"seconds": 3600})),
            step("quote", "api", json!({"request": {
                "url": format!("{property_system}/quote?nights={{{{nights}}}}"),
                "mapping": [{"variable": "price", "path": "$.price"}]
            }})),
            step("price", "text", json!({"text": "Your quote: {{price}} EUR for {{nights}} nights."})),
            step("handoff", "agent_transfer", json!({
                "target": {"type": "team", "team_id": "reservations"},
                "message": "A colleague will confirm your booking."
            })),
            step("down", "text", json!({"text": "Our booking system is unavailable."})),
        ],
        "connections": [
            {"from": "start", "to": "welcome"},
            {"from": "welcome", "to": "menu"},
            {"from": "menu", "to": "nights", "label": "book"},
            {"from": "menu", "to": "handoff", "label": "human"},
            {"from": "nights", "to": "length"},
            {"from": "length", "to": "discount", "label": "long"},
            {"from": "length", "to": "quote", "label": "fallback"},
            {"from": "discount", "to": "pause"},
            {"from": "pause", "to": "quote"},
            {"from": "quote", "to": "price", "label": "success"},
            {"from": "quote", "to": "down", "label": "failure"},
            {"from": "price", "to": "handoff"},
            {"from": "down", "to": "handoff"}
        ]
    })
}

/// What the mock Graph API received from the `index`-th accepted send on: `type` and the
/// text (body of a text, body of an interactive message).
fn sent(app: &TestApp, from: usize) -> Vec<(String, String)> {
    app.graph.accepted()[from..]
        .iter()
        .map(|send| {
            let kind = send.body["type"].as_str().unwrap_or_default().to_owned();
            let text = match kind.as_str() {
                "text" => send.body["text"]["body"].as_str(),
                "interactive" => send.body["interactive"]["body"]["text"].as_str(),
                _ => None,
            };
            (kind, text.unwrap_or_default().to_owned())
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(kind, text)| ((*kind).to_owned(), (*text).to_owned()))
        .collect()
}

#[actix_web::test]
async fn a_whatsapp_guest_walks_a_deployed_journey_to_a_human() {
    let property_system = PropertySystem::start();
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        api_step_allow: Some("127.0.0.0/8".into()),
        ..Options::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let channel = app.create_whatsapp_channel().await;

    // An admin builds, deploys and assigns the journey, spoken by a bot identity.
    let (status, bot) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "concierge-bot@casa-azul.example", "name": "Concierge", "role": "bot"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bot}");
    let (status, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Booking"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    let journey_path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let (status, body) = app
        .put_json(&journey_path, &booking_journey(&property_system.url))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post_json(&format!("{journey_path}/deploy"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "live");
    let (status, body) = app
        .put_json(
            &format!("/api/v1/channels/{}/journey", channel.id),
            &json!({"journey_id": journey["id"], "bot_user_id": bot["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The greeting and the buttons.
    let guest = "351912345678";
    app.customer_says(&channel, guest, "wamid.j1", "hi").await;
    app.graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(
        sent(&app, 0),
        pairs(&[
            ("text", "Welcome to Casa Azul, Sheena Nelson!"),
            ("interactive", "How can we help?")
        ])
    );
    let buttons = &app.graph.accepted()[1].body["interactive"];
    assert_eq!(buttons["type"], "button");
    assert_eq!(buttons["action"]["buttons"][0]["reply"]["id"], "book");

    // A tap on "Book a stay" leads to the prompt.
    let tap = whatsapp_webhooks::interactive_reply(
        &channel.phone_number_id,
        guest,
        "wamid.j2",
        "button_reply",
        "book",
        "Book a stay",
        1_780_000_100,
    );
    let (status, body) = app.post_webhook(&channel, &tap).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.graph.wait_for_accepted(3, PATIENCE).await;
    assert_eq!(sent(&app, 2), pairs(&[("text", "How many nights?")]));

    // A wrong answer is explained and asked again; the retry succeeds.
    app.customer_says(&channel, guest, "wamid.j3", "a week or so")
        .await;
    app.graph.wait_for_accepted(5, PATIENCE).await;
    assert_eq!(
        sent(&app, 3),
        pairs(&[
            ("text", "Please answer with a number of nights."),
            ("text", "How many nights?")
        ])
    );
    app.customer_says(&channel, guest, "wamid.j4", "8").await;
    app.graph.wait_for_accepted(6, PATIENCE).await;
    assert_eq!(
        sent(&app, 5),
        pairs(&[("text", "Long stays get 10% off. Let me check the rates…")])
    );

    // The Delay holds the run until the clock passes the hour; then the API step quotes and
    // the conversation goes to the reservations team.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.graph.accepted().len(),
        6,
        "nothing before the delay ends"
    );
    assert!(property_system.queries.lock().unwrap().is_empty());
    clock.advance(Duration::from_secs(3_601));
    app.graph.wait_for_accepted(8, PATIENCE).await;
    assert_eq!(
        sent(&app, 6),
        pairs(&[
            ("text", "Your quote: 840 EUR for 8 nights."),
            ("text", "A colleague will confirm your booking.")
        ])
    );
    assert_eq!(
        *property_system.queries.lock().unwrap(),
        vec!["nights=8".to_owned()]
    );

    let conversation = app.conversation_with(guest).await;
    let conversation_path = format!(
        "/api/v1/conversations/{}",
        conversation["id"].as_str().unwrap()
    );
    let handed = app
        .get_until(&conversation_path, |body| {
            body["status"] == "awaiting_agent"
        })
        .await;
    assert_eq!(handed["status"], "awaiting_agent");
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.iter().any(|m| m["sender_kind"] == "system")
        })
        .await;
    let notice = messages
        .iter()
        .find(|m| m["sender_kind"] == "system")
        .unwrap();
    assert_eq!(
        notice["content"]["body"],
        "The bot handed the conversation to team reservations."
    );
    let bot_steps: Vec<&str> = messages
        .iter()
        .filter(|m| m["sender_kind"] == "bot")
        .filter_map(|m| m["journey_step"].as_str())
        .collect();
    assert_eq!(
        bot_steps,
        ["welcome", "menu", "nights", "nights", "nights", "discount", "price", "handoff"]
    );
    // Nobody is online to take it, so the guest is told the team will answer.
    let last = messages
        .iter()
        .rfind(|m| m["sender_kind"] == "bot")
        .unwrap();
    assert_eq!(last["content"]["body"], "Our team will respond shortly.");
    assert!(last["journey_step"].is_null());
    app.graph
        .wait_for_accepted(9, Duration::from_secs(10))
        .await;

    // With a human in charge the bot stays quiet.
    app.customer_says(&channel, guest, "wamid.j5", "hello?")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.graph.accepted().len(), 9);
    property_system.handle.stop(false).await;
}

#[actix_web::test]
async fn an_api_step_never_reaches_a_private_address_unless_allowed() {
    let property_system = PropertySystem::start();
    // No allow-list: loopback is off limits to the API step.
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (_, bot) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "bot@casa-azul.example", "role": "bot"}),
        )
        .await;
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Quote"}))
        .await;
    let journey_path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            step("quote", "api", json!({"request": {"url": format!("{}/quote?nights=2", property_system.url)}})),
            step("ok", "text", json!({"text": "quoted"})),
            step("down", "text", json!({"text": "Our booking system is unavailable."})),
        ],
        "connections": [
            {"from": "start", "to": "quote"},
            {"from": "quote", "to": "ok", "label": "success"},
            {"from": "quote", "to": "down", "label": "failure"}
        ]
    });
    let (status, body) = app.put_json(&journey_path, &graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post_json(&format!("{journey_path}/deploy"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.put_json(
        &format!("/api/v1/channels/{}/journey", channel.id),
        &json!({"journey_id": journey["id"], "bot_user_id": bot["id"]}),
    )
    .await;
    app.customer_says(&channel, "351900000001", "wamid.s1", "price?")
        .await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(
        sent(&app, 0),
        pairs(&[("text", "Our booking system is unavailable.")])
    );
    assert!(
        property_system.queries.lock().unwrap().is_empty(),
        "the blocked call never reached the server"
    );
    property_system.handle.stop(false).await;
}

/// A journey paused on Wait for Events resumes when a partner posts the event, with its
/// payload in the step's variable; other events and other organisations change nothing.
#[actix_web::test]
async fn a_posted_event_resumes_a_journey_waiting_for_it() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (_, bot) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "events-bot@casa-azul.example", "role": "bot"}),
        )
        .await;
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Deposit"}))
        .await;
    let journey_path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            step("ask", "text", json!({"text": "Please pay the deposit."})),
            step("wait", "wait_for_events", json!({"event": "deposit_paid", "timeout_secs": 86400, "variable": "payment"})),
            step("paid", "text", json!({"text": "Thanks, {{payment}} received."})),
            step("late", "text", json!({"text": "Your hold expired."})),
        ],
        "connections": [
            {"from": "start", "to": "ask"},
            {"from": "ask", "to": "wait"},
            {"from": "wait", "to": "paid"},
            {"from": "wait", "to": "late", "label": "timeout"}
        ]
    });
    let (status, body) = app.put_json(&journey_path, &graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post_json(&format!("{journey_path}/deploy"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.put_json(
        &format!("/api/v1/channels/{}/journey", channel.id),
        &json!({"journey_id": journey["id"], "bot_user_id": bot["id"]}),
    )
    .await;

    app.customer_says(&channel, "351922222222", "wamid.e1", "I'd like to book")
        .await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    let conversation = app.conversation_with("351922222222").await;
    let events = format!(
        "/api/v1/conversations/{}/events",
        conversation["id"].as_str().unwrap()
    );

    let (status, body) = app.post_json(&events, &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "missing_field");
    let other = app.other_organization().await;
    let (status, _) = app
        .request(
            reqwest::Method::POST,
            &events,
            &other,
            Some(&json!({"name": "deposit_paid"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post_json(&events, &json!({"name": "something_else"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.graph.accepted().len(),
        1,
        "another event changes nothing"
    );

    let (status, body) = app
        .post_json(
            &events,
            &json!({"name": "deposit_paid", "payload": "EUR 200"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(
        sent(&app, 1),
        pairs(&[("text", "Thanks, EUR 200 received.")])
    );
}

/// An API call that never answers (the server hangs; or the process stopped while it ran) does
/// not leave the guest stuck: the call's guard timer gives the session a failure, and the
/// journey takes the step's failure edge.
#[actix_web::test]
async fn a_call_that_never_answers_ends_on_the_failure_edge() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("http://{}", listener.local_addr().unwrap());
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        api_step_allow: Some("127.0.0.0/8".into()),
        ..Options::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let channel = app.create_whatsapp_channel().await;
    let (_, bot) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "hang-bot@casa-azul.example", "role": "bot"}),
        )
        .await;
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Hang"}))
        .await;
    let journey_path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            step("quote", "api", json!({"request": {"url": format!("{hanging}/quote"), "timeout_secs": 300}})),
            step("ok", "text", json!({"text": "quoted"})),
            step("down", "text", json!({"text": "Our booking system is unavailable."})),
        ],
        "connections": [
            {"from": "start", "to": "quote"},
            {"from": "quote", "to": "ok", "label": "success"},
            {"from": "quote", "to": "down", "label": "failure"}
        ]
    });
    app.put_json(&journey_path, &graph).await;
    let (status, body) = app
        .post_json(&format!("{journey_path}/deploy"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.put_json(
        &format!("/api/v1/channels/{}/journey", channel.id),
        &json!({"journey_id": journey["id"], "bot_user_id": bot["id"]}),
    )
    .await;
    app.customer_says(&channel, "351933333333", "wamid.h1", "price?")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.graph.accepted().is_empty(), "the call is still out");
    // Past the call's own timeout and the guard's slack, by the server's clock.
    clock.advance(Duration::from_secs(300 + 31));
    app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(
        sent(&app, 0),
        pairs(&[("text", "Our booking system is unavailable.")])
    );
    drop(listener);
}
