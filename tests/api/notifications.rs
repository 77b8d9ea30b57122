//! Notifications: written through the store with `notify_into`, as the conversation actor
//! writes them, then listed and marked read over `/api/v1/notifications`. A member sees and
//! marks only their own.

use crate::support::{team_member, Options, TestApp};
use parley::domain::{ConversationId, Millis, OrgId, UserId};
use parley::store::notifications::{kind, notify_into, staff_to_notify};
use parley::store::script::Script;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// The manual clock's start, and the first notification's time.
const T0: Millis = 1_780_000_000_000;

async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await
}

/// The app's organisation and its owner, the user of `app.api_key`.
async fn the_owner(app: &TestApp) -> (OrgId, UserId) {
    let (status, me) = app.get("/api/v1/auth/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    (
        app.credentials.organization_id,
        me["id"].as_str().unwrap().parse().unwrap(),
    )
}

/// Writes notifications `(user, kind, title, at)` in one script, as a writer would.
async fn notify(app: &TestApp, org_id: OrgId, notifications: &[(UserId, &str, &str, Millis)]) {
    let mut script = Script::new();
    for (user_id, kind, title, at) in notifications {
        notify_into(
            &mut script,
            org_id,
            *user_id,
            kind,
            Some(ConversationId::new()),
            title,
            "Sheena Nelson: is the pool open late?",
            *at,
        );
    }
    app.app.store.write_script(script).await.unwrap();
}

fn titles(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|notification| notification["title"].as_str().unwrap())
        .collect()
}

async fn mark_read(app: &TestApp, key: &str, id: &str) -> (StatusCode, Value) {
    app.request(
        Method::POST,
        &format!("/api/v1/notifications/{id}/read"),
        key,
        None,
    )
    .await
}

#[actix_web::test]
async fn a_member_lists_their_own_notifications_newest_first() {
    let app = spawn().await;
    let (org_id, owner) = the_owner(&app).await;
    let (agent, agent_key) = team_member(&app, "agent@hotel.test", "user").await;
    let agent: UserId = agent.parse().unwrap();
    notify(
        &app,
        org_id,
        &[
            (owner, kind::ESCALATION, "Guest waiting", T0),
            (agent, kind::ASSIGNED, "Assigned to you", T0 + 1),
            (owner, kind::NEW_MESSAGE, "New message", T0 + 2),
            (owner, kind::ASSIGNED, "Assigned to you", T0 + 3),
        ],
    )
    .await;

    let (status, page) = app.get("/api/v1/notifications").await;

    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        titles(&page),
        ["Assigned to you", "New message", "Guest waiting"]
    );
    assert_eq!(page["unread_count"], 3);
    insta::assert_json_snapshot!(page["data"][2], {
        ".id" => "[id]", ".conversation_id" => "[id]",
    }, @r###"
    {
      "body": "Sheena Nelson: is the pool open late?",
      "conversation_id": "[id]",
      "created_at": 1780000000000,
      "id": "[id]",
      "kind": "escalation",
      "read_at": null,
      "title": "Guest waiting"
    }
    "###);
    let (status, agents) = app.get_as("/api/v1/notifications", &agent_key).await;
    assert_eq!(status, StatusCode::OK, "{agents}");
    assert_eq!(titles(&agents), ["Assigned to you"]);
    assert_eq!(agents["unread_count"], 1);

    // Pages of two, continued with `before`.
    let (_, first) = app.get("/api/v1/notifications?limit=2").await;
    assert_eq!(titles(&first), ["Assigned to you", "New message"]);
    assert_eq!(first["has_more"], true);
    let last = first["data"][1]["id"].as_str().unwrap();
    let (_, second) = app
        .get(&format!("/api/v1/notifications?limit=2&before={last}"))
        .await;
    assert_eq!(titles(&second), ["Guest waiting"]);
    assert_eq!(second["has_more"], false);
}

#[actix_web::test]
async fn marking_one_read_returns_it_and_keeps_its_first_read_time() {
    let app = spawn().await;
    let clock = app.clock.clone().unwrap();
    let (org_id, owner) = the_owner(&app).await;
    notify(
        &app,
        org_id,
        &[
            (owner, kind::ESCALATION, "Guest waiting", T0),
            (owner, kind::NEW_MESSAGE, "New message", T0 + 1),
        ],
    )
    .await;
    let (_, page) = app.get("/api/v1/notifications").await;
    let escalation = page["data"][1]["id"].as_str().unwrap().to_owned();
    clock.advance(Duration::from_secs(5));

    let (status, read) = mark_read(&app, &app.api_key, &escalation).await;

    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["id"], escalation.as_str());
    assert_eq!(read["read_at"], T0 + 5_000);
    clock.advance(Duration::from_secs(5));
    let (status, again) = mark_read(&app, &app.api_key, &escalation).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again["read_at"],
        T0 + 5_000,
        "marking again changes nothing"
    );
    let (_, unread) = app.get("/api/v1/notifications?unread=true").await;
    assert_eq!(titles(&unread), ["New message"]);
    assert_eq!(unread["unread_count"], 1);
}

