//! `/api/v1/canned-responses`: saved replies agents insert with a shortcut such as `/checkin`.
//! Owners and admins create, edit and delete them; users (agents) list and read them, the bot
//! identity does neither. Everything is scoped to the caller's organisation.

use crate::domain::Role;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::canned::{
    CannedResponseChanges, CannedResponseQuery, CannedResponseRecord, NewCannedResponse, Shortcut,
};
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest title, in characters.
const TITLE_MAX_CHARS: usize = 255;
/// Longest content, in characters.
const CONTENT_MAX_CHARS: usize = 4096;
/// Longest category, in characters.
const CATEGORY_MAX_CHARS: usize = 64;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/canned-responses", web::post().to(create))
        .route("/canned-responses", web::get().to(list))
        .route("/canned-responses/{id}", web::get().to(read))
        .route("/canned-responses/{id}", web::patch().to(update))
        .route("/canned-responses/{id}", web::delete().to(delete));
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CannedResponseList {
    /// Responses with a shortcut first, by shortcut; then the rest by title.
    canned_responses: Vec<CannedResponseRecord>,
}

/// Filters of `GET /api/v1/canned-responses`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// `/che` lists responses whose shortcut starts with `/che`; any other text lists those
    /// whose title or content contains it, ignoring case.
    q: Option<String>,
    /// Only responses of exactly this category.
    category: Option<String>,
}

/// Owners, admins and users read canned responses; the bot identity does not.
fn require_reader(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller.0.role, Role::Owner | Role::Admin | Role::User) {
        Ok(())
    } else {
        Err(ApiError::forbidden("read canned responses"))
    }
}

fn require_editor(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller.0.role, Role::Owner | Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "create, edit or delete canned responses",
        ))
    }
}

fn shortcut_taken() -> ApiError {
    ApiError::field(
        Code::ShortcutTaken,
        "shortcut",
        "another canned response of your organisation has this shortcut; choose another",
    )
}

fn from_store(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(_) => shortcut_taken(),
        other => ApiError::from_store(other, Code::CannedResponseNotFound),
    }
}

/// Creates a canned response (Owner and Admin).
#[utoipa::path(post, path = "/api/v1/canned-responses", tag = "canned_responses",
    request_body(content = Object, description = "`{\"title\": \"Check-in time\", \"content\": \"Check-in is from 3 PM.\", \"shortcut\"?: \"/checkin\", \"category\"?: \"Check-in\"}`"),
    responses((status = 201, body = CannedResponseRecord), (status = 403, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller)?;
    let new_response = parse_new_canned_response(&super::json_body(&body)?)?;
    let response = state
        .store
        .create_canned_response(
            caller.0.org_id,
            caller.0.user_id,
            &new_response,
            state.clock.now(),
        )
        .await
        .map_err(from_store)?;
    tracing::info!(canned_response_id = %response.id, "canned response created");
    Ok(HttpResponse::Created().json(response))
}

