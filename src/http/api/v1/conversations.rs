//! `/api/v1/conversations`: the conversations of the caller's organisation and their messages.

use crate::actors::StaffError;
use crate::domain::handover::{Action, Actor};
use crate::domain::{ChannelId, ConversationId, ConversationStatus};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::{ConversationQuery, ConversationRecord, MessageRecord};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/conversations", web::get().to(list))
        .route("/conversations/{id}", web::get().to(read))
        .route("/conversations/{id}/messages", web::get().to(messages))
        .route("/conversations/{id}/events", web::post().to(event))
        .route("/conversations/{id}/messages", web::post().to(reply))
        .route("/conversations/{id}/claim", web::post().to(claim))
        .route("/conversations/{id}/take-over", web::post().to(take_over))
        .route("/conversations/{id}/assign", web::post().to(assign))
        .route("/conversations/{id}/resolve", web::post().to(resolve))
        .route("/conversations/{id}/hand-back", web::post().to(hand_back));
}

/// Longest reply a team member may send, in characters (WhatsApp's text limit).
const REPLY_MAX_CHARS: usize = 4_096;

/// Longest event name, in characters.
const EVENT_NAME_MAX_CHARS: usize = 256;
/// Largest event payload, in bytes of JSON.
const EVENT_PAYLOAD_MAX_BYTES: usize = 64 * 1024;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Only conversations of this channel.
    channel_id: Option<String>,
    /// Only conversations in this status.
    status: Option<String>,
    /// At most this many (default 50, at most 500).
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationList {
    data: Vec<ConversationRecord>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageList {
    data: Vec<MessageRecord>,
}

fn require_reader(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.role.can_read_conversations() {
        Ok(())
    } else {
        Err(ApiError::forbidden("read conversations"))
    }
}

fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            "limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            Code::ConversationNotFound,
            "no such conversation in your organisation",
        )
    })
}

