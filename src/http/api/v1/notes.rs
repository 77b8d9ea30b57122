//! `/api/v1/conversations/{id}/notes`: internal notes on a conversation, for staff only and
//! never sent. Owners, admins and users read and write notes; the bot identity does neither.
//! A note is edited or deleted by its author, an owner or an admin.

use super::conversations::{conversation_id, conversation_not_found};
use crate::domain::{ConversationId, Role, UserId};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::notes::{NoteBody, NoteRecord};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/conversations/{id}/notes", web::post().to(create))
        .route("/conversations/{id}/notes", web::get().to(list))
        .route(
            "/conversations/{id}/notes/{note_id}",
            web::patch().to(update),
        )
        .route(
            "/conversations/{id}/notes/{note_id}",
            web::delete().to(delete),
        );
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NoteList {
    /// Oldest first.
    notes: Vec<NoteRecord>,
}

/// Staff read and write notes; the bot identity speaks to guests and must not see them.
fn require_staff(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller.0.role, Role::Owner | Role::Admin | Role::User) {
        Ok(())
    } else {
        Err(ApiError::forbidden("read or write notes"))
    }
}

/// The author may change their note; owners and admins may change anyone's.
fn may_change(note: &NoteRecord, user_id: UserId, role: Role) -> bool {
    note.author_id == user_id || matches!(role, Role::Owner | Role::Admin)
}

/// The conversation in the path, which must be one of the caller's organisation.
async fn conversation(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> Result<ConversationId, ApiError> {
    let id = conversation_id(raw)?;
    let exists = state
        .store
        .has_conversation(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    if exists {
        Ok(id)
    } else {
        Err(conversation_not_found())
    }
}

/// Writes an internal note on a conversation. The guest never sees it: nothing is sent.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/notes", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = Object, description = "`{\"body\": \"Guest prefers a sea view\"}` (1 to 4000 characters once trimmed)"),
    responses((status = 201, body = NoteRecord), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_staff(&caller)?;
    let note_body = parse_body(&super::json_body(&body)?)?;
    let conversation_id = conversation(&state, &caller, &id).await?;
    let note = state
        .store
        .create_note(
            caller.0.org_id,
            conversation_id,
            caller.0.user_id,
            &note_body,
            state.clock.now(),
        )
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    tracing::info!(note_id = %note.id, conversation_id = %conversation_id, "note written");
    Ok(HttpResponse::Created().json(note))
}

/// The notes of a conversation, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/notes", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = NoteList), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn list(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&caller)?;
    let conversation_id = conversation(&state, &caller, &id).await?;
    let notes = state
        .store
        .notes(caller.0.org_id, conversation_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    Ok(HttpResponse::Ok().json(NoteList { notes }))
}

/// Replaces a note's body (its author, an owner or an admin).
#[utoipa::path(patch, path = "/api/v1/conversations/{id}/notes/{note_id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), ("note_id" = String, Path, description = "Note id")),
    request_body(content = Object, description = "`{\"body\": \"…\"}` (1 to 4000 characters once trimmed)"),
    responses((status = 200, body = NoteRecord), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_staff(&caller)?;
    let note_body = parse_body(&super::json_body(&body)?)?;
    let (conversation_id, note_id) = changeable_note(&state, &caller, &path, "edit").await?;
    let note = state
        .store
        .update_note(
            caller.0.org_id,
            conversation_id,
            &note_id,
            &note_body,
            state.clock.now(),
        )
        .await
        .map_err(|error| ApiError::from_store(error, Code::NoteNotFound))?;
    tracing::info!(note_id = %note.id, conversation_id = %conversation_id, "note edited");
    Ok(HttpResponse::Ok().json(note))
}

/// Deletes a note (its author, an owner or an admin).
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/notes/{note_id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), ("note_id" = String, Path, description = "Note id")),
    responses((status = 204, description = "The note is deleted"), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete(
    state: AppState,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&caller)?;
    let (conversation_id, note_id) = changeable_note(&state, &caller, &path, "delete").await?;
    state
        .store
        .delete_note(caller.0.org_id, conversation_id, &note_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::NoteNotFound))?;
    tracing::info!(note_id = %note_id, conversation_id = %conversation_id, "note deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// The conversation and note of the path, once the caller is known to be allowed to change
/// the note. The author never changes, so the check still holds when the write runs.
async fn changeable_note(
    state: &AppState,
    caller: &Caller,
    path: &(String, String),
    action: &str,
) -> Result<(ConversationId, String), ApiError> {
    let (conversation_path, note_id) = path;
    let conversation_id = conversation(state, caller, conversation_path).await?;
    let note = state
        .store
        .note(caller.0.org_id, conversation_id, note_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::NoteNotFound))?;
    if !may_change(&note, caller.0.user_id, caller.0.role) {
        return Err(ApiError::new(
            Code::Forbidden,
            format!("only the note's author, an owner or an admin may {action} this note"),
        ));
    }
    Ok((conversation_id, note.id))
}

/// `{"body": "…"}`: the note's text, named `body` in every error.
fn parse_body(request: &Value) -> Result<NoteBody, ApiError> {
    let object = request
        .as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
    match object.get("body") {
        None | Some(Value::Null) => Err(ApiError::missing("body")),
        Some(Value::String(text)) => NoteBody::parse(text)
            .map_err(|error| ApiError::field(Code::InvalidField, "body", error.to_string())),
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            "body",
            "`body` must be a string",
        )),
    }
}