/// Lists the organisation's canned responses, optionally filtered, in picker order.
#[utoipa::path(get, path = "/api/v1/canned-responses", tag = "canned_responses",
    params(ListParams),
    responses((status = 200, body = CannedResponseList), (status = 403, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn list(
    state: AppState,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let canned_responses = state
        .store
        .list_canned_responses(caller.0.org_id, &parse_query(&params))
        .await
        .map_err(from_store)?;
    Ok(HttpResponse::Ok().json(CannedResponseList { canned_responses }))
}

/// Reads one canned response.
#[utoipa::path(get, path = "/api/v1/canned-responses/{id}", tag = "canned_responses",
    params(("id" = String, Path, description = "Canned response id")),
    responses((status = 200, body = CannedResponseRecord), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let response = state
        .store
        .canned_response(caller.0.org_id, &id)
        .await
        .map_err(from_store)?;
    Ok(HttpResponse::Ok().json(response))
}

/// Changes any of a canned response's fields (Owner and Admin); `null` removes the shortcut
/// or the category.
#[utoipa::path(patch, path = "/api/v1/canned-responses/{id}", tag = "canned_responses",
    params(("id" = String, Path, description = "Canned response id")),
    request_body(content = Object, description = "`{\"title\"?: \"…\", \"content\"?: \"…\", \"shortcut\"?: \"/…\" or null, \"category\"?: \"…\" or null}`"),
    responses((status = 200, body = CannedResponseRecord), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller)?;
    let changes = parse_changes(&super::json_body(&body)?)?;
    let response = state
        .store
        .update_canned_response(caller.0.org_id, &id, &changes, state.clock.now())
        .await
        .map_err(from_store)?;
    tracing::info!(canned_response_id = %response.id, "canned response updated");
    Ok(HttpResponse::Ok().json(response))
}

/// Deletes a canned response for good (Owner and Admin).
#[utoipa::path(delete, path = "/api/v1/canned-responses/{id}", tag = "canned_responses",
    params(("id" = String, Path, description = "Canned response id")),
    responses((status = 204), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller)?;
    state
        .store
        .delete_canned_response(caller.0.org_id, &id)
        .await
        .map_err(from_store)?;
    tracing::info!(canned_response_id = %id, "canned response deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// An empty filter is no filter: a picker sends `?q=` before the agent types anything.
fn parse_query(params: &ListParams) -> CannedResponseQuery {
    let non_empty = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    CannedResponseQuery {
        text: non_empty(&params.q),
        category: non_empty(&params.category),
    }
}

fn parse_new_canned_response(body: &Value) -> Result<NewCannedResponse, ApiError> {
    let object = as_object(body)?;
    Ok(NewCannedResponse {
        title: title(object.get("title"))?,
        content: content(object.get("content"))?,
        shortcut: match object.get("shortcut") {
            None | Some(Value::Null) => None,
            Some(value) => Some(shortcut(value)?),
        },
        category: match object.get("category") {
            None | Some(Value::Null) => None,
            Some(value) => Some(category(value)?),
        },
    })
}

fn parse_changes(body: &Value) -> Result<CannedResponseChanges, ApiError> {
    let object = as_object(body)?;
    Ok(CannedResponseChanges {
        title: required_change(object, "title", title)?,
        content: required_change(object, "content", content)?,
        shortcut: match object.get("shortcut") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(value) => Some(Some(shortcut(value)?)),
        },
        category: match object.get("category") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(value) => Some(Some(category(value)?)),
        },
    })
}

/// The new value a patch gives a field that cannot be removed, if it gives one.
fn required_change(
    object: &Map<String, Value>,
    field: &str,
    parse: fn(Option<&Value>) -> Result<String, ApiError>,
) -> Result<Option<String>, ApiError> {
    match object.get(field) {
        None => Ok(None),
        Some(Value::Null) => Err(invalid(
            field,
            format!("`{field}` cannot be removed; leave it out to keep it"),
        )),
        value => parse(value).map(Some),
    }
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::field(Code::InvalidField, field, message)
}

/// A required string field of 1 to `max_chars` characters that are not all whitespace.
fn text(value: Option<&Value>, field: &str, max_chars: usize) -> Result<String, ApiError> {
    let text = match value {
        None | Some(Value::Null) => return Err(ApiError::missing(field)),
        Some(Value::String(text)) => text,
        Some(_) => return Err(invalid(field, format!("`{field}` must be a string"))),
    };
    if text.trim().is_empty() || text.chars().count() > max_chars {
        return Err(invalid(
            field,
            format!("`{field}` must have 1 to {max_chars} characters"),
        ));
    }
    Ok(text.clone())
}

/// The title, trimmed.
fn title(value: Option<&Value>) -> Result<String, ApiError> {
    Ok(text(value, "title", TITLE_MAX_CHARS)?.trim().to_owned())
}

/// The content, kept as written: its spacing and line breaks are part of the reply.
fn content(value: Option<&Value>) -> Result<String, ApiError> {
    text(value, "content", CONTENT_MAX_CHARS)
}

fn shortcut(value: &Value) -> Result<Shortcut, ApiError> {
    let text = value.as_str().ok_or_else(|| {
        invalid(
            "shortcut",
            "`shortcut` must be a string such as `/checkin`, or null",
        )
    })?;
    Shortcut::parse(text).map_err(|problem| invalid("shortcut", problem))
}

