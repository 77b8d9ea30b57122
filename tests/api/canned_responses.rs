//! Canned responses: `/api/v1/canned-responses`, the saved replies the composer's picker
//! offers, found by shortcut prefix, by text or by category.

use crate::support::TestApp;
use parley::domain::{Role, UserId};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PATH: &str = "/api/v1/canned-responses";

fn checkin() -> Value {
    json!({
        "title": "Check-in time",
        "content": "Check-in is from 3 PM; early check-in on request.",
        "shortcut": "/CheckIn",
        "category": "Check-in",
    })
}

async fn create(app: &TestApp, body: &Value) -> Value {
    let (status, response) = app.post_json(PATH, body).await;
    assert_eq!(status, StatusCode::CREATED, "{response}");
    response
}

/// The titles of a listing, in the order returned.
fn titles(list: &Value) -> Vec<String> {
    list["canned_responses"]
        .as_array()
        .unwrap_or_else(|| panic!("not a listing: {list}"))
        .iter()
        .map(|response| response["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn listed_titles(app: &TestApp, query: &str) -> Vec<String> {
    let (status, list) = app.get(&format!("{PATH}{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {list}");
    titles(&list)
}

/// A new user of the app's organisation with `role`, and an API key of theirs.
async fn user_with_role(app: &TestApp, role: Role) -> (UserId, String) {
    let api_key = parley::crypto::generate_token("pk");
    let user_id = app
        .app
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
    (user_id, api_key)
}

#[actix_web::test]
async fn a_canned_response_is_created_read_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let created = create(&app, &checkin()).await;
    insta::assert_json_snapshot!(created, {
        ".id" => "[id]", ".created_by" => "[user id]",
        ".created_at" => "[time]", ".updated_at" => "[time]",
    }, @r###"
    {
      "category": "Check-in",
      "content": "Check-in is from 3 PM; early check-in on request.",
      "created_at": "[time]",
      "created_by": "[user id]",
      "id": "[id]",
      "shortcut": "/checkin",
      "title": "Check-in time",
      "updated_at": "[time]"
    }
    "###);
    let id = created["id"].as_str().unwrap();
    let path = format!("{PATH}/{id}");

    let (status, read) = app.get(&path).await;
    assert_eq!((status, &read), (StatusCode::OK, &created));
    let (_, list) = app.get(PATH).await;
    assert_eq!(list, json!({"canned_responses": [created.clone()]}));

    let (status, updated) = app
        .patch_json(&path, &json!({"title": "Arrival", "shortcut": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["title"], "Arrival");
    assert_eq!(updated["shortcut"], Value::Null, "null clears the shortcut");
    for kept in ["content", "category", "created_by", "created_at"] {
        assert_eq!(updated[kept], created[kept], "{kept} is kept");
    }
    assert!(updated["updated_at"].as_i64() >= created["updated_at"].as_i64());
    let (_, read) = app.get(&path).await;
    assert_eq!(read, updated, "the change is stored");

    let (status, body) = app
        .patch_json(&path, &json!({"shortcut": "/ARRIVE", "category": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["shortcut"], &body["category"], &body["title"]),
        (&json!("/arrive"), &Value::Null, &json!("Arrival"))
    );

    let (status, body) = app.delete(&path).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    for (status, body) in [app.get(&path).await, app.delete(&path).await] {
        assert_eq!(
            (status, &body["error"]["code"]),
            (StatusCode::NOT_FOUND, &json!("canned_response_not_found")),
            "{body}"
        );
    }
    assert_eq!(listed_titles(&app, "").await, Vec::<String>::new());
}

#[actix_web::test]
async fn the_picker_finds_responses_by_shortcut_prefix_text_and_category() {
    let app = TestApp::spawn().await;
    for (title, content, shortcut, category) in [
        (
            "Late checkout",
            "Checkout is at 11 AM.",
            Some("/checkout"),
            "Booking",
        ),
        (
            "Wi-Fi",
            "The password is on your key card.",
            None,
            "General",
        ),
        ("Check-in time", "From 3 PM.", Some("/checkin"), "Check-in"),
        ("Pool hours", "The POOL opens at 8.", None, "General"),
        (
            "Cancellation",
            "Free until 48 hours before.",
            Some("/cancel"),
            "Booking",
        ),
    ] {
        create(
            &app,
            &json!({"title": title, "content": content, "shortcut": shortcut, "category": category}),
        )
        .await;
    }

    let cases: [(&str, &[&str]); 10] = [
        (
            "",
            &[
                "Cancellation",
                "Check-in time",
                "Late checkout",
                "Pool hours",
                "Wi-Fi",
            ],
        ),
        (
            "?q=",
            &[
                "Cancellation",
                "Check-in time",
                "Late checkout",
                "Pool hours",
                "Wi-Fi",
            ],
        ),
        ("?q=/che", &["Check-in time", "Late checkout"]),
        ("?q=/CHECKI", &["Check-in time"]),
        ("?q=/", &["Cancellation", "Check-in time", "Late checkout"]),
        ("?q=/heck", &[]),
        ("?q=pool", &["Pool hours"]),
        ("?q=KEY%20CARD", &["Wi-Fi"]),
        ("?category=General", &["Pool hours", "Wi-Fi"]),
        ("?q=/c&category=Booking", &["Cancellation", "Late checkout"]),
    ];
    for (query, expected) in cases {
        assert_eq!(listed_titles(&app, query).await, expected, "{query}");
    }
    assert_eq!(
        listed_titles(&app, "?category=general").await,
        Vec::<String>::new(),
        "the category matches exactly"
    );
    assert_eq!(
        listed_titles(&app, "?q=checkin").await,
        Vec::<String>::new(),
        "text without a slash matches titles and contents, not shortcuts"
    );
}

#[actix_web::test]
async fn an_invalid_shortcut_is_a_422_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!("checkin"), "no leading slash"),
        (json!("/"), "nothing after the slash"),
        (json!(format!("/{}", "a".repeat(33))), "too long"),
        (json!("/check in"), "a space"),
        (json!("/check.in"), "a dot"),
        (json!("/café"), "a non-ASCII letter"),
        (json!(42), "not a string"),
    ];
    for (shortcut, case) in cases {
        let mut body = checkin();
        body["shortcut"] = shortcut;
        let (status, answer) = app.post_json(PATH, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {answer}");
        assert_eq!(
            (&answer["error"]["code"], &answer["error"]["field"]),
            (&json!("invalid_field"), &json!("shortcut")),
            "{case}"
        );
    }
    let mut body = checkin();
    body["shortcut"] = json!("checkin");
    let (status, answer) = app.post_json(PATH, &body).await;
    insta::assert_json_snapshot!((status.as_u16(), answer), @r###"
    [
      422,
      {
        "error": {
          "code": "invalid_field",
          "field": "shortcut",
          "message": "a shortcut starts with `/`, as in `/checkin`"
        }
      }
    ]
    "###);
    assert_eq!(listed_titles(&app, "").await, Vec::<String>::new());

    let created = create(&app, &checkin()).await;
    let path = format!("{PATH}/{}", created["id"].as_str().unwrap());
    let (status, answer) = app.patch_json(&path, &json!({"shortcut": "/a b"})).await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("shortcut"))
    );
    for (body, field) in [
        (json!({"content": "x"}), "title"),
        (json!({"title": "x"}), "content"),
        (
            json!({"title": "x", "content": "y", "category": "c".repeat(65)}),
            "category",
        ),
    ] {
        let (status, answer) = app.post_json(PATH, &body).await;
        assert_eq!(
            (status, &answer["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)),
            "{answer}"
        );
    }
    let (_, read) = app.get(&path).await;
    assert_eq!(read, created, "refused changes changed nothing");
}

#[actix_web::test]
async fn a_shortcut_in_use_is_a_409_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let first = create(&app, &checkin()).await;
    let duplicate = json!({"title": "Another", "content": "x", "shortcut": "/CHECKIN"});
    let (status, answer) = app.post_json(PATH, &duplicate).await;
    insta::assert_json_snapshot!((status.as_u16(), answer), @r###"
    [
      409,
      {
        "error": {
          "code": "shortcut_taken",
          "field": "shortcut",
          "message": "another canned response of your organisation has this shortcut; choose another"
        }
      }
    ]
    "###);
    assert_eq!(listed_titles(&app, "").await, ["Check-in time"]);

    let second = create(
        &app,
        &json!({"title": "Checkout", "content": "11 AM", "shortcut": "/checkout"}),
    )
    .await;
    let second_path = format!("{PATH}/{}", second["id"].as_str().unwrap());
    let (status, answer) = app
        .patch_json(
            &second_path,
            &json!({"title": "Renamed", "shortcut": "/checkin"}),
        )
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::CONFLICT, &json!("shortcut_taken"))
    );
    let (_, read) = app.get(&second_path).await;
    assert_eq!(read, second, "the refused patch changed nothing");

    // Responses without a shortcut never collide, and a freed shortcut can be taken again.
    for title in ["No shortcut 1", "No shortcut 2"] {
        create(&app, &json!({"title": title, "content": "x"})).await;
    }
    let (status, _) = app
        .delete(&format!("{PATH}/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = app
        .patch_json(&second_path, &json!({"shortcut": "/checkin"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["shortcut"], "/checkin");
}

#[actix_web::test]
async fn agents_read_canned_responses_but_only_owners_and_admins_edit_them() {
    let app = TestApp::spawn().await;
    let created = create(&app, &checkin()).await;
    let path = format!("{PATH}/{}", created["id"].as_str().unwrap());
    let (_, agent) = user_with_role(&app, Role::User).await;
    let (_, bot) = user_with_role(&app, Role::Bot).await;
    let (admin_id, admin) = user_with_role(&app, Role::Admin).await;

    for read in [PATH, path.as_str()] {
        let (status, body) = app.get_as(read, &agent).await;
        assert_eq!(status, StatusCode::OK, "agent reads {read}: {body}");
        let (status, body) = app.get_as(read, &bot).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "bot reads {read}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (_, list) = app.get_as(PATH, &agent).await;
    assert_eq!(titles(&list), ["Check-in time"]);

    let writes = [
        (
            Method::POST,
            PATH.to_owned(),
            Some(json!({"title": "t", "content": "c"})),
        ),
        (Method::PATCH, path.clone(), Some(json!({"title": "Mine"}))),
        (Method::DELETE, path.clone(), None),
    ];
    for (method, target, body) in &writes {
        for key in [&agent, &bot] {
            let (status, answer) = app
                .request(method.clone(), target, key, body.as_ref())
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {target}: {answer}");
            assert_eq!(answer["error"]["code"], "forbidden");
        }
    }
    let (_, read) = app.get(&path).await;
    assert_eq!(read, created, "refused writes changed nothing");

    let (status, by_admin) = app
        .request(
            Method::POST,
            PATH,
            &admin,
            Some(&json!({"title": "t", "content": "c"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{by_admin}");
    assert_eq!(by_admin["created_by"], admin_id.to_string());
    for (method, target, body) in writes.into_iter().skip(1) {
        let (status, answer) = app
            .request(method.clone(), &target, &admin, body.as_ref())
            .await;
        assert!(status.is_success(), "admin {method} {target}: {answer}");
    }
}

#[actix_web::test]
async fn another_organisation_cannot_see_or_change_a_canned_response() {
    let app = TestApp::spawn().await;
    let created = create(&app, &checkin()).await;
    let path = format!("{PATH}/{}", created["id"].as_str().unwrap());
    let other = app.other_organization().await;

    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"title": "Mine"}))),
        (Method::DELETE, None),
    ] {
        let (status, answer) = app
            .request(method.clone(), &path, &other, body.as_ref())
            .await;
        assert_eq!(
            (status, &answer["error"]["code"]),
            (StatusCode::NOT_FOUND, &json!("canned_response_not_found")),
            "{method}: {answer}"
        );
    }
    let (status, list) = app.get_as(PATH, &other).await;
    assert_eq!(
        (status, list),
        (StatusCode::OK, json!({"canned_responses": []}))
    );
    let (status, answer) = app
        .request(Method::POST, PATH, &other, Some(&checkin()))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "shortcuts are unique per organisation only: {answer}"
    );

    let (_, read) = app.get(&path).await;
    assert_eq!(read, created, "the other organisation changed nothing");
    assert_eq!(listed_titles(&app, "").await, ["Check-in time"]);
}
