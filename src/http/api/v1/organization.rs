//! `/api/v1/organization`: the caller's organisation — the greeting its built-in bot answers
//! with until a journey is deployed, and the time zone its guests' dates are read in.

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
    /// IANA time zone (`Europe/Lisbon`): "today" and "tomorrow" in guests' messages, Prompt
    /// Date steps and the AI's date reading follow it. `UTC` unless set.
    time_zone: String,
}

async fn current(state: &AppState, caller: &Caller) -> Result<OrganizationView, ApiError> {
    let stored = state
        .store
        .builtin_journey(caller.0.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    let journey: Journey = serde_json::from_str(&stored.graph)
        .map_err(|_| ApiError::new(Code::Internal, "the stored greeting journey is unreadable"))?;
    let time_zone = state
        .store
        .organization_time_zone(caller.0.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    Ok(OrganizationView {
        id: caller.0.org_id,
        greeting_text: journey.greeting_text().unwrap_or_default().to_owned(),
        time_zone,
    })
}

/// Reads the organisation's settings.
#[utoipa::path(get, path = "/api/v1/organization", tag = "organization",
    responses((status = 200, body = OrganizationView)), security(("api_key" = [])))]
pub(crate) async fn read(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(current(&state, &caller).await?))
}

/// Changes the greeting of the built-in bot and the time zone (Owner and Admin), either or
/// both: `{"greeting_text"?, "time_zone"?}`. `{{contact.name}}` and other variables in the
/// greeting are filled in when it is sent.
#[utoipa::path(patch, path = "/api/v1/organization", tag = "organization",
    request_body(content = Object, description = "`{\"greeting_text\"?: \"…\", \"time_zone\"?: \"Europe/Lisbon\"}`"),
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
    let greeting = body.get("greeting_text");
    let time_zone = body.get("time_zone");
    if greeting.is_none() && time_zone.is_none() {
        return Err(ApiError::missing("greeting_text"));
    }
    // Both are checked before either is written.
    let journey = match greeting {
        None => None,
        Some(greeting) => {
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
            Some(journey)
        }
    };
    let time_zone = match time_zone {
        None => None,
        Some(value) => {
            let parsed = value
                .as_str()
                .and_then(|name| name.parse::<chrono_tz::Tz>().ok())
                .ok_or_else(|| {
                    ApiError::field(
                        Code::InvalidField,
                        "time_zone",
                        "`time_zone` must be an IANA time zone name, such as `Europe/Lisbon`",
                    )
                })?;
            Some(parsed)
        }
    };
    let org_id = caller.0.org_id;
    if let Some(journey) = journey {
        let graph = serde_json::to_string(&journey).expect("journeys serialise");
        state
            .store
            .update_builtin_journey(org_id, &graph, state.clock.now())
            .await
            .map_err(|error| ApiError::from_store(error, Code::Internal))?;
        state.forget_journey(org_id);
    }
    if let Some(time_zone) = time_zone {
        state
            .store
            .set_organization_time_zone(org_id, time_zone.name())
            .await
            .map_err(|error| ApiError::from_store(error, Code::Internal))?;
        state.forget_time_zone(org_id);
    }
    Ok(HttpResponse::Ok().json(current(&state, &caller).await?))
}