/// A category, trimmed; to have none, leave it out or send null.
fn category(value: &Value) -> Result<String, ApiError> {
    let text = value
        .as_str()
        .map(str::trim)
        .ok_or_else(|| invalid("category", "`category` must be a string or null"))?;
    if text.is_empty() || text.chars().count() > CATEGORY_MAX_CHARS {
        return Err(invalid(
            "category",
            format!("`category` must have 1 to {CATEGORY_MAX_CHARS} characters, or be null"),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
#[expect(
    clippy::needless_pass_by_value,
    reason = "case helpers take json! literals by value"
)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check_error(body: Value, code: Code, field: &str) {
        let error = parse_new_canned_response(&body)
            .err()
            .expect("the body should be refused");
        assert_eq!(
            (error.code, error.field.as_deref()),
            (code, Some(field)),
            "{body}: {}",
            error.message
        );
    }

    #[test]
    fn a_canned_response_parses_with_a_lowercased_shortcut_and_trimmed_labels() {
        let response = parse_new_canned_response(&json!({
            "title": " Check-in time ", "content": "From 3 PM.\n",
            "shortcut": "/CheckIn", "category": " Check-in "
        }))
        .ok()
        .unwrap();
        assert_eq!(response.title, "Check-in time");
        assert_eq!(response.content, "From 3 PM.\n");
        assert_eq!(response.shortcut.unwrap().as_str(), "/checkin");
        assert_eq!(response.category.as_deref(), Some("Check-in"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let ok = |extra: Value| {
            let mut body = json!({"title": "t", "content": "c"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        let cases = [
            (json!({"content": "c"}), Code::MissingField, "title"),
            (json!({"title": "t"}), Code::MissingField, "content"),
            (ok(json!({"title": " "})), Code::InvalidField, "title"),
            (
                ok(json!({"title": "t".repeat(TITLE_MAX_CHARS + 1)})),
                Code::InvalidField,
                "title",
            ),
            (ok(json!({"content": 7})), Code::InvalidField, "content"),
            (
                ok(json!({"content": "c".repeat(CONTENT_MAX_CHARS + 1)})),
                Code::InvalidField,
                "content",
            ),
            (
                ok(json!({"shortcut": "checkin"})),
                Code::InvalidField,
                "shortcut",
            ),
            (
                ok(json!({"shortcut": "/check in"})),
                Code::InvalidField,
                "shortcut",
            ),
            (ok(json!({"shortcut": 1})), Code::InvalidField, "shortcut"),
            (ok(json!({"category": ""})), Code::InvalidField, "category"),
            (
                ok(json!({"category": "c".repeat(CATEGORY_MAX_CHARS + 1)})),
                Code::InvalidField,
                "category",
            ),
        ];
        for (body, code, field) in cases {
            check_error(body, code, field);
        }
        let longest = parse_new_canned_response(&ok(json!({
            "title": "t".repeat(TITLE_MAX_CHARS),
            "content": "é".repeat(CONTENT_MAX_CHARS),
            "category": "c".repeat(CATEGORY_MAX_CHARS),
        })));
        assert!(longest.is_ok(), "limits count characters, not bytes");
    }

    #[test]
    fn a_patch_keeps_absent_fields_and_null_removes_shortcut_or_category() {
        let changes = parse_changes(&json!({"shortcut": null, "category": null}))
            .ok()
            .unwrap();
        assert!(changes.title.is_none() && changes.content.is_none());
        assert_eq!(changes.shortcut, Some(None));
        assert_eq!(changes.category, Some(None));
        let changes = parse_changes(&json!({})).ok().unwrap();
        assert!(changes.shortcut.is_none() && changes.category.is_none());
        for field in ["title", "content"] {
            let error = parse_changes(&json!({ field: null })).err().unwrap();
            assert_eq!(error.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn empty_filters_are_no_filters() {
        let query = parse_query(&ListParams {
            q: Some(" ".into()),
            category: Some(String::new()),
        });
        assert!(query.text.is_none() && query.category.is_none());
    }
}
