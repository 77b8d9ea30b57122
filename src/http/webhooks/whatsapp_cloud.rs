//! WhatsApp Cloud webhooks: Meta's verification handshake and signed notifications.

use crate::actors::{ChannelRuntime, ChannelSecrets};
use crate::adapters::whatsapp_cloud::{parse, verify};
use crate::domain::ChannelId;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

const PROVIDER: &str = "whatsapp_cloud";

#[derive(Deserialize)]
pub(super) struct Handshake {
    #[serde(rename = "hub.mode")]
    pub(super) mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    pub(super) verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    pub(super) challenge: Option<String>,
}

fn reject(state: &AppState, result: &str, error: ApiError) -> ApiError {
    state
        .metrics
        .webhooks
        .with_label_values(&[PROVIDER, result])
        .inc();
    error
}

/// The channel a webhook is for. Callers refuse channels of another kind as not found.
async fn channel(state: &AppState, raw_id: &str) -> Result<Arc<ChannelRuntime>, ApiError> {
    let id: ChannelId = raw_id.parse().map_err(|_| not_found(state))?;
    state
        .channel_or_load(id)
        .await
        .map_err(|error| {
            reject(
                state,
                "unavailable",
                ApiError::from_store(error, Code::ChannelNotFound),
            )
        })?
        .ok_or_else(|| not_found(state))
}

fn not_found(state: &AppState) -> ApiError {
    reject(
        state,
        "unknown_channel",
        ApiError::new(Code::ChannelNotFound, "no such channel"),
    )
}

/// `GET`: echoes `hub.challenge` when `hub.verify_token` is the channel's verify token.
pub(super) async fn handshake(
    state: AppState,
    channel_id: web::Path<String>,
    query: web::Query<Handshake>,
) -> Result<HttpResponse, ApiError> {
    let runtime = channel(&state, &channel_id).await?;
    let ChannelSecrets::Whatsapp { secrets, .. } = &runtime.secrets else {
        return Err(not_found(&state));
    };
    match verify::handshake(
        query.mode.as_deref(),
        query.verify_token.as_deref(),
        query.challenge.as_deref(),
        &secrets.verify_token,
    ) {
        Some(challenge) => {
            runtime.webhook_reached(&state);
            Ok(HttpResponse::Ok()
                .content_type("text/plain")
                .body(challenge.to_owned()))
        }
        None => Err(reject(
            &state,
            "verification_failed",
            ApiError::new(
                Code::VerificationFailed,
                "hub.verify_token does not match the channel's verify token",
            ),
        )),
    }
}

/// `POST`: verifies the signature over the raw body, parses, and stores the events.
pub(super) async fn receive(
    state: AppState,
    channel_id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let received_at = state.clock.now();
    let runtime = channel(&state, &channel_id).await?;
    let ChannelSecrets::Whatsapp { public, secrets } = &runtime.secrets else {
        return Err(not_found(&state));
    };
    let signature = request
        .headers()
        .get("X-Hub-Signature-256")
        .and_then(|value| value.to_str().ok());
    verify::verify_signature(&secrets.app_secret, &body, signature)
        .map_err(|error| reject(&state, "bad_signature", error.into()))?;
    let notification = parse::parse(&body, &public.phone_number_id)
        .map_err(|error| reject(&state, "malformed", error.into()))?;
    runtime.webhook_reached(&state);
    if !runtime.receives() {
        // Acknowledged, so the provider neither retries nor disables the webhook.
        state
            .metrics
            .webhooks
            .with_label_values(&[PROVIDER, "inactive"])
            .inc();
        tracing::info!(channel_id = %runtime.id, events = notification.events.len(), "dropped the events of an inactive or disconnected channel");
        return Ok(HttpResponse::Ok()
            .json(json!({"new": 0, "duplicates": 0, "dropped": notification.events.len()})));
    }
    if notification.foreign_changes > 0 {
        tracing::warn!(
            channel_id = %runtime.id,
            changes = notification.foreign_changes,
            "ignored webhook changes addressed to another phone number"
        );
    }
    let accepted = state
        .ingress()
        .submit(runtime.org_id, runtime.id, notification.events, received_at)
        .await
        .map_err(|_| {
            reject(
                &state,
                "unavailable",
                ApiError::new(
                    Code::Unavailable,
                    "the events could not be stored; retry later",
                ),
            )
        })?;
    state
        .metrics
        .webhooks
        .with_label_values(&[PROVIDER, "accepted"])
        .inc();
    Ok(HttpResponse::Ok().json(json!({"new": accepted.new, "duplicates": accepted.duplicates})))
}