#[cfg(test)]
#[expect(
    clippy::needless_pass_by_value,
    reason = "case helpers take json! literals by value"
)]
mod tests {
    use super::*;
    use crate::domain::OrgId;
    use crate::store::notes::NOTE_BODY_MAX_CHARS;
    use serde_json::json;

    #[track_caller]
    fn check_error(request: Value, code: Code, field: Option<&str>) {
        let error = parse_body(&request).expect_err("the request should be refused");
        assert_eq!(
            (error.code, error.field.as_deref()),
            (code, field),
            "{request}: {}",
            error.message
        );
    }

    #[test]
    fn a_body_parses_trimmed() {
        let body = parse_body(&json!({"body": "  Prefers a sea view  "})).unwrap();
        assert_eq!(body.as_str(), "Prefers a sea view");
    }

    #[test]
    fn each_bad_body_is_named() {
        let cases = [
            (json!({}), Code::MissingField, Some("body")),
            (json!({"body": null}), Code::MissingField, Some("body")),
            (json!({"body": ""}), Code::InvalidField, Some("body")),
            (json!({"body": " \n "}), Code::InvalidField, Some("body")),
            (
                json!({"body": "x".repeat(NOTE_BODY_MAX_CHARS + 1)}),
                Code::InvalidField,
                Some("body"),
            ),
            (json!({"body": 7}), Code::InvalidField, Some("body")),
            (json!(["body"]), Code::MalformedJson, None),
        ];
        for (request, code, field) in cases {
            check_error(request, code, field);
        }
    }

    #[test]
    fn only_the_author_an_owner_or_an_admin_may_change_a_note() {
        let author = UserId::new();
        let note = NoteRecord {
            id: "note-1".into(),
            org_id: OrgId::new(),
            conversation_id: ConversationId::new(),
            author_id: author,
            author_name: "maria".into(),
            body: "VIP".into(),
            created_at: 1,
            updated_at: 1,
        };
        let someone_else = UserId::new();
        let cases = [
            (author, Role::User, true, "the author"),
            (someone_else, Role::User, false, "another agent"),
            (someone_else, Role::Admin, true, "an admin"),
            (someone_else, Role::Owner, true, "an owner"),
        ];
        for (user_id, role, allowed, who) in cases {
            assert_eq!(may_change(&note, user_id, role), allowed, "{who}");
        }
    }
}
