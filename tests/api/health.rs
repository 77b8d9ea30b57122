use crate::support::TestApp;
use reqwest::StatusCode;

#[actix_web::test]
async fn health_and_readiness_answer_ok() {
    let app = TestApp::spawn().await;
    for (path, expected) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], expected, "{path}");
    }
}

#[actix_web::test]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn().await;
    let spec: serde_json::Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<_> = spec["paths"].as_object().unwrap().keys().cloned().collect();
    for expected in [
        "/api/v1/channels",
        "/api/v1/channels/{id}",
        "/api/v1/channels/{id}/reconnect",
        "/api/v1/channels/{id}/disconnect",
        "/api/v1/channels/{id}/activate",
        "/api/v1/channels/{id}/deactivate",
        "/api/v1/channels/{id}/stats",
        "/api/v1/channels/connect/{kind}",
        "/api/v1/channels/{id}/templates",
        "/api/v1/channels/{id}/templates/sync",
        "/api/v1/templates/mappings",
        "/api/v1/templates/mappings/{id}",
        "/api/v1/events",
        "/api/v1/conversations/{id}/messages/{message_id}/media",
        "/api/v1/conversations",
        "/api/v1/conversations/{id}",
        "/api/v1/conversations/{id}/messages",
        "/api/v1/conversations/{id}/events",
        "/api/v1/organization",
        "/api/v1/journeys",
        "/api/v1/journeys/{id}",
        "/api/v1/journeys/{id}/deploy",
        "/api/v1/journeys/{id}/undeploy",
        "/api/v1/journeys/{id}/clone",
        "/api/v1/journeys/{id}/export",
        "/api/v1/journeys/import",
        "/api/v1/journeys/{id}/versions",
        "/api/v1/journeys/{id}/rollback/{version}",
        "/api/v1/journeys/{id}/variables",
        "/api/v1/journeys/{id}/variables/{name}",
        "/api/v1/channels/{id}/journey",
        "/api/v1/goals",
        "/api/v1/goals/{id}/events",
        "/api/v1/users",
    ] {
        assert!(
            paths.iter().any(|path| path == expected),
            "{expected} missing from {paths:?}"
        );
    }
    assert!(spec["components"]["securitySchemes"]["api_key"].is_object());
}

#[actix_web::test]
async fn metrics_count_accepted_and_rejected_webhooks() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    app.customer_says(&channel, "16505551234", "wamid.metrics", "hi")
        .await;
    let (status, _) = app
        .post_webhook_signed(&channel, b"{}", Some("sha256=00"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"parley_webhooks_total{provider="whatsapp_cloud",result="accepted"} 1"#,
        r#"parley_webhooks_total{provider="whatsapp_cloud",result="bad_signature"} 1"#,
        r#"parley_inbound_events_total{result="new"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    for family in [
        "parley_outbox_depth",
        "parley_live_actors",
        "parley_inbound_lag_seconds_bucket",
    ] {
        assert!(text.contains(family), "{family} missing");
    }
}

#[actix_web::test]
async fn the_first_run_writes_private_credentials_that_work() {
    let app = TestApp::spawn().await;
    let path = app.data_dir.path().join(parley::bootstrap::BOOTSTRAP_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for field in [
        "organization_id",
        "owner_email",
        "owner_password",
        "api_key",
    ] {
        assert!(
            raw[field].as_str().is_some_and(|value| !value.is_empty()),
            "{field}"
        );
    }
    let (status, _) = app.get("/api/v1/channels").await;
    assert_eq!(status, StatusCode::OK);
}
