//! `/api/v1/organization`: the caller's organisation, and the greeting its built-in bot
//! answers with until a journey is deployed.

use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::journey::{validate, Journey};
use actix_web::{web, HttpResponse};
use serde::Serialize;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/organization", web::get().to(read))
        .route("/organization", web::patch().to(update));
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    id: crate::domain::OrgId,
    /// What the built-in bot answers every new message with.
    greeting_text: String,
}

async fn current(state: &AppState, caller: &Caller) -> Result<OrganizationView, ApiError> {
    let stored = state
        .store
        .builtin_journey(caller.0.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    let journey: Journey = serde_json::from_str(&stored.graph)
        .map_err(|_| ApiError::new(Code::Internal, "the stored greeting journey is unreadable"))?;
    Ok(OrganizationView {
        id: caller.0.org_id,
        greeting_text: journey.greeting_text().unwrap_or_default().to_owned(),
    })
}

/// Reads the organisation's settings.
#[utoipa::path(get, path = "/api/v1/organization", tag = "organization",
    responses((status = 200, body = OrganizationView)), security(("api_key" = [])))]
pub(crate) async fn read(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(current(&state, &caller).await?))
}

/// Changes the greeting of the built-in bot (Owner and Admin). `{{contact.name}}` and other
/// variables are filled in when it is sent.
#[utoipa::path(patch, path = "/api/v1/organization", tag = "organization",
    request_body(content = Object, description = "`{\"greeting_text\": \"…\"}`"),
    responses((status = 200, body = OrganizationView), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !caller.0.role.can_manage_channels() {
        return Err(ApiError::forbidden("change the organisation's settings"));
    }
    let body = super::json_body(&body)?;
    let Some(greeting) = body.get("greeting_text") else {
        return Err(ApiError::missing("greeting_text"));
    };
    let greeting = greeting.as_str().ok_or_else(|| {
        ApiError::field(
            Code::InvalidField,
            "greeting_text",
            "`greeting_text` must be a string",
        )
    })?;
    let journey = Journey::greeting(greeting);
    if let Some(problem) = validate(&journey).into_iter().next() {
        return Err(ApiError::field(
            Code::InvalidField,
            "greeting_text",
            problem.message,
        ));
    }
    let graph = serde_json::to_string(&journey).expect("journeys serialise");
    state
        .store
        .update_builtin_journey(caller.0.org_id, &graph, state.clock.now())
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    state.forget_journey(caller.0.org_id);
    Ok(HttpResponse::Ok().json(current(&state, &caller).await?))
}
