//! `/api/v1/ai`: an organisation's LLM provider answers its journeys' AI steps, its token
//! use is recorded, its key is never shown; without a provider the local engine answers.

use crate::support::{assert_error, team_member, Options, TestApp, PATIENCE};
use parley::ai::provider::HANDOFF_TOOL;
use parley::mock::llm::{MockLlm, Reply};
use reqwest::StatusCode;
use serde_json::{json, Value};

const KEY: &str = "sk-casa-azul-0123456789";

#[actix_web::test]
async fn settings_are_validated_kept_without_showing_the_key_and_reserved_to_admins() {
    let app = TestApp::spawn().await;
    let (status, settings) = app.get("/api/v1/ai/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings, json!({"provider": "local", "has_api_key": false}));

    let put = |body: Value| {
        let app = &app;
        async move { app.put_json("/api/v1/ai/settings", &body).await }
    };
    assert_error(
        &put(json!({"provider": "openai", "api_key": KEY})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_field",
    );
    assert_error(
        &put(json!({"provider": "gemini", "model": "m", "api_key": KEY})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_error(
        &put(json!({"provider": "openai", "model": "m", "api_key": KEY, "base_url": "ftp://x"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_error(
        &put(json!({"provider": "openai", "model": "m", "api_key": KEY, "timeout_ms": 5})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    let (status, _) = app.get("/api/v1/ai/settings").await;
    assert_eq!(status, StatusCode::OK);

    let (status, saved) =
        put(json!({"provider": "anthropic", "model": "claude-haiku", "api_key": KEY})).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["provider"], "anthropic");
    assert_eq!(saved["base_url"], "https://api.anthropic.com");
    assert_eq!(saved["timeout_ms"], 30_000);
    assert_eq!(saved["max_retries"], 3);
    assert_eq!(saved["has_api_key"], true);
    let (_, read) = app.get("/api/v1/ai/settings").await;
    assert_eq!(read, saved);
    assert!(!read.to_string().contains(KEY));

    let (_, user_key) = team_member(&app, "ana@casa-azul.example", "user").await;
    let (status, _) = app.get_as("/api/v1/ai/settings", &user_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get_as("/api/v1/ai/usage", &user_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _) = app.delete("/api/v1/ai/settings").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, read) = app.get("/api/v1/ai/settings").await;
    assert_eq!(read["provider"], "local");
}

/// A journey whose first step is an AI Agent, live on `channel`.
pub(crate) async fn agent_journey(app: &TestApp, channel_id: &str) {
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Concierge"}))
        .await;
    let path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "agent", "name": "Concierge", "kind": "ai_agent",
             "config": {"system_prompt": "You are the concierge of Casa Azul."}},
            {"id": "bye", "name": "Bye", "kind": "text", "config": {"text": "Glad to help!"}},
            {"id": "team", "name": "Team", "kind": "agent_transfer",
             "config": {"target": {"type": "team", "team_id": "front-desk"}, "message": "A colleague will join you."}}
        ],
        "connections": [
            {"from": "start", "to": "agent"},
            {"from": "agent", "to": "bye"},
            {"from": "agent", "to": "team", "label": "transfer"}
        ]
    });
    let (status, body) = app.put_json(&path, &graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post_json(&format!("{path}/deploy"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (bot, _) = team_member(app, "concierge-bot@casa-azul.example", "bot").await;
    let (status, body) = app
        .put_json(
            &format!("/api/v1/channels/{channel_id}/journey"),
            &json!({"journey_id": journey["id"], "bot_user_id": bot}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn the_organisations_provider_answers_the_ai_agent_and_its_tokens_are_counted() {
    let app = TestApp::spawn().await;
    let llm = MockLlm::start().unwrap();
    llm.add_key(KEY);
    let channel = app.create_whatsapp_channel().await;
    agent_journey(&app, &channel.id).await;
    let (status, body) = app
        .put_json(
            "/api/v1/ai/settings",
            &json!({"provider": "openai", "model": "gpt-test", "api_key": KEY,
                    "base_url": llm.openai_base_url(), "max_retries": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    llm.script([
        Reply::Text("Yes, small dogs are welcome.".into()),
        Reply::ToolCall {
            name: HANDOFF_TOOL.into(),
            arguments: json!({"reason": "asks for a discount"}),
        },
    ]);
    let guest = "351912000077";
    app.customer_says(&channel, guest, "wamid.a1", "Do you allow dogs?")
        .await;
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(
        sends[0].body["text"]["body"],
        "Yes, small dogs are welcome."
    );
    let requests = llm.wait_for_requests(1, PATIENCE).await;
    assert_eq!(requests[0].api_key.as_deref(), Some(KEY));
    assert_eq!(requests[0].body["model"], "gpt-test");
    let prompt = requests[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        prompt.starts_with("You are the concierge of Casa Azul."),
        "{prompt}"
    );

    // The model hands over: the journey follows its transfer edge.
    app.customer_says(&channel, guest, "wamid.a2", "Can I get a discount?")
        .await;
    let sends = app.graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(sends[1].body["text"]["body"], "A colleague will join you.");
    // The second turn read the conversation so far.
    let requests = llm.wait_for_requests(2, PATIENCE).await;
    let turns: Vec<(&str, &str)> = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| {
            (
                message["role"].as_str().unwrap(),
                message["content"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        turns[1..],
        [
            ("user", "Do you allow dogs?"),
            ("assistant", "Yes, small dogs are welcome."),
            ("user", "Can I get a discount?")
        ]
    );

    let usage = app
        .get_until("/api/v1/ai/usage", |usage| {
            usage["days"][0]["requests"].as_i64() == Some(2)
        })
        .await;
    let day = &usage["days"][0];
    assert_eq!(day["provider"], "openai");
    assert_eq!(day["model"], "gpt-test");
    assert_eq!(day["failures"], 0);
    assert!(day["input_tokens"].as_i64().unwrap() > 0, "{usage}");
    assert!(day["output_tokens"].as_i64().unwrap() > 0, "{usage}");
    llm.stop().await;
}

#[actix_web::test]
async fn a_failing_provider_is_counted_and_the_local_engine_answers_once_it_is_removed() {
    let app = TestApp::spawn().await;
    let llm = MockLlm::start().unwrap();
    llm.add_key(KEY);
    let channel = app.create_whatsapp_channel().await;
    agent_journey(&app, &channel.id).await;
    app.put_json(
        "/api/v1/ai/settings",
        &json!({"provider": "anthropic", "model": "claude-test", "api_key": KEY,
                "base_url": llm.anthropic_base_url(), "max_retries": 0}),
    )
    .await;
    llm.script([Reply::Status {
        status: 500,
        retry_after_secs: None,
    }]);
    app.customer_says(&channel, "351912000078", "wamid.f1", "Is the pool heated?")
        .await;
    llm.wait_for_requests(1, PATIENCE).await;
    let usage = app
        .get_until("/api/v1/ai/usage", |usage| {
            usage["days"][0]["failures"].as_i64() == Some(1)
        })
        .await;
    assert_eq!(usage["days"][0]["requests"], 1, "{usage}");

    // Back to the local engine: it hands over rather than guess, with no call to the provider.
    let (status, _) = app.delete("/api/v1/ai/settings").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.customer_says(&channel, "351912000079", "wamid.f2", "Is the pool heated?")
        .await;
    let sends = app.graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(sends.len(), 2);
    let to_second: Vec<&str> = sends
        .iter()
        .filter(|send| send.body["to"] == "351912000079")
        .filter_map(|send| send.body["text"]["body"].as_str())
        .collect();
    assert_eq!(
        to_second,
        [
            "I'm not certain about that, so I'm asking a member of our team to help you.",
            "A colleague will join you."
        ],
        "{sends:#?}"
    );
    // The step has no failure edge: the first guest may simply try again.
    assert!(sends.iter().all(|send| send.body["to"] != "351912000078"));
    assert_eq!(llm.requests().len(), 1);
    llm.stop().await;
}

#[actix_web::test]
async fn the_local_engine_reads_a_message_on_request() {
    let app = TestApp::spawn().await;
    let (status, reading) = app
        .post_json(
            "/api/v1/ai/understand",
            &json!({"text": "Hi, a room tomorrow for 3 nights for 2 adults please", "today": "2027-03-10"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reading}");
    assert_eq!(reading["intent"], "book");
    assert!(reading["confidence"].as_f64().unwrap() >= 0.5, "{reading}");
    assert_eq!(
        reading["entities"]["stay"],
        json!({"from": "2027-03-11", "to": "2027-03-14"})
    );
    assert_eq!(reading["entities"]["nights"], 3);
    assert_eq!(reading["entities"]["adults"], 2);
    assert_error(
        &app.post_json(
            "/api/v1/ai/understand",
            &json!({"text": "hi", "today": "10/03/2027"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_error(
        &app.post_json("/api/v1/ai/understand", &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_field",
    );
}

#[actix_web::test]
async fn a_freeform_first_message_with_dates_skips_straight_to_the_stay() {
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let channel = app.create_whatsapp_channel().await;
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Booking"}))
        .await;
    let path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "dated", "name": "Dated?", "kind": "condition", "config": {"branches": [
                {"id": "dated", "rules": [{"variable": "system.ai_check_in", "operator": "exists"}]}
            ]}},
            {"id": "results", "name": "Results", "kind": "text", "config": {"text":
                "Rooms from {{system.ai_check_in}} to {{system.ai_check_out}} ({{system.ai_nights}} nights) for {{system.ai_adults}}: {{system.ai_intent}}"}},
            {"id": "ask", "name": "Ask", "kind": "text", "config": {"text": "When would you like to come?"}}
        ],
        "connections": [
            {"from": "start", "to": "dated"},
            {"from": "dated", "to": "results", "label": "dated"},
            {"from": "dated", "to": "ask", "label": "fallback"}
        ]
    });
    let (status, body) = app.put_json(&path, &graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post_json(&format!("{path}/deploy"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (bot, _) = team_member(&app, "booking-bot@casa-azul.example", "bot").await;
    let (status, body) = app
        .put_json(
            &format!("/api/v1/channels/{}/journey", channel.id),
            &json!({"journey_id": journey["id"], "bot_user_id": bot}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    app.customer_says(
        &channel,
        "351912000090",
        "wamid.d1",
        "Hi! I'd like a room for 2 adults, tomorrow for 3 nights",
    )
    .await;
    app.customer_says(&channel, "351912000091", "wamid.d2", "Hello")
        .await;
    let sends = app.graph.wait_for_accepted(2, PATIENCE).await;
    let text_to = |guest: &str| {
        sends
            .iter()
            .find(|send| send.body["to"] == guest)
            .map(|send| send.body["text"]["body"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(
        text_to("351912000090"),
        // The manual clock starts on 2026-05-28 (UTC).
        "Rooms from 2026-05-29 to 2026-06-01 (3 nights) for 2: book"
    );
    assert_eq!(text_to("351912000091"), "When would you like to come?");

    // In the organisation's time zone it is already the 29th in Kiritimati (UTC+14).
    let (status, body) = app
        .patch_json(
            "/api/v1/organization",
            &json!({"time_zone": "Pacific/Kiritimati"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["time_zone"], "Pacific/Kiritimati");
    app.customer_says(
        &channel,
        "351912000092",
        "wamid.d3",
        "a room tomorrow for 2 nights for 2 adults",
    )
    .await;
    let sends = app.graph.wait_for_accepted(3, PATIENCE).await;
    let third = sends
        .iter()
        .find(|send| send.body["to"] == "351912000092")
        .unwrap();
    assert_eq!(
        third.body["text"]["body"],
        "Rooms from 2026-05-30 to 2026-06-01 (2 nights) for 2: book"
    );
}

#[actix_web::test]
async fn the_organisations_time_zone_is_validated_and_sets_today() {
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let (_, organization) = app.get("/api/v1/organization").await;
    assert_eq!(organization["time_zone"], "UTC");
    // The manual clock reads 2026-05-28T20:26:40Z.
    assert_eq!(today_reading(&app).await, "2026-05-28");
    assert_error(
        &app.patch_json(
            "/api/v1/organization",
            &json!({"time_zone": "Mars/Olympus"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    let (status, _) = app
        .patch_json("/api/v1/organization", &json!({"time_zone": "Asia/Tokyo"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(today_reading(&app).await, "2026-05-29");
    let (_, organization) = app.get("/api/v1/organization").await;
    assert_eq!(organization["time_zone"], "Asia/Tokyo");
    assert!(organization["greeting_text"]
        .as_str()
        .is_some_and(|text| !text.is_empty()));
}

/// The arrival date the local engine reads in "today", with no `today` given.
async fn today_reading(app: &TestApp) -> Value {
    let (_, reading) = app
        .post_json("/api/v1/ai/understand", &json!({"text": "today"}))
        .await;
    reading["entities"]["stay"]["from"].clone()
}

#[actix_web::test]
async fn what_one_node_changes_reaches_the_caches_of_another_within_seconds() {
    // Two nodes share one Postgres; each caches the organisation's knowledge index, time zone
    // and AI settings, and checks the store again a few seconds after it last did.
    let node_a = TestApp::spawn_with(Options {
        database_url: Some(crate::support::postgres::fresh_database().await),
        ..Options::default()
    })
    .await;
    let node_b = TestApp::spawn_with(Options {
        node_of: Some(node_a.node()),
        ..Options::default()
    })
    .await;
    let search = "/api/v1/knowledge/search?q=is+the+pool+heated";
    let (_, hits) = node_b.get(search).await;
    assert_eq!(hits["hits"], json!([]), "node B caches the empty index");
    let before = today_reading(&node_b).await;

    let (status, _) = node_a
        .post_json(
            "/api/v1/knowledge",
            &json!({"title": "Pool", "body": "The pool is heated to 28 °C."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // UTC+14 or UTC-11: at any hour one of them is on another date than UTC.
    for zone in ["Pacific/Kiritimati", "Pacific/Pago_Pago"] {
        let (status, _) = node_a
            .patch_json("/api/v1/organization", &json!({"time_zone": zone}))
            .await;
        assert_eq!(status, StatusCode::OK);
        if today_reading(&node_a).await != before {
            break;
        }
    }
    let expected = today_reading(&node_a).await;
    assert_ne!(expected, before);

    node_b
        .get_until(search, |hits| {
            hits["hits"].as_array().is_some_and(|hits| hits.len() == 1)
        })
        .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while today_reading(&node_b).await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B still reads today in the old zone"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
