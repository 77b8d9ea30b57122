//! `/api/v1/ai/agents`: the personas an AI Agent step runs as. A step names one in its
//! `agent` field, by id or by name; the agent's instructions open the step's system prompt.

use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::ai_agents::{AiAgentRecord, AGENTS_MAX, INSTRUCTIONS_MAX_CHARS, NAME_MAX_CHARS};
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use serde::Serialize;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/ai/agents", web::post().to(create))
        .route("/ai/agents", web::get().to(list))
        .route("/ai/agents/{id}", web::get().to(read))
        .route("/ai/agents/{id}", web::put().to(update))
        .route("/ai/agents/{id}", web::delete().to(delete));
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(_) => ApiError::field(
            Code::AiAgentNameTaken,
            "name",
            "another AI agent of the organisation has this name",
        ),
        other => ApiError::from_store(other, Code::AiAgentNotFound),
    }
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.role.can_manage_channels() {
        Ok(())
    } else {
        Err(ApiError::forbidden("change AI agents"))
    }
}

/// The `name` and `instructions` of a request, trimmed and within their limits.
fn parse_agent(body: &[u8]) -> Result<(String, String), ApiError> {
    let body = super::json_body(body)?;
    Ok((
        super::required_text(&body, "name", NAME_MAX_CHARS)?,
        super::required_text(&body, "instructions", INSTRUCTIONS_MAX_CHARS)?,
    ))
}

/// Adds an AI agent (Owner and Admin): `{"name", "instructions"}`.
#[utoipa::path(post, path = "/api/v1/ai/agents", tag = "ai",
    request_body(content = Object, description = "`{\"name\", \"instructions\"}`"),
    responses((status = 201, body = AiAgentRecord), (status = 409, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let (name, instructions) = parse_agent(&body)?;
    let org_id = caller.0.org_id;
    let count = state
        .store
        .count_ai_agents(org_id)
        .await
        .map_err(store_error)?;
    if count >= AGENTS_MAX {
        return Err(ApiError::new(
            Code::TooManyAiAgents,
            format!("an organisation keeps {AGENTS_MAX} AI agents at most; delete one first"),
        ));
    }
    let record = state
        .store
        .create_ai_agent(org_id, &name, &instructions, state.clock.now())
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Created().json(record))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AiAgentList {
    agents: Vec<AiAgentRecord>,
}

/// Every AI agent, by name.
#[utoipa::path(get, path = "/api/v1/ai/agents", tag = "ai",
    responses((status = 200, body = AiAgentList)), security(("api_key" = [])))]
pub(crate) async fn list(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    let agents = state
        .store
        .ai_agents(caller.0.org_id)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(AiAgentList { agents }))
}

/// One AI agent, by id.
#[utoipa::path(get, path = "/api/v1/ai/agents/{id}", tag = "ai",
    responses((status = 200, body = AiAgentRecord), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = state
        .store
        .ai_agent(caller.0.org_id, &id)
        .await
        .map_err(store_error)?;
    if record.id != *id {
        return Err(store_error(StoreError::NotFound));
    }
    Ok(HttpResponse::Ok().json(record))
}

/// Replaces an AI agent's name and instructions (Owner and Admin). Steps that name the agent
/// by id run with the new instructions from their next turn.
#[utoipa::path(put, path = "/api/v1/ai/agents/{id}", tag = "ai",
    request_body(content = Object, description = "`{\"name\", \"instructions\"}`"),
    responses((status = 200, body = AiAgentRecord), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let (name, instructions) = parse_agent(&body)?;
    let record = state
        .store
        .update_ai_agent(
            caller.0.org_id,
            &id,
            &name,
            &instructions,
            state.clock.now(),
        )
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(record))
}

/// Deletes an AI agent (Owner and Admin). A live step that still names it fails its turns
/// (its `failure` edge, if it has one) until the journey names another.
#[utoipa::path(delete, path = "/api/v1/ai/agents/{id}", tag = "ai",
    responses((status = 204), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    state
        .store
        .delete_ai_agent(caller.0.org_id, &id)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::NoContent().finish())
}
