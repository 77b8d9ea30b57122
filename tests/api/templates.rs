//! WhatsApp templates: synced from Meta, mapped to events with a parameter mapping, and sent
//! by `POST /api/v1/events` to a contact, with the refusals a partner can meet on the way.

use crate::support::{assert_error, team_member, TestApp, PATIENCE};
use parley::mock::graph::accounts::DEFAULT_WABA;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn template(name: &str, status: &str, body: &str) -> Value {
    json!({
        "name": name, "language": "en_US", "status": status, "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Villa Serena"},
            {"type": "BODY", "text": body},
            {"type": "FOOTER", "text": "Reply STOP to opt out"}
        ]
    })
}

async fn synced_channel(app: &TestApp) -> String {
    app.graph.add_template(
        DEFAULT_WABA,
        template(
            "reservation_confirmed_v2",
            "APPROVED",
            "Hi {{1}}, your stay from {{2}} is confirmed. Reference {{3}}.",
        ),
    );
    app.graph.add_template(
        DEFAULT_WABA,
        template("summer_promo", "REJECTED", "Save {{1}}%"),
    );
    app.graph.add_template(
        DEFAULT_WABA,
        template("welcome_named", "APPROVED", "Welcome {{first_name}}!"),
    );
    let channel = app.create_whatsapp_channel().await;
    let (status, synced) = app
        .post_json(
            &format!("/api/v1/channels/{}/templates/sync", channel.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{synced}");
    channel.id
}

#[expect(clippy::needless_pass_by_value, reason = "cases pass json! literals")]
fn mapping(channel_id: &str, name: &str, parameters: Value) -> Value {
    json!({"event": "reservation_confirmed", "channel_id": channel_id, "template_name": name,
           "language": "en_US", "parameters": parameters})
}

#[actix_web::test]
async fn templates_are_synced_from_meta_and_listed_per_channel() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let path = format!("/api/v1/channels/{}/templates", channel.id);
    let (status, empty) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty["data"], json!([]));

    for index in 0..3 {
        app.graph.add_template(
            DEFAULT_WABA,
            template(&format!("notice_{index}"), "APPROVED", "Hello {{1}}"),
        );
    }
    let (status, synced) = app.post_json(&format!("{path}/sync"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{synced}");
    let (_, listed) = app.get(&path).await;
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|template| template["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["notice_0", "notice_1", "notice_2"]);
    assert_eq!(listed["data"][0]["parameters"], json!(["1"]));
    assert_eq!(listed["data"][0]["status"], "APPROVED");
    assert_eq!(listed["data"][0]["category"], "UTILITY");
    assert!(listed["data"][0]["provider_id"].is_string());

    let webchat = app.credentials.webchat_channel_id.to_string();
    let answer = app
        .post_json(
            &format!("/api/v1/channels/{webchat}/templates/sync"),
            &json!({}),
        )
        .await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "templates_not_supported",
    );
    let (_, user_key) = team_member(&app, "agent@example.com", "user").await;
    let answer = app
        .request(reqwest::Method::GET, &path, &user_key, None)
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
}

#[actix_web::test]
async fn a_mapping_names_exactly_the_placeholders_of_an_approved_template() {
    let app = TestApp::spawn().await;
    let channel = synced_channel(&app).await;
    let good = json!({"1": "guestName", "2": "checkIn", "3": "reference"});
    let cases = [
        (
            mapping(&channel, "no_such_template", good.clone()),
            "template_not_found",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            mapping(&channel, "summer_promo", json!({"1": "discount"})),
            "template_not_approved",
            StatusCode::CONFLICT,
        ),
        (
            mapping(&channel, "welcome_named", json!({"1": "guestName"})),
            "parameter_mapping_mismatch",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            mapping(
                &channel,
                "reservation_confirmed_v2",
                json!({"1": "guestName", "2": "checkIn"}),
            ),
            "parameter_mapping_mismatch",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            mapping(
                &channel,
                "reservation_confirmed_v2",
                json!({"1": "guestName", "2": "checkIn", "3": ""}),
            ),
            "invalid_field",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"event": "Reservation Confirmed", "channel_id": channel, "template_name": "x", "language": "en_US"}),
            "invalid_field",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, code, status) in cases {
        let answer = app.post_json("/api/v1/templates/mappings", &body).await;
        assert_error(&answer, status, code);
    }
    let (status, created) = app
        .post_json(
            "/api/v1/templates/mappings",
            &mapping(&channel, "reservation_confirmed_v2", good.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["parameters"], good);
    let answer = app
        .post_json(
            "/api/v1/templates/mappings",
            &mapping(&channel, "reservation_confirmed_v2", good.clone()),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "template_mapping_taken");

    let id = created["id"].as_str().unwrap();
    let changed = json!({"1": "guest.name", "2": "stay.checkIn", "3": "reference"});
    let (status, updated) = app
        .put_json(
            &format!("/api/v1/templates/mappings/{id}"),
            &mapping(&channel, "reservation_confirmed_v2", changed.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["parameters"], changed);
    let (_, listed) = app.get("/api/v1/templates/mappings").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .delete(&format!("/api/v1/templates/mappings/{id}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let answer = app.get(&format!("/api/v1/templates/mappings/{id}")).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "template_mapping_not_found");
}

#[actix_web::test]
async fn an_event_sends_its_template_to_the_contact_with_the_data_filled_in() {
    let app = TestApp::spawn().await;
    let channel = synced_channel(&app).await;
    let (status, _) = app
        .post_json(
            "/api/v1/templates/mappings",
            &mapping(
                &channel,
                "reservation_confirmed_v2",
                json!({"1": "guestName", "2": "stay.checkIn", "3": "reference"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let event = |data: Value| {
        json!({"event": "reservation_confirmed",
               "contact": {"phone": "+351 912 345 678", "name": "Ana Costa"}, "data": data})
    };
    let full = json!({"guestName": "Ana", "stay": {"checkIn": "15 March"}, "reference": "BK-1042"});

    let answer = app
        .post_json(
            "/api/v1/events",
            &event(json!({"guestName": "Ana", "reference": "BK-1042"})),
        )
        .await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_event_data",
    );
    assert_eq!(answer.1["error"]["field"], "data.stay.checkIn");
    let answer = app
        .post_json(
            "/api/v1/events",
            &json!({"event": "check_in_reminder", "contact": {"phone": "+351912345678"}}),
        )
        .await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "event_not_mapped",
    );
    let answer = app
        .post_json(
            "/api/v1/events",
            &json!({"event": "reservation_confirmed", "contact": {"phone": "call me"}}),
        )
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(answer.1["error"]["field"], "contact.phone");
    assert!(app.graph.attempts().is_empty(), "nothing was sent");

    let (status, sent) = app.post_json("/api/v1/events", &event(full.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["template_name"], "reservation_confirmed_v2");
    assert_eq!(sent["message"]["direction"], "outbound");
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].body["to"], "351912345678");
    assert_eq!(sends[0].body["type"], "template");
    assert_eq!(
        sends[0].body["template"]["name"],
        "reservation_confirmed_v2"
    );
    assert_eq!(sends[0].body["template"]["language"]["code"], "en_US");
    let texts: Vec<&str> = sends[0].body["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| parameter["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Ana", "15 March", "BK-1042"]);

    // The guest's conversation holds the template, and their answer continues it.
    let conversation = app.conversation_with("351912345678").await;
    assert_eq!(conversation["contact"]["name"], "Ana Costa");
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages
                .iter()
                .any(|message| message["delivery_status"] == "sent")
        })
        .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"]["type"], "template");

    // A second event for the same guest goes into the same conversation.
    let (status, again) = app.post_json("/api/v1/events", &event(full)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(
        again["message"]["conversation_id"], conversation["id"],
        "{again}"
    );
    app.graph.wait_for_accepted(2, PATIENCE).await;
}

#[actix_web::test]
async fn an_event_fills_a_templates_media_header_named_variables_and_url_button() {
    let app = TestApp::spawn().await;
    app.graph.add_template(
        DEFAULT_WABA,
        json!({
            "name": "arrival_guide", "language": "en_US", "status": "APPROVED",
            "category": "UTILITY", "parameter_format": "NAMED",
            "components": [
                {"type": "HEADER", "format": "IMAGE"},
                {"type": "BODY", "text": "Welcome {{first_name}}! Your room is {{room}}."},
                {"type": "BUTTONS", "buttons": [
                    {"type": "QUICK_REPLY", "text": "Call me"},
                    {"type": "URL", "text": "Your booking", "url": "https://villa.example/b/{{1}}"}
                ]}
            ]
        }),
    );
    let channel = app.create_whatsapp_channel().await;
    let (status, _) = app
        .post_json(
            &format!("/api/v1/channels/{}/templates/sync", channel.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = app
        .get(&format!("/api/v1/channels/{}/templates", channel.id))
        .await;
    assert_eq!(
        listed["data"][0]["parameters"],
        json!(["header.image", "first_name", "room", "button.1"]),
        "{listed}"
    );

    let arrival = |parameters: Value| {
        json!({"event": "guest_arriving", "channel_id": channel.id, "template_name": "arrival_guide",
               "language": "en_US", "parameters": parameters})
    };
    let answer = app
        .post_json(
            "/api/v1/templates/mappings",
            &arrival(json!({"first_name": "guest.first", "room": "room"})),
        )
        .await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parameter_mapping_mismatch",
    );
    let message = answer.1["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("header.image, first_name, room, button.1"),
        "{message}"
    );
    let (status, created) = app
        .post_json(
            "/api/v1/templates/mappings",
            &arrival(json!({"header.image": "photo", "first_name": "guest.first",
                            "room": "room", "button.1": "reference"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let (status, sent) = app
        .post_json(
            "/api/v1/events",
            &json!({"event": "guest_arriving", "contact": {"phone": "+351 912 000 111"},
                    "data": {"photo": "https://villa.example/pool.jpg", "guest": {"first": "Ana"},
                             "room": 12, "reference": "BK-1042"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(
        sends[0].status, 200,
        "the mock accepts the parameters: {:?}",
        sends[0].body
    );
    assert_eq!(
        sends[0].body["template"]["components"],
        json!([
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://villa.example/pool.jpg"}}]},
            {"type": "body", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "parameter_name": "room", "text": "12"}
            ]},
            {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "BK-1042"}]}
        ])
    );
}

#[actix_web::test]
async fn an_event_mapped_on_two_channels_must_name_one_and_an_inactive_channel_sends_nothing() {
    let app = TestApp::spawn().await;
    let first = synced_channel(&app).await;
    let second = app.create_whatsapp_channel().await.id;
    let (status, _) = app
        .post_json(
            &format!("/api/v1/channels/{second}/templates/sync"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for channel in [&first, &second] {
        let (status, body) = app
            .post_json(
                "/api/v1/templates/mappings",
                &mapping(
                    channel,
                    "reservation_confirmed_v2",
                    json!({"1": "guestName", "2": "checkIn", "3": "reference"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let data = json!({"guestName": "Bo", "checkIn": "1 May", "reference": "BK-7"});
    let body = |channel: Option<&str>| {
        let mut body = json!({"event": "reservation_confirmed", "contact": {"phone": "+1 415 555 0100"}, "data": data});
        if let Some(channel) = channel {
            body["channel_id"] = channel.into();
        }
        body
    };
    let answer = app.post_json("/api/v1/events", &body(None)).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ambiguous_channel",
    );

    let (status, _) = app
        .post_json(&format!("/api/v1/channels/{second}/deactivate"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer = app.post_json("/api/v1/events", &body(Some(&second))).await;
    assert_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "channel_inactive");

    let (status, sent) = app.post_json("/api/v1/events", &body(Some(&first))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["channel_id"], first.as_str());
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].body["to"], "14155550100");
}
