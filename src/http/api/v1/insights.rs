//! `/api/v1/conversations/{id}/insights`: sentiment and summary of a conversation.
//!
//! Both routes answer `{"insight": …}`: the insight, or `null` on a read before the first one
//! was generated (the error table has no code for "not generated yet", and an absent insight
//! is a normal state of a conversation, not a failure). Owners, admins and users read and
//! generate insights; the bot identity does neither. A conversation that is not the caller's
//! organisation's is `conversation_not_found`.

use super::conversations::{conversation_id, conversation_not_found};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::insights::{refresh_insight, InsightRecord};
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use serde::Serialize;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/conversations/{id}/insights", web::post().to(generate))
        .route("/conversations/{id}/insights", web::get().to(read));
}

/// A conversation's insight; `null` until one is generated.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InsightAnswer {
    insight: Option<InsightRecord>,
}

/// Generates the conversation's insight now from its latest 500 messages, stores it (in
/// place of the previous one) and returns it. The sentiment reads the guest's messages only;
/// without any it is `neutral` at 0, and the summary is `""` when nothing is worth keeping.
/// The answer is `{"insight": {…}}`, the same shape as the read.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/insights", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = InsightAnswer), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn generate(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let conversation_id = conversation_id(&id)?;
    let ai = state.ai_for(caller.0.org_id).await;
    let insight = refresh_insight(
        &state.store,
        &*ai,
        caller.0.org_id,
        conversation_id,
        state.clock.now(),
    )
    .await
    .map_err(store_error)?;
    tracing::info!(
        conversation_id = %conversation_id,
        sentiment = %insight.sentiment,
        "insight generated"
    );
    Ok(HttpResponse::Ok().json(InsightAnswer {
        insight: Some(insight),
    }))
}

/// The conversation's latest insight: `{"insight": {…}}`, or `{"insight": null}` (still 200)
/// when none was generated yet.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/insights", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = InsightAnswer), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let insight = state
        .store
        .insight(caller.0.org_id, conversation_id(&id)?)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(InsightAnswer { insight }))
}

/// Insights describe the guest's conversation: staff who read the inbox may see them.
fn require_reader(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.role.can_read_conversations() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "read or generate conversation insights",
        ))
    }
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => conversation_not_found(),
        other => ApiError::from_store(other, Code::ConversationNotFound),
    }
}
