//! `/webhooks/email/{channel_id}/{mailgun|sendgrid}`: mail for an email channel posted by
//! an inbound provider. Mailgun's posts are signed with the channel's Mailgun signing key
//! (HMAC-SHA256 of timestamp and token; a stale timestamp or a token seen before is
//! refused); SendGrid's carry the channel's token in the URL. The raw MIME goes the way of
//! every received mail (`actors::email::inbound`), then to the inbound writer.

use super::meta::take;
use crate::actors::email::{self, InboundMail, InboundMailError};
use crate::actors::{ChannelRuntime, ChannelSecrets};
use crate::adapters::email::webhook::{self, MailgunSignature};
use crate::adapters::WebhookError;
use crate::domain::{ChannelKind, Millis};
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::sync::Arc;

/// Largest post taken: a 10 MB mail, base64-encoded, with the provider's other fields.
pub(super) const MAX_POST_BYTES: usize = 16 * 1024 * 1024;

/// How far a Mailgun signature's timestamp may be from now.
const MAILGUN_MAX_SKEW_MS: Millis = 5 * 60 * 1_000;

const PROVIDER: &str = "email";

fn count(state: &AppState, result: &str) {
    super::count(state, PROVIDER, result);
}

fn reject(state: &AppState, result: &str, error: ApiError) -> ApiError {
    super::reject(state, PROVIDER, result, error)
}

async fn channel(state: &AppState, raw_id: &str) -> Result<Arc<ChannelRuntime>, ApiError> {
    super::channel_of(state, PROVIDER, ChannelKind::Email, raw_id).await
}

fn content_type(request: &HttpRequest) -> &str {
    request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// `POST /webhooks/email/{channel_id}/mailgun`.
pub(super) async fn mailgun(
    state: AppState,
    path: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let runtime = channel(&state, &path).await?;
    let ChannelSecrets::Email { secrets, .. } = &runtime.secrets else {
        return Err(ApiError::new(Code::ChannelNotFound, "no such channel"));
    };
    let fields = webhook::form_fields(content_type(&request), body)
        .await
        .map_err(|error| reject(&state, "malformed", error.into()))?;
    let signature = MailgunSignature::from_fields(&fields)
        .map_err(|error| reject(&state, "bad_signature", error.into()))?;
    let Some(key) = secrets.mailgun_signing_key.as_deref() else {
        return Err(reject(
            &state,
            "bad_signature",
            ApiError::new(
                Code::InvalidSignature,
                "the channel has no Mailgun signing key; add one to take Mailgun's posts",
            ),
        ));
    };
    signature
        .verify(key)
        .map_err(|error| reject(&state, "bad_signature", error.into()))?;
    let now = state.clock.now();
    let fresh = signature
        .timestamp_millis()
        .is_some_and(|signed| (now - signed).abs() <= MAILGUN_MAX_SKEW_MS);
    if !fresh {
        return Err(reject(
            &state,
            "stale",
            ApiError::new(Code::InvalidSignature, "the signature's timestamp is stale"),
        ));
    }
    let claimed = state
        .store
        .claim_webhook_token(runtime.id, signature.token, now)
        .await
        .map_err(|_| unavailable(&state))?;
    if !claimed {
        return Err(reject(
            &state,
            "replayed",
            ApiError::new(
                Code::InvalidSignature,
                "the signature's token was used before",
            ),
        ));
    }
    let raw = webhook::mailgun_mime(&fields)
        .map_err(|error| reject(&state, "malformed", error.into()))?;
    receive(&state, &runtime, &raw, now).await
}

#[derive(serde::Deserialize)]
pub(super) struct SendgridQuery {
    token: Option<String>,
}

/// `POST /webhooks/email/{channel_id}/sendgrid?token=…`.
pub(super) async fn sendgrid(
    state: AppState,
    path: web::Path<String>,
    query: web::Query<SendgridQuery>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let runtime = channel(&state, &path).await?;
    let expected = crate::http::api::v1::email::sendgrid_token(&state, runtime.id);
    let given = query.token.as_deref().unwrap_or_default();
    let matches: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into();
    if !matches {
        let error: ApiError = if given.is_empty() {
            WebhookError::MissingSignature.into()
        } else {
            WebhookError::BadSignature.into()
        };
        return Err(reject(&state, "bad_signature", error));
    }
    let fields = webhook::form_fields(content_type(&request), body)
        .await
        .map_err(|error| reject(&state, "malformed", error.into()))?;
    let raw = webhook::sendgrid_mime(&fields)
        .map_err(|error| reject(&state, "malformed", error.into()))?;
    receive(&state, &runtime, &raw, state.clock.now()).await
}

fn unavailable(state: &AppState) -> ApiError {
    reject(
        state,
        "unavailable",
        ApiError::new(
            Code::Unavailable,
            "the mail could not be stored; retry later",
        ),
    )
}

async fn receive(
    state: &AppState,
    runtime: &Arc<ChannelRuntime>,
    raw: &[u8],
    received_at: Millis,
) -> Result<HttpResponse, ApiError> {
    let events = match email::inbound(state, runtime, raw).await {
        Ok(InboundMail::Events(events)) => events,
        Ok(InboundMail::Automatic) => {
            count(state, "automatic");
            return Ok(HttpResponse::Ok().json(json!({"new": 0, "duplicates": 0, "dropped": 1})));
        }
        Err(InboundMailError::Malformed(error)) => {
            return Err(reject(state, "malformed", error.into()))
        }
        Err(InboundMailError::Store(_)) => return Err(unavailable(state)),
    };
    let taken = take(state, runtime, events, received_at).await?;
    count(state, "accepted");
    Ok(HttpResponse::Ok()
        .json(json!({"new": taken.new, "duplicates": taken.duplicates, "dropped": taken.dropped})))
}
