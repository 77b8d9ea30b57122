//! Goals, milestones and trackers through the partner API, and the events Goal steps record
//! (written here through the store, as the conversation actor writes them).

use crate::support::TestApp;
use parley::domain::{Millis, Role};
use parley::store::goals::{record_goal_event_into, NewGoalEvent};
use parley::store::script::Script;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// 2026-05-28T20:26:40Z, the first event's time in these tests.
const T0: Millis = 1_780_000_000_000;
const DAY: Millis = 86_400_000;

/// A goal of three milestones, the first two with trackers.
fn booking() -> Value {
    json!({
        "name": "Booking Confirmed",
        "description": "The guest paid a deposit",
        "milestones": [
            {"name": "Dates confirmed", "trackers": ["nights", "party_size"]},
            {"name": "Quote sent", "trackers": ["budget"]},
            {"name": "Deposit paid"},
        ]
    })
}

async fn create_goal(app: &TestApp, body: &Value) -> Value {
    let (status, goal) = app.post_json("/api/v1/goals", body).await;
    assert_eq!(status, StatusCode::CREATED, "{goal}");
    goal
}

/// An API key of a new user of the app's organisation with `role`.
async fn key_with_role(app: &TestApp, role: Role) -> String {
    let api_key = parley::crypto::generate_token("pk");
    app.app
        .store
        .create_user_with_key(
            app.credentials.organization_id,
            &format!("{role}@hotel.test"),
            role,
            &parley::crypto::hash_token(&api_key),
            0,
        )
        .await
        .unwrap();
    api_key
}

