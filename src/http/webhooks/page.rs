//! `/webhooks/{messenger|instagram}/{channel_id}`: the webhook of a Messenger or Instagram
//! channel added with its own Meta app's credentials. Meta verifies it with the channel's
//! verify token and signs each notification with that app's secret; only the entries of the
//! channel's own Page or Instagram account are taken. (Channels connected through Parley's
//! app share `/webhooks/meta`.)

use super::meta::{count, reject, take};
use super::whatsapp_cloud::Handshake;
use crate::actors::{ChannelRuntime, ChannelSecrets};
use crate::adapters::messenger::{self, Platform};
use crate::adapters::whatsapp_cloud::verify;
use crate::domain::ChannelKind;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::sync::Arc;

/// The Page or Instagram channel a webhook is for, with its kind checked.
async fn channel(
    state: &AppState,
    kind: ChannelKind,
    raw_id: &str,
) -> Result<Arc<ChannelRuntime>, ApiError> {
    let runtime = super::channel_of(state, "meta", kind, raw_id).await?;
    if !matches!(runtime.secrets, ChannelSecrets::Page { .. }) {
        return Err(reject(
            state,
            "unknown_channel",
            ApiError::new(Code::ChannelNotFound, "no such channel"),
        ));
    }
    Ok(runtime)
}

fn kind_of(raw: &str) -> Option<ChannelKind> {
    match raw {
        "messenger" => Some(ChannelKind::Messenger),
        "instagram" => Some(ChannelKind::Instagram),
        _ => None,
    }
}

/// `GET`: echoes `hub.challenge` when `hub.verify_token` is the channel's verify token.
pub(super) async fn handshake(
    state: AppState,
    path: web::Path<(String, String)>,
    query: web::Query<Handshake>,
) -> Result<HttpResponse, ApiError> {
    let (raw_kind, raw_id) = path.into_inner();
    let kind = kind_of(&raw_kind)
        .ok_or_else(|| ApiError::new(Code::ChannelNotFound, "no such channel"))?;
    let runtime = channel(&state, kind, &raw_id).await?;
    let ChannelSecrets::Page { secrets, .. } = &runtime.secrets else {
        return Err(ApiError::new(Code::ChannelNotFound, "no such channel"));
    };
    let challenge = Some(secrets.verify_token.as_str())
        .filter(|token| !token.is_empty())
        .and_then(|expected| {
            verify::handshake(
                query.mode.as_deref(),
                query.verify_token.as_deref(),
                query.challenge.as_deref(),
                expected,
            )
        });
    match challenge {
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

/// `POST`: verifies the signature with the channel's app secret, keeps the entries of the
/// channel's own account, and stores their events.
pub(super) async fn receive(
    state: AppState,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let received_at = state.clock.now();
    let (raw_kind, raw_id) = path.into_inner();
    let kind = kind_of(&raw_kind)
        .ok_or_else(|| ApiError::new(Code::ChannelNotFound, "no such channel"))?;
    let runtime = channel(&state, kind, &raw_id).await?;
    let ChannelSecrets::Page { public, secrets } = &runtime.secrets else {
        return Err(ApiError::new(Code::ChannelNotFound, "no such channel"));
    };
    let signature = request
        .headers()
        .get("X-Hub-Signature-256")
        .and_then(|value| value.to_str().ok());
    verify::verify_signature(&secrets.app_secret, &body, signature)
        .map_err(|error| reject(&state, "bad_signature", error.into()))?;
    let platform = match kind {
        ChannelKind::Instagram => Platform::Instagram,
        _ => Platform::Messenger,
    };
    let account = match kind {
        ChannelKind::Instagram => public.instagram_id.as_deref().unwrap_or(&public.page_id),
        _ => public.page_id.as_str(),
    };
    let mut events = Vec::new();
    for entry in messenger::parse(platform, &body)
        .map_err(|error| reject(&state, "malformed", error.into()))?
    {
        if entry.account_id == account {
            events.extend(entry.events);
        } else {
            tracing::warn!(channel_id = %runtime.id, account_id = entry.account_id, "ignored webhook entries of another account");
            count(&state, "unknown_account");
        }
    }
    let taken = take(&state, &runtime, events, received_at).await?;
    count(&state, "accepted");
    Ok(HttpResponse::Ok()
        .json(json!({"new": taken.new, "duplicates": taken.duplicates, "dropped": taken.dropped})))
}
