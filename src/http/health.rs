//! Liveness, readiness and metrics.

use super::AppState;
use actix_web::HttpResponse;
use serde_json::json;

/// The process is up and serving HTTP.
pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers: the node can take traffic.
pub(super) async fn readyz(state: AppState) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "reason": "the database does not answer"}))
        }
    }
}

/// Prometheus text exposition.
pub(super) async fn metrics(state: AppState) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
