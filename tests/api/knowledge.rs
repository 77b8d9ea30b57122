//! `/api/v1/knowledge`: the documents the AI Agent answers from — kept per organisation,
//! searched with BM25, answered from by the local engine and given to an LLM provider.

use crate::ai::agent_journey;
use crate::support::{team_member, TestApp, PATIENCE};
use parley::mock::llm::{MockLlm, Reply};
use reqwest::StatusCode;
use serde_json::{json, Value};

const POOL: &str = "The outdoor pool is heated to 28 °C from April to October.";

async fn add(app: &TestApp, title: &str, body: &str) -> Value {
    let (status, document) = app
        .post_json("/api/v1/knowledge", &json!({"title": title, "body": body}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{document}");
    document
}

#[actix_web::test]
async fn documents_are_added_read_changed_searched_and_deleted() {
    let app = TestApp::spawn().await;
    let pool = add(&app, "Swimming pool", POOL).await;
    add(
        &app,
        "Pets",
        "Small dogs are welcome for 15 EUR a night.\n\nCats are not allowed.",
    )
    .await;
    let id = pool["id"].as_str().unwrap();
    let (status, listed) = app.get("/api/v1/knowledge").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["documents"].as_array().unwrap().len(), 2);

    let (_, found) = app
        .get("/api/v1/knowledge/search?q=can%20I%20bring%20my%20dog")
        .await;
    assert_eq!(found["hits"][0]["title"], "Pets", "{found}");
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");

    let (status, changed) = app
        .put_json(
            &format!("/api/v1/knowledge/{id}"),
            &json!({"title": "Pool", "body": "The pool is closed for repairs until June."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    // The search sees the change at once.
    let (_, found) = app.get("/api/v1/knowledge/search?q=pool%20repairs").await;
    assert_eq!(
        found["hits"][0]["passage"],
        "The pool is closed for repairs until June."
    );

    let (status, error) = app
        .post_json("/api/v1/knowledge", &json!({"title": "No body"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["code"], "missing_field");
    assert_eq!(error["error"]["field"], "body");
    let (status, error) = app
        .post_json("/api/v1/knowledge", &json!({"title": "  ", "body": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["code"], "invalid_field");
    let (status, error) = app.get("/api/v1/knowledge/search?q=pool&limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");

    let (_, user_key) = team_member(&app, "ana@casa-azul.example", "user").await;
    let (status, _) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/knowledge",
            &user_key,
            Some(&json!({"title": "t", "body": "b"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get_as("/api/v1/knowledge", &user_key).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = app.delete(&format!("/api/v1/knowledge/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = app.get(&format!("/api/v1/knowledge/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["code"], "document_not_found");
    let (status, _) = app.delete(&format!("/api/v1/knowledge/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_local_agent_answers_from_the_knowledge_base_and_hands_over_otherwise() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    agent_journey(&app, &channel.id).await;
    add(&app, "Swimming pool", POOL).await;

    app.customer_says(&channel, "351912000101", "wamid.k1", "Is the pool heated?")
        .await;
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].body["text"]["body"], POOL);

    app.customer_says(
        &channel,
        "351912000102",
        "wamid.k2",
        "Do you have a helipad?",
    )
    .await;
    let sends = app.graph.wait_for_accepted(3, PATIENCE).await;
    let to_second: Vec<&str> = sends
        .iter()
        .filter(|send| send.body["to"] == "351912000102")
        .filter_map(|send| send.body["text"]["body"].as_str())
        .collect();
    assert_eq!(
        to_second.last(),
        Some(&"A colleague will join you."),
        "{to_second:?}"
    );
}

#[actix_web::test]
async fn an_llm_agent_is_given_the_passages_that_match_the_question() {
    let app = TestApp::spawn().await;
    let llm = MockLlm::start().unwrap();
    llm.add_key("sk-test");
    let channel = app.create_whatsapp_channel().await;
    agent_journey(&app, &channel.id).await;
    add(&app, "Swimming pool", POOL).await;
    add(&app, "Parking", "Free private parking by the gate.").await;
    let (status, body) = app
        .put_json(
            "/api/v1/ai/settings",
            &json!({"provider": "anthropic", "model": "claude-test", "api_key": "sk-test",
                    "base_url": llm.anthropic_base_url()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    llm.script([Reply::Text("Yes, it is heated to 28 °C.".into())]);
    app.customer_says(&channel, "351912000103", "wamid.k3", "Is the pool heated?")
        .await;
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].body["text"]["body"], "Yes, it is heated to 28 °C.");
    let requests = llm.wait_for_requests(1, PATIENCE).await;
    let system = requests[0].body["system"].as_str().unwrap();
    assert!(
        system.contains(&format!("- Swimming pool: {POOL}")),
        "{system}"
    );
    assert!(!system.contains("parking"), "{system}");
    llm.stop().await;
}

/// Deploys a journey whose AI Agent step keeps to the knowledge `source`, assigned to the
/// channel; answers the deploy's (status, body).
async fn spa_journey(app: &TestApp, channel_id: &str, source: &str) -> (StatusCode, Value) {
    let (_, journey) = app
        .post_json(
            "/api/v1/journeys",
            &json!({"name": format!("Spa {source}")}),
        )
        .await;
    let path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "agent", "name": "Spa", "kind": "ai_agent",
             "config": {"system_prompt": "You answer for the spa.", "knowledge": source}}
        ],
        "connections": [{"from": "start", "to": "agent"}]
    });
    let (status, body) = app.put_json(&path, &graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deployed = app.post_json(&format!("{path}/deploy"), &json!({})).await;
    if deployed.0 == StatusCode::OK {
        let (bot, _) = team_member(app, "spa-bot@casa-azul.example", "bot").await;
        let (status, body) = app
            .put_json(
                &format!("/api/v1/channels/{channel_id}/journey"),
                &json!({"journey_id": journey["id"], "bot_user_id": bot}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    deployed
}

#[actix_web::test]
async fn a_step_that_names_a_knowledge_source_is_given_that_sources_passages_only() {
    let app = TestApp::spawn().await;
    let llm = MockLlm::start().unwrap();
    llm.add_key("sk-test");
    let channel = app.create_whatsapp_channel().await;
    add(&app, "Swimming pool", POOL).await;
    let spa_pool = "The spa pool is heated to 34 °C and opens at 10.";
    let (status, spa) = app
        .post_json(
            "/api/v1/knowledge",
            &json!({"title": "Spa pool", "body": spa_pool, "source": " Spa "}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{spa}");
    assert_eq!(spa["source"], "Spa");
    let (status, body) = app
        .post_json(
            "/api/v1/knowledge",
            &json!({"title": "t", "body": "b", "source": "x".repeat(101)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "source");

    // The search shows what a step with that source would be given.
    let (_, everywhere) = app
        .get("/api/v1/knowledge/search?q=is+the+pool+heated")
        .await;
    assert_eq!(
        everywhere["hits"].as_array().unwrap().len(),
        2,
        "{everywhere}"
    );
    let (_, spa_only) = app
        .get("/api/v1/knowledge/search?q=is+the+pool+heated&source=spa")
        .await;
    let hits = spa_only["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{spa_only}");
    assert_eq!(hits[0]["source"], "Spa");

    // A source no document has is a deploy problem.
    let (status, body) = spa_journey(&app, &channel.id, "Bar").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["problems"][0]["code"],
        "knowledge_source_not_found"
    );
    let (status, body) = spa_journey(&app, &channel.id, "spa").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    app.put_json(
        "/api/v1/ai/settings",
        &json!({"provider": "openai", "model": "gpt-test", "api_key": "sk-test",
                "base_url": llm.openai_base_url()}),
    )
    .await;
    llm.script([Reply::Text("The spa pool is at 34 °C.".into())]);
    app.customer_says(&channel, "351912000104", "wamid.k4", "Is the pool heated?")
        .await;
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].body["text"]["body"], "The spa pool is at 34 °C.");
    let requests = llm.wait_for_requests(1, PATIENCE).await;
    let system = requests[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains(&format!("- Spa pool: {spa_pool}")),
        "{system}"
    );
    assert!(!system.contains("Swimming pool"), "{system}");
    llm.stop().await;
}

#[actix_web::test]
async fn when_the_store_cannot_be_read_the_cached_index_goes_on_serving() {
    let app = TestApp::spawn().await;
    add(&app, "Swimming pool", POOL).await;
    let search = "/api/v1/knowledge/search?q=is+the+pool+heated";
    let (_, hits) = app.get(search).await;
    assert_eq!(hits["hits"].as_array().unwrap().len(), 1, "{hits}");
    // The documents' table is gone behind the server's back; once the cache is due for its
    // check (5 s), the check fails and the index in hand still answers.
    app.sabotage("ALTER TABLE knowledge_documents RENAME TO knowledge_documents_gone")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    let (status, hits) = app.get(search).await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    assert_eq!(hits["hits"][0]["passage"], POOL);
    // Listing reads the store itself, and says it cannot.
    let (status, _) = app.get("/api/v1/knowledge").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}
