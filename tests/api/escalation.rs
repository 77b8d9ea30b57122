//! The bot steps aside on its own, as seed 003 describes: a guest who asks for a person is
//! offered "Talk to our team" / "Continue with assistant", and three messages in a row the
//! bot cannot understand hand the conversation to the team without asking.

use crate::support::{team_member, TestApp, WhatsappChannel, PATIENCE};
use parley::domain::escalation::{CONTINUE_WITH_ASSISTANT, TALK_TO_TEAM};
use parley::mock::whatsapp_webhooks;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The guest picks a button (`button_reply`) or a list row (`list_reply`).
async fn tap(
    app: &TestApp,
    channel: &WhatsappChannel,
    from: &str,
    wamid: &str,
    (kind, id, title): (&str, &str, &str),
) {
    let body = whatsapp_webhooks::interactive_reply(
        &channel.phone_number_id,
        from,
        wamid,
        kind,
        id,
        title,
        1_780_000_000,
    );
    let (status, answer) = app.post_webhook(channel, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// The `n`-th send the mock Graph API accepted.
async fn send_number(app: &TestApp, n: usize) -> Value {
    app.graph.wait_for_accepted(n, PATIENCE).await[n - 1]
        .body
        .clone()
}

async fn status_of(app: &TestApp, guest: &str) -> Value {
    let conversation = app.conversation_with(guest).await;
    app.get_until(
        &format!(
            "/api/v1/conversations/{}",
            conversation["id"].as_str().unwrap()
        ),
        |_| true,
    )
    .await
}

#[actix_web::test]
async fn a_guest_asking_for_a_person_is_offered_the_team_and_may_take_it_or_carry_on() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let guest = "447700900811";
    app.customer_says(&channel, guest, "wamid.e1", "hi").await;
    send_number(&app, 1).await;

    app.customer_says(&channel, guest, "wamid.e2", "Can I speak to a real person?")
        .await;
    let offer = send_number(&app, 2).await;
    assert_eq!(offer["type"], "interactive", "{offer}");
    // "Continue with assistant" is too long for a button: the choices come as a list.
    assert_eq!(offer["interactive"]["type"], "list", "{offer}");
    let rows: Vec<&str> = offer["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["title"].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["Talk to our team", "Continue with assistant"]);
    assert_eq!(status_of(&app, guest).await["status"], "bot_handling");

    // Taking it: the conversation waits for the team, and the guest is told.
    let talk = ("list_reply", TALK_TO_TEAM, "Talk to our team");
    tap(&app, &channel, guest, "wamid.e3", talk).await;
    let told = send_number(&app, 3).await;
    assert_eq!(told["text"]["body"], "Our team will respond shortly.");
    let conversation = status_of(&app, guest).await;
    assert_eq!(conversation["status"], "awaiting_agent");
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.iter().any(|m| m["sender_kind"] == "system")
        })
        .await;
    let line = messages
        .iter()
        .find(|m| m["sender_kind"] == "system")
        .unwrap();
    assert_eq!(line["content"]["body"], "The guest asked for the team.");

    // Another guest keeps the assistant: the bot carries on, and the offer is spent.
    let other = "447700900822";
    app.customer_says(&channel, other, "wamid.e4", "help").await;
    let offer = send_number(&app, 4).await;
    assert_eq!(offer["type"], "interactive");
    let carry_on = (
        "list_reply",
        CONTINUE_WITH_ASSISTANT,
        "Continue with assistant",
    );
    tap(&app, &channel, other, "wamid.e5", carry_on).await;
    assert_eq!(
        send_number(&app, 5).await["text"]["body"],
        "Sure, let's carry on."
    );
    assert_eq!(status_of(&app, other).await["status"], "bot_handling");
    app.customer_says(&channel, other, "wamid.e6", "hello")
        .await;
    let greeting = send_number(&app, 6).await;
    assert_eq!(
        greeting["type"], "text",
        "the journey answers again: {greeting}"
    );
    assert_ne!(greeting["text"]["body"], "Sure, let's carry on.");
}

#[actix_web::test]
async fn between_runs_a_message_the_ai_cannot_read_is_offered_the_team() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let guest = "447700900844";
    // A first message starts the journey, however unclear.
    app.customer_says(&channel, guest, "wamid.l1", "qwerty zxcv")
        .await;
    let greeting = send_number(&app, 1).await;
    assert_eq!(greeting["type"], "text", "{greeting}");

    // The greeting run has ended: a message the AI cannot place is offered the team.
    app.customer_says(&channel, guest, "wamid.l2", "what's the wifi password")
        .await;
    let offer = send_number(&app, 2).await;
    assert_eq!(offer["type"], "interactive", "{offer}");
    assert_eq!(status_of(&app, guest).await["status"], "bot_handling");

    // One it reads with confidence lets the offer lapse and runs the journey again.
    app.customer_says(
        &channel,
        guest,
        "wamid.l3",
        "I'd like to book a room for 2 nights from tomorrow",
    )
    .await;
    let again = send_number(&app, 3).await;
    assert_eq!(again["text"]["body"], greeting["text"]["body"], "{again}");
}

