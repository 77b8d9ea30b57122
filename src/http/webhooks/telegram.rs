//! `/webhooks/telegram/{channel_id}`: the webhook Parley registered for a Telegram bot with
//! `setWebhook`. Telegram posts one update per request with the channel's secret in
//! `X-Telegram-Bot-Api-Secret-Token`; a request without it, or with another, is refused
//! (401) and nothing in it is read. A button tap is answered (`answerCallbackQuery`) once its
//! event is stored. An inactive or disconnected channel's updates are acknowledged and
//! dropped, so Telegram does not keep retrying them.

use crate::actors::{ChannelRuntime, ChannelSecrets};
use crate::adapters::telegram::{self, verify};
use crate::domain::{ChannelKind, InboundEvent, Millis};
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::sync::Arc;

const PROVIDER: &str = "telegram";

fn count(state: &AppState, result: &str) {
    super::count(state, PROVIDER, result);
}

fn reject(state: &AppState, result: &str, error: ApiError) -> ApiError {
    super::reject(state, PROVIDER, result, error)
}

/// The Telegram channel a webhook is for.
async fn channel(state: &AppState, raw_id: &str) -> Result<Arc<ChannelRuntime>, ApiError> {
    super::channel_of(state, PROVIDER, ChannelKind::Telegram, raw_id).await
}

/// `POST`: checks the secret header, parses the update, stores its events and answers a
/// button tap.
pub(super) async fn receive(
    state: AppState,
    path: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let received_at = state.clock.now();
    let runtime = channel(&state, &path).await?;
    let ChannelSecrets::Telegram { secrets, .. } = &runtime.secrets else {
        return Err(ApiError::new(Code::ChannelNotFound, "no such channel"));
    };
    let header = request
        .headers()
        .get(verify::SECRET_HEADER)
        .and_then(|value| value.to_str().ok());
    verify::verify_secret(&secrets.secret_token, header)
        .map_err(|error| reject(&state, "bad_signature", error.into()))?;
    let mut update =
        telegram::parse(&body).map_err(|error| reject(&state, "malformed", error.into()))?;
    if let Some(callback) = &update.callback {
        crate::actors::telegram::resolve_callback(&state, runtime.id, callback, &mut update.events)
            .await;
    }
    let (new, duplicates, dropped) = take(&state, &runtime, update.events, received_at).await?;
    if let Some(callback) = update.callback {
        crate::actors::telegram::answer_callback(&state.settings.telegram, secrets, callback.id);
    }
    count(&state, if dropped > 0 { "inactive" } else { "accepted" });
    Ok(HttpResponse::Ok().json(json!({"new": new, "duplicates": duplicates, "dropped": dropped})))
}

/// Stores the events unless the channel is off; answers (new, duplicates, dropped).
async fn take(
    state: &AppState,
    runtime: &Arc<ChannelRuntime>,
    events: Vec<InboundEvent>,
    received_at: Millis,
) -> Result<(usize, usize, usize), ApiError> {
    runtime.webhook_reached(state);
    if !runtime.receives() {
        return Ok((0, 0, events.len()));
    }
    let accepted = state
        .ingress()
        .submit(runtime.org_id, runtime.id, events, received_at)
        .await
        .map_err(|_| {
            reject(
                state,
                "unavailable",
                ApiError::new(
                    Code::Unavailable,
                    "the events could not be stored; retry later",
                ),
            )
        })?;
    Ok((accepted.new, accepted.duplicates, 0))
}
