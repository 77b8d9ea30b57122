//! AI agents (`/api/v1/ai/agents`) and the AI Agent step's tools: a persona's instructions open
//! the step's prompt, the journey's API definitions are the agent's tools, called through the
//! API steps' client, and what their response mappings store is the journey's to use.

use crate::support::{assert_error, team_member, Options, TestApp, PATIENCE};
use actix_web::{web, App, HttpResponse, HttpServer};
use parley::ai::provider::FINISH_TOOL;
use parley::mock::llm::{MockLlm, Reply};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const KEY: &str = "sk-casa-azul-agents-0123456789";

#[actix_web::test]
async fn ai_agents_are_named_uniquely_validated_and_changed_by_admins_only() {
    let app = TestApp::spawn().await;
    let (status, sofia) = app
        .post_json(
            "/api/v1/ai/agents",
            &json!({"name": " Sofia ", "instructions": "You are Sofia, the concierge of Casa Azul."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sofia}");
    assert_eq!(sofia["name"], "Sofia");
    let id = sofia["id"].as_str().unwrap();

    assert_error(
        &app.post_json(
            "/api/v1/ai/agents",
            &json!({"name": "SOFIA", "instructions": "Another"}),
        )
        .await,
        StatusCode::CONFLICT,
        "ai_agent_name_taken",
    );
    assert_error(
        &app.post_json("/api/v1/ai/agents", &json!({"name": "Rui"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_field",
    );
    assert_error(
        &app.post_json(
            "/api/v1/ai/agents",
            &json!({"name": "Rui", "instructions": "x".repeat(8_001)}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    let (status, rui) = app
        .post_json(
            "/api/v1/ai/agents",
            &json!({"name": "Rui", "instructions": "You are Rui, who speaks for the spa."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rui}");

    let (status, list) = app.get("/api/v1/ai/agents").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|agent| agent["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Rui", "Sofia"]);

    let path = format!("/api/v1/ai/agents/{id}");
    assert_error(
        &app.put_json(&path, &json!({"name": "rui", "instructions": "x"}))
            .await,
        StatusCode::CONFLICT,
        "ai_agent_name_taken",
    );
    let (status, renamed) = app
        .put_json(
            &path,
            &json!({"name": "Sofia (front desk)", "instructions": "You are Sofia."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(app.get(&path).await.1["name"], "Sofia (front desk)");

    // A team member reads agents but does not change them.
    let (_, agent_key) = team_member(&app, "ana@casa-azul.example", "user").await;
    assert_eq!(
        app.get_as("/api/v1/ai/agents", &agent_key).await.0,
        StatusCode::OK
    );
    let answer = app
        .request(reqwest::Method::DELETE, &path, &agent_key, None)
        .await;
    assert_eq!(answer.0, StatusCode::FORBIDDEN, "{}", answer.1);

    // Another organisation's agent is not found, the same as one that does not exist.
    let other = app.other_organization().await;
    assert_error(
        &app.get_as(&path, &other).await,
        StatusCode::NOT_FOUND,
        "ai_agent_not_found",
    );
    let (status, _) = app.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get(&path).await,
        StatusCode::NOT_FOUND,
        "ai_agent_not_found",
    );
    assert_error(
        &app.delete(&path).await,
        StatusCode::NOT_FOUND,
        "ai_agent_not_found",
    );
}

/// A property system on loopback: `GET /rates?from=…&nights=N` answers a price for the stay
/// (a 422 when `from` is not a date), and every query string it received is kept.
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
                "/rates",
                web::get().to(
                    move |query: web::Query<std::collections::HashMap<String, String>>,
                          request: actix_web::HttpRequest| {
                        let seen = Arc::clone(&seen);
                        async move {
                            seen.lock().unwrap().push(request.query_string().to_owned());
                            let from = query.get("from").cloned().unwrap_or_default();
                            if chrono::NaiveDate::parse_from_str(&from, "%Y-%m-%d").is_err() {
                                return HttpResponse::UnprocessableEntity()
                                    .json(json!({"error": "from must be yyyy-mm-dd"}));
                            }
                            let nights: u32 = query
                                .get("nights")
                                .and_then(|n| n.parse().ok())
                                .unwrap_or(1);
                            HttpResponse::Ok().json(json!({
                                "room": "Sea view", "total": nights * 105, "currency": "EUR"
                            }))
                        }
                    },
                ),
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

/// Puts and deploys a journey whose AI Agent step runs as `agent` with the `Rates` tool, and
/// assigns it to the channel. Answers the deploy's (status, body).
async fn sales_journey(
    app: &TestApp,
    channel_id: &str,
    agent: &str,
    rates_url: &str,
) -> (StatusCode, Value) {
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Sales"}))
        .await;
    let path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "agent", "name": "Sales", "kind": "ai_agent",
             "config": {"agent": agent, "system_prompt": "Quote stays from the Rates tool.",
                        "tools": ["Rates"], "loop_cap": 4}},
            {"id": "quote", "name": "Quote", "kind": "text",
             "config": {"text": "Your quote: {{room}}, {{total}} EUR."}},
            {"id": "sorry", "name": "Sorry", "kind": "text",
             "config": {"text": "Our assistant is unavailable."}}
        ],
        "connections": [
            {"from": "start", "to": "agent"},
            {"from": "agent", "to": "quote"},
            {"from": "agent", "to": "sorry", "label": "failure"}
        ],
        "api_definitions": [{
            "name": "Rates",
            "description": "The price of a stay.",
            "parameters": [
                {"name": "check_in", "description": "Arrival date, yyyy-mm-dd"},
                {"name": "nights", "type": "integer"}
            ],
            "method": "GET",
            "url": format!("{rates_url}/rates?from={{{{check_in}}}}&nights={{{{nights}}}}"),
            "mapping": [
                {"variable": "room", "path": "$.room"},
                {"variable": "total", "path": "$.total"}
            ]
        }]
    });
    let (status, body) = app.put_json(&path, &graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deployed = app.post_json(&format!("{path}/deploy"), &json!({})).await;
    if deployed.0 != StatusCode::OK {
        return deployed;
    }
    let (bot, _) = team_member(app, "sales-bot@casa-azul.example", "bot").await;
    let (status, body) = app
        .put_json(
            &format!("/api/v1/channels/{channel_id}/journey"),
            &json!({"journey_id": journey["id"], "bot_user_id": bot}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    deployed
}

#[actix_web::test]
async fn a_journey_names_an_existing_ai_agent() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (status, body) = sales_journey(&app, &channel.id, "Nobody", "http://127.0.0.1:9").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["problems"][0]["code"], "ai_agent_not_found");
    assert_eq!(body["error"]["problems"][0]["step_id"], "agent");
    assert_eq!(body["error"]["problems"][0]["field"], "agent");
}

#[actix_web::test]
async fn the_agent_calls_the_journeys_api_definitions_and_the_journey_keeps_what_they_map() {
    let pms = PropertySystem::start();
    let llm = MockLlm::start().unwrap();
    llm.add_key(KEY);
    let app = TestApp::spawn_with(Options {
        api_step_allow: Some("127.0.0.0/8".into()),
        ..Options::default()
    })
    .await;
    let channel = app.create_whatsapp_channel().await;
    let (status, sofia) = app
        .post_json(
            "/api/v1/ai/agents",
            &json!({"name": "Sofia", "instructions": "You are Sofia, the concierge of Casa Azul."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sofia}");
    let (status, body) = sales_journey(&app, &channel.id, "sofia", &pms.url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The deployed version names the agent by id, so a rename does not break it.
    let (status, _) = app
        .put_json(
            &format!("/api/v1/ai/agents/{}", sofia["id"].as_str().unwrap()),
            &json!({"name": "Sofia Lima", "instructions": "You are Sofia, the concierge of Casa Azul."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .put_json(
            "/api/v1/ai/settings",
            &json!({"provider": "anthropic", "model": "claude-test", "api_key": KEY,
                    "base_url": llm.anthropic_base_url(), "max_retries": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // First a date the property system refuses, then the right one, then the answer.
    llm.script([
        Reply::ToolCall {
            name: "Rates".into(),
            arguments: json!({"check_in": "15 March", "nights": 3}),
        },
        Reply::ToolCall {
            name: "Rates".into(),
            arguments: json!({"check_in": "2027-03-15", "nights": 3}),
        },
        Reply::Text("A sea-view room is 315 EUR for the 3 nights.".into()),
        Reply::ToolCall {
            name: FINISH_TOOL.into(),
            arguments: json!({}),
        },
    ]);
    let guest = "351912000301";
    app.customer_says(
        &channel,
        guest,
        "wamid.t1",
        "A room from 15 March for 3 nights?",
    )
    .await;
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(
        sends[0].body["text"]["body"],
        "A sea-view room is 315 EUR for the 3 nights."
    );
    assert_eq!(
        *pms.queries.lock().unwrap(),
        ["from=15%20March&nights=3", "from=2027-03-15&nights=3"]
    );
    let requests = llm.wait_for_requests(3, PATIENCE).await;
    let first = &requests[0].body;
    let system = first["system"].as_str().unwrap();
    assert!(
        system.starts_with(
            "You are Sofia, the concierge of Casa Azul.\n\nQuote stays from the Rates tool."
        ),
        "{system}"
    );
    let rates = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["name"] == "Rates")
        .expect("the Rates tool is offered");
    assert_eq!(rates["description"], "The price of a stay.");
    assert_eq!(
        rates["input_schema"]["properties"]["nights"],
        json!({"type": "integer"})
    );
    assert_eq!(
        rates["input_schema"]["required"],
        json!(["check_in", "nights"])
    );
    // The model saw the refusal, then the price.
    let third = requests[2].body.to_string();
    assert!(third.contains("from must be yyyy-mm-dd"), "{third}");
    assert!(third.contains(r#"\"total\":315"#), "{third}");

    // The guest is done: the journey goes on with what the tool's mapping stored.
    app.customer_says(&channel, guest, "wamid.t2", "Perfect, thank you")
        .await;
    let sends = app.graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(
        sends[1].body["text"]["body"],
        "Your quote: Sea view, 315 EUR."
    );
    llm.stop().await;
    pms.handle.stop(false).await;
}

#[actix_web::test]
async fn a_deleted_ai_agent_fails_the_turn_and_the_step_follows_its_failure_edge() {
    let llm = MockLlm::start().unwrap();
    llm.add_key(KEY);
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (_, rui) = app
        .post_json(
            "/api/v1/ai/agents",
            &json!({"name": "Rui", "instructions": "You are Rui."}),
        )
        .await;
    let (status, body) = sales_journey(&app, &channel.id, "Rui", "http://127.0.0.1:9").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.put_json(
        "/api/v1/ai/settings",
        &json!({"provider": "openai", "model": "gpt-test", "api_key": KEY,
                "base_url": llm.openai_base_url(), "max_retries": 0}),
    )
    .await;
    let (status, _) = app
        .delete(&format!(
            "/api/v1/ai/agents/{}",
            rui["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.customer_says(&channel, "351912000302", "wamid.r1", "Hello?")
        .await;
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(
        sends[0].body["text"]["body"],
        "Our assistant is unavailable."
    );
    assert!(
        llm.requests().is_empty(),
        "no model is asked without its agent"
    );
    llm.stop().await;
}
