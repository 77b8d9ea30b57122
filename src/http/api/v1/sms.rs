//! SMS: what a text costs before it is sent (`POST /api/v1/sms/segments`), and sending to a
//! number on an SMS channel (`POST /api/v1/channels/{id}/messages`). SMS sends only —
//! broadcasts and journeys — so its conversations stay out of the unified inbox.

use super::channels::{channel_id, require_manager};
use super::conversations::require_reader;
use crate::adapters::twilio::{self, segments};
use crate::domain::{ChannelKind, MessageContent};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/sms/segments", web::post().to(count))
        .route("/channels/{id}/messages", web::post().to(send));
}

/// The text of a body, as typed (not trimmed: spaces cost septets too).
fn text(body: &Value) -> Result<String, ApiError> {
    match body.get("text") {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        None | Some(Value::Null) => Err(ApiError::missing("text")),
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            "text",
            "`text` must be a non-empty string",
        )),
    }
}

/// How many segments a text costs as SMS, in which encoding, and whether it is over the
/// 1,600-character cap: what the composer shows before sending.
#[utoipa::path(post, path = "/api/v1/sms/segments", tag = "channels",
    request_body(content = Object, description = "`{\"text\": \"…\"}`"),
    responses((status = 200, body = segments::SegmentCount), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn count(caller: Caller, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let body = super::json_body(&body)?;
    Ok(HttpResponse::Ok().json(segments::count(&text(&body)?)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SmsSent {
    message: crate::store::MessageRecord,
    segments: segments::SegmentCount,
}

/// Sends a text to a number on an SMS channel (owners and admins). The message is stored
/// first and sent by the channel; its delivery status follows Twilio's callbacks.
#[utoipa::path(post, path = "/api/v1/channels/{id}/messages", tag = "channels",
    params(("id" = String, Path, description = "Channel id")),
    request_body(content = Object, description = "`{\"to\": \"+351912345678\", \"text\": \"…\", \"name\"?: \"…\"}`"),
    responses((status = 202, body = SmsSent), (status = 404, body = crate::http::error::ErrorBody),
              (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn send(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let id = channel_id(&id)?;
    let body = super::json_body(&body)?;
    let record = state
        .store
        .channel(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    if record.kind != ChannelKind::TwilioSms {
        return Err(ApiError::new(
            Code::OutboundNotSupported,
            format!(
                "{} channels answer contacts who write first; only SMS channels send to a number",
                record.kind
            ),
        ));
    }
    let raw_to = super::required_text(&body, "to", 32)?;
    let compact: String = raw_to
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    if !twilio::is_e164(&compact) {
        return Err(ApiError::field(
            Code::InvalidField,
            "to",
            "`to` is a number in international form, such as +351 912 345 678",
        ));
    }
    let name = super::text_field(&body, "name", 1, 255)?;
    let text = text(&body)?;
    let counted = segments::count(&text);
    if counted.too_long {
        return Err(ApiError::field(
            Code::InvalidField,
            "text",
            format!(
                "the text has {} characters; an SMS has at most {}",
                counted.characters,
                segments::SMS_MAX_CHARS
            ),
        ));
    }
    let runtime = state
        .channel_or_load(id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?
        .ok_or_else(|| ApiError::new(Code::ChannelNotFound, "no such channel"))?;
    if !runtime.receives() || !runtime.status().0.can_send() {
        return Err(ApiError::new(
            Code::ChannelInactive,
            format!(
                "the channel is {}{}: nothing was sent",
                runtime.status().0.as_str(),
                if runtime.active() {
                    ""
                } else {
                    " and switched off"
                }
            ),
        ));
    }
    let message = state
        .notify_contact(
            caller.0.org_id,
            id,
            &compact,
            name,
            Some(compact.clone()),
            MessageContent::Text { body: text },
        )
        .await
        .map_err(|error| {
            tracing::error!(error = %error, "failed to store an SMS");
            ApiError::new(
                Code::Unavailable,
                "the message could not be stored; send it again",
            )
        })?;
    Ok(HttpResponse::Accepted().json(SmsSent {
        message,
        segments: counted,
    }))
}