/// Lists conversations, most recently active first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListParams),
    responses((status = 200, body = ConversationList), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn list(
    state: AppState,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let channel_id = params
        .channel_id
        .as_deref()
        .map(|raw| raw.parse::<ChannelId>())
        .transpose()
        .map_err(|_| {
            ApiError::field(
                Code::InvalidField,
                "channel_id",
                "`channel_id` must be a channel id",
            )
        })?;
    let status = params
        .status
        .as_deref()
        .map(str::parse::<ConversationStatus>)
        .transpose()
        .map_err(|error| ApiError::field(Code::InvalidField, "status", error))?;
    let query = ConversationQuery {
        channel_id,
        status,
        limit: limit(params.limit)?,
    };
    let data = state
        .store
        .list_conversations(caller.0.org_id, &query)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    Ok(HttpResponse::Ok().json(ConversationList { data }))
}

/// Reads one conversation.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationRecord), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let conversation = state
        .store
        .conversation(caller.0.org_id, conversation_id(&id)?)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    Ok(HttpResponse::Ok().json(conversation))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct MessageParams {
    /// The latest this many messages, oldest first (default 50, at most 500).
    limit: Option<i64>,
}

/// The messages of a conversation, oldest first, with delivery status and failure reason.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), MessageParams),
    responses((status = 200, body = MessageList), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn messages(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    params: web::Query<MessageParams>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let id = conversation_id(&id)?;
    let org_id = caller.0.org_id;
    // Reading the conversation first turns another organisation's id into a 404.
    state
        .store
        .conversation(org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    let data = state
        .store
        .messages(org_id, id, limit(params.limit)?)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    Ok(HttpResponse::Ok().json(MessageList { data }))
}

/// Delivers a named event to the conversation's journey: a session paused on a Wait for
/// Events step for this name resumes (with the payload in the step's variable); any other
/// session ignores it. Accepted asynchronously.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/events", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = Object, description = "`{\"name\": \"deposit_paid\", \"payload\"?: any JSON}`"),
    responses((status = 202, description = "`{\"accepted\": true}`"), (status = 404, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn event(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !matches!(
        caller.0.role,
        crate::domain::Role::Owner | crate::domain::Role::Admin
    ) {
        return Err(ApiError::forbidden("send events to conversations"));
    }
    let conversation = state
        .store
        .conversation(caller.0.org_id, conversation_id(&id)?)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    let body = super::json_body(&body)?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
    let name = match object.get("name") {
        Some(serde_json::Value::String(name)) if !name.trim().is_empty() => name.trim(),
        None | Some(serde_json::Value::Null) => return Err(ApiError::missing("name")),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "name",
                "`name` must be a non-empty string",
            ))
        }
    };
    if name.chars().count() > EVENT_NAME_MAX_CHARS {
        return Err(ApiError::field(
            Code::InvalidField,
            "name",
            format!("`name` is limited to {EVENT_NAME_MAX_CHARS} characters"),
        ));
    }
    let payload = object
        .get("payload")
        .filter(|value| !value.is_null())
        .cloned();
    if payload
        .as_ref()
        .is_some_and(|payload| payload.to_string().len() > EVENT_PAYLOAD_MAX_BYTES)
    {
        return Err(ApiError::field(
            Code::InvalidField,
            "payload",
            format!("`payload` is limited to {EVENT_PAYLOAD_MAX_BYTES} bytes of JSON"),
        ));
    }
    state.get_ref().journey_event(
        conversation.channel_id,
        &conversation.contact.external_id,
        conversation.id,
        name,
        payload,
    );
    Ok(HttpResponse::Accepted().json(serde_json::json!({"accepted": true})))
}

/// The caller as the thread names them; the bot identity may not act.
async fn actor(state: &AppState, caller: &Caller) -> Result<Actor, ApiError> {
    if !caller.0.role.can_read_conversations() {
        return Err(ApiError::forbidden("act on conversations"));
    }
    let user = state
        .store
        .user(caller.0.org_id, caller.0.user_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::UserNotFound))?;
    Ok(Actor {
        id: user.id,
        name: user.name,
        manager: matches!(
            caller.0.role,
            crate::domain::Role::Owner | crate::domain::Role::Admin
        ),
    })
}

/// Runs a staff action through the conversation's actor and answers with the conversation as
/// it is afterwards (or, for a reply, the message).
async fn act(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
    text: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(state, caller).await?;
    let conversation = state
        .store
        .conversation(caller.0.org_id, conversation_id(id)?)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    let outcome = state
        .get_ref()
        .staff_action(&conversation, actor, action, text)
        .await
        .map_err(|error| match error {
            StaffError::Handover(refused) => {
                let code = match refused.code() {
                    "not_your_conversation" => Code::NotYourConversation,
                    "forbidden" => Code::Forbidden,
                    _ => Code::InvalidTransition,
                };
                ApiError::new(code, refused.to_string())
            }
            StaffError::NotFound => ApiError::new(
                Code::ConversationNotFound,
                "no such resource in your organisation",
            ),
            StaffError::Store(error) => ApiError::from_store(error, Code::ConversationNotFound),
        })?;
    if let Some(message) = outcome.reply {
        return Ok(HttpResponse::Created().json(message));
    }
    let conversation = state
        .store
        .conversation(caller.0.org_id, conversation.id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    Ok(HttpResponse::Ok().json(conversation))
}

/// A team member's reply to the guest. It takes the conversation over from the bot (or opens
/// a closed one again) and keeps the bot quiet for three days unless the conversation is
/// handed back or resolved first.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = Object, description = "`{\"text\": \"…\"}`"),
    responses((status = 201, body = MessageRecord), (status = 403, body = crate::http::error::ErrorBody),
              (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn reply(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = super::json_body(&body)?;
    let text = match body.get("text") {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => text.trim().to_owned(),
        None | Some(serde_json::Value::Null) => return Err(ApiError::missing("text")),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "text",
                "`text` must be a non-empty string",
            ))
        }
    };
    let length = text.chars().count();
    if length > REPLY_MAX_CHARS {
        return Err(ApiError::field(
            Code::InvalidField,
            "text",
            format!("the text has {length} characters; the limit is {REPLY_MAX_CHARS}"),
        ));
    }
    act(&state, &caller, &id, Action::Reply, Some(text)).await
}

/// Takes a conversation waiting for an agent.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/claim", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationRecord), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn claim(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, &id, Action::Claim, None).await
}

/// Takes a conversation over from the bot.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/take-over", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationRecord), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn take_over(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, &id, Action::TakeOver, None).await
}

/// Gives the conversation to a team member (owners and admins).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/assign", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = Object, description = "`{\"user_id\": \"…\"}`"),
    responses((status = 200, body = ConversationRecord), (status = 403, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn assign(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = super::json_body(&body)?;
    let user_id = match body.get("user_id") {
        Some(serde_json::Value::String(user_id)) => user_id.trim().to_owned(),
        None | Some(serde_json::Value::Null) => return Err(ApiError::missing("user_id")),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "user_id",
                "`user_id` must be a string",
            ))
        }
    };
    let not_found = || {
        ApiError::field(
            Code::UserNotFound,
            "user_id",
            "no such user in your organisation",
        )
    };
    let to: crate::domain::UserId = user_id.parse().map_err(|_| not_found())?;
    let user = state
        .store
        .user(caller.0.org_id, to)
        .await
        .map_err(|error| match error {
            crate::store::StoreError::NotFound => not_found(),
            other => ApiError::from_store(other, Code::UserNotFound),
        })?;
    if user.role == crate::domain::Role::Bot {
        return Err(ApiError::field(
            Code::InvalidField,
            "user_id",
            "conversations are assigned to team members, not to the bot identity",
        ));
    }
    act(
        &state,
        &caller,
        &id,
        Action::Assign {
            to,
            to_name: user.name,
        },
        None,
    )
    .await
}

/// Marks the conversation resolved: the guest's next message starts a fresh bot conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/resolve", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationRecord), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn resolve(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, &id, Action::Resolve, None).await
}

/// Returns the conversation to the bot, which greets the guest on the next message.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/hand-back", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationRecord), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn hand_back(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, &id, Action::HandBack, None).await
}
