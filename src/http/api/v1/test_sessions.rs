//! `/api/v1/journeys/{id}/test-sessions` and `/api/v1/test-sessions`: test chat, the sandbox
//! that runs a journey's current draft without a channel (see `actors::test_chat`).
//!
//! Owners, admins and users may start and run test sessions; the bot identity may not. A
//! session is only visible to its organisation. Its socket is opened with the ticket the
//! creation answered, because browsers cannot send an `Authorization` header on a WebSocket.

use crate::actors::test_chat::{
    self, Guest, GuestInput, TestChatError, TestChatSocket, TestSessionId, TestSessionView,
    TestState, TranscriptEntry, TurnView,
};
use crate::domain::Role;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest guest name, in characters.
pub const CONTACT_NAME_MAX_CHARS: usize = 255;
/// Longest guest phone number, in characters.
pub const CONTACT_PHONE_MAX_CHARS: usize = 32;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/journeys/{id}/test-sessions", web::post().to(create))
        .route("/test-sessions/{id}", web::get().to(read))
        .route("/test-sessions/{id}", web::delete().to(delete))
        .route("/test-sessions/{id}/messages", web::post().to(message))
        .route("/test-sessions/{id}/events", web::post().to(event))
        .route("/test-sessions/{id}/fire-timer", web::post().to(fire_timer))
        .route("/test-sessions/{id}/ws", web::get().to(connect));
}

/// A test session just started.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedView {
    id: TestSessionId,
    #[schema(value_type = String)]
    journey_id: uuid::Uuid,
    /// Where the session's socket is, ticket included.
    ws_url: String,
    /// Opens the socket for 10 minutes, reconnects included; shown only here.
    ws_ticket: String,
    transcript: Vec<TranscriptEntry>,
    state: TestState,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ConnectParams {
    /// The `ws_ticket` of the session's creation.
    ticket: Option<String>,
}

fn api_error(error: TestChatError) -> ApiError {
    let message = error.to_string();
    match error {
        TestChatError::NotFound => ApiError::new(Code::TestSessionNotFound, message),
        TestChatError::JourneyNotFound => ApiError::new(Code::JourneyNotFound, message),
        TestChatError::NoPendingTimer => ApiError::new(Code::InvalidField, message),
        TestChatError::BadTicket => ApiError::new(Code::Unauthorized, message),
        TestChatError::MissingField { field, .. } => {
            ApiError::field(Code::MissingField, field, message)
        }
        TestChatError::InvalidField { field, .. } => {
            ApiError::field(Code::InvalidField, field, message)
        }
        TestChatError::Malformed(_) => ApiError::new(Code::MalformedJson, message),
        TestChatError::CorruptJourney(_) => {
            tracing::error!(error = %message, "a stored journey draft does not parse");
            ApiError::new(Code::Internal, "an internal error occurred")
        }
        TestChatError::Store(error) => ApiError::from_store(error, Code::TestSessionNotFound),
    }
}

fn require_tester(caller: &Caller) -> Result<(), ApiError> {
    match caller.0.role {
        Role::Bot => Err(ApiError::forbidden("run test sessions")),
        Role::Owner | Role::Admin | Role::User => Ok(()),
    }
}

fn session_id(raw: &str) -> Result<TestSessionId, ApiError> {
    raw.parse().map_err(|_| api_error(TestChatError::NotFound))
}

/// The optional body of a creation: who the test guest is.
fn parse_guest(body: &[u8]) -> Result<Guest, ApiError> {
    let mut guest = Guest::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(guest);
    }
    let body = super::json_body(body)?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
    let text = |field: &str, limit: usize| -> Result<Option<String>, ApiError> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text))
                if !text.trim().is_empty() && text.trim().chars().count() <= limit =>
            {
                Ok(Some(text.trim().to_owned()))
            }
            Some(_) => Err(ApiError::field(
                Code::InvalidField,
                field,
                format!("`{field}` must be a string of 1 to {limit} characters"),
            )),
        }
    };
    if let Some(name) = text("contact_name", CONTACT_NAME_MAX_CHARS)? {
        guest.name = name;
    }
    guest.phone = text("contact_phone", CONTACT_PHONE_MAX_CHARS)?;
    Ok(guest)
}

