//! `POST /api/v1/channels/{id}/identity-secret`: a new identity secret for a web chat
//! (owners and admins). The business's server signs its user ids with it
//! (`user_hash` = HMAC-SHA256(secret, user_id) as lowercase hex) so the widget can say who
//! the visitor is; the secret is answered once, here, and sealed at rest. A new secret ends
//! the old one: identified visitors signed with it must be signed again.

use super::channels::{channel_id, require_manager, seal};
use crate::domain::ChannelKind;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;

pub fn configure(config: &mut web::ServiceConfig) {
    config.route("/channels/{id}/identity-secret", web::post().to(rotate));
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct IdentitySecret {
    identity_secret: String,
    /// How `user_hash` is made from it.
    algorithm: &'static str,
}

#[utoipa::path(post, path = "/api/v1/channels/{id}/identity-secret", tag = "channels",
    params(("id" = String, Path, description = "Channel id (a web chat)")),
    responses((status = 200, body = IdentitySecret), (status = 404, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn rotate(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let id = channel_id(&id)?;
    let record = state
        .store
        .channel(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    if record.kind != ChannelKind::Webchat {
        return Err(ApiError::new(
            Code::InvalidField,
            format!("{} channels have no identified visitors", record.kind),
        ));
    }
    let secret = crate::crypto::generate_token("wcid");
    let now = state.clock.now();
    state
        .store
        .refresh_channel(
            record.org_id,
            record.id,
            crate::store::ChannelRefresh {
                status: record.status,
                status_reason: record.status_reason.clone(),
                public_config: record.public_config.clone(),
                sealed_secrets: seal(&state, &json!({"identity_secret": secret})),
                connection: record.connection.clone(),
            },
            now,
            crate::store::script::Script::new(),
        )
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    let record = state
        .store
        .channel(record.org_id, record.id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    if let Err(error) = state.start_channel(&record) {
        tracing::error!(channel_id = %record.id, error = %error, "failed to restart a channel");
        return Err(ApiError::new(
            Code::Internal,
            "the secret was stored but the channel could not be restarted",
        ));
    }
    Ok(HttpResponse::Ok().json(IdentitySecret {
        identity_secret: secret,
        algorithm: "user_hash = hex(HMAC-SHA256(identity_secret, user_id))",
    }))
}
