//! The inbox's queries: the conversation list (latest first, filtered, searched, paged with a
//! cursor, with the latest message's preview and each reader's unread count), marking read,
//! and the thread grouped by day.

use crate::support::{Options, TestApp, WhatsappChannel, PATIENCE};
use parley::mock::whatsapp_webhooks;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// A contact writes in under their own name.
async fn says(
    app: &TestApp,
    channel: &WhatsappChannel,
    from: &str,
    name: &str,
    wamid: &str,
    text: &str,
) {
    let body = whatsapp_webhooks::text_message(
        &channel.phone_number_id,
        from,
        name,
        wamid,
        text,
        1_780_000_000,
    );
    let (status, answer) = app.post_webhook(channel, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|conversation| conversation["id"].as_str().unwrap().to_owned())
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|conversation| conversation["contact"]["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/conversations{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn rejected(app: &TestApp, path: &str, field: &str) {
    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
    assert_eq!(body["error"]["code"], "invalid_field", "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
}

#[actix_web::test]
async fn the_inbox_lists_latest_first_with_previews_unread_counts_filters_search_and_pages() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let guests = [
        ("447700900101", "Amelia Hart"),
        ("447700900202", "Bruno Costa"),
        ("351912345678", "Chloé Martin"),
    ];
    for (index, (phone, name)) in guests.iter().enumerate() {
        says(
            &app,
            &channel,
            phone,
            name,
            &format!("wamid.in-{index}"),
            "hello",
        )
        .await;
        // Each is greeted before the next writes, so their order is certain.
        app.graph.wait_for_accepted(index + 1, PATIENCE).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = app
        .get_until("/api/v1/conversations", |body| {
            body["data"].as_array().is_some_and(|data| data.len() == 3)
        })
        .await;
    assert_eq!(names(&all), ["Chloé Martin", "Bruno Costa", "Amelia Hart"]);
    assert!(all["next_cursor"].is_null());
    for conversation in all["data"].as_array().unwrap() {
        assert_eq!(conversation["status"], "bot_handling");
        assert_eq!(conversation["channel_kind"], "whatsapp_cloud");
        assert_eq!(conversation["ai_enabled"], true);
        assert_eq!(conversation["unread_count"], 1, "{conversation}");
        // The preview is the bot's greeting, the latest message.
        let id = conversation["id"].as_str().unwrap();
        let messages = app.messages_until(id, |messages| messages.len() >= 2).await;
        let greeting = messages
            .iter()
            .rfind(|m| m["sender_kind"] == "bot")
            .unwrap();
        let last = &conversation["last_message"];
        assert_eq!(last["id"], greeting["id"], "{conversation}");
        assert_eq!(last["sender_kind"], "bot");
        assert_eq!(last["direction"], "outbound");
        // The greeting is short, so the preview is all of it on one line.
        let body = greeting["content"]["body"].as_str().unwrap();
        let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(one_line.chars().count() <= 120, "{one_line}");
        assert_eq!(last["preview"], one_line.as_str());
    }

    // Amelia writes again: she moves to the top with two unread.
    let before = app.graph.accepted().len();
    says(
        &app,
        &channel,
        guests[0].0,
        guests[0].1,
        "wamid.in-again",
        "Are you there?\nWe land at 9",
    )
    .await;
    let moved = app
        .get_until("/api/v1/conversations", |body| {
            body["data"][0]["contact"]["name"] == "Amelia Hart"
                && body["data"][0]["unread_count"] == 2
        })
        .await;
    assert_eq!(
        names(&moved),
        ["Amelia Hart", "Chloé Martin", "Bruno Costa"]
    );
    let amelia = moved["data"][0]["id"].as_str().unwrap().to_owned();
    app.graph.wait_for_accepted(before + 1, PATIENCE).await;

    // Reading is per team member: the owner reads, an agent still has two unread.
    let (status, agent) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "ines@hotel.test", "name": "Inês", "role": "user", "with_api_key": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let agent_key = agent["api_key"].as_str().unwrap();
    let (status, mark) = app
        .post_json(&format!("/api/v1/conversations/{amelia}/read"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{mark}");
    assert_eq!(mark["unread_count"], 0);
    let (_, read) = app.get(&format!("/api/v1/conversations/{amelia}")).await;
    assert_eq!(read["unread_count"], 0, "{read}");
    let (status, theirs) = app
        .get_as(&format!("/api/v1/conversations/{amelia}"), agent_key)
        .await;
    assert_eq!(status, StatusCode::OK, "{theirs}");
    assert_eq!(theirs["unread_count"], 2, "{theirs}");
    let (status, _) = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{amelia}/read"),
            agent_key,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, theirs) = app.get_as("/api/v1/conversations", agent_key).await;
    assert_eq!(theirs["data"][0]["unread_count"], 0, "{theirs}");
    assert_eq!(theirs["data"][1]["unread_count"], 1, "{theirs}");

    // Search by any part of the name, case-insensitively, or by the phone's digits.
    assert_eq!(names(&list(&app, "?q=COSTA").await), ["Bruno Costa"]);
    assert_eq!(names(&list(&app, "?q=chlo").await), ["Chloé Martin"]);
    assert_eq!(
        names(&list(&app, "?q=%2B44%207700").await),
        ["Amelia Hart", "Bruno Costa"]
    );
    assert_eq!(names(&list(&app, "?q=912%20345").await), ["Chloé Martin"]);
    // LIKE's wildcards are plain characters.
    assert!(names(&list(&app, "?q=%25").await).is_empty());
    assert!(names(&list(&app, "?q=_").await).is_empty());

    // Filters: status (one or several), assignment, channel.
    assert_eq!(ids(&list(&app, "?status=bot_handling").await).len(), 3);
    assert!(ids(&list(&app, "?status=awaiting_agent").await).is_empty());
    assert_eq!(
        ids(&list(&app, "?status=awaiting_agent,bot_handling").await).len(),
        3
    );
    assert_eq!(ids(&list(&app, "?assigned_to=unassigned").await).len(), 3);
    assert!(ids(&list(&app, "?assigned_to=me").await).is_empty());
    assert_eq!(
        ids(&list(&app, &format!("?channel_id={}", channel.id)).await).len(),
        3
    );
    assert!(ids(&list(&app, "?archived=true").await).is_empty());
    assert_eq!(ids(&list(&app, "?archived=all").await).len(), 3);

    // Pages of one, walked with the cursor, give the whole list once, in order.
    let mut walked = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let page = list(&app, &query).await;
        walked.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, ids(&moved));

    // Bad filters are refused with the field named.
    rejected(&app, "/api/v1/conversations?status=sleeping", "status").await;
    rejected(
        &app,
        "/api/v1/conversations?assigned_to=someone",
        "assigned_to",
    )
    .await;
    rejected(&app, "/api/v1/conversations?archived=maybe", "archived").await;
    rejected(&app, "/api/v1/conversations?cursor=not-a-cursor", "cursor").await;
    rejected(&app, "/api/v1/conversations?limit=0", "limit").await;
    rejected(
        &app,
        &format!("/api/v1/conversations?q={}", "a".repeat(101)),
        "q",
    )
    .await;

    // Another organisation sees none of it.
    let other = app.other_organization().await;
    let (status, theirs) = app.get_as("/api/v1/conversations", &other).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ids(&theirs).is_empty());
    let (status, _) = app
        .get_as(&format!("/api/v1/conversations/{amelia}/thread"), &other)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{amelia}/read"),
            &other,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_thread_groups_messages_by_the_viewers_day_and_pages_back() {
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let channel = app.create_whatsapp_channel().await;
    // 2026-05-28T20:26:40Z.
    says(
        &app,
        &channel,
        "447700900303",
        "Dana Rossi",
        "wamid.t1",
        "hi",
    )
    .await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    let conversation = app.conversation_with("447700900303").await;
    let id = conversation["id"].as_str().unwrap().to_owned();
    // Four hours later it is past midnight in UTC.
    clock.advance(Duration::from_secs(4 * 3600));
    app.post_json(&format!("/api/v1/conversations/{id}/take-over"), &json!({}))
        .await;
    let (status, reply) = app
        .post_json(
            &format!("/api/v1/conversations/{id}/messages"),
            &json!({"text": "Good evening Dana, how can I help?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    app.graph.wait_for_accepted(2, PATIENCE).await;
    let messages = app
        .messages_until(&id, |messages| {
            messages.iter().any(|m| m["sender_kind"] == "agent")
        })
        .await;
    let count = messages.len();

    let (status, thread) = app.get(&format!("/api/v1/conversations/{id}/thread")).await;
    assert_eq!(status, StatusCode::OK, "{thread}");
    assert_eq!(thread["conversation"]["id"], id.as_str());
    assert_eq!(thread["conversation"]["status"], "agent_assigned");
    assert_eq!(thread["has_more"], false);
    let days = thread["days"].as_array().unwrap();
    let dates: Vec<&str> = days
        .iter()
        .map(|day| day["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-05-28", "2026-05-29"]);
    assert_eq!(days[0]["messages"][0]["content"]["body"], "hi");
    assert_eq!(days[0]["messages"][0]["delivery_status"], "received");
    let agent_message = days[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["sender_kind"] == "agent")
        .unwrap();
    let (_, me) = app.get("/api/v1/users/me").await;
    assert_eq!(agent_message["sender_id"], me["id"]);
    assert_eq!(agent_message["sender_name"], me["name"]);
    assert!(agent_message["failure_reason"].is_null());
    let grouped: usize = days
        .iter()
        .map(|day| day["messages"].as_array().unwrap().len())
        .sum();
    assert_eq!(grouped, count);

    // At UTC+04:00 it is all one day, the 29th.
    let (_, east) = app
        .get(&format!(
            "/api/v1/conversations/{id}/thread?tz_offset_minutes=240"
        ))
        .await;
    let dates: Vec<&str> = east["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| day["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-05-29"]);

    // Paging back: the latest message, then everything before it.
    let (_, latest) = app
        .get(&format!("/api/v1/conversations/{id}/messages?limit=1"))
        .await;
    assert_eq!(latest["has_more"], true);
    let latest = latest["data"].as_array().unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0]["id"], messages[count - 1]["id"]);
    let (_, older) = app
        .get(&format!(
            "/api/v1/conversations/{id}/thread?before={}",
            latest[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(older["has_more"], false);
    let older_ids: Vec<&Value> = older["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|day| day["messages"].as_array().unwrap())
        .map(|m| &m["id"])
        .collect();
    let expected: Vec<&Value> = messages[..count - 1].iter().map(|m| &m["id"]).collect();
    assert_eq!(older_ids, expected);

    rejected(
        &app,
        &format!("/api/v1/conversations/{id}/thread?tz_offset_minutes=900"),
        "tz_offset_minutes",
    )
    .await;
    rejected(
        &app,
        &format!("/api/v1/conversations/{id}/messages?before=00000000-0000-0000-0000-000000000000"),
        "before",
    )
    .await;
}