#[utoipa::path(post, path = "/api/v1/journeys/{id}/test-sessions", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    request_body(content = Object, description = "Optional: `{\"contact_name\"?, \"contact_phone\"?}` for the test guest (default \"Test guest\", no phone)"),
    responses((status = 201, body = CreatedView), (status = 403, body = crate::http::error::ErrorBody),
              (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_tester(&caller)?;
    let journey_id: uuid::Uuid = id
        .parse()
        .map_err(|_| api_error(TestChatError::JourneyNotFound))?;
    let guest = parse_guest(&body)?;
    let started = state
        .test_chats
        .start(state.get_ref(), caller.0.org_id, journey_id, guest)
        .await
        .map_err(api_error)?;
    let TestSessionView {
        id,
        journey_id,
        transcript,
        state: session_state,
    } = started.session;
    Ok(HttpResponse::Created().json(CreatedView {
        ws_url: format!("/api/v1/test-sessions/{id}/ws?ticket={}", started.ws_ticket),
        id,
        journey_id,
        ws_ticket: started.ws_ticket,
        transcript,
        state: session_state,
    }))
}

#[utoipa::path(get, path = "/api/v1/test-sessions/{id}", tag = "journeys",
    params(("id" = String, Path, description = "Test session id")),
    responses((status = 200, body = TestSessionView), (status = 403, body = crate::http::error::ErrorBody),
              (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_tester(&caller)?;
    let view = state
        .test_chats
        .read(caller.0.org_id, session_id(&id)?)
        .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(delete, path = "/api/v1/test-sessions/{id}", tag = "journeys",
    params(("id" = String, Path, description = "Test session id")),
    responses((status = 204), (status = 403, body = crate::http::error::ErrorBody),
              (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_tester(&caller)?;
    state
        .test_chats
        .end(caller.0.org_id, session_id(&id)?)
        .map_err(api_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Applies one input of the caller to a session of its organisation.
async fn apply(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: GuestInput,
) -> Result<HttpResponse, ApiError> {
    let turn: TurnView = state
        .test_chats
        .input(state.get_ref(), caller.0.org_id, session_id(id)?, input)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(turn))
}

#[utoipa::path(post, path = "/api/v1/test-sessions/{id}/messages", tag = "journeys",
    params(("id" = String, Path, description = "Test session id")),
    request_body(content = Object, description = "One of `{\"text\"}`, a tap `{\"reply_id\", \"title\"}` or a location `{\"latitude\", \"longitude\"}`"),
    responses((status = 200, body = TurnView), (status = 400, body = crate::http::error::ErrorBody),
              (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn message(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_tester(&caller)?;
    let content = test_chat::guest::message(&super::json_body(&body)?).map_err(api_error)?;
    apply(&state, &caller, &id, GuestInput::Message(content)).await
}

#[utoipa::path(post, path = "/api/v1/test-sessions/{id}/events", tag = "journeys",
    params(("id" = String, Path, description = "Test session id")),
    request_body(content = Object, description = "`{\"name\", \"payload\"?}`: a named event, as `POST /conversations/{id}/events` delivers it"),
    responses((status = 200, body = TurnView), (status = 400, body = crate::http::error::ErrorBody),
              (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn event(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_tester(&caller)?;
    let input = test_chat::guest::event(&super::json_body(&body)?).map_err(api_error)?;
    apply(&state, &caller, &id, input).await
}

#[utoipa::path(post, path = "/api/v1/test-sessions/{id}/fire-timer", tag = "journeys",
    params(("id" = String, Path, description = "Test session id")),
    responses((status = 200, body = TurnView), (status = 403, body = crate::http::error::ErrorBody),
              (status = 404, body = crate::http::error::ErrorBody),
              (status = 422, description = "`invalid_field`: no timer is pending", body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn fire_timer(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_tester(&caller)?;
    apply(&state, &caller, &id, GuestInput::FireTimer).await
}

/// Whether a browser page on the request's `Origin` may open the socket: only Parley's own
/// pages. A request without an `Origin` is not from a browser.
fn same_origin(request: &HttpRequest) -> bool {
    let Some(origin) = request
        .headers()
        .get("Origin")
        .and_then(|value| value.to_str().ok())
    else {
        return true;
    };
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(origin);
    origin_host == request.connection_info().host()
}

#[utoipa::path(get, path = "/api/v1/test-sessions/{id}/ws", tag = "journeys",
    params(("id" = String, Path, description = "Test session id"), ConnectParams),
    responses((status = 101, description = "The socket: `entry`, `state` and `error` frames out; `message`, `reply`, `location`, `event` and `fire_timer` frames in"),
              (status = 401, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody),
              (status = 404, body = crate::http::error::ErrorBody)))]
pub(crate) async fn connect(
    state: AppState,
    request: HttpRequest,
    stream: web::Payload,
    id: web::Path<String>,
    params: web::Query<ConnectParams>,
) -> Result<HttpResponse, actix_web::Error> {
    let id = session_id(&id)?;
    if !same_origin(&request) {
        return Err(ApiError::new(
            Code::Forbidden,
            "only Parley's own pages may open a test chat socket",
        )
        .into());
    }
    let ticket = params.ticket.as_deref().unwrap_or_default();
    let org_id = state
        .test_chats
        .authorize_socket(id, ticket, state.clock.now())
        .map_err(api_error)?;
    let socket = TestChatSocket::new(state.get_ref().clone(), org_id, id);
    actix_web_actors::ws::start(socket, &request, stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[derive(OpenApi)]
    #[openapi(
        paths(create, read, delete, message, event, fire_timer, connect),
        components(schemas(CreatedView, TestSessionView, TurnView, TranscriptEntry, TestState))
    )]
    struct TestChatDoc;

    #[test]
    fn every_test_chat_route_is_documented_under_journeys() {
        let doc = serde_json::to_value(TestChatDoc::openapi()).expect("the document serialises");
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented: Vec<String> = paths
            .iter()
            .flat_map(|(path, methods)| {
                let methods = methods.as_object().expect("methods");
                methods.iter().map(move |(method, operation)| {
                    assert_eq!(operation["tags"][0], "journeys", "{method} {path}");
                    format!("{} {path}", method.to_uppercase())
                })
            })
            .collect();
        documented.sort();
        assert_eq!(
            documented,
            [
                "DELETE /api/v1/test-sessions/{id}",
                "GET /api/v1/test-sessions/{id}",
                "GET /api/v1/test-sessions/{id}/ws",
                "POST /api/v1/journeys/{id}/test-sessions",
                "POST /api/v1/test-sessions/{id}/events",
                "POST /api/v1/test-sessions/{id}/fire-timer",
                "POST /api/v1/test-sessions/{id}/messages",
            ]
        );
        let entry = &doc["components"]["schemas"]["TranscriptEntry"]["properties"];
        assert!(entry["step_name"].is_object(), "{entry}");
    }
}