#[actix_web::test]
async fn another_members_or_organisations_notification_is_invisible_and_not_found() {
    let app = spawn().await;
    let (org_id, _) = the_owner(&app).await;
    let (agent, agent_key) = team_member(&app, "agent@hotel.test", "user").await;
    notify(
        &app,
        org_id,
        &[(
            agent.parse().unwrap(),
            kind::ASSIGNED,
            "Assigned to you",
            T0,
        )],
    )
    .await;
    let (_, agents) = app.get_as("/api/v1/notifications", &agent_key).await;
    let theirs = agents["data"][0]["id"].as_str().unwrap().to_owned();
    let other_key = app.other_organization().await;

    let (_, owners) = app.get("/api/v1/notifications").await;
    assert_eq!(titles(&owners), Vec::<&str>::new());
    let (status, body) = mark_read(&app, &app.api_key, &theirs).await;
    insta::assert_json_snapshot!((status.as_u16(), body), @r###"
    [
      404,
      {
        "error": {
          "code": "notification_not_found",
          "message": "no such resource in your organisation"
        }
      }
    ]
    "###);
    let (status, _) = mark_read(&app, &other_key, &theirs).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another organisation");
    let (status, body) = mark_read(&app, &app.api_key, "not-an-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "notification_not_found");
    let (status, body) = app
        .get(&format!("/api/v1/notifications?before={theirs}"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "before");
    let (_, agents) = app.get_as("/api/v1/notifications", &agent_key).await;
    assert_eq!(agents["data"][0]["read_at"], Value::Null, "still unread");
}

#[actix_web::test]
async fn read_all_marks_only_the_callers_unread_notifications() {
    let app = spawn().await;
    let (org_id, owner) = the_owner(&app).await;
    let (agent, agent_key) = team_member(&app, "agent@hotel.test", "user").await;
    notify(
        &app,
        org_id,
        &[
            (owner, kind::ESCALATION, "Guest waiting", T0),
            (owner, kind::NEW_MESSAGE, "New message", T0 + 1),
            (
                agent.parse().unwrap(),
                kind::ESCALATION,
                "Guest waiting",
                T0,
            ),
        ],
    )
    .await;

    let (status, body) = app
        .request(
            Method::POST,
            "/api/v1/notifications/read-all",
            &app.api_key,
            None,
        )
        .await;

    assert_eq!(
        (status, body),
        (StatusCode::OK, serde_json::json!({"marked": 2}))
    );
    let (_, again) = app
        .request(
            Method::POST,
            "/api/v1/notifications/read-all",
            &app.api_key,
            None,
        )
        .await;
    assert_eq!(again, serde_json::json!({"marked": 0}));
    let (_, owners) = app.get("/api/v1/notifications?unread=true").await;
    assert_eq!(
        (titles(&owners).len(), &owners["unread_count"]),
        (0, &Value::from(0))
    );
    let (_, agents) = app.get_as("/api/v1/notifications", &agent_key).await;
    assert_eq!(agents["unread_count"], 1, "the agent's stays unread");
}

#[actix_web::test]
async fn list_filters_that_do_not_parse_are_refused_with_their_field() {
    let app = spawn().await;
    let cases = [
        ("unread=yes", "unread"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("before=not-an-id", "before"),
        ("before=0196f4b8-0000-7000-8000-000000000000", "before"),
    ];
    for (query, field) in cases {
        let (status, body) = app.get(&format!("/api/v1/notifications?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
}

#[actix_web::test]
async fn escalations_nobody_took_go_to_the_staff_but_not_the_bot() {
    let app = spawn().await;
    let (org_id, owner) = the_owner(&app).await;
    let (admin, _) = team_member(&app, "admin@hotel.test", "admin").await;
    let (agent, _) = team_member(&app, "agent@hotel.test", "user").await;
    team_member(&app, "concierge-bot@hotel.test", "bot").await;
    app.other_organization().await;

    let staff = app
        .app
        .store
        .write(move |tx| Box::pin(staff_to_notify(tx, org_id)))
        .await
        .unwrap();

    let expected: Vec<UserId> = [owner.to_string(), admin, agent]
        .iter()
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(staff, expected);
}
