//! Internal notes on conversations: `/api/v1/conversations/{id}/notes`. Staff write, read,
//! edit and delete them; the guest never receives one; the bot identity and other
//! organisations never see them.

use crate::support::{Options, TestApp, WhatsappChannel, PATIENCE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const GUEST: &str = "351955555555";
const SECRET: &str = "VIP: comped the minibar, do not mention it to the guest";

/// A team member with an API key: `(user id, key)`. Their name is the email's local part.
async fn team_member(app: &TestApp, email: &str, role: &str) -> (String, String) {
    let (status, user) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": email, "name": email.split('@').next().unwrap(), "role": role, "with_api_key": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    (
        user["id"].as_str().unwrap().to_owned(),
        user["api_key"].as_str().unwrap().to_owned(),
    )
}

/// The conversation of `guest`, once the bot has greeted them (one send per guest so far).
async fn greeted(app: &TestApp, channel: &WhatsappChannel, guest: &str, sends: usize) -> String {
    app.customer_says(channel, guest, &format!("wamid.{guest}"), "hi")
        .await;
    app.graph.wait_for_accepted(sends, PATIENCE).await;
    app.conversation_with(guest).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn notes_path(conversation: &str) -> String {
    format!("/api/v1/conversations/{conversation}/notes")
}

fn note_path(conversation: &str, note: &Value) -> String {
    format!(
        "{}/{}",
        notes_path(conversation),
        note["id"].as_str().unwrap()
    )
}

async fn write_note(app: &TestApp, key: &str, conversation: &str, body: &str) -> Value {
    let (status, note) = app
        .request(
            Method::POST,
            &notes_path(conversation),
            key,
            Some(&json!({"body": body})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    note
}

/// The bodies of the conversation's notes, in the order the API lists them.
async fn note_bodies(app: &TestApp, conversation: &str) -> Vec<String> {
    let (status, list) = app.get(&notes_path(conversation)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|note| note["body"].as_str().unwrap().to_owned())
        .collect()
}

/// How many outbox rows the conversation has, read behind the application's back.
async fn outbox_rows(app: &TestApp, conversation: &str) -> i64 {
    use sqlx::Connection;
    let mut connection = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE conversation_id = $1")
        .bind(conversation)
        .fetch_one(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    count
}

/// The id and content of every message of the conversation.
async fn message_contents(app: &TestApp, conversation: &str) -> Vec<(Value, Value)> {
    let (status, body) = app
        .get(&format!("/api/v1/conversations/{conversation}/messages"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| (message["id"].clone(), message["content"].clone()))
        .collect()
}

#[actix_web::test]
async fn a_note_is_written_listed_edited_and_deleted() {
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let channel = app.create_whatsapp_channel().await;
    let (maria, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let conversation = greeted(&app, &channel, GUEST, 1).await;

    // Written, the note is trimmed and attributed to Maria.
    let sea_view = write_note(&app, &maria_key, &conversation, "  Prefers a sea view \n").await;
    assert_eq!(sea_view["conversation_id"], conversation.as_str());
    assert_eq!(sea_view["author_id"], maria.as_str());
    insta::assert_json_snapshot!(sea_view, {
        ".id" => "[id]", ".conversation_id" => "[id]", ".author_id" => "[id]",
    }, @r###"
    {
      "author_id": "[id]",
      "author_name": "maria",
      "body": "Prefers a sea view",
      "conversation_id": "[id]",
      "created_at": 1780000000000,
      "id": "[id]",
      "updated_at": 1780000000000
    }
    "###);
    clock.advance(Duration::from_secs(1));
    let deposit = write_note(&app, &maria_key, &conversation, "Deposit paid by transfer").await;

    // Listed oldest first.
    let (status, list) = app.get(&notes_path(&conversation)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<&Value> = list["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|note| &note["id"])
        .collect();
    assert_eq!(ids, [&sea_view["id"], &deposit["id"]]);

    // Edited, the body changes and so does `updated_at`, but not `created_at`.
    clock.advance(Duration::from_secs(1));
    let (status, edited) = app
        .request(
            Method::PATCH,
            &note_path(&conversation, &sea_view),
            &maria_key,
            Some(&json!({"body": "Prefers a garden view"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        (
            &edited["id"],
            &edited["body"],
            &edited["created_at"],
            &edited["updated_at"]
        ),
        (
            &sea_view["id"],
            &json!("Prefers a garden view"),
            &json!(1_780_000_000_000_i64),
            &json!(1_780_000_002_000_i64)
        )
    );
    assert_eq!(
        note_bodies(&app, &conversation).await,
        ["Prefers a garden view", "Deposit paid by transfer"]
    );

    // Deleted, it is gone, and a second delete or an edit finds nothing.
    let (status, body) = app
        .request(
            Method::DELETE,
            &note_path(&conversation, &deposit),
            &maria_key,
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(
        note_bodies(&app, &conversation).await,
        ["Prefers a garden view"]
    );
    let (status, body) = app.delete(&note_path(&conversation, &deposit)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "note_not_found");
    let (status, body) = app
        .patch_json(&note_path(&conversation, &deposit), &json!({"body": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "note_not_found");
}

#[actix_web::test]
async fn a_note_is_never_sent_to_the_guest() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (_, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let conversation = greeted(&app, &channel, GUEST, 1).await;
    let greeting = app.graph.accepted()[0].body["text"]["body"].clone();
    let outbox_before = outbox_rows(&app, &conversation).await;
    let messages_before = message_contents(&app, &conversation).await;

    write_note(&app, &maria_key, &conversation, SECRET).await;

    // Nothing was queued for the guest, and the thread has no new message.
    assert_eq!(outbox_rows(&app, &conversation).await, outbox_before);
    assert_eq!(message_contents(&app, &conversation).await, messages_before);
    // A conversation's sends go out in order, so the next thing the guest receives after the
    // greeting is Maria's reply: had the note been queued, it would have come first.
    let (status, reply) = app
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            &maria_key,
            Some(&json!({"text": "Hi, Maria here!"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let sends = app.graph.wait_for_accepted(2, PATIENCE).await;
    let texts: Vec<&Value> = sends
        .iter()
        .map(|send| &send.body["text"]["body"])
        .collect();
    assert_eq!(texts, [&greeting, &json!("Hi, Maria here!")]);
    for attempt in app.graph.attempts() {
        assert!(
            !attempt.body.to_string().contains(SECRET),
            "the note reached the provider: {:#}",
            attempt.body
        );
    }
    assert_eq!(note_bodies(&app, &conversation).await, [SECRET]);
}

#[actix_web::test]
async fn an_empty_or_over_long_body_is_refused_naming_the_body() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let conversation = greeted(&app, &channel, GUEST, 1).await;
    let note = write_note(&app, &app.api_key, &conversation, "Late check-in").await;

    let cases = [
        (json!({"body": ""}), "invalid_field", "an empty body"),
        (json!({"body": "  \n\t "}), "invalid_field", "a blank body"),
        (
            json!({"body": "x".repeat(4_001)}),
            "invalid_field",
            "4001 characters",
        ),
        (json!({"body": 42}), "invalid_field", "a number"),
        (json!({}), "missing_field", "no body"),
    ];
    for (request, code, case) in cases {
        for (method, path) in [
            (Method::POST, notes_path(&conversation)),
            (Method::PATCH, note_path(&conversation, &note)),
        ] {
            let (status, body) = app
                .request(method.clone(), &path, &app.api_key, Some(&request))
                .await;
            assert_eq!(
                (status, &body["error"]["code"], &body["error"]["field"]),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!(code),
                    &json!("body")
                ),
                "{method} with {case}: {body}"
            );
        }
    }
    let (status, body) = app
        .post_json(
            &notes_path(&conversation),
            &json!({"body": "é".repeat(4_001)}),
        )
        .await;
    insta::assert_json_snapshot!((status.as_u16(), body), @r###"
    [
      422,
      {
        "error": {
          "code": "invalid_field",
          "field": "body",
          "message": "the note has 4001 characters; the limit is 4000"
        }
      }
    ]
    "###);

    // The limit counts characters, not bytes; nothing refused was stored or changed.
    let longest = "é".repeat(4_000);
    write_note(&app, &app.api_key, &conversation, &longest).await;
    assert_eq!(
        note_bodies(&app, &conversation).await,
        ["Late check-in".to_owned(), longest]
    );
}

#[actix_web::test]
async fn an_agent_cannot_change_another_agents_note_but_an_admin_or_owner_can() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (maria, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    let (_, john_key) = team_member(&app, "john@casa-azul.example", "user").await;
    let (_, admin_key) = team_member(&app, "ana@casa-azul.example", "admin").await;
    let conversation = greeted(&app, &channel, GUEST, 1).await;
    let note = write_note(&app, &maria_key, &conversation, "Allergic to nuts").await;
    let path = note_path(&conversation, &note);

    // John reads Maria's note and writes his own, but may neither edit nor delete hers.
    let (status, list) = app.get_as(&notes_path(&conversation), &john_key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["notes"][0]["author_name"], "maria");
    write_note(&app, &john_key, &conversation, "Asked for a late checkout").await;
    let edit = json!({"body": "Not allergic"});
    for (method, body) in [(Method::PATCH, Some(&edit)), (Method::DELETE, None)] {
        let (status, answer) = app.request(method.clone(), &path, &john_key, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden", "{method}");
    }
    assert_eq!(
        note_bodies(&app, &conversation).await,
        ["Allergic to nuts", "Asked for a late checkout"]
    );

    // Maria edits her own note; an admin edits it too, and it stays Maria's.
    let (status, edited) = app
        .request(
            Method::PATCH,
            &path,
            &maria_key,
            Some(&json!({"body": "Allergic to nuts and shellfish"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let (status, edited) = app
        .request(
            Method::PATCH,
            &path,
            &admin_key,
            Some(&json!({"body": "Severe nut allergy: tell the kitchen"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        (&edited["author_id"], &edited["author_name"]),
        (&json!(maria), &json!("maria"))
    );

    // The owner deletes it.
    let (status, _) = app.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        note_bodies(&app, &conversation).await,
        ["Asked for a late checkout"]
    );
}

#[actix_web::test]
async fn the_bot_identity_may_neither_read_nor_write_notes() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (_, bot_key) = team_member(&app, "concierge@casa-azul.example", "bot").await;
    let conversation = greeted(&app, &channel, GUEST, 1).await;
    let note = write_note(
        &app,
        &app.api_key,
        &conversation,
        "Celebrating an anniversary",
    )
    .await;

    let edit = json!({"body": "x"});
    let calls = [
        (Method::GET, notes_path(&conversation), None),
        (Method::POST, notes_path(&conversation), Some(&edit)),
        (Method::PATCH, note_path(&conversation, &note), Some(&edit)),
        (Method::DELETE, note_path(&conversation, &note), None),
    ];
    for (method, path, body) in calls {
        let (status, answer) = app.request(method.clone(), &path, &bot_key, body).await;
        assert_eq!(
            (status, &answer["error"]["code"]),
            (StatusCode::FORBIDDEN, &json!("forbidden")),
            "{method} {path}"
        );
    }
    assert_eq!(
        note_bodies(&app, &conversation).await,
        ["Celebrating an anniversary"]
    );
}

#[actix_web::test]
async fn an_unknown_conversation_or_note_is_a_404() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let conversation = greeted(&app, &channel, GUEST, 1).await;
    let other_guest = greeted(&app, &channel, "351966666666", 2).await;
    let note = write_note(&app, &app.api_key, &conversation, "Booked the spa").await;
    let unknown = uuid::Uuid::now_v7().to_string();

    let edit = json!({"body": "x"});
    let calls = [
        (
            Method::GET,
            notes_path(&unknown),
            None,
            "conversation_not_found",
        ),
        (
            Method::GET,
            notes_path("not-an-id"),
            None,
            "conversation_not_found",
        ),
        (
            Method::POST,
            notes_path(&unknown),
            Some(&edit),
            "conversation_not_found",
        ),
        (
            Method::PATCH,
            note_path(&unknown, &note),
            Some(&edit),
            "conversation_not_found",
        ),
        (
            Method::DELETE,
            note_path(&unknown, &note),
            None,
            "conversation_not_found",
        ),
        (
            Method::PATCH,
            note_path(&conversation, &json!({"id": unknown})),
            Some(&edit),
            "note_not_found",
        ),
        // A note is reached only through its own conversation.
        (
            Method::PATCH,
            note_path(&other_guest, &note),
            Some(&edit),
            "note_not_found",
        ),
        (
            Method::DELETE,
            note_path(&other_guest, &note),
            None,
            "note_not_found",
        ),
    ];
    for (method, path, body, code) in calls {
        let (status, answer) = app.request(method.clone(), &path, &app.api_key, body).await;
        assert_eq!(
            (status, &answer["error"]["code"]),
            (StatusCode::NOT_FOUND, &json!(code)),
            "{method} {path}"
        );
    }
    assert_eq!(note_bodies(&app, &conversation).await, ["Booked the spa"]);
    assert!(note_bodies(&app, &other_guest).await.is_empty());
}

#[actix_web::test]
async fn another_organisation_neither_sees_nor_changes_notes() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let conversation = greeted(&app, &channel, GUEST, 1).await;
    let note = write_note(&app, &app.api_key, &conversation, SECRET).await;
    let other = app.other_organization().await;

    let edit = json!({"body": "x"});
    let calls = [
        (Method::GET, notes_path(&conversation), None),
        (Method::POST, notes_path(&conversation), Some(&edit)),
        (Method::PATCH, note_path(&conversation, &note), Some(&edit)),
        (Method::DELETE, note_path(&conversation, &note), None),
    ];
    for (method, path, body) in calls {
        let (status, answer) = app.request(method.clone(), &path, &other, body).await;
        assert_eq!(
            (status, &answer["error"]["code"]),
            (StatusCode::NOT_FOUND, &json!("conversation_not_found")),
            "{method} {path}"
        );
        assert!(!answer.to_string().contains(SECRET), "{answer}");
    }
    assert_eq!(note_bodies(&app, &conversation).await, [SECRET]);
}
