//! `/api/v1`: channels, conversations, journeys, goals, users and the organisation's settings.

pub mod canned_responses;
pub mod channels;
pub mod conversations;
pub mod goals;
pub mod journeys;
pub mod notes;
pub mod organization;
pub mod test_sessions;
pub mod users;

use actix_web::web;

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/api/v1")
            .configure(canned_responses::configure)
            .configure(channels::configure)
            .configure(conversations::configure)
            .configure(goals::configure)
            .configure(journeys::configure)
            .configure(notes::configure)
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
