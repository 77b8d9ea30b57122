//! `/api/v1`: channels, conversations, journeys, goals, users and the organisation's settings.

pub mod ai;
pub mod ai_agents;
pub mod auth;
pub mod canned_responses;
pub mod channels;
pub mod conversations;
pub mod email;
pub mod goals;
pub mod insights;
pub mod journeys;
pub mod knowledge;
pub mod media;
pub mod notes;
pub mod notifications;
pub mod organization;
pub mod pairing;
pub mod sms;
pub mod templates;
pub mod test_sessions;
pub mod users;
pub mod webchat_identity;

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
            .configure(media::configure)
            .configure(notes::configure)
            .configure(notifications::configure)
            .configure(organization::configure)
            .configure(pairing::configure)
            .configure(sms::configure)
            .configure(templates::configure)
            .configure(test_sessions::configure)
            .configure(users::configure)
            .configure(webchat_identity::configure),
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

/// A string field of a JSON body, trimmed: `None` when absent or `null`, `invalid_field` when
/// it is not a string, or when it is present but has fewer than `min` or more than `max`
/// characters.
pub(crate) fn text_field(
    body: &serde_json::Value,
    name: &str,
    min: usize,
    max: usize,
) -> Result<Option<String>, crate::http::error::ApiError> {
    use crate::http::error::{ApiError, Code};
    let text = match body.get(name) {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(text)) => text.trim(),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                name,
                format!("`{name}` must be a string"),
            ))
        }
    };
    let length = text.chars().count();
    if length < min || length > max {
        return Err(ApiError::field(
            Code::InvalidField,
            name,
            format!("`{name}` must have {min} to {max} characters; it has {length}"),
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A required string field of a JSON body, trimmed, with 1 to `max` characters.
pub(crate) fn required_text(
    body: &serde_json::Value,
    name: &str,
    max: usize,
) -> Result<String, crate::http::error::ApiError> {
    text_field(body, name, 1, max)?.ok_or_else(|| crate::http::error::ApiError::missing(name))
}