#[actix_web::test]
async fn three_messages_the_bot_cannot_understand_hand_the_guest_to_the_team() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (bot, _) = team_member(&app, "menu-bot@casa-azul.example", "bot").await;
    let (_, journey) = app
        .post_json("/api/v1/journeys", &json!({"name": "Menu"}))
        .await;
    let path = format!("/api/v1/journeys/{}", journey["id"].as_str().unwrap());
    let graph = json!({
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "menu", "name": "Menu", "kind": "reply", "config": {
                "body": "What would you like?",
                "choices": [{"id": "book", "title": "Book a stay"}, {"id": "prices", "title": "Prices"}],
                "retries": "unlimited",
                "failure_message": "Sorry, please pick one of the buttons."}},
            {"id": "thanks", "name": "Thanks", "kind": "text", "config": {"text": "Great choice."}}
        ],
        "connections": [
            {"from": "start", "to": "menu"},
            {"from": "menu", "to": "thanks", "label": "book"},
            {"from": "menu", "to": "thanks", "label": "prices"}
        ]
    });
    let (status, body) = app.put_json(&path, &graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post_json(&format!("{path}/deploy"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put_json(
            &format!("/api/v1/channels/{}/journey", channel.id),
            &json!({"journey_id": journey["id"], "bot_user_id": bot}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let guest = "447700900833";
    app.customer_says(&channel, guest, "wamid.m1", "hi").await;
    send_number(&app, 1).await;
    // Two misunderstandings: the bot asks again each time.
    app.customer_says(&channel, guest, "wamid.m2", "qwerty")
        .await;
    app.customer_says(&channel, guest, "wamid.m3", "asdf").await;
    app.graph.wait_for_accepted(5, PATIENCE).await;
    assert_eq!(status_of(&app, guest).await["status"], "bot_handling");
    // An answer it understands resets the count.
    tap(
        &app,
        &channel,
        guest,
        "wamid.m4",
        ("button_reply", "book", "Book a stay"),
    )
    .await;
    assert_eq!(send_number(&app, 6).await["text"]["body"], "Great choice.");
    app.customer_says(&channel, guest, "wamid.m5", "hi again")
        .await;
    send_number(&app, 7).await;
    for (wamid, text) in [
        ("wamid.m6", "zzz"),
        ("wamid.m7", "???"),
        ("wamid.m8", "blah"),
    ] {
        app.customer_says(&channel, guest, wamid, text).await;
    }
    let conversation = app
        .get_until(
            &format!(
                "/api/v1/conversations/{}",
                app.conversation_with(guest).await["id"].as_str().unwrap()
            ),
            |body| body["status"] == "awaiting_agent",
        )
        .await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.iter().any(|m| m["sender_kind"] == "system")
        })
        .await;
    let line = messages
        .iter()
        .find(|m| m["sender_kind"] == "system")
        .unwrap();
    assert_eq!(
        line["content"]["body"],
        "The bot could not understand 3 messages in a row; the team takes over."
    );
    let last = messages
        .iter()
        .rfind(|m| m["sender_kind"] == "bot")
        .unwrap();
    assert_eq!(last["content"]["body"], "Our team will respond shortly.");
}

#[actix_web::test]
async fn the_agent_who_gets_an_escalation_is_notified_and_only_their_console_hears_of_it() {
    use crate::agent_ws::{next, open, until};
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (maria, maria_key) = team_member(&app, "maria@casa-azul.example", "user").await;
    crate::support::set_presence(&app, &maria_key, "online").await;
    let mut marias = open(&app, &maria_key, "", None).await.unwrap();
    next(&mut marias).await;
    let guest = "447700900844";
    app.customer_says(&channel, guest, "wamid.n1", "I need a human")
        .await;
    send_number(&app, 1).await;
    let talk = ("list_reply", TALK_TO_TEAM, "Talk to our team");
    tap(&app, &channel, guest, "wamid.n2", talk).await;

    let frames = until(&mut marias, |frame| frame["type"] == "notification.created").await;
    let notice = &frames.last().unwrap()["data"];
    assert_eq!(notice["user_id"], maria.as_str());
    assert_eq!(notice["notification"]["kind"], "assigned");
    assert_eq!(
        notice["notification"]["title"],
        "A conversation was assigned to you"
    );
    let (status, list) = app.get_as("/api/v1/notifications", &maria_key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["unread_count"], 1);
    assert_eq!(list["data"][0]["id"], notice["notification"]["id"]);
    // The owner was not notified: Maria took it.
    let (_, owners) = app.get("/api/v1/notifications").await;
    assert_eq!(owners["unread_count"], 0, "{owners}");

    // The guest writes again: Maria hears of it.
    app.customer_says(&channel, guest, "wamid.n3", "We arrive at 9pm")
        .await;
    let frames = until(&mut marias, |frame| {
        frame["type"] == "notification.created"
            && frame["data"]["notification"]["kind"] == "new_message"
    })
    .await;
    let notice = &frames.last().unwrap()["data"]["notification"];
    assert_eq!(notice["title"], "New message from Sheena Nelson");
    assert_eq!(notice["body"], "We arrive at 9pm");
}
