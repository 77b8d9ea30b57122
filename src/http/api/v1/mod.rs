//! `/api/v1`: channels, conversations, journeys, goals, users and the organisation's settings.

pub mod ai;
pub mod ai_agents;
pub mod auth;
pub mod canned_responses;
pub mod channels;
pub mod conversations;
pub mod goals;
pub mod insights;
pub mod journeys;
pub mod knowledge;
pub mod notes;
pub mod notifications;
pub mod organization;
pub mod test_sessions;
pub mod users;

use actix_web::web;

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/api/v1")
            .configure(ai::configure)
            .configure(ai_agents::configure)
            .configure(auth::configure)
            .configure(canned_responses::configure)
            .configure(channels::configure)
            .configure(conversations::configure)
            .configure(goals::configure)
            .configure(insights::configure)
            .configure(journeys::configure)
            .configure(knowledge::configure)
            .configure(notes::configure)
            .configure(notifications::configure)
            .configure(organization::configure)
            .configure(test_sessions::configure)
            .configure(users::configure),
    );
}

/// Parses a JSON request body, answering `malformed_json` for anything that is not JSON.
pub(crate) fn json_body(body: &[u8]) -> Result<serde_json::Value, crate::http::error::ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        crate::http::error::ApiError::new(
            crate::http::error::Code::MalformedJson,
            format!("the body is not valid JSON: {error}"),
        )
    })
}
