//! The journeys API as a partner uses it: creating and editing drafts, deploying versions,
//! rolling back, cloning, exporting and importing, variables, bot users, channel assignment,
//! and what a WhatsApp customer then receives. Every failure a partner can hit is checked by
//! its status and stable code.

use crate::support::{assert_error, TestApp, WhatsappChannel, PATIENCE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A step in the wire form.
fn step(id: &str, kind: &str, config: &Value) -> Value {
    json!({"id": id, "name": id, "kind": kind, "config": config})
}

fn start() -> Value {
    json!({"id": "start", "name": "Start", "kind": "start"})
}

/// Start, then one Text step (`hello`) saying `text`.
fn saying(text: &str) -> Value {
    json!({
        "steps": [start(), step("hello", "text", &json!({"text": text}))],
        "connections": [{"from": "start", "to": "hello"}]
    })
}

/// Start, then a Prompt (`ask`) storing the answer in `guest`, then a Text (`thanks`).
fn asking(question: &str, thanks: &str) -> Value {
    json!({
        "steps": [
            start(),
            step("ask", "prompt", &json!({"question": question, "variable": "guest"})),
            step("thanks", "text", &json!({"text": thanks})),
        ],
        "connections": [{"from": "start", "to": "ask"}, {"from": "ask", "to": "thanks"}]
    })
}

fn journey_path(id: &str) -> String {
    format!("/api/v1/journeys/{id}")
}

/// Creates a journey named `name` and answers its id.
async fn create_journey(app: &TestApp, name: &str) -> String {
    let (status, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": name}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    journey["id"].as_str().unwrap().to_owned()
}

/// Replaces the draft graph of a journey; answers the journey.
async fn put_graph(app: &TestApp, id: &str, graph: &Value) -> Value {
    let (status, journey) = app.put_json(&journey_path(id), graph).await;
    assert_eq!(status, StatusCode::OK, "{journey}");
    journey
}

async fn deploy(app: &TestApp, id: &str) -> Value {
    let (status, journey) = app
        .post_json(&format!("{}/deploy", journey_path(id)), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{journey}");
    assert_eq!(journey["state"], "live", "{journey}");
    journey
}

async fn undeploy(app: &TestApp, id: &str) -> Value {
    let (status, journey) = app
        .post_json(&format!("{}/undeploy", journey_path(id)), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{journey}");
    journey
}

/// A new team member with `role`, through the API; answers the created user (with its
/// `api_key`).
async fn team_member(app: &TestApp, email: &str, role: &str) -> Value {
    let (status, user) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": email, "role": role, "with_api_key": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    user
}

async fn api_key(app: &TestApp, role: &str) -> String {
    let user = team_member(app, &format!("{role}@casa-azul.example"), role).await;
    user["api_key"].as_str().unwrap().to_owned()
}

/// A journey that is live with `graph`, assigned to `channel` and spoken by a new bot user.
async fn live_on(app: &TestApp, channel: &WhatsappChannel, name: &str, graph: &Value) -> String {
    let id = create_journey(app, name).await;
    put_graph(app, &id, graph).await;
    deploy(app, &id).await;
    let bot = team_member(app, &format!("{name}-bot@casa-azul.example"), "bot").await;
    let (status, body) = app
        .put_json(
            &format!("/api/v1/channels/{}/journey", channel.id),
            &json!({"journey_id": id, "bot_user_id": bot["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

/// The text of every send the mock Graph API accepted from the `from`-th on, once there are
/// `count` in all.
async fn texts_sent(app: &TestApp, from: usize, count: usize) -> Vec<String> {
    let sends = app.graph.wait_for_accepted(count, PATIENCE).await;
    assert_eq!(sends.len(), count, "{sends:#?}");
    sends[from..]
        .iter()
        .map(|send| {
            send.body["text"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The `journey_step` of every bot message of a contact's conversation, once there are
/// `count`.
async fn bot_steps(app: &TestApp, contact: &str, count: usize) -> Vec<String> {
    let conversation = app.conversation_with(contact).await;
    let is_bot = |message: &&Value| message["sender_kind"] == "bot";
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.iter().filter(is_bot).count() >= count
        })
        .await;
    messages
        .iter()
        .filter(is_bot)
        .map(|message| {
            message["journey_step"]
                .as_str()
                .unwrap_or("(none)")
                .to_owned()
        })
        .collect()
}

fn names(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|journey| journey["name"].as_str().unwrap())
        .collect()
}

#[actix_web::test]
async fn a_new_journey_is_a_draft_with_only_its_start_step() {
    let app = TestApp::spawn().await;
    let (status, journey) = app
        .post_json(
            "/api/v1/journeys",
            &json!({"name": "Welcome", "description": "Greets new guests"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    assert_eq!(journey["name"], "Welcome");
    assert_eq!(journey["description"], "Greets new guests");
    assert_eq!(journey["state"], "draft");
    assert_eq!(journey["latest_version"], 0);
    assert_eq!(journey["live_version"], Value::Null);
    assert_eq!(journey["connections"], json!([]));
    assert_eq!(journey["channels"], json!([]));
    let steps = journey["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{journey}");
    assert_eq!(steps[0]["kind"], "start");
    assert_eq!(steps[0]["id"], "start");

    let (status, read) = app
        .get(&journey_path(journey["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, journey);
}

#[actix_web::test]
async fn bad_names_are_refused_with_a_code_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "no name",
        ),
        (
            json!({"name": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "a null name",
        ),
        (
            json!({"name": "   "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "a blank name",
        ),
        (
            json!({"name": 42}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "a number",
        ),
        (
            json!({"name": "é".repeat(256)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "256 characters",
        ),
    ];
    for (body, status, code, case) in cases {
        let answer = app.post_json("/api/v1/journeys", &body).await;
        assert_eq!(answer.0, status, "{case}: {}", answer.1);
        assert_eq!(answer.1["error"]["code"], code, "{case}: {}", answer.1);
        assert_eq!(answer.1["error"]["field"], "name", "{case}: {}", answer.1);
    }
    // 255 characters, counted as characters rather than bytes, is the limit.
    let (status, body) = app
        .post_json("/api/v1/journeys", &json!({"name": "é".repeat(255)}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    create_journey(&app, "Welcome").await;
    let answer = app
        .post_json("/api/v1/journeys", &json!({"name": "Welcome"}))
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "journey_name_taken");
    assert_eq!(answer.1["error"]["field"], "name");
    let (_, list) = app.get("/api/v1/journeys").await;
    assert_eq!(
        names(&list)
            .iter()
            .filter(|name| **name == "Welcome")
            .count(),
        1,
        "{list}"
    );
}

#[actix_web::test]
async fn search_finds_journeys_by_part_of_their_name_ignoring_case() {
    let app = TestApp::spawn().await;
    for name in ["Welcome", "Late check-out", "Booking", "WELLNESS upsell"] {
        create_journey(&app, name).await;
    }
    let cases = [
        ("wel", vec!["WELLNESS upsell", "Welcome"]),
        ("WELCOME", vec!["Welcome"]),
        ("check-", vec!["Late check-out"]),
        ("%", vec![]),
        ("e_c", vec![]),
        ("nothing", vec![]),
    ];
    for (search, expected) in cases {
        let (status, list) = app.get(&format!("/api/v1/journeys?search={search}")).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let mut found = names(&list);
        found.sort_unstable();
        assert_eq!(found, expected, "search {search:?}");
    }
    let (_, all) = app.get("/api/v1/journeys").await;
    assert_eq!(
        names(&all).len(),
        4,
        "the built-in greeting is not listed: {all}"
    );
    assert_eq!(all["data"][0]["step_count"], 1);
}

#[actix_web::test]
async fn search_ignores_case_beyond_ascii_letters() {
    let app = TestApp::spawn().await;
    for name in ["Été à Lisboa", "Ölüdeniz transfers", "Welcome"] {
        create_journey(&app, name).await;
    }
    let cases = [
        ("été", "Été à Lisboa"),
        ("ÉTÉ À", "Été à Lisboa"),
        ("öLÜ", "Ölüdeniz transfers"),
    ];
    for (search, expected) in cases {
        let (status, list) = app.get(&format!("/api/v1/journeys?search={search}")).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(names(&list), [expected], "search {search:?}");
    }
}

#[actix_web::test]
async fn the_bot_identity_may_only_list_journeys() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let bot = api_key(&app, "bot").await;
    let (status, list) = app.get_as("/api/v1/journeys", &bot).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(names(&list), ["Welcome"]);
    for path in [
        journey_path(&id),
        format!("{}/versions", journey_path(&id)),
        format!("{}/export", journey_path(&id)),
        format!("{}/variables", journey_path(&id)),
    ] {
        let answer = app.get_as(&path, &bot).await;
        assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    }
    let answer = app
        .request(
            Method::POST,
            "/api/v1/journeys",
            &bot,
            Some(&json!({"name": "Mine"})),
        )
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
}

#[actix_web::test]
async fn users_read_journeys_but_may_not_change_or_assign_them() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let id = create_journey(&app, "Welcome").await;
    put_graph(&app, &id, &saying("Hello!")).await;
    let user = api_key(&app, "user").await;
    let bot = team_member(&app, "concierge@casa-azul.example", "bot").await;

    for path in [
        journey_path(&id),
        format!("{}/versions", journey_path(&id)),
        format!("{}/export", journey_path(&id)),
        format!("{}/variables", journey_path(&id)),
        format!("/api/v1/channels/{}/journey", channel.id),
        "/api/v1/journeys".to_owned(),
    ] {
        let (status, body) = app.get_as(&path, &user).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }

    let path = journey_path(&id);
    let assignment = format!("/api/v1/channels/{}/journey", channel.id);
    let refused = [
        (
            Method::POST,
            "/api/v1/journeys".to_owned(),
            json!({"name": "Mine"}),
        ),
        (Method::PUT, path.clone(), saying("Changed")),
        (Method::POST, format!("{path}/deploy"), json!({})),
        (Method::POST, format!("{path}/undeploy"), json!({})),
        (Method::POST, format!("{path}/clone"), json!({})),
        (Method::POST, format!("{path}/rollback/1"), json!({})),
        (
            Method::POST,
            format!("{path}/variables"),
            json!({"name": "nights"}),
        ),
        (
            Method::PUT,
            format!("{path}/variables/nights"),
            json!({"name": "nights"}),
        ),
        (
            Method::DELETE,
            format!("{path}/variables/nights"),
            json!({}),
        ),
        (
            Method::POST,
            "/api/v1/journeys/import".to_owned(),
            json!({"format": "parley.journey/v1", "name": "Imported", "steps": [start()]}),
        ),
        (
            Method::PUT,
            assignment.clone(),
            json!({"journey_id": id, "bot_user_id": bot["id"]}),
        ),
        (Method::DELETE, assignment, json!({})),
        (Method::DELETE, path.clone(), json!({})),
    ];
    for (method, path, body) in refused {
        let answer = app.request(method.clone(), &path, &user, Some(&body)).await;
        assert_eq!(
            answer.0,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            answer.1
        );
        assert_eq!(answer.1["error"]["code"], "forbidden", "{method} {path}");
    }

    // Nothing changed.
    let (status, journey) = app.get(&journey_path(&id)).await;
    assert_eq!(status, StatusCode::OK, "{journey}");
    assert_eq!(journey["state"], "draft");
    assert_eq!(journey["steps"][1]["config"]["text"], "Hello!");
    assert_eq!(journey["variables"], json!([]));
    let (_, list) = app.get("/api/v1/journeys").await;
    assert_eq!(names(&list), ["Welcome"]);
}

#[actix_web::test]
async fn another_organisation_gets_journey_not_found_on_every_route() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    put_graph(&app, &id, &saying("Hello!")).await;
    deploy(&app, &id).await;
    let other = app.other_organization().await;
    app.graph.add_number("999000111", "t");
    let (status, their_channel) = app
        .request(
            Method::POST,
            "/api/v1/channels",
            &other,
            Some(
                &json!({"kind": "whatsapp_cloud", "name": "Theirs", "config": {
                    "phone_number_id": "999000111", "access_token": "t", "app_secret": "s",
                    "verify_token": "v"
                }}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{their_channel}");
    let (status, their_bot) = app
        .request(
            Method::POST,
            "/api/v1/users",
            &other,
            Some(&json!({"email": "bot@other.example", "role": "bot"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{their_bot}");

    let (status, list) = app.get_as("/api/v1/journeys", &other).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"], json!([]));

    let path = journey_path(&id);
    let routes = [
        (Method::GET, path.clone(), None),
        (Method::PUT, path.clone(), Some(saying("Stolen"))),
        (Method::PUT, path.clone(), Some(json!({"name": "Renamed"}))),
        (Method::POST, format!("{path}/deploy"), Some(json!({}))),
        (Method::POST, format!("{path}/undeploy"), Some(json!({}))),
        (Method::POST, format!("{path}/clone"), Some(json!({}))),
        (Method::GET, format!("{path}/export"), None),
        (Method::GET, format!("{path}/versions"), None),
        (Method::POST, format!("{path}/rollback/1"), Some(json!({}))),
        (Method::GET, format!("{path}/variables"), None),
        (
            Method::POST,
            format!("{path}/variables"),
            Some(json!({"name": "nights"})),
        ),
        (
            Method::PUT,
            format!("{path}/variables/nights"),
            Some(json!({"name": "nights"})),
        ),
        (Method::DELETE, format!("{path}/variables/nights"), None),
        (
            Method::PUT,
            format!(
                "/api/v1/channels/{}/journey",
                their_channel["id"].as_str().unwrap()
            ),
            Some(json!({"journey_id": id, "bot_user_id": their_bot["id"]})),
        ),
        (Method::DELETE, path.clone(), None),
    ];
    for (method, route, body) in routes {
        let answer = app
            .request(method.clone(), &route, &other, body.as_ref())
            .await;
        assert_eq!(
            answer.0,
            StatusCode::NOT_FOUND,
            "{method} {route}: {}",
            answer.1
        );
        assert_eq!(
            answer.1["error"]["code"], "journey_not_found",
            "{method} {route}: {}",
            answer.1
        );
    }

    // Nor may our channel speak as their bot.
    let channel = app.create_whatsapp_channel().await;
    let answer = app
        .put_json(
            &format!("/api/v1/channels/{}/journey", channel.id),
            &json!({"journey_id": id, "bot_user_id": their_bot["id"]}),
        )
        .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "user_not_found");

    let (status, journey) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{journey}");
    assert_eq!(journey["name"], "Welcome");
    assert_eq!(journey["state"], "live");
    assert_eq!(journey["steps"][1]["config"]["text"], "Hello!");
    let (_, list) = app.get("/api/v1/journeys").await;
    assert_eq!(names(&list), ["Welcome"], "no clone was made");
}

#[actix_web::test]
async fn unknown_or_malformed_journey_ids_are_not_found() {
    let app = TestApp::spawn().await;
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let answer = app.get(&journey_path(&id)).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "journey_not_found");
        let answer = app.delete(&journey_path(&id)).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "journey_not_found");
    }
}

#[actix_web::test]
async fn a_draft_that_does_not_parse_is_refused_with_the_path_of_the_problem() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let graph = |steps: Value| json!({"steps": steps, "connections": []});
    let cases = [
        (
            graph(json!([
                start(),
                step("hello", "text", &json!({"txt": "x"}))
            ])),
            "steps[1]",
            "a misspelt config field",
        ),
        (
            graph(json!([start(), step("hello", "teleport", &json!({}))])),
            "steps[1]",
            "an unknown kind",
        ),
        (
            graph(json!([start(), {"name": "No id", "kind": "text", "config": {"text": "x"}}])),
            "steps[1]",
            "a step without id",
        ),
        (
            graph(json!([
                start(),
                step("hello", "text", &json!({"text": "a"})),
                step("hello", "text", &json!({"text": "b"}))
            ])),
            "steps[2].id",
            "a repeated step id",
        ),
        (
            graph(json!([start(), {"id": "again", "name": "Again", "kind": "start"}])),
            "steps",
            "two Start steps",
        ),
        (
            json!({"steps": [start()], "connections": [{"from": "start"}]}),
            "connections[0]",
            "a connection without its end",
        ),
        (
            json!({"steps": "all of them"}),
            "steps",
            "steps that are not a list",
        ),
    ];
    for (body, field, case) in cases {
        let answer = app.put_json(&journey_path(&id), &body).await;
        assert_eq!(
            answer.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{case}: {}",
            answer.1
        );
        assert_eq!(
            answer.1["error"]["code"], "invalid_journey_data",
            "{case}: {}",
            answer.1
        );
        let got = answer.1["error"]["field"].as_str().unwrap_or_default();
        assert!(
            got.starts_with(field),
            "{case}: the field {got:?} should start with {field:?}: {}",
            answer.1
        );
    }
    let (_, journey) = app.get(&journey_path(&id)).await;
    assert_eq!(journey["steps"].as_array().unwrap().len(), 1, "unchanged");
}

#[actix_web::test]
async fn a_misspelt_step_config_names_the_config_field() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let body = json!({
        "steps": [start(), step("hello", "text", &json!({"txt": "x"}))],
        "connections": [{"from": "start", "to": "hello"}]
    });
    let answer = app.put_json(&journey_path(&id), &body).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_journey_data",
    );
    let field = answer.1["error"]["field"].as_str().unwrap_or_default();
    assert!(
        field.starts_with("steps[1].config"),
        "the field should point into the config of the second step, not {field:?}: {}",
        answer.1
    );
}

#[actix_web::test]
async fn the_start_step_variables_and_names_are_guarded_on_save() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    create_journey(&app, "Farewell").await;
    let path = journey_path(&id);

    let without_start = json!({"steps": [step("hello", "text", &json!({"text": "Hi"}))]});
    let answer = app.put_json(&path, &without_start).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "cannot_delete_start",
    );
    // Replacing Start by another Start step with a new id deletes it too.
    let moved_start = json!({"steps": [{"id": "begin", "name": "Start", "kind": "start"}]});
    let answer = app.put_json(&path, &moved_start).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "cannot_delete_start",
    );

    let mut twice = saying("Hi");
    twice["variables"] = json!([{"name": "nights"}, {"name": "nights", "type": "number"}]);
    let answer = app.put_json(&path, &twice).await;
    assert_error(&answer, StatusCode::CONFLICT, "variable_name_taken");
    assert_eq!(answer.1["error"]["field"], "variables[1].name");

    let mut system = saying("Hi");
    system["variables"] = json!([{"name": "contact_name"}]);
    let answer = app.put_json(&path, &system).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "system_variable_read_only",
    );
    assert_eq!(answer.1["error"]["field"], "variables[0].name");

    let answer = app.put_json(&path, &json!({"name": "x".repeat(256)})).await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(answer.1["error"]["field"], "name");
    let answer = app.put_json(&path, &json!({"name": "Farewell"})).await;
    assert_error(&answer, StatusCode::CONFLICT, "journey_name_taken");
    let mut renamed_graph = saying("Hi");
    renamed_graph["name"] = json!("Farewell");
    let answer = app.put_json(&path, &renamed_graph).await;
    assert_error(&answer, StatusCode::CONFLICT, "journey_name_taken");

    // Nothing of the refused saves stuck.
    let (_, journey) = app.get(&path).await;
    assert_eq!(journey["name"], "Welcome");
    assert_eq!(journey["steps"].as_array().unwrap().len(), 1, "{journey}");
    assert_eq!(journey["variables"], json!([]));

    // A valid save with a rename goes through whole.
    let mut good = saying("Hi");
    good["name"] = json!("Welcome guests");
    good["variables"] = json!([{"name": "nights", "type": "number"}]);
    let journey = put_graph(&app, &id, &good).await;
    assert_eq!(journey["name"], "Welcome guests");
    assert_eq!(journey["steps"][1]["config"], json!({"text": "Hi"}));
    assert_eq!(
        journey["connections"],
        json!([{"from": "start", "to": "hello"}])
    );
    assert_eq!(
        journey["variables"],
        json!([{"name": "nights", "scope": "local", "type": "number"}])
    );
    let (_, list) = app.get("/api/v1/journeys?search=welcome").await;
    assert_eq!(names(&list), ["Welcome guests"]);
}

#[actix_web::test]
async fn deploy_refuses_a_journey_with_only_its_start_step() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let answer = app
        .post_json(&format!("{}/deploy", journey_path(&id)), &json!({}))
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "no_other_steps");
    let (_, journey) = app.get(&journey_path(&id)).await;
    assert_eq!(journey["state"], "draft");
    assert_eq!(journey["latest_version"], 0);
}

#[actix_web::test]
async fn deploy_reports_every_problem_at_once_with_its_step() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let choices: Vec<Value> = (1..=4)
        .map(|n| json!({"id": format!("c{n}"), "title": format!("Option {n}")}))
        .collect();
    put_graph(
        &app,
        &id,
        &json!({
            "steps": [
                start(),
                step("long", "text", &json!({"text": "x".repeat(4_097)})),
                step("menu", "reply", &json!({"body": "Pick one", "choices": choices})),
            ],
            "connections": [
                {"from": "start", "to": "long"},
                {"from": "long", "to": "menu"},
                {"from": "menu", "to": "ghost", "label": "c1"}
            ]
        }),
    )
    .await;
    let answer = app
        .post_json(&format!("{}/deploy", journey_path(&id)), &json!({}))
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "journey_invalid");
    let problems: Vec<(&str, &str, &str)> = answer.1["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| {
            assert!(
                !problem["message"].as_str().unwrap_or_default().is_empty(),
                "{problem}"
            );
            (
                problem["code"].as_str().unwrap(),
                problem["step_id"].as_str().unwrap_or("(none)"),
                problem["field"].as_str().unwrap_or("(none)"),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("text_too_long", "long", "text"),
            ("too_many_choices", "menu", "choices"),
            ("connection_to_missing_step", "menu", "(none)"),
        ],
        "{}",
        answer.1
    );
    let (_, journey) = app.get(&journey_path(&id)).await;
    assert_eq!(journey["state"], "draft");
    let (_, versions) = app.get(&format!("{}/versions", journey_path(&id))).await;
    assert_eq!(versions["data"], json!([]));
}

#[actix_web::test]
async fn deploys_make_versions_and_a_rollback_restores_an_earlier_graph() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let path = journey_path(&id);
    put_graph(&app, &id, &saying("Welcome aboard!")).await;

    let journey = deploy(&app, &id).await;
    assert_eq!(journey["live_version"], 1);
    assert_eq!(journey["latest_version"], 1);
    assert_eq!(journey["undeployed_changes"], false);
    let (status, versions) = app.get(&format!("{path}/versions")).await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    let data = versions["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{versions}");
    assert_eq!(data[0]["version"], 1);
    assert_eq!(data[0]["live"], true);
    assert_eq!(data[0]["restored_from"], Value::Null);
    assert_eq!(data[0]["step_count"], 2);
    let (_, list) = app.get("/api/v1/journeys").await;
    assert_eq!(list["data"][0]["state"], "live");
    assert_eq!(list["data"][0]["live_version"], 1);

    // Editing the draft of a live journey leaves the live version alone.
    let journey = put_graph(&app, &id, &saying("Welcome back!")).await;
    assert_eq!(journey["state"], "live");
    assert_eq!(journey["live_version"], 1);
    assert_eq!(journey["undeployed_changes"], true);
    assert_eq!(journey["steps"][1]["config"]["text"], "Welcome back!");
    // Put back as it was, the draft matches the live version again.
    let journey = put_graph(&app, &id, &saying("Welcome aboard!")).await;
    assert_eq!(journey["undeployed_changes"], false);
    put_graph(&app, &id, &saying("Welcome back!")).await;

    let journey = deploy(&app, &id).await;
    assert_eq!(journey["live_version"], 2);
    assert_eq!(journey["latest_version"], 2);
    assert_eq!(journey["undeployed_changes"], false);

    let (status, journey) = app
        .post_json(&format!("{path}/rollback/1"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{journey}");
    assert_eq!(journey["state"], "live");
    assert_eq!(journey["live_version"], 3);
    assert_eq!(journey["latest_version"], 3);
    assert_eq!(journey["undeployed_changes"], false);
    assert_eq!(journey["steps"][1]["config"]["text"], "Welcome aboard!");
    let (_, versions) = app.get(&format!("{path}/versions")).await;
    let summary: Vec<(i64, bool, Option<i64>)> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|version| {
            (
                version["version"].as_i64().unwrap(),
                version["live"].as_bool().unwrap(),
                version["restored_from"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(3, true, Some(1)), (2, false, None), (1, false, None)]
    );

    for version in ["99", "0", "-1", "latest"] {
        let answer = app
            .post_json(&format!("{path}/rollback/{version}"), &json!({}))
            .await;
        assert_error(&answer, StatusCode::NOT_FOUND, "version_not_found");
    }
    let (_, journey) = app.get(&path).await;
    assert_eq!(
        journey["live_version"], 3,
        "a failed rollback changes nothing"
    );

    let journey = undeploy(&app, &id).await;
    assert_eq!(journey["state"], "draft");
    assert_eq!(journey["live_version"], Value::Null);
    assert_eq!(journey["latest_version"], 3);
    let (_, versions) = app.get(&format!("{path}/versions")).await;
    assert!(
        versions["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|version| version["live"] == false),
        "{versions}"
    );
    // The next deploy continues the numbering.
    assert_eq!(deploy(&app, &id).await["live_version"], 4);
}

#[actix_web::test]
async fn a_clone_is_a_draft_copy_under_the_first_free_copy_name() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let mut graph = saying("Hello!");
    graph["variables"] = json!([{"name": "nights", "type": "number"}]);
    let original = put_graph(&app, &id, &graph).await;
    deploy(&app, &id).await;
    let clone_path = format!("{}/clone", journey_path(&id));

    let (status, copy) = app.post_json(&clone_path, &json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    assert_eq!(copy["name"], "Welcome (copy)");
    assert_ne!(copy["id"], original["id"]);
    assert_eq!(copy["state"], "draft");
    assert_eq!(copy["live_version"], Value::Null);
    assert_eq!(copy["latest_version"], 0);
    assert_eq!(copy["steps"], original["steps"]);
    assert_eq!(copy["connections"], original["connections"]);
    assert_eq!(copy["variables"], original["variables"]);

    let (status, second) = app
        .request(Method::POST, &clone_path, &app.api_key, None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["name"], "Welcome (copy 2)");

    let (status, named) = app
        .post_json(&clone_path, &json!({"name": "Welcome v2"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{named}");
    assert_eq!(named["name"], "Welcome v2");
    let answer = app
        .post_json(&clone_path, &json!({"name": "Welcome (copy)"}))
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "journey_name_taken");

    let (_, list) = app.get("/api/v1/journeys").await;
    assert_eq!(
        names(&list),
        [
            "Welcome",
            "Welcome (copy 2)",
            "Welcome (copy)",
            "Welcome v2"
        ]
    );
}

#[actix_web::test]
async fn an_export_imports_as_the_same_journey() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let mut graph = asking("Your name?", "Thanks {{guest}}");
    graph["description"] = json!("Asks the guest's name");
    graph["variables"] = json!([{"name": "guest"}]);
    put_graph(&app, &id, &graph).await;

    let (status, export) = app.get(&format!("{}/export", journey_path(&id))).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["format"], "parley.journey/v1");
    assert_eq!(export["name"], "Welcome");
    assert_eq!(export["description"], "Asks the guest's name");

    let answer = app.post_json("/api/v1/journeys/import", &export).await;
    assert_error(&answer, StatusCode::CONFLICT, "journey_name_taken");

    let mut renamed = export.clone();
    renamed["name"] = json!("Welcome imported");
    let (status, imported) = app.post_json("/api/v1/journeys/import", &renamed).await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    assert_ne!(imported["id"], id.as_str());
    assert_eq!(imported["name"], "Welcome imported");
    assert_eq!(imported["description"], "Asks the guest's name");
    assert_eq!(imported["state"], "draft");
    assert_eq!(imported["steps"], export["steps"]);
    assert_eq!(imported["connections"], export["connections"]);
    assert_eq!(imported["variables"], export["variables"]);
    let (_, again) = app
        .get(&format!(
            "{}/export",
            journey_path(imported["id"].as_str().unwrap())
        ))
        .await;
    renamed["name"] = json!("Welcome imported");
    assert_eq!(again, renamed, "export, import, export is the identity");

    let mut unformatted = renamed.clone();
    unformatted.as_object_mut().unwrap().remove("format");
    unformatted["name"] = json!("Unformatted");
    let answer = app.post_json("/api/v1/journeys/import", &unformatted).await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "missing_field");
    assert_eq!(answer.1["error"]["field"], "format");
    unformatted["format"] = json!("parley.journey/v0");
    let answer = app.post_json("/api/v1/journeys/import", &unformatted).await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(answer.1["error"]["field"], "format");
    let (_, list) = app.get("/api/v1/journeys").await;
    assert_eq!(names(&list), ["Welcome", "Welcome imported"]);
}

#[actix_web::test]
async fn a_deleted_journey_is_gone_and_frees_its_name() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let id = live_on(&app, &channel, "Welcome", &saying("Hello!")).await;
    let response = app
        .http
        .delete(app.url(&journey_path(&id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());

    let answer = app.get(&journey_path(&id)).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "journey_not_found");
    let answer = app.delete(&journey_path(&id)).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "journey_not_found");
    let (_, assignment) = app
        .get(&format!("/api/v1/channels/{}/journey", channel.id))
        .await;
    assert_eq!(assignment["journey_id"], Value::Null, "{assignment}");
    create_journey(&app, "Welcome").await;
}

#[actix_web::test]
async fn variables_are_created_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let path = format!("{}/variables", journey_path(&id));

    let (status, list) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["data"], json!([]));
    let system: Vec<&str> = list["system"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    for name in [
        "contact_name",
        "contact_phone",
        "channel_name",
        "last_input",
    ] {
        assert!(system.contains(&name), "{name}: {list}");
    }

    let (status, created) = app
        .post_json(
            &path,
            &json!({"name": "party_size", "type": "number", "default": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({"name": "party_size", "scope": "local", "type": "number", "default": 2})
    );
    let (status, campaign) = app
        .post_json(&path, &json!({"name": "promo", "scope": "campaign"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");

    let answer = app.post_json(&path, &json!({"name": "party_size"})).await;
    assert_error(&answer, StatusCode::CONFLICT, "variable_name_taken");
    let answer = app.post_json(&path, &json!({"name": "contact_name"})).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "system_variable_read_only",
    );
    for bad in [
        json!({"name": "2nights"}),
        json!({"name": "party_size", "type": "money"}),
    ] {
        let answer = app.post_json(&path, &bad).await;
        assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    }
    let answer = app.post_json(&path, &json!({"type": "number"})).await;
    assert_eq!(answer.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.1);

    let (status, renamed) = app
        .put_json(
            &format!("{path}/party_size"),
            &json!({"name": "guests", "type": "number"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "guests");
    let answer = app
        .put_json(&format!("{path}/guests"), &json!({"name": "promo"}))
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "variable_name_taken");
    let answer = app
        .put_json(&format!("{path}/guests"), &json!({"name": "contact_phone"}))
        .await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "system_variable_read_only",
    );
    let answer = app
        .put_json(
            &format!("{path}/contact_name"),
            &json!({"name": "contact_name"}),
        )
        .await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "system_variable_read_only",
    );
    let answer = app
        .put_json(
            &format!("{path}/party_size"),
            &json!({"name": "party_size"}),
        )
        .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "variable_not_found");

    let (_, list) = app.get(&path).await;
    let declared: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|variable| variable["name"].as_str().unwrap())
        .collect();
    assert_eq!(declared, ["guests", "promo"]);
    let (_, journey) = app.get(&journey_path(&id)).await;
    assert_eq!(journey["variables"], list["data"], "the draft holds them");

    let (status, _) = app.delete(&format!("{path}/guests")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let answer = app.delete(&format!("{path}/guests")).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "variable_not_found");
    let answer = app.delete(&format!("{path}/contact_name")).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "system_variable_read_only",
    );
    let (_, list) = app.get(&path).await;
    assert_eq!(
        list["data"],
        json!([{"name": "promo", "scope": "campaign", "type": "string"}])
    );
}

#[actix_web::test]
async fn team_members_are_added_with_a_unique_email_and_a_known_role() {
    let app = TestApp::spawn().await;
    let (status, bot) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "concierge@casa-azul.example", "name": "Concierge", "role": "bot"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bot}");
    assert_eq!(bot["role"], "bot");
    assert_eq!(bot["email"], "concierge@casa-azul.example");
    assert_eq!(bot["name"], "Concierge");
    assert!(bot.get("api_key").is_none(), "no key unless asked: {bot}");
    let (status, read) = app
        .get(&format!("/api/v1/users/{}", bot["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read, bot);

    let cases = [
        (
            json!({"email": "concierge@casa-azul.example", "role": "user"}),
            StatusCode::CONFLICT,
            "email_taken",
            "email",
        ),
        (
            json!({"email": " Concierge@Casa-Azul.example ", "role": "bot"}),
            StatusCode::CONFLICT,
            "email_taken",
            "email",
        ),
        (
            json!({"email": "robot@casa-azul.example", "role": "robot"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "role",
        ),
        (
            json!({"email": "robot@casa-azul.example", "role": "Bot"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "role",
        ),
        (
            json!({"email": "robot@casa-azul.example"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "role",
        ),
        (
            json!({"email": "not an email", "role": "bot"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "email",
        ),
        (
            json!({"role": "bot"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "email",
        ),
    ];
    for (body, status, code, field) in cases {
        let (got_status, got) = app.post_json("/api/v1/users", &body).await;
        assert_eq!(got_status, status, "{body}: {got}");
        assert_eq!(got["error"]["code"], code, "{body}: {got}");
        assert_eq!(got["error"]["field"], field, "{body}: {got}");
    }
    let (_, users) = app.get("/api/v1/users").await;
    let bots = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|user| user["role"] == "bot")
        .count();
    assert_eq!(bots, 1, "{users}");

    let user = api_key(&app, "user").await;
    let answer = app
        .request(
            Method::POST,
            "/api/v1/users",
            &user,
            Some(&json!({"email": "sneaky@casa-azul.example", "role": "admin"})),
        )
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
}

#[actix_web::test]
async fn only_a_live_journey_spoken_by_a_bot_user_can_be_assigned() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let assignment = format!("/api/v1/channels/{}/journey", channel.id);
    let bot = team_member(&app, "concierge@casa-azul.example", "bot").await;
    let agent = team_member(&app, "agent@casa-azul.example", "user").await;
    let draft = create_journey(&app, "Draft").await;
    put_graph(&app, &draft, &saying("Not yet")).await;
    let live = create_journey(&app, "Live").await;
    put_graph(&app, &live, &saying("Welcome aboard!")).await;
    deploy(&app, &live).await;

    let (status, none) = app.get(&assignment).await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(none["journey_id"], Value::Null);

    let unknown = uuid::Uuid::now_v7().to_string();
    let cases = [
        (
            json!({"journey_id": draft, "bot_user_id": bot["id"]}),
            StatusCode::CONFLICT,
            "journey_not_live",
        ),
        (
            json!({"journey_id": live, "bot_user_id": agent["id"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_a_bot_user",
        ),
        (
            json!({"journey_id": live, "bot_user_id": unknown}),
            StatusCode::NOT_FOUND,
            "user_not_found",
        ),
        (
            json!({"journey_id": live, "bot_user_id": "not-a-user"}),
            StatusCode::NOT_FOUND,
            "user_not_found",
        ),
        (
            json!({"journey_id": unknown, "bot_user_id": bot["id"]}),
            StatusCode::NOT_FOUND,
            "journey_not_found",
        ),
        (
            json!({"bot_user_id": bot["id"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
        ),
        (
            json!({"journey_id": live}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
        ),
    ];
    for (body, status, code) in cases {
        let answer = app.put_json(&assignment, &body).await;
        assert_eq!(answer.0, status, "{body}: {}", answer.1);
        assert_eq!(answer.1["error"]["code"], code, "{body}: {}", answer.1);
    }
    let answer = app
        .put_json(
            &format!("/api/v1/channels/{unknown}/journey"),
            &json!({"journey_id": live, "bot_user_id": bot["id"]}),
        )
        .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "channel_not_found");
    let (_, still_none) = app.get(&assignment).await;
    assert_eq!(still_none["journey_id"], Value::Null, "{still_none}");

    let (status, assigned) = app
        .put_json(
            &assignment,
            &json!({"journey_id": live, "bot_user_id": bot["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    let expected = json!({"channel_id": channel.id, "journey_id": live, "bot_user_id": bot["id"], "active": true});
    assert_eq!(assigned, expected);
    let (_, read) = app.get(&assignment).await;
    assert_eq!(read, expected);
    let (_, journey) = app.get(&journey_path(&live)).await;
    assert_eq!(journey["channels"], json!([channel.id]));

    let response = app
        .http
        .delete(app.url(&assignment))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, read) = app.get(&assignment).await;
    assert_eq!(read["journey_id"], Value::Null, "{read}");
    assert_eq!(read["bot_user_id"], Value::Null, "{read}");
    let (_, journey) = app.get(&journey_path(&live)).await;
    assert_eq!(journey["channels"], json!([]));
}

#[actix_web::test]
async fn a_customer_is_answered_by_the_assigned_journey_until_it_is_undeployed() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let id = live_on(
        &app,
        &channel,
        "Welcome",
        &saying("Welcome aboard, {{contact_name}}!"),
    )
    .await;
    let guest = "351912000001";

    app.customer_says(&channel, guest, "wamid.e1", "hi").await;
    assert_eq!(
        texts_sent(&app, 0, 1).await,
        ["Welcome aboard, Sheena Nelson!"]
    );
    let send = &app.graph.accepted()[0];
    assert_eq!(send.body["to"], guest);
    assert_eq!(send.phone_number_id, channel.phone_number_id);
    assert_eq!(bot_steps(&app, guest, 1).await, ["hello"]);

    // An edited draft does not reach customers until it is deployed.
    put_graph(&app, &id, &saying("Draft text")).await;
    app.customer_says(&channel, guest, "wamid.e2", "hi again")
        .await;
    assert_eq!(
        texts_sent(&app, 1, 2).await,
        ["Welcome aboard, Sheena Nelson!"]
    );

    // Undeployed, the channel falls back to the built-in greeting for new runs.
    undeploy(&app, &id).await;
    app.customer_says(&channel, guest, "wamid.e3", "hello?")
        .await;
    assert_eq!(
        texts_sent(&app, 2, 3).await,
        [parley::bootstrap::DEFAULT_GREETING]
    );
    app.customer_says(&channel, "351912000002", "wamid.e4", "hello")
        .await;
    assert_eq!(
        texts_sent(&app, 3, 4).await,
        [parley::bootstrap::DEFAULT_GREETING]
    );
    assert_eq!(
        bot_steps(&app, guest, 3).await,
        ["hello", "hello", "greeting"]
    );

    let response = app
        .http
        .delete(app.url(&format!("/api/v1/channels/{}/journey", channel.id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Redeployed but no longer assigned: still the greeting.
    deploy(&app, &id).await;
    app.customer_says(&channel, guest, "wamid.e5", "hello again")
        .await;
    assert_eq!(
        texts_sent(&app, 4, 5).await,
        [parley::bootstrap::DEFAULT_GREETING]
    );
}

#[actix_web::test]
async fn a_running_session_finishes_on_its_version_and_the_next_run_takes_the_new_one() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let id = live_on(
        &app,
        &channel,
        "Names",
        &asking("Your name?", "Thanks {{guest}}"),
    )
    .await;
    let guest = "351912000003";

    app.customer_says(&channel, guest, "wamid.v1", "hi").await;
    assert_eq!(texts_sent(&app, 0, 1).await, ["Your name?"]);

    put_graph(&app, &id, &asking("v2: your name?", "v2 thanks {{guest}}")).await;
    assert_eq!(deploy(&app, &id).await["live_version"], 2);

    app.customer_says(&channel, guest, "wamid.v2", "Ana").await;
    assert_eq!(
        texts_sent(&app, 1, 2).await,
        ["Thanks Ana"],
        "v1 to the end"
    );

    app.customer_says(&channel, guest, "wamid.v3", "hi").await;
    assert_eq!(texts_sent(&app, 2, 3).await, ["v2: your name?"]);
    app.customer_says(&channel, guest, "wamid.v4", "Bob").await;
    assert_eq!(texts_sent(&app, 3, 4).await, ["v2 thanks Bob"]);
    assert_eq!(
        bot_steps(&app, guest, 4).await,
        ["ask", "thanks", "ask", "thanks"]
    );
}

#[actix_web::test]
async fn undeploying_ends_running_sessions() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let id = live_on(
        &app,
        &channel,
        "Names",
        &asking("Your name?", "Thanks {{guest}}"),
    )
    .await;
    let guest = "351912000004";

    app.customer_says(&channel, guest, "wamid.u1", "hi").await;
    assert_eq!(texts_sent(&app, 0, 1).await, ["Your name?"]);

    undeploy(&app, &id).await;
    assert_eq!(deploy(&app, &id).await["live_version"], 2);

    // The answer to the old question starts a new run instead of finishing the old one.
    app.customer_says(&channel, guest, "wamid.u2", "Carla")
        .await;
    assert_eq!(texts_sent(&app, 1, 2).await, ["Your name?"]);
    app.customer_says(&channel, guest, "wamid.u3", "Dana").await;
    assert_eq!(texts_sent(&app, 2, 3).await, ["Thanks Dana"]);
}

#[actix_web::test]
async fn admins_build_deploy_and_assign_journeys() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let admin = api_key(&app, "admin").await;
    let bot = team_member(&app, "concierge@casa-azul.example", "bot").await;
    let (status, journey) = app
        .request(
            Method::POST,
            "/api/v1/journeys",
            &admin,
            Some(&json!({"name": "Welcome"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    let path = journey_path(journey["id"].as_str().unwrap());
    let steps = [
        (Method::PUT, path.clone(), saying("Hello from the admin")),
        (Method::POST, format!("{path}/deploy"), json!({})),
        (
            Method::PUT,
            format!("/api/v1/channels/{}/journey", channel.id),
            json!({"journey_id": journey["id"], "bot_user_id": bot["id"]}),
        ),
    ];
    for (method, route, body) in steps {
        let (status, answer) = app
            .request(method.clone(), &route, &admin, Some(&body))
            .await;
        assert_eq!(status, StatusCode::OK, "{method} {route}: {answer}");
    }
    app.customer_says(&channel, "351912000009", "wamid.a1", "hi")
        .await;
    assert_eq!(texts_sent(&app, 0, 1).await, ["Hello from the admin"]);
    let (status, answer) = app
        .request(Method::POST, &format!("{path}/undeploy"), &admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = app.request(Method::DELETE, &path, &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
}

#[actix_web::test]
async fn a_channel_holds_one_journey_and_a_journey_may_serve_several_channels() {
    let app = TestApp::spawn().await;
    let front = app.create_whatsapp_channel().await;
    let spa = app.create_whatsapp_channel().await;
    let first = live_on(&app, &front, "First", &saying("First journey")).await;
    let second = live_on(&app, &spa, "Second", &saying("Second journey")).await;
    let (_, spa_assignment) = app
        .get(&format!("/api/v1/channels/{}/journey", spa.id))
        .await;
    let (_, journey) = app.get(&journey_path(&second)).await;
    assert_eq!(journey["channels"], json!([spa.id]));

    // The second journey takes over the front desk as well; the first is left with none.
    let (status, body) = app
        .put_json(
            &format!("/api/v1/channels/{}/journey", front.id),
            &json!({"journey_id": second, "bot_user_id": spa_assignment["bot_user_id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, journey) = app.get(&journey_path(&second)).await;
    let mut channels: Vec<&str> = journey["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    channels.sort_unstable();
    let mut expected = [front.id.as_str(), spa.id.as_str()];
    expected.sort_unstable();
    assert_eq!(channels, expected);
    let (_, journey) = app.get(&journey_path(&first)).await;
    assert_eq!(journey["channels"], json!([]));

    app.customer_says(&front, "351912000010", "wamid.m1", "hi")
        .await;
    assert_eq!(texts_sent(&app, 0, 1).await, ["Second journey"]);
    app.customer_says(&spa, "351912000011", "wamid.m2", "hi")
        .await;
    assert_eq!(texts_sent(&app, 1, 2).await, ["Second journey"]);
}

#[actix_web::test]
async fn an_answer_after_an_undeploy_gets_the_greeting_not_the_old_run() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let id = live_on(
        &app,
        &channel,
        "Names",
        &asking("Your name?", "Thanks {{guest}}"),
    )
    .await;
    let guest = "351912000005";
    app.customer_says(&channel, guest, "wamid.g1", "hi").await;
    assert_eq!(texts_sent(&app, 0, 1).await, ["Your name?"]);

    undeploy(&app, &id).await;
    app.customer_says(&channel, guest, "wamid.g2", "Carla")
        .await;
    assert_eq!(
        texts_sent(&app, 1, 2).await,
        [parley::bootstrap::DEFAULT_GREETING]
    );

    deploy(&app, &id).await;
    app.customer_says(&channel, guest, "wamid.g3", "hello again")
        .await;
    assert_eq!(texts_sent(&app, 2, 3).await, ["Your name?"]);
    assert_eq!(bot_steps(&app, guest, 3).await, ["ask", "greeting", "ask"]);
}

#[actix_web::test]
async fn variables_added_at_the_same_time_are_all_kept() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    let path = format!("{}/variables", journey_path(&id));
    let bodies: Vec<Value> = (0..8).map(|n| json!({"name": format!("v{n}")})).collect();
    let answers =
        futures::future::join_all(bodies.iter().map(|body| app.post_json(&path, body))).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    let (_, list) = app.get(&path).await;
    let mut declared: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|variable| variable["name"].as_str().unwrap())
        .collect();
    declared.sort_unstable();
    assert_eq!(
        declared,
        ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"],
        "every variable answered 201 must be kept"
    );
}

#[actix_web::test]
async fn journeys_created_at_the_same_time_under_one_name_make_one() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Welcome"});
    let answers =
        futures::future::join_all((0..6).map(|_| app.post_json("/api/v1/journeys", &body))).await;
    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for answer in answers
        .iter()
        .filter(|(status, _)| *status != StatusCode::CREATED)
    {
        assert_error(answer, StatusCode::CONFLICT, "journey_name_taken");
    }
}

#[actix_web::test]
async fn deploys_at_the_same_time_each_make_a_version() {
    let app = TestApp::spawn().await;
    let id = create_journey(&app, "Welcome").await;
    put_graph(&app, &id, &saying("Hello!")).await;
    let path = format!("{}/deploy", journey_path(&id));
    let empty = json!({});
    let answers = futures::future::join_all((0..4).map(|_| app.post_json(&path, &empty))).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    let (_, journey) = app.get(&journey_path(&id)).await;
    assert_eq!(journey["latest_version"], 4, "{journey}");
    let (_, versions) = app.get(&format!("{}/versions", journey_path(&id))).await;
    assert_eq!(versions["data"].as_array().unwrap().len(), 4, "{versions}");
}

#[actix_web::test]
async fn bodies_that_are_not_json_objects_are_refused() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let id = create_journey(&app, "Welcome").await;
    let routes = [
        (Method::POST, "/api/v1/journeys".to_owned()),
        (Method::PUT, journey_path(&id)),
        (Method::POST, "/api/v1/journeys/import".to_owned()),
        (Method::POST, format!("{}/variables", journey_path(&id))),
        (
            Method::PUT,
            format!("/api/v1/channels/{}/journey", channel.id),
        ),
        (Method::POST, "/api/v1/users".to_owned()),
    ];
    for (method, route) in routes {
        for body in ["{not json", "[]", "\"Welcome\""] {
            let response = app
                .http
                .request(method.clone(), app.url(&route))
                .bearer_auth(&app.api_key)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            let code = answer["error"]["code"].as_str().unwrap_or_default();
            assert!(
                (status == StatusCode::BAD_REQUEST && code == "malformed_json")
                    || (status == StatusCode::UNPROCESSABLE_ENTITY && code == "invalid_field"),
                "{method} {route} with {body}: {status} {answer}"
            );
        }
    }
    let description =
        |length: usize| json!({"name": "Described", "description": "d".repeat(length)});
    let answer = app.post_json("/api/v1/journeys", &description(2_001)).await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(answer.1["error"]["field"], "description");
    let (status, body) = app.post_json("/api/v1/journeys", &description(2_000)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Goal steps may name their goal and milestone by name; the deployed version records ids, and
/// a live run's goal event shows under the goal. A name that matches nothing refuses the deploy.
#[actix_web::test]
async fn goal_steps_name_goals_by_id_or_name_and_record_live_events() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (status, goal) = app
        .post_json(
            "/api/v1/goals",
            &json!({"name": "Direct booking", "milestones": [{"name": "Booking confirmed", "trackers": ["who"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{goal}");
    let goal_id = goal["id"].as_str().unwrap();
    let milestone_id = goal["milestones"][0]["id"].as_str().unwrap();

    let graph = |goal: &str, milestone: &str| {
        json!({
            "steps": [
                start(),
                step("booked", "goal", &json!({"goal_id": goal, "milestone_id": milestone,
                                                "trackers": {"who": "{{contact_name}}"}})),
                step("thanks", "text", &json!({"text": "Booked!"})),
            ],
            "connections": [{"from": "start", "to": "booked"}, {"from": "booked", "to": "thanks"}]
        })
    };
    let unknown = create_journey(&app, "Unknown goal").await;
    put_graph(&app, &unknown, &graph("No such goal", "Booking confirmed")).await;
    let answer = app
        .post_json(&format!("{}/deploy", journey_path(&unknown)), &json!({}))
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "journey_invalid");
    assert_eq!(answer.1["error"]["problems"][0]["code"], "goal_not_found");
    put_graph(&app, &unknown, &graph(goal_id, "No such milestone")).await;
    let answer = app
        .post_json(&format!("{}/deploy", journey_path(&unknown)), &json!({}))
        .await;
    assert_eq!(
        answer.1["error"]["problems"][0]["code"],
        "milestone_not_found"
    );

    let by_name = live_on(
        &app,
        &channel,
        "by-name",
        &graph("Direct booking", "Booking confirmed"),
    )
    .await;
    let (_, view) = app.get(&journey_path(&by_name)).await;
    assert_eq!(
        view["undeployed_changes"], false,
        "names resolve to what was deployed"
    );
    app.customer_says(&channel, "351911111111", "wamid.goal1", "book it")
        .await;
    assert_eq!(texts_sent(&app, 0, 1).await, ["Booked!"]);
    let (status, events) = app
        .get(&format!("/api/v1/goals/{goal_id}/events?mode=live"))
        .await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(events["data"][0]["milestone_id"], milestone_id);
    assert_eq!(events["data"][0]["trackers"]["who"], "Sheena Nelson");
    assert_eq!(events["data"][0]["journey_id"], by_name);
}
