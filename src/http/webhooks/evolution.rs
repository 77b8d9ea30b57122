//! `/webhooks/whatsapp_unofficial/{channel_id}`: the webhooks of a channel's instance at the
//! unofficial WhatsApp provider, which carry the secret header Parley gave the instance. QR
//! rotations need nothing (the console polls the QR); a connection flips the channel to
//! `connected`; a logout, a ban or a session replaced elsewhere needs a new pairing
//! (`needs_reconnect`, owners and admins notified); a QR not scanned in time or a phone
//! offline is an `error` with its explanation; messages and receipts are stored like any
//! channel's.

use super::meta::take;
use crate::actors::bus::Event;
use crate::actors::{ChannelRuntime, ChannelSecrets};
use crate::adapters::evolution::parse::{self, Notice};
use crate::adapters::evolution::{disconnect_reason, SECRET_HEADER};
use crate::adapters::WebhookError;
use crate::domain::{ChannelKind, ChannelStatus};
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

const PROVIDER: &str = "evolution";

fn count(state: &AppState, result: &str) {
    super::count(state, PROVIDER, result);
}

fn reject(state: &AppState, result: &str, error: ApiError) -> ApiError {
    super::reject(state, PROVIDER, result, error)
}

/// Moves the channel to `status` with `reason`, unless it is there already or disconnected.
async fn set_status(
    state: &AppState,
    runtime: &ChannelRuntime,
    status: ChannelStatus,
    reason: &str,
) -> Result<(), ApiError> {
    let (current, current_reason) = runtime.status();
    if current == ChannelStatus::Disconnected
        || (current == status && current_reason.as_deref() == Some(reason))
    {
        return Ok(());
    }
    let now = state.clock.now();
    let event = Event::ChannelUpdated {
        channel_id: runtime.id,
        status,
        reason: Some(reason.to_owned()),
    };
    let events = crate::actors::bus::log_script(runtime.org_id, std::slice::from_ref(&event), now);
    state
        .store
        .set_channel_status(runtime.id, status, Some(reason), now, events)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    runtime.set_status(status, Some(reason.to_owned()));
    state.bus.publish(runtime.org_id, event);
    Ok(())
}

/// `POST`: checks the secret header, then acts on what the provider says.
pub(super) async fn receive(
    state: AppState,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let received_at = state.clock.now();
    let not_found = || {
        reject(
            &state,
            "unknown_channel",
            ApiError::new(Code::ChannelNotFound, "no such channel"),
        )
    };
    let runtime: Arc<ChannelRuntime> =
        super::channel_of(&state, PROVIDER, ChannelKind::WhatsappUnofficial, &path.1).await?;
    let ChannelSecrets::Evolution { public, secrets } = &runtime.secrets else {
        return Err(not_found());
    };
    let given = request
        .headers()
        .get(SECRET_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            reject(
                &state,
                "bad_signature",
                WebhookError::MissingSignature.into(),
            )
        })?;
    if !bool::from(given.as_bytes().ct_eq(secrets.webhook_secret.as_bytes())) {
        return Err(reject(
            &state,
            "bad_signature",
            WebhookError::BadSignature.into(),
        ));
    }
    let (instance, notice) =
        parse::parse(&body).map_err(|error| reject(&state, "malformed", error.into()))?;
    if instance != public.instance {
        // An earlier pairing attempt's instance: nothing of it concerns the channel now.
        count(&state, "unknown_account");
        return Ok(HttpResponse::Ok().json(json!({"ignored": "another instance"})));
    }
    match notice {
        Notice::Events(events) => {
            let taken = take(&state, &runtime, events, received_at).await?;
            count(&state, "accepted");
            return Ok(HttpResponse::Ok().json(
                json!({"new": taken.new, "duplicates": taken.duplicates, "dropped": taken.dropped}),
            ));
        }
        Notice::Open { wuid, profile_name } => {
            if runtime.status().0 != ChannelStatus::Disconnected {
                let number = wuid
                    .as_deref()
                    .and_then(|jid| jid.split('@').next())
                    .map(|digits| format!("+{}", digits.split(':').next().unwrap_or(digits)));
                let metadata = json!({
                    "phone_number": number.or(public.phone_number.clone()),
                    "profile_name": profile_name,
                    "label": public.label,
                });
                let now = state.clock.now();
                let event = Event::ChannelUpdated {
                    channel_id: runtime.id,
                    status: ChannelStatus::Connected,
                    reason: None,
                };
                let events = crate::actors::bus::log_script(
                    runtime.org_id,
                    std::slice::from_ref(&event),
                    now,
                );
                state
                    .store
                    .set_channel_paired(runtime.id, &metadata, now, events)
                    .await
                    .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
                runtime.set_status(ChannelStatus::Connected, None);
                state.bus.publish(runtime.org_id, event);
                tracing::info!(channel_id = %runtime.id, "unofficial WhatsApp number paired");
            }
        }
        Notice::QrLimit => {
            let (reason, _) = disconnect_reason(Some(428));
            if runtime.status().0 != ChannelStatus::Connected {
                set_status(&state, &runtime, ChannelStatus::Error, &reason).await?;
            }
        }
        Notice::Closed { reason: code } => {
            let (reason, pair_again) = disconnect_reason(code);
            if pair_again {
                crate::actors::tokens::needs_reconnect(
                    state.get_ref(),
                    runtime.org_id,
                    runtime.id,
                    &runtime.name,
                    &reason,
                )
                .await
                .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
            } else if runtime.status().0 == ChannelStatus::Connected {
                set_status(&state, &runtime, ChannelStatus::Error, &reason).await?;
            }
        }
        Notice::LoggedOut => {
            let (reason, _) = disconnect_reason(Some(401));
            crate::actors::tokens::needs_reconnect(
                state.get_ref(),
                runtime.org_id,
                runtime.id,
                &runtime.name,
                &reason,
            )
            .await
            .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
        }
        Notice::Qr(_) | Notice::Connecting | Notice::Ignored(_) => {}
    }
    runtime.webhook_reached(&state);
    count(&state, "accepted");
    Ok(HttpResponse::Ok().json(json!({"ok": true})))
}
