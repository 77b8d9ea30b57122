//! `/webhooks/meta`: the Meta app's own webhook, which every channel connected through the
//! consent flow shares. Meta verifies it with the app's verify token and signs each
//! notification with the app secret; the events are routed to channels by account: a
//! WhatsApp change by its `metadata.phone_number_id`, a Page or Instagram entry by its `id`.
//! Accounts no live channel speaks for are acknowledged and dropped (Meta would otherwise
//! retry them for days).

use super::whatsapp_cloud::Handshake;
use crate::actors::ChannelRuntime;
use crate::adapters::messenger::{self, Platform};
use crate::adapters::whatsapp_cloud::{parse, verify};
use crate::domain::{ChannelKind, InboundEvent};
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::sync::Arc;

const PROVIDER: &str = "meta";

pub(super) fn count(state: &AppState, result: &str) {
    state
        .metrics
        .webhooks
        .with_label_values(&[PROVIDER, result])
        .inc();
}

pub(super) fn reject(state: &AppState, result: &str, error: ApiError) -> ApiError {
    count(state, result);
    error
}

/// `GET`: echoes `hub.challenge` when `hub.verify_token` is the app's verify token.
pub(super) async fn handshake(
    state: AppState,
    query: web::Query<Handshake>,
) -> Result<HttpResponse, ApiError> {
    let expected = state.settings.meta.verify_token.as_deref();
    let challenge = expected.and_then(|expected| {
        verify::handshake(
            query.mode.as_deref(),
            query.verify_token.as_deref(),
            query.challenge.as_deref(),
            expected,
        )
    });
    match challenge {
        Some(challenge) => Ok(HttpResponse::Ok()
            .content_type("text/plain")
            .body(challenge.to_owned())),
        None => Err(reject(
            &state,
            "verification_failed",
            ApiError::new(
                Code::VerificationFailed,
                "hub.verify_token does not match the app's verify token (PARLEY_META_VERIFY_TOKEN)",
            ),
        )),
    }
}

/// The accounts a notification addresses, each with the kind of channel that speaks for it.
fn accounts(body: &Value) -> Result<(ChannelKind, Vec<String>), ApiError> {
    let malformed = |message: String| ApiError::new(Code::MalformedPayload, message);
    let object = body
        .get("object")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the notification has no `object`".into()))?;
    let entries = body
        .get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut ids: Vec<String> = Vec::new();
    let mut add = |id: Option<&str>| {
        if let Some(id) = id {
            if !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        }
    };
    let kind = match object {
        "whatsapp_business_account" => {
            for change in entries
                .iter()
                .filter_map(|entry| entry.get("changes").and_then(Value::as_array))
                .flatten()
            {
                add(change
                    .pointer("/value/metadata/phone_number_id")
                    .and_then(Value::as_str));
            }
            ChannelKind::WhatsappCloud
        }
        "page" | "instagram" => {
            for entry in entries {
                add(entry.get("id").and_then(Value::as_str));
            }
            if object == "page" {
                ChannelKind::Messenger
            } else {
                ChannelKind::Instagram
            }
        }
        other => return Err(malformed(format!("unknown object `{other}`"))),
    };
    Ok((kind, ids))
}

/// `POST`: verifies the app's signature over the raw body, routes each account's events to
/// its channel and stores them; answered once they are committed.
pub(super) async fn receive(
    state: AppState,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let received_at = state.clock.now();
    if !state.settings.meta.app_configured {
        return Err(reject(
            &state,
            "unknown_channel",
            ApiError::new(Code::ChannelNotFound, "no Meta app is configured"),
        ));
    }
    let signature = request
        .headers()
        .get("X-Hub-Signature-256")
        .and_then(|value| value.to_str().ok());
    verify::verify_signature(state.settings.meta.graph.app_secret(), &body, signature)
        .map_err(|error| reject(&state, "bad_signature", error.into()))?;
    let value: Value = serde_json::from_slice(&body).map_err(|error| {
        reject(
            &state,
            "malformed",
            ApiError::new(
                Code::MalformedPayload,
                format!("the body is not JSON: {error}"),
            ),
        )
    })?;
    let (kind, accounts) =
        routed(&value, &body).map_err(|error| reject(&state, "malformed", error))?;
    let (mut new, mut duplicates, mut dropped) = (0, 0, 0);
    for (account_id, events) in accounts {
        let Some(runtime) = channel(&state, kind, &account_id).await? else {
            tracing::warn!(kind = %kind, account_id, "a webhook for an account no channel speaks for");
            count(&state, "unknown_account");
            continue;
        };
        let taken = take(&state, &runtime, events, received_at).await?;
        new += taken.new;
        duplicates += taken.duplicates;
        dropped += taken.dropped;
    }
    count(&state, "accepted");
    Ok(HttpResponse::Ok().json(json!({"new": new, "duplicates": duplicates, "dropped": dropped})))
}

/// What a channel made of a webhook's events.
#[derive(Default)]
pub(super) struct Taken {
    pub(super) new: usize,
    pub(super) duplicates: usize,
    pub(super) dropped: usize,
}

/// Stores a channel's events, once they are known to come from the provider: an inactive or
/// disconnected channel drops them (the webhook is still acknowledged).
pub(super) async fn take(
    state: &AppState,
    runtime: &Arc<ChannelRuntime>,
    events: Vec<InboundEvent>,
    received_at: crate::domain::Millis,
) -> Result<Taken, ApiError> {
    runtime.webhook_reached(state);
    if !runtime.receives() {
        count(state, "inactive");
        return Ok(Taken {
            dropped: events.len(),
            ..Taken::default()
        });
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
    Ok(Taken {
        new: accepted.new,
        duplicates: accepted.duplicates,
        dropped: 0,
    })
}

async fn channel(
    state: &AppState,
    kind: ChannelKind,
    account_id: &str,
) -> Result<Option<Arc<ChannelRuntime>>, ApiError> {
    let unavailable = |error| {
        reject(
            state,
            "unavailable",
            ApiError::from_store(error, Code::ChannelNotFound),
        )
    };
    let Some(record) = state
        .store
        .channel_by_account(kind, account_id)
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    state.channel_or_load(record.id).await.map_err(unavailable)
}

/// An account's id and the events of a notification addressed to it.
type AccountEvents = (String, Vec<InboundEvent>);

/// Each addressed account with its events: WhatsApp changes are parsed per phone number,
/// Page and Instagram entries in one pass.
fn routed(value: &Value, body: &[u8]) -> Result<(ChannelKind, Vec<AccountEvents>), ApiError> {
    let (kind, account_ids) = accounts(value)?;
    let routed = match kind {
        ChannelKind::WhatsappCloud => account_ids
            .into_iter()
            .map(|account_id| {
                let events = parse::parse(body, &account_id)?.events;
                Ok((account_id, events))
            })
            .collect::<Result<Vec<_>, ApiError>>()?,
        _ => {
            let platform = match kind {
                ChannelKind::Instagram => Platform::Instagram,
                _ => Platform::Messenger,
            };
            messenger::parse(platform, body)?
                .into_iter()
                .map(|account| (account.account_id, account.events))
                .collect()
        }
    };
    Ok((kind, routed))
}
