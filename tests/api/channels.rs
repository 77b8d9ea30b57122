use crate::support::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[actix_web::test]
async fn a_created_channel_is_listed_read_and_deleted() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let (status, body) = app.get(&format!("/api/v1/channels/{}", channel.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["kind"], "whatsapp_cloud");
    assert_eq!(body["status"], "connected");
    assert_eq!(
        body["webhook_url"],
        format!("/webhooks/whatsapp_cloud/{}", channel.id)
    );
    assert_eq!(
        body["config"],
        json!({"phone_number_id": channel.phone_number_id, "waba_id": "102290129340398"})
    );

    let (_, list) = app.get("/api/v1/channels").await;
    let ids: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&channel.id));

    let response = app
        .http
        .delete(app.url(&format!("/api/v1/channels/{}", channel.id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = app.get(&format!("/api/v1/channels/{}", channel.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "channel_not_found");
}

#[actix_web::test]
async fn credentials_are_never_returned_and_are_encrypted_at_rest() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    for path in [
        format!("/api/v1/channels/{}", channel.id),
        "/api/v1/channels".to_owned(),
    ] {
        let text = app
            .http
            .get(app.url(&path))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for secret in [
            &channel.access_token,
            &channel.app_secret,
            &channel.verify_token,
        ] {
            assert!(!text.contains(secret.as_str()), "{path} leaks {secret}");
        }
    }
    let stored = app
        .app
        .store
        .channel_for_ingress(channel.id.parse().unwrap())
        .await
        .unwrap();
    assert!(!stored.sealed_secrets.contains(&channel.access_token));
}

#[actix_web::test]
async fn bad_channel_requests_get_a_stable_code_naming_the_field() {
    let app = TestApp::spawn().await;
    let full = json!({"phone_number_id": "1", "access_token": "t", "app_secret": "s", "verify_token": "v"});
    let without = |field: &str| {
        let mut config = full.clone();
        config.as_object_mut().unwrap().remove(field);
        json!({"kind": "whatsapp_cloud", "name": "x", "config": config})
    };
    let cases = [
        (
            json!({"kind": "carrier_pigeon", "name": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_channel_kind",
            Some("kind"),
        ),
        (
            json!({"name": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            Some("kind"),
        ),
        (
            without("access_token"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            Some("config.access_token"),
        ),
        (
            without("app_secret"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            Some("config.app_secret"),
        ),
        (
            without("phone_number_id"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            Some("config.phone_number_id"),
        ),
        (
            json!({"kind": "whatsapp_cloud", "name": "x", "config": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("config"),
        ),
    ];
    for (body, status, code, field) in cases {
        let (got_status, got) = app.post_json("/api/v1/channels", &body).await;
        assert_eq!(got_status, status, "{body}: {got}");
        assert_eq!(got["error"]["code"], code, "{body}: {got}");
        assert_eq!(got["error"]["field"].as_str(), field, "{body}: {got}");
    }
    let response = app
        .http
        .post(app.url("/api/v1/channels"))
        .bearer_auth(&app.api_key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");
    let (_, list) = app.get("/api/v1/channels").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "only the bootstrap web chat channel: {list}"
    );
}

#[actix_web::test]
async fn requests_without_a_valid_api_key_are_refused() {
    let app = TestApp::spawn().await;
    let anonymous = app
        .http
        .get(app.url("/api/v1/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = app.get_as("/api/v1/channels", "pk_wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[actix_web::test]
async fn another_organisation_cannot_see_or_delete_a_channel() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let other = app.other_organization().await;
    let (status, _) = app
        .get_as(&format!("/api/v1/channels/{}", channel.id), &other)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get_as("/api/v1/channels", &other).await;
    assert!(list["data"].as_array().unwrap().is_empty());
    let response = app
        .http
        .delete(app.url(&format!("/api/v1/channels/{}", channel.id)))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/api/v1/channels/{}", channel.id)).await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn agents_may_not_manage_channels() {
    let app = TestApp::spawn().await;
    let agent_key = parley::crypto::generate_token("pk");
    app.app
        .store
        .create_user_with_key(
            app.credentials.organization_id,
            "agent@hotel.test",
            parley::domain::Role::User,
            &parley::crypto::hash_token(&agent_key),
            0,
        )
        .await
        .unwrap();
    let (status, body) = app.get_as("/api/v1/channels", &agent_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = app.get_as("/api/v1/conversations", &agent_key).await;
    assert_eq!(status, StatusCode::OK);
}