async fn send_as(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    api_key: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let response = app
        .http
        .request(method, app.url(path))
        .bearer_auth(api_key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// One event of `milestone` (an index into the goal's milestones) at `at`.
fn event(app: &TestApp, goal: &Value, milestone: usize, is_test: bool, at: Millis) -> NewGoalEvent {
    NewGoalEvent {
        org_id: app.credentials.organization_id,
        goal_id: goal["id"].as_str().unwrap().to_owned(),
        milestone_id: goal["milestones"][milestone]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        journey_id: Some("journey-1".into()),
        journey_version: Some(3),
        conversation_id: (!is_test).then(|| "conversation-1".to_owned()),
        test_session_id: is_test.then(|| "session-1".to_owned()),
        is_test,
        trackers: BTreeMap::from([("nights".to_owned(), at.to_string())]),
        at,
    }
}

async fn record(app: &TestApp, events: &[NewGoalEvent]) {
    let mut script = Script::new();
    for event in events {
        record_goal_event_into(&mut script, event);
    }
    app.app.store.write_script(script).await.unwrap();
}

/// The `created_at` of every event of a page, in the order returned.
fn times(page: &Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["created_at"].as_i64().unwrap())
        .collect()
}

#[actix_web::test]
async fn a_goal_created_with_milestones_reads_back_the_same() {
    let app = TestApp::spawn().await;
    let created = create_goal(&app, &booking()).await;
    insta::assert_json_snapshot!(created, {
        ".id" => "[id]", ".milestones[].id" => "[id]", ".milestones[].goal_id" => "[id]",
        ".**.created_at" => "[time]", ".updated_at" => "[time]",
    }, @r###"
    {
      "created_at": "[time]",
      "description": "The guest paid a deposit",
      "id": "[id]",
      "milestones": [
        {
          "created_at": "[time]",
          "goal_id": "[id]",
          "id": "[id]",
          "name": "Dates confirmed",
          "position": 1,
          "trackers": [
            "nights",
            "party_size"
          ]
        },
        {
          "created_at": "[time]",
          "goal_id": "[id]",
          "id": "[id]",
          "name": "Quote sent",
          "position": 2,
          "trackers": [
            "budget"
          ]
        },
        {
          "created_at": "[time]",
          "goal_id": "[id]",
          "id": "[id]",
          "name": "Deposit paid",
          "position": 3,
          "trackers": []
        }
      ],
      "name": "Booking Confirmed",
      "updated_at": "[time]"
    }
    "###);
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["milestones"][0]["goal_id"], id);

    let (status, read) = app.get(&format!("/api/v1/goals/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read, created);
    create_goal(&app, &json!({"name": "Approved Quote"})).await;
    let (status, list) = app.get("/api/v1/goals").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|goal| goal["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Approved Quote", "Booking Confirmed"], "by name");
    assert_eq!(list["data"][1], created, "with its milestones");
}

#[actix_web::test]
async fn goals_and_milestones_are_edited_and_appended_in_order() {
    let app = TestApp::spawn().await;
    let goal = create_goal(&app, &booking()).await;
    let id = goal["id"].as_str().unwrap();
    let milestone_id = goal["milestones"][1]["id"].as_str().unwrap();

    let (status, renamed) = app
        .patch_json(
            &format!("/api/v1/goals/{id}"),
            &json!({"name": "Booking Made", "description": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        (&renamed["name"], &renamed["description"]),
        (&json!("Booking Made"), &Value::Null)
    );
    assert_eq!(renamed["milestones"], goal["milestones"]);

    let (status, added) = app
        .post_json(
            &format!("/api/v1/goals/{id}/milestones"),
            &json!({"name": "Stay completed", "trackers": ["rating"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(
        (&added["position"], &added["goal_id"]),
        (&json!(4), &json!(id))
    );

    let (status, changed) = app
        .patch_json(
            &format!("/api/v1/goals/{id}/milestones/{milestone_id}"),
            &json!({"trackers": ["budget", "currency"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["name"], "Quote sent", "a name left out is kept");

    let (_, read) = app.get(&format!("/api/v1/goals/{id}")).await;
    let milestones: Vec<_> = read["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|milestone| (milestone["name"].clone(), milestone["trackers"].clone()))
        .collect();
    assert_eq!(
        milestones,
        [
            (json!("Dates confirmed"), json!(["nights", "party_size"])),
            (json!("Quote sent"), json!(["budget", "currency"])),
            (json!("Deposit paid"), json!([])),
            (json!("Stay completed"), json!(["rating"])),
        ]
    );
}

#[actix_web::test]
async fn taken_goal_and_milestone_names_are_conflicts() {
    let app = TestApp::spawn().await;
    let goal = create_goal(&app, &booking()).await;
    let id = goal["id"].as_str().unwrap();
    let other = create_goal(&app, &json!({"name": "Qualified Enquiry"})).await;
    let quote_sent = goal["milestones"][1]["id"].as_str().unwrap();
    let cases = [
        (
            reqwest::Method::POST,
            "/api/v1/goals".to_owned(),
            json!({"name": "Booking Confirmed"}),
            "goal_name_taken",
            "name",
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/goals/{}", other["id"].as_str().unwrap()),
            json!({"name": "Booking Confirmed"}),
            "goal_name_taken",
            "name",
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/goals/{id}/milestones"),
            json!({"name": "Deposit paid"}),
            "milestone_name_taken",
            "name",
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/goals/{id}/milestones/{quote_sent}"),
            json!({"name": "Dates confirmed"}),
            "milestone_name_taken",
            "name",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/goals".to_owned(),
            json!({"name": "Fresh", "milestones": [{"name": "Paid"}, {"name": "Paid"}]}),
            "milestone_name_taken",
            "milestones[1].name",
        ),
    ];
    for (method, path, body, code, field) in cases {
        let (status, answer) = send_as(&app, method.clone(), &path, &app.api_key, &body).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{method} {path} {body}: {answer}"
        );
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{method} {path}: {answer}");
    }
    let (_, list) = app.get("/api/v1/goals").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "nothing was created: {list}"
    );
    let (_, read) = app.get(&format!("/api/v1/goals/{id}")).await;
    assert_eq!(
        read["milestones"], goal["milestones"],
        "nothing was changed"
    );
}

#[actix_web::test]
async fn bad_goal_requests_get_a_stable_code_naming_the_field() {
    let app = TestApp::spawn().await;
    let goal = create_goal(&app, &booking()).await;
    let id = goal["id"].as_str().unwrap();
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = [
        (
            "/api/v1/goals".to_owned(),
            json!({"milestones": []}),
            "missing_field",
            "name",
        ),
        (
            "/api/v1/goals".to_owned(),
            json!({"name": ""}),
            "invalid_field",
            "name",
        ),
        (
            "/api/v1/goals".to_owned(),
            json!({"name": "x".repeat(256)}),
            "invalid_field",
            "name",
        ),
        (
            "/api/v1/goals".to_owned(),
            json!({"name": "g", "milestones": [{"name": "a"}, {"name": "b", "trackers": ["t".repeat(65)]}]}),
            "invalid_field",
            "milestones[1].trackers[0]",
        ),
        (
            "/api/v1/goals".to_owned(),
            json!({"name": "g", "milestones": [{"name": "a", "trackers": ["budget", "budget"]}]}),
            "invalid_field",
            "milestones[0].trackers[1]",
        ),
        (
            "/api/v1/goals".to_owned(),
            json!({"name": "g", "milestones": [{"trackers": []}]}),
            "missing_field",
            "milestones[0].name",
        ),
        (
            format!("/api/v1/goals/{id}/milestones"),
            json!({"name": "m", "trackers": [""]}),
            "invalid_field",
            "trackers[0]",
        ),
    ];
    for (path, body, code, field) in cases {
        let (status, answer) = app.post_json(&path, &body).await;
        assert_eq!(status, unprocessable, "{path} {body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let (status, answer) = app
        .patch_json(&format!("/api/v1/goals/{id}"), &json!({"name": null}))
        .await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (unprocessable, &json!("name"))
    );

    for query in [
        "mode=both",
        "limit=0",
        "limit=201",
        "limit=ten",
        "cursor=%21",
        "from=noon",
    ] {
        let (status, answer) = app.get(&format!("/api/v1/goals/{id}/events?{query}")).await;
        assert_eq!(status, unprocessable, "{query}: {answer}");
        assert_eq!(
            answer["error"]["code"], "invalid_field",
            "{query}: {answer}"
        );
    }
    let (status, answer) = app
        .get(&format!("/api/v1/goals/{id}/stats?mode=staging"))
        .await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (unprocessable, &json!("mode"))
    );

    let response = app
        .http
        .post(app.url("/api/v1/goals"))
        .bearer_auth(&app.api_key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");
    let (_, list) = app.get("/api/v1/goals").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

#[actix_web::test]
async fn users_read_goals_but_only_owners_and_admins_edit_them() {
    let app = TestApp::spawn().await;
    let goal = create_goal(&app, &booking()).await;
    let id = goal["id"].as_str().unwrap();
    let milestone_id = goal["milestones"][0]["id"].as_str().unwrap();
    let user = key_with_role(&app, Role::User).await;
    let bot = key_with_role(&app, Role::Bot).await;
    let admin = key_with_role(&app, Role::Admin).await;

    let reads = [
        "/api/v1/goals".to_owned(),
        format!("/api/v1/goals/{id}"),
        format!("/api/v1/goals/{id}/events"),
        format!("/api/v1/goals/{id}/stats"),
    ];
    for path in &reads {
        let (status, body) = app.get_as(path, &user).await;
        assert_eq!(status, StatusCode::OK, "user reads {path}: {body}");
        let (status, body) = app.get_as(path, &bot).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "bot reads {path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let writes = [
        (
            reqwest::Method::POST,
            "/api/v1/goals".to_owned(),
            json!({"name": "Agent goal"}),
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/goals/{id}"),
            json!({"name": "Renamed"}),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/goals/{id}/milestones"),
            json!({"name": "Extra"}),
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/goals/{id}/milestones/{milestone_id}"),
            json!({"name": "Renamed"}),
        ),
    ];
    for (method, path, body) in &writes {
        for key in [&user, &bot] {
            let (status, answer) = send_as(&app, method.clone(), path, key, body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
            assert_eq!(answer["error"]["code"], "forbidden");
        }
    }
    let (_, read) = app.get(&format!("/api/v1/goals/{id}")).await;
    assert_eq!(read, goal, "refused edits changed nothing");

    for (method, path, body) in writes {
        let (status, answer) = send_as(&app, method.clone(), &path, &admin, &body).await;
        assert!(status.is_success(), "admin {method} {path}: {answer}");
    }
}

#[actix_web::test]
async fn another_organisation_gets_404_for_every_goal_route() {
    let app = TestApp::spawn().await;
    let goal = create_goal(&app, &booking()).await;
    let id = goal["id"].as_str().unwrap();
    let milestone_id = goal["milestones"][0]["id"].as_str().unwrap();
    record(&app, &[event(&app, &goal, 0, false, T0)]).await;
    let other = app.other_organization().await;

    for path in [
        format!("/api/v1/goals/{id}"),
        format!("/api/v1/goals/{id}/events"),
        format!("/api/v1/goals/{id}/stats"),
    ] {
        let (status, body) = app.get_as(&path, &other).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["code"], "goal_not_found", "{path}");
    }
    for (method, path) in [
        (reqwest::Method::PATCH, format!("/api/v1/goals/{id}")),
        (
            reqwest::Method::POST,
            format!("/api/v1/goals/{id}/milestones"),
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/goals/{id}/milestones/{milestone_id}"),
        ),
    ] {
        let (status, body) = send_as(
            &app,
            method.clone(),
            &path,
            &other,
            &json!({"name": "Mine"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "goal_not_found", "{method} {path}");
    }
    let (_, list) = app.get_as("/api/v1/goals", &other).await;
    assert_eq!(list["data"], json!([]));
    let (status, _) = send_as(
        &app,
        reqwest::Method::POST,
        "/api/v1/goals",
        &other,
        &booking(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "names are unique per organisation only"
    );

    let (_, read) = app.get(&format!("/api/v1/goals/{id}")).await;
    assert_eq!(read, goal, "the other organisation changed nothing");
    let unknown = "0190f0e0-0000-7000-8000-000000000000";
    let (status, body) = app
        .patch_json(
            &format!("/api/v1/goals/{id}/milestones/{unknown}"),
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("milestone_not_found"))
    );
    let (status, body) = app
        .get(&format!("/api/v1/goals/{id}/events?milestone_id={unknown}"))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("milestone_not_found"))
    );
    let (status, body) = app.get(&format!("/api/v1/goals/{unknown}")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("goal_not_found"))
    );
}

#[actix_web::test]
async fn recorded_events_are_filtered_by_milestone_and_mode() {
    let app = TestApp::spawn().await;
    let goal = create_goal(&app, &booking()).await;
    let id = goal["id"].as_str().unwrap();
    record(
        &app,
        &[
            event(&app, &goal, 0, false, T0),
            event(&app, &goal, 1, false, T0 + 1),
            event(&app, &goal, 0, true, T0 + 2),
            event(&app, &goal, 2, false, T0 + 3),
        ],
    )
    .await;

    let (status, all) = app.get(&format!("/api/v1/goals/{id}/events")).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(times(&all), [T0 + 3, T0 + 2, T0 + 1, T0], "newest first");
    assert_eq!(all["next_cursor"], Value::Null);
    insta::assert_json_snapshot!(all["data"][1], {".id" => "[id]", ".milestone_id" => "[id]"}, @r###"
    {
      "conversation_id": null,
      "created_at": 1780000000002,
      "id": "[id]",
      "is_test": true,
      "journey_id": "journey-1",
      "journey_version": 3,
      "milestone_id": "[id]",
      "milestone_name": "Dates confirmed",
      "test_session_id": "session-1",
      "trackers": {
        "nights": "1780000000002"
      }
    }
    "###);

    let first = goal["milestones"][0]["id"].as_str().unwrap();
    let cases = [
        (format!("milestone_id={first}"), vec![T0 + 2, T0]),
        ("mode=test".to_owned(), vec![T0 + 2]),
        ("mode=live".to_owned(), vec![T0 + 3, T0 + 1, T0]),
        (format!("milestone_id={first}&mode=live"), vec![T0]),
        (
            format!("from={}&to={}", T0 + 1, T0 + 3),
            vec![T0 + 2, T0 + 1],
        ),
    ];
    for (query, expected) in cases {
        let (status, page) = app.get(&format!("/api/v1/goals/{id}/events?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(times(&page), expected, "{query}");
    }
}

#[actix_web::test]
async fn the_event_cursor_pages_without_duplicates_or_gaps() {
    let app = TestApp::spawn().await;
    let goal = create_goal(&app, &booking()).await;
    let id = goal["id"].as_str().unwrap();
    // Several events share a time, so the cursor must order by id as well.
    let events: Vec<_> = (0..7)
        .map(|n| event(&app, &goal, n % 3, n % 2 == 0, T0 + n as Millis / 3))
        .collect();
    record(&app, &events).await;
    let (_, everything) = app
        .get(&format!("/api/v1/goals/{id}/events?limit=200"))
        .await;
    let all_ids: Vec<_> = everything["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(all_ids.len(), 7);

    let mut paged_ids = Vec::new();
    let mut path = format!("/api/v1/goals/{id}/events?limit=3");
    let mut pages = 0;
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        paged_ids.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/goals/{id}/events?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(paged_ids, all_ids);
}

#[actix_web::test]
async fn stats_count_events_per_milestone_per_utc_day() {
    let app = TestApp::spawn().await;
    let goal = create_goal(&app, &booking()).await;
    let id = goal["id"].as_str().unwrap();
    let milestone = |index: usize| goal["milestones"][index]["id"].clone();
    // T0 is 20:26 UTC on 2026-05-28: T0 + 4 hours is already the 29th.
    let hour = DAY / 24;
    record(
        &app,
        &[
            event(&app, &goal, 0, false, T0),
            event(&app, &goal, 0, false, T0 + hour),
            event(&app, &goal, 0, false, T0 + 4 * hour),
            event(&app, &goal, 1, false, T0 + 4 * hour),
            event(&app, &goal, 1, true, T0 + 5 * hour),
            event(&app, &goal, 0, false, T0 + 3 * DAY),
        ],
    )
    .await;

    let (status, stats) = app.get(&format!("/api/v1/goals/{id}/stats")).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(
        stats,
        json!({"milestones": [
            {"milestone_id": milestone(0), "name": "Dates confirmed", "total": 4, "per_day": [
                {"day": "2026-05-28", "count": 2}, {"day": "2026-05-29", "count": 1},
                {"day": "2026-05-31", "count": 1},
            ]},
            {"milestone_id": milestone(1), "name": "Quote sent", "total": 2, "per_day": [
                {"day": "2026-05-29", "count": 2},
            ]},
            {"milestone_id": milestone(2), "name": "Deposit paid", "total": 0, "per_day": []},
        ]})
    );

    let window = format!("mode=live&from={}&to={}", T0 + hour, T0 + 3 * DAY);
    let (status, stats) = app.get(&format!("/api/v1/goals/{id}/stats?{window}")).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let totals: Vec<_> = stats["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|milestone| {
            (
                milestone["total"].as_i64().unwrap(),
                milestone["per_day"].clone(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        [
            (
                2,
                json!([{"day": "2026-05-28", "count": 1}, {"day": "2026-05-29", "count": 1}])
            ),
            (1, json!([{"day": "2026-05-29", "count": 1}])),
            (0, json!([])),
        ]
    );
}

#[actix_web::test]
async fn the_openapi_document_describes_the_goal_routes() {
    let app = TestApp::spawn().await;
    let spec: Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations = [
        ("/api/v1/goals", "post"),
        ("/api/v1/goals", "get"),
        ("/api/v1/goals/{id}", "get"),
        ("/api/v1/goals/{id}", "patch"),
        ("/api/v1/goals/{id}/milestones", "post"),
        ("/api/v1/goals/{id}/milestones/{milestone_id}", "patch"),
        ("/api/v1/goals/{id}/events", "get"),
        ("/api/v1/goals/{id}/stats", "get"),
    ];
    for (path, method) in operations {
        assert!(spec["paths"][path][method].is_object(), "{method} {path}");
    }
    let parameters: Vec<_> = spec["paths"]["/api/v1/goals/{id}/events"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| parameter["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        parameters,
        [
            "id",
            "milestone_id",
            "mode",
            "from",
            "to",
            "cursor",
            "limit"
        ]
    );
    for schema in [
        "GoalRecord",
        "MilestoneRecord",
        "GoalEventRecord",
        "GoalStats",
    ] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
    }
}
