//! `/webhooks/{provider}/{channel_id}` and the Meta app's `/webhooks/meta`: provider ingress. A webhook is answered 200 only after
//! its events are committed to the `inbound` table.

mod email;
mod evolution;
mod meta;
mod page;
mod telegram;
mod twilio;
mod whatsapp_cloud;

use actix_web::web;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        // A mail may be 10 MB, and a form carries it base64-encoded.
        .service(
            web::resource("/webhooks/email/{channel_id}/mailgun")
                .app_data(web::PayloadConfig::new(email::MAX_POST_BYTES))
                .route(web::post().to(email::mailgun)),
        )
        .service(
            web::resource("/webhooks/email/{channel_id}/sendgrid")
                .app_data(web::PayloadConfig::new(email::MAX_POST_BYTES))
                .route(web::post().to(email::sendgrid)),
        )
        .route("/webhooks/meta", web::get().to(meta::handshake))
        .route("/webhooks/meta", web::post().to(meta::receive))
        .route(
            "/webhooks/whatsapp_cloud/{channel_id}",
            web::get().to(whatsapp_cloud::handshake),
        )
        .route(
            "/webhooks/whatsapp_cloud/{channel_id}",
            web::post().to(whatsapp_cloud::receive),
        )
        .route(
            "/webhooks/{kind}/{channel_id}/status",
            web::post().to(twilio::status),
        )
        .route(
            "/webhooks/telegram/{channel_id}",
            web::post().to(telegram::receive),
        )
        // After the WhatsApp and Telegram routes, which the pattern would otherwise take.
        .route(
            "/webhooks/{kind}/{channel_id}",
            web::get().to(page::handshake),
        )
        .route("/webhooks/{kind}/{channel_id}", web::post().to(receive));
}

/// A provider's post to a channel's own webhook, by the channel's kind.
async fn receive(
    state: crate::http::AppState,
    path: web::Path<(String, String)>,
    request: actix_web::HttpRequest,
    body: web::Bytes,
) -> Result<actix_web::HttpResponse, crate::http::error::ApiError> {
    match path.0.as_str() {
        "twilio_whatsapp" | "twilio_sms" => twilio::inbound(state, path, request, body).await,
        "whatsapp_unofficial" => evolution::receive(state, path, request, body).await,
        _ => page::receive(state, path, request, body).await,
    }
}

/// Counts a webhook's outcome under its provider's label.
pub(super) fn count(state: &crate::http::AppState, provider: &str, result: &str) {
    state
        .metrics
        .webhooks
        .with_label_values(&[provider, result])
        .inc();
}

/// Counts a refused webhook and answers its error.
pub(super) fn reject(
    state: &crate::http::AppState,
    provider: &str,
    result: &str,
    error: crate::http::error::ApiError,
) -> crate::http::error::ApiError {
    count(state, provider, result);
    error
}

/// The live channel of `kind` a webhook's path names (`/webhooks/{kind}/{channel_id}`): an
/// unknown or malformed id, or a channel of another kind, is 404 `channel_not_found`.
pub(super) async fn channel_of(
    state: &crate::http::AppState,
    provider: &str,
    kind: crate::domain::ChannelKind,
    raw_id: &str,
) -> Result<std::sync::Arc<crate::actors::ChannelRuntime>, crate::http::error::ApiError> {
    use crate::http::error::{ApiError, Code};
    let not_found = || {
        reject(
            state,
            provider,
            "unknown_channel",
            ApiError::new(Code::ChannelNotFound, "no such channel"),
        )
    };
    let id: crate::domain::ChannelId = raw_id.parse().map_err(|_| not_found())?;
    let runtime = state
        .channel_or_load(id)
        .await
        .map_err(|error| {
            reject(
                state,
                provider,
                "unavailable",
                ApiError::from_store(error, Code::ChannelNotFound),
            )
        })?
        .ok_or_else(not_found)?;
    if runtime.kind != kind {
        return Err(not_found());
    }
    Ok(runtime)
}
