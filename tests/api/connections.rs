//! Connections: Meta's consent flow end to end against the mock (dialog, code, token
//! exchange, discovery, subscriptions, registration), refusals with the seed's codes,
//! reconnect in place, disconnect, activate/deactivate and the app's shared webhook.

use crate::support::{assert_error, team_member, Options, TestApp, META_VERIFY_TOKEN, PATIENCE};
use parley::clock::Clock;
use parley::mock::graph::accounts::{
    BusinessFixture, ConsentAnswer, InstagramFixture, NumberFixture, PageFixture, APP_SECRET,
};
use parley::mock::{messenger_webhooks, whatsapp_webhooks};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;

const WABA: &str = "201000000000001";
const NUMBER: &str = "301000000000001";
const PAGE: &str = "104538192374661";
const IG: &str = "17841405822304914";

fn hotel_business() -> BusinessFixture {
    BusinessFixture {
        waba_id: WABA.into(),
        name: "Villa Serena".into(),
        verified: true,
        numbers: vec![NumberFixture {
            id: NUMBER.into(),
            display_phone_number: "+351 912 345 678".into(),
            verified_name: "Villa Serena".into(),
            pin: None,
        }],
    }
}

fn hotel_page() -> PageFixture {
    PageFixture {
        id: PAGE.into(),
        name: "Villa Serena".into(),
        verified: false,
        instagram: Some(InstagramFixture {
            id: IG.into(),
            username: "villaserena".into(),
            followers_count: 12_400,
        }),
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let query = query.split('#').next().unwrap();
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Runs a consent as a browser would: the dialog (answered by the mock), then the callback.
/// Returns where the browser lands and the query it carries.
async fn follow(app: &TestApp, consent_url: &str) -> (String, HashMap<String, String>) {
    let browser = no_redirects();
    let dialog = browser.get(consent_url).send().await.unwrap();
    assert_eq!(dialog.status(), StatusCode::FOUND);
    let callback = location(&dialog);
    assert!(
        callback.starts_with(&app.url("/oauth/meta/callback")),
        "{callback}"
    );
    let landed = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        landed.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        landed.text().await
    );
    let target = location(&landed);
    let query = query_of(&target);
    (target, query)
}

async fn connect(app: &TestApp, kind: &str, body: &Value) -> (String, HashMap<String, String>) {
    let (status, started) = app
        .post_json(&format!("/api/v1/channels/connect/{kind}"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    follow(app, started["url"].as_str().unwrap()).await
}

async fn channel(app: &TestApp, id: &str) -> Value {
    let (status, channel) = app.get(&format!("/api/v1/channels/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{channel}");
    channel
}

#[actix_web::test]
async fn a_whatsapp_number_is_connected_through_consent_and_its_guests_reach_the_bot() {
    let app = TestApp::spawn().await;
    app.graph.add_business(hotel_business());
    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec![WABA.into()],
        pages: vec![],
    });
    let (status, started) = app
        .post_json(
            "/api/v1/channels/connect/whatsapp_cloud",
            &json!({"return_to": "/settings/connections"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let dialog = query_of(started["url"].as_str().unwrap());
    assert_eq!(dialog["client_id"], parley::mock::graph::accounts::APP_ID);
    assert_eq!(dialog["redirect_uri"], app.url("/oauth/meta/callback"));
    assert_eq!(dialog["state"], started["state"].as_str().unwrap());
    assert!(dialog["scope"].contains("whatsapp_business_messaging"));

    let (target, landed) = follow(&app, started["url"].as_str().unwrap()).await;
    assert!(target.starts_with("/settings/connections?"), "{target}");
    assert!(!landed.contains_key("channel_error"), "{landed:?}");
    let id = &landed["channel_connected"];
    let connected = channel(&app, id).await;
    assert_eq!(connected["kind"], "whatsapp_cloud");
    assert_eq!(connected["name"], "Villa Serena");
    assert_eq!(connected["status"], "connected");
    assert_eq!(connected["setup"], "consent");
    assert_eq!(connected["webhook_attached"], true);
    assert_eq!(connected["verified"], true);
    assert_eq!(connected["account_id"], NUMBER);
    assert_eq!(
        connected["metadata"]["display_phone_number"],
        "+351 912 345 678"
    );
    assert_eq!(
        connected["metadata"]["business_account_name"],
        "Villa Serena"
    );
    assert_eq!(
        connected["metadata"]["business_profile"]["vertical"],
        "HOTEL"
    );
    assert!(connected["token_expires_at"].as_i64().unwrap() > 0);
    assert_eq!(
        connected["config"],
        json!({"phone_number_id": NUMBER, "waba_id": WABA})
    );
    assert!(connected["webhook_url"]
        .as_str()
        .unwrap()
        .ends_with("/webhooks/meta"));
    assert!(!connected.to_string().contains("EAAU"), "no token is shown");
    assert!(app.graph.is_subscribed(WABA));
    let pin = app
        .graph
        .registered_pin(NUMBER)
        .expect("the number was registered");
    assert_eq!(pin.len(), 6);

    // Meta verifies the app's webhook, then a guest writes to the number.
    let handshake = app
        .http
        .get(app.url(&format!(
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token={META_VERIFY_TOKEN}&hub.challenge=1158201444"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), StatusCode::OK);
    assert_eq!(handshake.text().await.unwrap(), "1158201444");
    let wrong = app
        .http
        .get(app.url("/webhooks/meta?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let body = whatsapp_webhooks::text_message(
        NUMBER,
        "351911111111",
        "Ana",
        "wamid.consent.1",
        "hello",
        1_780_000_000,
    );
    let response = app
        .http
        .post(app.url("/webhooks/meta"))
        .header(
            "X-Hub-Signature-256",
            whatsapp_webhooks::signature(APP_SECRET, &body),
        )
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["new"], 1);
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].phone_number_id, NUMBER);
    assert_eq!(sends[0].body["to"], "351911111111");
    let token = sends[0].bearer.clone().unwrap();
    assert!(
        app.graph.long_lived_tokens().contains(&token),
        "sends use the long-lived token"
    );

    let unsigned = app
        .http
        .post(app.url("/webhooks/meta"))
        .header(
            "X-Hub-Signature-256",
            whatsapp_webhooks::signature("wrong", &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn refusals_in_the_consent_flow_come_back_with_the_seeds_codes() {
    let app = TestApp::spawn().await;
    app.graph.add_business(hotel_business());

    app.graph.answer_consent(ConsentAnswer::Deny);
    let (_, landed) = connect(&app, "whatsapp_cloud", &json!({})).await;
    assert_eq!(landed["channel_error"], "user_denied_consent", "{landed:?}");

    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec![],
        pages: vec![],
    });
    let (_, landed) = connect(&app, "whatsapp_cloud", &json!({})).await;
    assert_eq!(
        landed["channel_error"], "business_account_validation_failed",
        "{landed:?}"
    );

    app.graph.add_business(BusinessFixture {
        waba_id: "201000000000009".into(),
        name: "Empty".into(),
        verified: false,
        numbers: vec![],
    });
    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec!["201000000000009".into()],
        pages: vec![],
    });
    let (_, landed) = connect(&app, "whatsapp_cloud", &json!({})).await;
    assert_eq!(
        landed["channel_error"], "business_account_validation_failed",
        "{landed:?}"
    );

    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec![],
        pages: vec![PAGE.into()],
    });
    app.graph.add_page(PageFixture {
        instagram: None,
        ..hotel_page()
    });
    let (_, landed) = connect(&app, "instagram", &json!({})).await;
    assert_eq!(
        landed["channel_error"], "business_account_validation_failed",
        "an Instagram consent needs a Page with an account linked: {landed:?}"
    );

    let (status, list) = app.get("/api/v1/channels").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "only the web chat: {list}"
    );

    // A callback without a state, with a forged one, or with one already used.
    let browser = no_redirects();
    let answer = browser
        .get(app.url("/oauth/meta/callback?code=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"]["code"],
        "missing_organization"
    );
    let (_, started) = app
        .post_json("/api/v1/channels/connect/whatsapp_cloud", &json!({}))
        .await;
    let state = started["state"].as_str().unwrap();
    let (payload, tag) = state.split_once('.').unwrap();
    let forged = format!("{}.{tag}", &payload[..payload.len() - 2]);
    let answer = browser
        .get(app.url(&format!("/oauth/meta/callback?code=abc&state={forged}")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec![WABA.into()],
        pages: vec![],
    });
    let dialog = browser
        .get(started["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let callback = location(&dialog);
    let first = browser.get(&callback).send().await.unwrap();
    assert!(query_of(&location(&first)).contains_key("channel_connected"));
    let again = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        query_of(&location(&again))["channel_error"],
        "consent_expired"
    );
}

#[actix_web::test]
async fn an_empty_subscription_is_reported_and_a_reconnect_refreshes_the_same_channel() {
    let app = TestApp::spawn().await;
    app.graph.add_business(hotel_business());
    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec![WABA.into()],
        pages: vec![],
    });
    app.graph.empty_subscriptions(true);
    let (_, landed) = connect(&app, "whatsapp_cloud", &json!({"name": "Front desk"})).await;
    assert_eq!(
        landed["channel_error"], "webhook_subscription_empty",
        "{landed:?}"
    );
    let id = landed["channel_connected"].clone();
    let broken = channel(&app, &id).await;
    assert_eq!(broken["status"], "error");
    assert_eq!(broken["name"], "Front desk");
    assert_eq!(broken["webhook_attached"], false);

    app.graph.empty_subscriptions(false);
    let (status, started) = app
        .post_json(&format!("/api/v1/channels/{id}/reconnect"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let (_, landed) = follow(&app, started["url"].as_str().unwrap()).await;
    assert_eq!(landed["channel_connected"], id, "{landed:?}");
    let fixed = channel(&app, &id).await;
    assert_eq!(fixed["status"], "connected");
    assert_eq!(fixed["webhook_attached"], true);
    assert_eq!(fixed["name"], "Front desk", "a reconnect keeps the name");

    // Connecting the same number again refreshes it too: never a second channel.
    let (_, landed) = connect(&app, "whatsapp_cloud", &json!({})).await;
    assert_eq!(landed["channel_connected"], id);
    let (_, list) = app.get("/api/v1/channels").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
}

#[actix_web::test]
async fn messenger_and_instagram_connect_one_channel_per_granted_account() {
    let app = TestApp::spawn().await;
    app.graph.add_page(hotel_page());
    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec![],
        pages: vec![PAGE.into()],
    });
    let (_, landed) = connect(&app, "messenger", &json!({})).await;
    let messenger = channel(&app, &landed["channel_connected"]).await;
    assert_eq!(messenger["kind"], "messenger");
    assert_eq!(messenger["name"], "Villa Serena");
    assert_eq!(messenger["account_id"], PAGE);
    assert_eq!(messenger["metadata"]["page_name"], "Villa Serena");
    assert_eq!(messenger["webhook_attached"], true);
    assert_eq!(messenger["token_expires_at"], Value::Null);
    assert!(app.graph.is_subscribed(PAGE));

    let (_, landed) = connect(&app, "instagram", &json!({})).await;
    let instagram = channel(&app, &landed["channel_connected"]).await;
    assert_eq!(instagram["kind"], "instagram");
    assert_eq!(instagram["name"], "@villaserena");
    assert_eq!(instagram["account_id"], IG);
    assert_eq!(instagram["metadata"]["instagram_username"], "villaserena");
    assert_eq!(instagram["metadata"]["followers_count"], 12_400);
    assert_eq!(
        instagram["config"],
        json!({"page_id": PAGE, "instagram_id": IG})
    );

    // Both share the Page's subscription: disconnecting one keeps it for the other.
    let (status, _) = app
        .post_json(
            &format!(
                "/api/v1/channels/{}/disconnect",
                messenger["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.graph.is_subscribed(PAGE));
    let (status, _) = app
        .post_json(
            &format!(
                "/api/v1/channels/{}/disconnect",
                instagram["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!app.graph.is_subscribed(PAGE));
}

#[actix_web::test]
async fn credentials_entered_by_hand_are_checked_with_the_provider_first() {
    let app = TestApp::spawn().await;
    app.graph.add_number("555123001", "EAAG-good");
    let body = |number: &str, token: &str| {
        json!({"kind": "whatsapp_cloud", "name": "Desk", "config": {
            "phone_number_id": number, "access_token": token, "app_secret": "s",
            "verify_token": "v", "waba_id": parley::mock::graph::accounts::DEFAULT_WABA
        }})
    };
    let answer = app
        .post_json("/api/v1/channels", &body("555123001", "EAAG-bad"))
        .await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider_rejected_credentials",
    );
    assert_eq!(answer.1["error"]["field"], "config.access_token");
    let answer = app
        .post_json("/api/v1/channels", &body("555123999", "EAAG-good"))
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(answer.1["error"]["field"], "config.phone_number_id");
    let (_, list) = app.get("/api/v1/channels").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "nothing was stored"
    );

    let (status, created) = app
        .post_json("/api/v1/channels", &body("555123001", "EAAG-good"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["setup"], "manual");
    assert_eq!(created["account_id"], "555123001");
    assert_eq!(created["metadata"]["verified_name"], "Parley Test");
    assert_eq!(created["webhook_attached"], true);
    assert_eq!(created["verified"], true);

    // The same number twice is one channel; another organisation cannot take it either.
    let answer = app
        .post_json("/api/v1/channels", &body("555123001", "EAAG-good"))
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "channel_account_taken");
    let other = app.other_organization().await;
    let answer = app
        .request(
            reqwest::Method::POST,
            "/api/v1/channels",
            &other,
            Some(&body("555123001", "EAAG-good")),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "channel_account_taken");
}

#[actix_web::test]
async fn an_expired_token_is_replaced_in_place_and_the_history_stays() {
    let app = TestApp::spawn().await;
    let channel_made = app.create_whatsapp_channel().await;
    let id = channel_made.id.clone();
    app.customer_says(&channel_made, "15550001111", "wamid.r1", "hi")
        .await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    app.graph.expire_token(&channel_made.access_token);
    app.customer_says(&channel_made, "15550001111", "wamid.r2", "still there?")
        .await;
    let broken = app
        .get_until(&format!("/api/v1/channels/{id}"), |channel| {
            channel["status"] == "needs_reconnect"
        })
        .await;
    assert!(
        broken["status_reason"].as_str().unwrap().contains("190"),
        "{broken}"
    );
    let (_, notifications) = app.get("/api/v1/notifications").await;
    let reconnects = notifications["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|notification| notification["kind"] == "channel_needs_reconnect")
        .count();
    assert_eq!(reconnects, 1, "the owner is told once: {notifications}");

    let fresh_token = "EAAG-fresh";
    app.graph
        .add_number(&channel_made.phone_number_id, fresh_token);
    let (status, reconnected) = app
        .post_json(
            &format!("/api/v1/channels/{id}/reconnect"),
            &json!({"config": {
                "phone_number_id": channel_made.phone_number_id, "access_token": fresh_token,
                "app_secret": channel_made.app_secret, "verify_token": channel_made.verify_token
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reconnected}");
    assert_eq!(reconnected["id"], id.as_str());
    assert_eq!(reconnected["status"], "connected");
    assert_eq!(reconnected["status_reason"], Value::Null);
    let (_, list) = app.get("/api/v1/channels").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");

    app.customer_says(&channel_made, "15550001111", "wamid.r3", "hello again")
        .await;
    let sends = app.graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(sends[1].bearer.as_deref(), Some(fresh_token));
    let conversation = app.conversation_with("15550001111").await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.len() >= 5
        })
        .await;
    assert!(messages.len() >= 5, "the history stays with the channel");

    // Credentials of another number are not a reconnect of this one.
    app.graph.add_number("555777000", "EAAG-other");
    let answer = app
        .post_json(
            &format!("/api/v1/channels/{id}/reconnect"),
            &json!({"config": {
                "phone_number_id": "555777000", "access_token": "EAAG-other",
                "app_secret": "s", "verify_token": "v"
            }}),
        )
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
}

#[actix_web::test]
async fn an_inactive_channel_keeps_its_credentials_but_neither_receives_nor_sends() {
    let app = TestApp::spawn().await;
    let made = app.create_whatsapp_channel().await;
    let path = format!("/api/v1/channels/{}", made.id);
    let (status, off) = app
        .post_json(&format!("{path}/deactivate"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{off}");
    assert_eq!(off["active"], false);
    assert_eq!(off["status"], "connected");

    let body = whatsapp_webhooks::text_message(
        &made.phone_number_id,
        "15550002222",
        "Bo",
        "wamid.off.1",
        "anyone?",
        1_780_000_000,
    );
    let (status, answer) = app.post_webhook(&made, &body).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "acknowledged, so Meta does not retry"
    );
    assert_eq!(answer["dropped"], 1);
    assert_eq!(answer["new"], 0);

    let (status, on) = app
        .patch_json(&path, &json!({"active": true, "name": "Reception"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{on}");
    assert_eq!(on["active"], true);
    assert_eq!(on["name"], "Reception");
    app.customer_says(&made, "15550002222", "wamid.off.2", "hello")
        .await;
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends.len(), 1);
    let conversation = app.conversation_with("15550002222").await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages.len() >= 2
        })
        .await;
    assert!(
        messages
            .iter()
            .all(|message| message["content"]["body"] != "anyone?"),
        "the message sent while inactive was dropped"
    );

    let answer = app.patch_json(&path, &json!({"active": "yes"})).await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
}

#[actix_web::test]
async fn a_disconnect_tells_the_provider_clears_the_journey_and_keeps_the_conversations() {
    let app = TestApp::spawn().await;
    let made = app.create_whatsapp_channel().await;
    let path = format!("/api/v1/channels/{}", made.id);
    app.customer_says(&made, "15550003333", "wamid.d1", "hi")
        .await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    let default_waba = parley::mock::graph::accounts::DEFAULT_WABA;
    assert!(app.graph.is_subscribed(default_waba));

    app.graph.fail_unsubscribe(true);
    let answer = app
        .post_json(&format!("{path}/disconnect"), &json!({}))
        .await;
    assert_error(&answer, StatusCode::BAD_GATEWAY, "disconnect_failed");
    assert_eq!(channel(&app, &made.id).await["status"], "connected");
    app.graph.fail_unsubscribe(false);

    let (status, gone) = app
        .post_json(&format!("{path}/disconnect"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["status"], "disconnected");
    assert_eq!(gone["webhook_attached"], false);
    assert_eq!(gone["journey_id"], Value::Null);
    assert!(!app.graph.is_subscribed(default_waba));

    let (_, answer) = app
        .post_webhook(
            &made,
            &whatsapp_webhooks::text_message(
                &made.phone_number_id,
                "15550003333",
                "Cy",
                "wamid.d2",
                "hello?",
                1_780_000_000,
            ),
        )
        .await;
    assert_eq!(answer["dropped"], 1);
    let (status, conversations) = app.get("/api/v1/conversations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(conversations["data"].as_array().unwrap().len(), 1);

    let (status, _) = app.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn channel_statistics_count_messages_conversations_and_the_median_first_response() {
    let app = TestApp::spawn().await;
    let made = app.create_whatsapp_channel().await;
    app.customer_says(&made, "15550004441", "wamid.s1", "hi")
        .await;
    app.customer_says(&made, "15550004442", "wamid.s2", "hello")
        .await;
    app.graph.wait_for_accepted(2, PATIENCE).await;
    let path = format!("/api/v1/channels/{}/stats", made.id);
    let stats = app
        .get_until(&path, |stats| stats["messages_sent"].as_i64() >= Some(2))
        .await;
    assert_eq!(stats["channel_id"], made.id.as_str());
    assert_eq!(stats["messages_received"], 2);
    assert_eq!(stats["conversations"], 2);
    assert_eq!(stats["active_conversations"], 2);
    assert_eq!(stats["answered_conversations"], 2);
    assert!(stats["median_first_response_ms"].as_i64().unwrap() >= 0);
    assert_eq!(
        stats["to"].as_i64().unwrap() - stats["from"].as_i64().unwrap(),
        30 * 24 * 60 * 60 * 1_000
    );
    let other = app.create_whatsapp_channel().await;
    let (_, quiet) = app
        .get(&format!("/api/v1/channels/{}/stats?days=7", other.id))
        .await;
    assert_eq!(quiet["messages_received"], 0);
    assert_eq!(quiet["median_first_response_ms"], Value::Null);
    let answer = app.get(&format!("{path}?days=0")).await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
}

#[actix_web::test]
async fn only_owners_and_admins_connect_and_a_server_without_an_app_offers_no_consent() {
    let app = TestApp::spawn().await;
    let made = app.create_whatsapp_channel().await;
    let (_, user_key) = team_member(&app, "agent@example.com", "user").await;
    for (method, path) in [
        (
            reqwest::Method::POST,
            "/api/v1/channels/connect/messenger".to_owned(),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/channels/{}/disconnect", made.id),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/channels/{}/reconnect", made.id),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/channels/{}/deactivate", made.id),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/channels/{}/stats", made.id),
        ),
    ] {
        let answer = app
            .request(method, &path, &user_key, Some(&json!({})))
            .await;
        assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    }
    let answer = app
        .post_json("/api/v1/channels/connect/webchat", &json!({}))
        .await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_channel_kind",
    );
    let answer = app
        .post_json(
            "/api/v1/channels/connect/messenger",
            &json!({"return_to": "https://elsewhere.example/"}),
        )
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
}

async fn post_meta(app: &TestApp, body: &[u8]) -> Value {
    let response = app
        .http
        .post(app.url("/webhooks/meta"))
        .header(
            "X-Hub-Signature-256",
            messenger_webhooks::signature(APP_SECRET, body),
        )
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[actix_web::test]
async fn messenger_and_instagram_guests_are_answered_through_the_page() {
    let app = TestApp::spawn().await;
    app.graph.add_page(hotel_page());
    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec![],
        pages: vec![PAGE.into()],
    });
    let (_, messenger) = connect(&app, "messenger", &json!({})).await;
    let (_, instagram) = connect(&app, "instagram", &json!({})).await;
    assert!(
        messenger.contains_key("channel_connected") && instagram.contains_key("channel_connected")
    );
    let page_token = app.graph.page_token(PAGE).unwrap();

    let answer = post_meta(
        &app,
        &messenger_webhooks::text_message(
            "page",
            PAGE,
            "6843190012345678",
            "m_guest1",
            "Olá, há quartos?",
            1_780_000_000_123,
        ),
    )
    .await;
    assert_eq!(answer["new"], 1, "{answer}");
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].phone_number_id, "me");
    assert_eq!(sends[0].bearer.as_deref(), Some(page_token.as_str()));
    assert_eq!(sends[0].body["recipient"]["id"], "6843190012345678");
    assert_eq!(sends[0].body["messaging_type"], "RESPONSE");
    assert!(sends[0].body["message"].is_object());
    let conversation = app.conversation_with("6843190012345678").await;
    let messages = app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages
                .iter()
                .any(|message| message["direction"] == "inbound")
        })
        .await;
    assert!(messages
        .iter()
        .any(|message| message["content"]["body"] == "Olá, há quartos?"));

    let (status, _) = app
        .post_json(
            &format!(
                "/api/v1/conversations/{}/read",
                conversation["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let receipts = app.graph.wait_for_receipts(1, PATIENCE).await;
    assert_eq!(receipts[0].0, "me");
    assert_eq!(
        receipts[0].1,
        json!({"recipient": {"id": "6843190012345678"}, "sender_action": "mark_seen"})
    );

    // The page's delivery receipt names the message the bot sent.
    let mid = sends[0].wamid.clone().unwrap();
    post_meta(
        &app,
        &messenger_webhooks::delivery(PAGE, "6843190012345678", &[&mid], 1_780_000_001_000),
    )
    .await;
    app.messages_until(conversation["id"].as_str().unwrap(), |messages| {
        messages.iter().any(|message| {
            message["direction"] == "outbound" && message["delivery_status"] == "delivered"
        })
    })
    .await;

    // An echo of the Page's own message is not a guest's.
    let echo = messenger_webhooks::envelope(
        "page",
        PAGE,
        &json!({"sender": {"id": PAGE}, "recipient": {"id": "6843190012345678"}, "timestamp": 1_780_000_002_000_i64,
               "message": {"mid": "m_echo", "text": "from the page", "is_echo": true}}),
        1_780_000_002_000,
    );
    assert_eq!(post_meta(&app, &echo).await["new"], 0);

    let answer = post_meta(
        &app,
        &messenger_webhooks::text_message(
            "instagram",
            IG,
            "17841400000000001",
            "aWdfZ3Vlc3Qx",
            "hi!",
            1_780_000_003_000,
        ),
    )
    .await;
    assert_eq!(answer["new"], 1, "{answer}");
    let sends = app.graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(
        sends[1].phone_number_id, PAGE,
        "Instagram goes through the Page"
    );
    assert_eq!(sends[1].body["recipient"]["id"], "17841400000000001");

    let unknown = post_meta(
        &app,
        &messenger_webhooks::text_message("page", "999999999", "1", "m_x", "hi", 1_780_000_004_000),
    )
    .await;
    assert_eq!(unknown["new"], 0);
}

#[actix_web::test]
async fn tokens_are_refreshed_a_week_ahead_and_a_dead_one_asks_owners_and_admins_to_reconnect() {
    let app = TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let (_, agent_key) = team_member(&app, "agent@example.com", "user").await;
    let (_, admin_key) = team_member(&app, "admin@example.com", "admin").await;
    app.graph.add_business(hotel_business());
    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec![WABA.into()],
        pages: vec![],
    });
    let (_, landed) = connect(&app, "whatsapp_cloud", &json!({})).await;
    let id = landed["channel_connected"].clone();
    let path = format!("/api/v1/channels/{id}");
    let first_expiry = channel(&app, &id).await["token_expires_at"]
        .as_i64()
        .unwrap();
    let tokens_before = app.graph.long_lived_tokens().len();

    // Six days before the token runs out, the token job exchanges it for a new one.
    let now = clock.now();
    clock.advance(std::time::Duration::from_millis(
        u64::try_from(first_expiry - 6 * 86_400_000 - now).unwrap(),
    ));
    let refreshed = app
        .get_until(&path, |channel| {
            channel["token_expires_at"].as_i64() != Some(first_expiry)
        })
        .await;
    assert!(refreshed["token_expires_at"].as_i64().unwrap() > first_expiry);
    assert_eq!(refreshed["status"], "connected");
    assert_eq!(app.graph.long_lived_tokens().len(), tokens_before + 1);
    let body = whatsapp_webhooks::text_message(
        NUMBER,
        "351922222222",
        "Rui",
        "wamid.t1",
        "hi",
        1_780_000_000,
    );
    let sent = app
        .http
        .post(app.url("/webhooks/meta"))
        .header(
            "X-Hub-Signature-256",
            whatsapp_webhooks::signature(APP_SECRET, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    let current = sends[0].bearer.clone().unwrap();
    assert_eq!(app.graph.long_lived_tokens().len(), tokens_before + 1);

    // The person revokes the app: the next refresh finds the token dead.
    app.graph.expire_token(&current);
    let second_expiry = refreshed["token_expires_at"].as_i64().unwrap();
    let now = clock.now();
    clock.advance(std::time::Duration::from_millis(
        u64::try_from(second_expiry - 6 * 86_400_000 - now).unwrap(),
    ));
    let dead = app
        .get_until(&path, |channel| channel["status"] == "needs_reconnect")
        .await;
    assert!(
        dead["status_reason"]
            .as_str()
            .unwrap()
            .starts_with("session has expired"),
        "{dead}"
    );
    for key in [app.api_key.as_str(), admin_key.as_str()] {
        let (_, notifications) = app.get_as("/api/v1/notifications", key).await;
        let kinds: Vec<&str> = notifications["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|notification| notification["kind"].as_str())
            .collect();
        assert_eq!(kinds, ["channel_needs_reconnect"], "{notifications}");
    }
    let (_, notifications) = app.get_as("/api/v1/notifications", &agent_key).await;
    assert_eq!(
        notifications["data"].as_array().unwrap().len(),
        0,
        "users are not told"
    );
}

#[actix_web::test]
async fn what_one_node_changes_in_a_channel_reaches_the_other_within_seconds() {
    let node_a = TestApp::spawn_with(Options {
        database_url: Some(crate::support::postgres::fresh_database().await),
        ..Options::default()
    })
    .await;
    let node_b = TestApp::spawn_with(Options {
        node_of: Some(node_a.node()),
        ..Options::default()
    })
    .await;
    let made = node_a.create_whatsapp_channel().await;
    node_b
        .graph
        .add_number(&made.phone_number_id, &made.access_token);
    node_b
        .customer_says(&made, "15550005555", "wamid.n1", "hi")
        .await;
    let sends = node_b.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].bearer.as_deref(), Some(made.access_token.as_str()));

    let path = format!("/api/v1/channels/{}", made.id);
    let (status, _) = node_a
        .post_json(&format!("{path}/deactivate"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let body = whatsapp_webhooks::text_message(
            &made.phone_number_id,
            "15550005555",
            "Di",
            &format!("wamid.off.{attempt}"),
            "still on?",
            1_780_000_000,
        );
        let (_, answer) = node_b.post_webhook(&made, &body).await;
        if answer["dropped"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B never saw the switch"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // New credentials through node A: node B sends with them once it has synced.
    let (status, _) = node_a
        .post_json(&format!("{path}/activate"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    for graph in [&node_a.graph, &node_b.graph] {
        graph.add_number(&made.phone_number_id, "EAAG-rotated");
    }
    let (status, answer) = node_a
        .post_json(
            &format!("{path}/reconnect"),
            &json!({"config": {
                "phone_number_id": made.phone_number_id, "access_token": "EAAG-rotated",
                "app_secret": made.app_secret, "verify_token": made.verify_token
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut attempt = 0;
    loop {
        attempt += 1;
        node_b
            .customer_says(
                &made,
                "15550005555",
                &format!("wamid.on.{attempt}"),
                "hello",
            )
            .await;
        let count = node_b.graph.accepted().len();
        // Until node B has synced, the message may be dropped (it still sees the channel off)
        // or answered with the old token.
        let sends = node_b
            .graph
            .wait_for_accepted(count + 1, std::time::Duration::from_secs(1))
            .await;
        if sends.len() > count && sends.last().unwrap().bearer.as_deref() == Some("EAAG-rotated") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B kept the old token: {:?}",
            node_b
                .graph
                .attempts()
                .iter()
                .map(|send| (send.status, send.bearer.clone(), send.body.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn a_team_member_reading_the_conversation_tells_the_guest_once_per_message() {
    let app = TestApp::spawn().await;
    let made = app.create_whatsapp_channel().await;
    app.customer_says(&made, "15550006666", "wamid.seen.1", "hello")
        .await;
    app.graph.wait_for_accepted(1, PATIENCE).await;
    let conversation = app.conversation_with("15550006666").await;
    let read = format!(
        "/api/v1/conversations/{}/read",
        conversation["id"].as_str().unwrap()
    );
    let (status, _) = app.post_json(&read, &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let receipts = app.graph.wait_for_receipts(1, PATIENCE).await;
    assert_eq!(receipts[0].0, made.phone_number_id);
    assert_eq!(
        receipts[0].1,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.seen.1"})
    );

    // Reading again sends nothing; a new message from the guest is marked when read.
    app.post_json(&read, &json!({})).await;
    app.customer_says(&made, "15550006666", "wamid.seen.2", "are you there?")
        .await;
    app.messages_until(conversation["id"].as_str().unwrap(), |messages| {
        messages
            .iter()
            .any(|message| message["content"]["body"] == "are you there?")
    })
    .await;
    app.post_json(&read, &json!({})).await;
    let receipts = app.graph.wait_for_receipts(2, PATIENCE).await;
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert_eq!(receipts[1].1["message_id"], "wamid.seen.2");
    assert_eq!(
        app.graph
            .accepted()
            .iter()
            .filter(|send| send.body.get("status").is_some())
            .count(),
        0,
        "receipts are not messages"
    );
}

#[actix_web::test]
async fn a_guests_photo_is_fetched_through_metas_media_endpoint_for_the_console() {
    let app = TestApp::spawn().await;
    let made = app.create_whatsapp_channel().await;
    let jpeg = b"\xff\xd8\xff\xe0 a photo of the room";
    app.graph
        .add_media(&made.phone_number_id, "1276500443", "image/jpeg", jpeg);
    let photo = |wamid: &str, media_id: &str| {
        whatsapp_webhooks::envelope(
            &made.phone_number_id,
            json!({
                "contacts": [{"profile": {"name": "Eva"}, "wa_id": "15550007777"}],
                "messages": [{"from": "15550007777", "id": wamid, "timestamp": "1780000000",
                    "type": "image", "image": {"id": media_id, "mime_type": "image/jpeg",
                    "sha256": "x", "caption": "Our room"}}]
            }),
        )
    };
    app.post_webhook(&made, &photo("wamid.photo.1", "1276500443"))
        .await;
    app.post_webhook(&made, &photo("wamid.photo.2", "999999"))
        .await;
    let conversation = app.conversation_with("15550007777").await;
    let id = conversation["id"].as_str().unwrap();
    let messages = app
        .messages_until(id, |messages| {
            messages
                .iter()
                .filter(|message| message["direction"] == "inbound")
                .count()
                == 2
        })
        .await;
    let inbound: Vec<&Value> = messages
        .iter()
        .filter(|message| message["direction"] == "inbound")
        .collect();
    let media_path = |message: &Value| {
        format!(
            "/api/v1/conversations/{id}/messages/{}/media",
            message["id"].as_str().unwrap()
        )
    };
    app.graph
        .set_link_lifetime(std::time::Duration::from_millis(200));
    for _ in 0..2 {
        let response = app
            .http
            .get(app.url(&media_path(inbound[0])))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "image/jpeg"
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), jpeg);
        // The link Meta gave has expired by the next look: it is resolved again.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(app.graph.downloads(), 2);

    let answer = app.get(&media_path(inbound[1])).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "media_not_found");
    let reply = messages
        .iter()
        .find(|message| message["direction"] == "outbound")
        .unwrap();
    let answer = app.get(&media_path(reply)).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "media_not_found");
    let other_key = app.other_organization().await;
    let answer = app
        .request(
            reqwest::Method::GET,
            &media_path(inbound[0]),
            &other_key,
            None,
        )
        .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "media_not_found");
}

#[actix_web::test]
async fn a_team_members_file_is_uploaded_to_metas_media_endpoint_and_sent_by_its_id() {
    let app = TestApp::spawn().await;
    let made = app.create_whatsapp_channel().await;
    app.customer_says(
        &made,
        "15550008888",
        "wamid.file.1",
        "can I have the invoice?",
    )
    .await;
    let conversation = app.conversation_with("15550008888").await;
    let id = conversation["id"].as_str().unwrap().to_owned();
    let attach = |query: &str, content_type: Option<&str>, body: Vec<u8>| {
        let mut request = app
            .http
            .post(app.url(&format!("/api/v1/conversations/{id}/attachments{query}")))
            .bearer_auth(&app.api_key)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };

    // Files WhatsApp would refuse are refused before anything is uploaded.
    let gif = attach("", Some("image/gif"), b"GIF89a".to_vec()).await;
    assert_error(
        &gif,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let untyped = attach("", None, b"%PDF-1.4".to_vec()).await;
    assert_error(
        &untyped,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let huge = attach("", Some("image/png"), vec![0_u8; 5 * 1024 * 1024 + 1]).await;
    assert_error(&huge, StatusCode::PAYLOAD_TOO_LARGE, "attachment_too_large");
    let long_caption = format!("?caption={}", "a".repeat(1_025));
    let captioned = attach(&long_caption, Some("application/pdf"), b"%PDF".to_vec()).await;
    assert_error(
        &captioned,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    let empty = attach("", Some("application/pdf"), Vec::new()).await;
    assert_error(&empty, StatusCode::UNPROCESSABLE_ENTITY, "missing_field");

    let pdf = b"%PDF-1.4 the invoice for room 12".to_vec();
    let (status, message) = attach(
        "?filename=Invoice%2012.pdf&caption=Your%20invoice",
        Some("application/pdf"),
        pdf.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["sender_kind"], "agent", "{message}");
    let content = &message["content"];
    assert_eq!(content["type"], "media");
    assert_eq!(content["media_kind"], "document");
    assert_eq!(content["filename"], "Invoice 12.pdf");
    assert_eq!(content["caption"], "Your invoice");
    let media_id = content["media_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.graph.media_file(&media_id),
        Some(("application/pdf".to_owned(), pdf.clone()))
    );

    // The bot's greeting of the guest may be sent around the same time: wait for the file.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let sent = loop {
        if let Some(sent) = app
            .graph
            .accepted()
            .into_iter()
            .find(|send| send.body["type"] == "document")
        {
            break sent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the document was never sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(sent.body["to"], "15550008888");
    assert_eq!(
        sent.body["document"],
        json!({"id": media_id, "caption": "Your invoice", "filename": "Invoice 12.pdf"})
    );
    // The team member's reply took the conversation over from the bot.
    let (_, after) = app.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(after["status"], "agent_assigned", "{after}");

    // The console shows the file from Meta like any other media.
    let response = app
        .http
        .get(app.url(&format!(
            "/api/v1/conversations/{id}/messages/{}/media",
            message["id"].as_str().unwrap()
        )))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), pdf.as_slice());

    // A voice note takes no caption on WhatsApp, so none is sent.
    let (status, audio) = attach("?caption=listen", Some("audio/ogg"), b"OggS".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{audio}");
    assert_eq!(audio["content"]["media_kind"], "audio");
    assert!(audio["content"].get("caption").is_none(), "{audio}");
}

#[actix_web::test]
async fn sends_past_whatsapps_throughput_and_pair_rate_are_retried_until_meta_takes_them() {
    let app = TestApp::spawn().await;
    let made = app.create_whatsapp_channel().await;
    app.customer_says(&made, "15550009999", "wamid.busy.1", "hi")
        .await;
    let conversation = app.conversation_with("15550009999").await;
    let id = conversation["id"].as_str().unwrap().to_owned();
    app.graph.limit_throughput(3);
    app.graph
        .limit_pair_rate(parley::mock::graph::limits::PairRate {
            burst: 2,
            every: std::time::Duration::from_millis(300),
        });
    for n in 0..6 {
        let (status, reply) = app
            .post_json(
                &format!("/api/v1/conversations/{id}/messages"),
                &json!({"text": format!("reply {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
    }
    let messages = app
        .messages_until(&id, |messages| {
            messages
                .iter()
                .filter(|message| message["sender_kind"] == "agent")
                .filter(|message| message["delivery_status"] != "pending")
                .count()
                == 6
        })
        .await;
    for message in messages
        .iter()
        .filter(|message| message["sender_kind"] == "agent")
    {
        assert_ne!(message["delivery_status"], "failed", "{message}");
    }
    let accepted: Vec<String> = app
        .graph
        .accepted()
        .iter()
        .filter_map(|send| send.body.pointer("/text/body").and_then(Value::as_str))
        .filter(|body| body.starts_with("reply "))
        .map(str::to_owned)
        .collect();
    assert_eq!(accepted.len(), 6, "each reply was taken once: {accepted:?}");
    let (_, pair_refusals) = app.graph.limit_refusals();
    assert!(pair_refusals > 0, "the pair rate held some replies back");
    let refused: Vec<u16> = app
        .graph
        .attempts()
        .iter()
        .map(|attempt| attempt.status)
        .filter(|status| *status != 200)
        .collect();
    assert!(refused.iter().all(|status| *status == 429), "{refused:?}");
}

#[actix_web::test]
async fn a_consent_finished_by_someone_no_longer_allowed_to_connect_creates_nothing() {
    let app = TestApp::spawn().await;
    app.graph.add_business(hotel_business());
    app.graph.answer_consent(ConsentAnswer::Grant {
        wabas: vec![WABA.into()],
        pages: vec![],
    });
    let (admin_id, admin_key) = team_member(&app, "admin@example.com", "admin").await;
    let (status, started) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/channels/connect/whatsapp_cloud",
            &admin_key,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    // Their role changes while they are on Meta's consent screen (the API has no role edit
    // yet, so the row is changed directly).
    app.sabotage(&format!(
        "UPDATE users SET role = 'user' WHERE id = '{admin_id}'"
    ))
    .await;
    let (_, landed) = follow(&app, started["url"].as_str().unwrap()).await;
    assert_eq!(
        landed.get("channel_error").map(String::as_str),
        Some("forbidden"),
        "{landed:?}"
    );
    let (_, list) = app.get("/api/v1/channels").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert!(!app.graph.is_subscribed(WABA));
}

#[actix_web::test]
async fn statuses_follow_sends_and_the_24_hour_window_failure_arrives_as_a_status_webhook() {
    let app = TestApp::spawn().await;
    let made = app.create_whatsapp_channel().await;
    app.graph.deliver_statuses_to(
        &made.phone_number_id,
        &app.url(&made.webhook_path),
        &made.app_secret,
    );
    let guest = "15550008888";
    assert_eq!(
        app.graph
            .guest_says(&made.phone_number_id, guest, "wamid.w1", "hello")
            .await,
        200
    );
    let conversation = app.conversation_with(guest).await;
    let id = conversation["id"].as_str().unwrap().to_owned();
    // The bot's answer is sent, delivered and read, as Meta reports it.
    app.messages_until(&id, |messages| {
        messages.iter().any(|message| {
            message["direction"] == "outbound" && message["delivery_status"] == "read"
        })
    })
    .await;

    // A day later the guest has not written again: Meta takes the team's reply, then fails it.
    app.graph.close_window(&made.phone_number_id, guest);
    let (status, reply) = app
        .post_json(
            &format!("/api/v1/conversations/{id}/messages"),
            &json!({"text": "Are you still interested?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let messages = app
        .messages_until(&id, |messages| {
            messages.iter().any(|message| {
                message["id"] == reply["id"] && message["delivery_status"] == "failed"
            })
        })
        .await;
    let failed = messages
        .iter()
        .find(|message| message["id"] == reply["id"])
        .unwrap();
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .starts_with("131047 Re-engagement message"),
        "{failed}"
    );
    let accepted = app
        .graph
        .accepted()
        .into_iter()
        .filter(|send| send.body["text"]["body"] == "Are you still interested?")
        .count();
    assert_eq!(
        accepted, 1,
        "Meta accepted the send, then reported it failed"
    );
}

#[actix_web::test]
async fn a_page_added_with_its_own_apps_credentials_has_its_own_webhook() {
    let app = TestApp::spawn().await;
    app.graph.add_page(hotel_page());
    app.graph.set_page_token(PAGE, "EAAP-own");
    let body = |secret: &str| {
        json!({"kind": "messenger", "name": "Villa Page", "config": {
            "page_id": PAGE, "page_access_token": "EAAP-own", "app_secret": secret,
            "verify_token": "own-verify"
        }})
    };
    let answer = app
        .post_json(
            "/api/v1/channels",
            &json!({"kind": "messenger", "name": "x",
        "config": {"page_id": PAGE, "page_access_token": "EAAP-own", "app_secret": "s"}}),
        )
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "missing_field");
    assert_eq!(answer.1["error"]["field"], "config.verify_token");
    let (status, created) = app.post_json("/api/v1/channels", &body("own-secret")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["setup"], "manual");
    assert_eq!(created["metadata"]["page_name"], "Villa Serena");
    let webhook = created["webhook_url"].as_str().unwrap().to_owned();
    assert_eq!(
        webhook,
        format!("/webhooks/messenger/{}", created["id"].as_str().unwrap())
    );

    let handshake = |token: &str| {
        app.http
            .get(app.url(&format!(
                "{webhook}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=42"
            )))
            .send()
    };
    let ok = handshake("own-verify").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "42");
    assert_eq!(
        handshake("nope").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    let post = |secret: &str, body: Vec<u8>| {
        app.http
            .post(app.url(&webhook))
            .header(
                "X-Hub-Signature-256",
                messenger_webhooks::signature(secret, &body),
            )
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let message = messenger_webhooks::text_message(
        "page",
        PAGE,
        "6843190000000001",
        "m_own1",
        "hi",
        1_780_000_000_000,
    );
    let refused = post(APP_SECRET, message.clone()).await.unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "signed by another app"
    );
    let accepted = post("own-secret", message).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(accepted.json::<Value>().await.unwrap()["new"], 1);
    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].bearer.as_deref(), Some("EAAP-own"));
    assert_eq!(sends[0].body["recipient"]["id"], "6843190000000001");
    let foreign =
        messenger_webhooks::text_message("page", "999", "1", "m_other", "hi", 1_780_000_000_000);
    let answer: Value = post("own-secret", foreign)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["new"], 0,
        "another Page's entries are not this channel's"
    );
}
