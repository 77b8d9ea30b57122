//! `/webhooks/{twilio_whatsapp|twilio_sms}/{channel_id}` (a contact's message) and
//! `…/{channel_id}/status` (status callbacks): Twilio's form posts, checked with
//! `X-Twilio-Signature` over the URL Twilio requested. Behind a proxy that URL is Parley's
//! public address (`PARLEY_PUBLIC_URL`) and the request's path, not the address the request
//! reached. An SMS channel sends only (broadcasts and journeys): a contact's SMS is
//! acknowledged and dropped.

use super::meta::take;
use crate::actors::{ChannelRuntime, ChannelSecrets};
use crate::adapters::twilio::{parse, signature, Flavor, TwilioSecrets};
use crate::domain::ChannelKind;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::Arc;

const PROVIDER: &str = "twilio";

/// The empty TwiML answer: Parley replies through the API, never inline.
const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

fn count(state: &AppState, result: &str) {
    super::count(state, PROVIDER, result);
}

fn reject(state: &AppState, result: &str, error: ApiError) -> ApiError {
    super::reject(state, PROVIDER, result, error)
}

/// The URL Twilio signed: Parley's public address when configured, else the request's own.
fn signed_url(state: &AppState, request: &HttpRequest) -> String {
    let path = request.uri().path_and_query().map_or_else(
        || request.path().to_owned(),
        |path| path.as_str().to_owned(),
    );
    match &state.settings.public_url {
        Some(base) => format!("{}{path}", base.as_str().trim_end_matches('/')),
        None => {
            let info = request.connection_info();
            format!("{}://{}{path}", info.scheme(), info.host())
        }
    }
}

/// The channel a webhook names, with its credentials, after the signature is checked.
async fn verified(
    state: &AppState,
    raw_kind: &str,
    raw_id: &str,
    request: &HttpRequest,
    params: &[(String, String)],
) -> Result<(Arc<ChannelRuntime>, Flavor), ApiError> {
    let not_found = || {
        reject(
            state,
            "unknown_channel",
            ApiError::new(Code::ChannelNotFound, "no such channel"),
        )
    };
    let (flavor, kind) = match raw_kind {
        "twilio_whatsapp" => (Flavor::Whatsapp, ChannelKind::TwilioWhatsapp),
        "twilio_sms" => (Flavor::Sms, ChannelKind::TwilioSms),
        _ => return Err(not_found()),
    };
    let runtime = super::channel_of(state, PROVIDER, kind, raw_id).await?;
    let ChannelSecrets::Twilio {
        secrets: TwilioSecrets { auth_token, .. },
        ..
    } = &runtime.secrets
    else {
        return Err(not_found());
    };
    let header = request
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|value| value.to_str().ok());
    signature::verify(auth_token, &signed_url(state, request), params, header)
        .map_err(|error| reject(state, "bad_signature", error.into()))?;
    Ok((runtime, flavor))
}

fn form(state: &AppState, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    if body.is_empty() {
        return Err(reject(
            state,
            "malformed",
            ApiError::new(Code::MalformedPayload, "the webhook has no form body"),
        ));
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

fn twiml() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(EMPTY_TWIML)
}

/// `POST /webhooks/{kind}/{channel_id}`: a contact's message.
pub(super) async fn inbound(
    state: AppState,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let received_at = state.clock.now();
    let (raw_kind, raw_id) = path.into_inner();
    let params = form(&state, &body)?;
    let (runtime, flavor) = verified(&state, &raw_kind, &raw_id, &request, &params).await?;
    if flavor == Flavor::Sms {
        runtime.webhook_reached(&state);
        tracing::info!(channel_id = %runtime.id, "an SMS channel sends only; a contact's SMS was dropped");
        count(&state, "outbound_only");
        return Ok(twiml());
    }
    let events = parse::message(flavor, &params)
        .map_err(|error| reject(&state, "malformed", error.into()))?;
    take(&state, &runtime, events, received_at).await?;
    count(&state, "accepted");
    Ok(twiml())
}

/// `POST /webhooks/{kind}/{channel_id}/status`: a status callback of a message Parley sent.
pub(super) async fn status(
    state: AppState,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let received_at = state.clock.now();
    let (raw_kind, raw_id) = path.into_inner();
    let params = form(&state, &body)?;
    let (runtime, _) = verified(&state, &raw_kind, &raw_id, &request, &params).await?;
    let event =
        parse::status(&params).map_err(|error| reject(&state, "malformed", error.into()))?;
    if let Some(event) = event {
        take(&state, &runtime, vec![event], received_at).await?;
    }
    count(&state, "accepted");
    Ok(twiml())
}
