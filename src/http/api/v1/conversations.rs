//! `/api/v1/conversations`: the conversations of the caller's organisation and their messages.

use crate::actors::StaffError;
use crate::domain::handover::{Action, Actor};
use crate::domain::{
    ChannelId, ConversationId, ConversationStatus, MessageContent, MessageId, Millis,
};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::conversations::{
    ArchivedFilter, AssignedFilter, ConversationSummary, ListCursor,
};
use crate::store::{ConversationQuery, ConversationRecord, MessageRecord};
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/conversations", web::get().to(list))
        .route("/conversations/{id}", web::get().to(read))
        .route("/conversations/{id}/messages", web::get().to(messages))
        .route("/conversations/{id}/thread", web::get().to(thread))
        .route("/conversations/{id}/read", web::post().to(mark_read))
        .route("/conversations/{id}/events", web::post().to(event))
        .route("/conversations/{id}/messages", web::post().to(reply))
        .route("/conversations/{id}/claim", web::post().to(claim))
        .route("/conversations/{id}/take-over", web::post().to(take_over))
        .route("/conversations/{id}/assign", web::post().to(assign))
        .route("/conversations/{id}/resolve", web::post().to(resolve))
        .route("/conversations/{id}/hand-back", web::post().to(hand_back))
        .route("/conversations/{id}/close", web::post().to(close))
        .route("/conversations/{id}/archive", web::post().to(archive))
        .route("/conversations/{id}/reopen", web::post().to(reopen))
        .route("/conversations/{id}", web::patch().to(update))
        .route("/conversations/{id}", web::delete().to(delete));
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
    /// Only conversations in one of these statuses, comma-separated
    /// (`bot_handling,awaiting_agent,agent_assigned,resolved,expired`).
    status: Option<String>,
    /// `me`, `unassigned`, or a user id.
    assigned_to: Option<String>,
    /// `false` (default): archived conversations are left out; `true`: only archived ones;
    /// `all`: both.
    archived: Option<String>,
    /// Contact name (any part, case-insensitive) or phone number (its digits).
    q: Option<String>,
    /// At most this many (default 50, at most 500).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationList {
    data: Vec<ConversationSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageList {
    data: Vec<MessageRecord>,
    /// Whether older messages exist (page with `before` = the first message's id).
    has_more: bool,
}

/// A conversation's messages grouped by the day they were received.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Thread {
    conversation: ConversationSummary,
    days: Vec<ThreadDay>,
    /// Whether older messages exist (page with `before` = the first message's id).
    has_more: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ThreadDay {
    /// `YYYY-MM-DD` in the requested time zone offset.
    date: String,
    messages: Vec<MessageRecord>,
}

/// What marking a conversation read did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadMark {
    conversation_id: ConversationId,
    /// Messages received up to this time are read.
    read_up_to: Millis,
    unread_count: i64,
}

/// Longest search text, in characters.
const SEARCH_MAX_CHARS: usize = 100;
/// Time zone offsets span UTC-14:00 to UTC+14:00.
const TZ_OFFSET_MAX_MINUTES: i64 = 14 * 60;

pub(crate) fn require_reader(caller: &Caller) -> Result<(), ApiError> {
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

pub(crate) fn conversation_not_found() -> ApiError {
    ApiError::new(
        Code::ConversationNotFound,
        "no such conversation in your organisation",
    )
}

pub(crate) fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    raw.parse().map_err(|_| conversation_not_found())
}

fn encode_cursor(cursor: &ListCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", cursor.sort_at, cursor.id))
}

fn decode_cursor(raw: &str) -> Result<ListCursor, ApiError> {
    let invalid = || {
        ApiError::field(
            Code::InvalidField,
            "cursor",
            "`cursor` must be a `next_cursor` this API returned",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (sort_at, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok(ListCursor {
        sort_at: sort_at.parse().map_err(|_| invalid())?,
        id: id.parse().map_err(|_| invalid())?,
    })
}

fn list_query(caller: &Caller, params: &ListParams) -> Result<ConversationQuery, ApiError> {
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
    let statuses = params
        .status
        .as_deref()
        .map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|status| !status.is_empty())
                .map(str::parse::<ConversationStatus>)
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|error| ApiError::field(Code::InvalidField, "status", error))?
        .unwrap_or_default();
    let assigned = match params.assigned_to.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("me") => Some(AssignedFilter::User(caller.0.user_id)),
        Some("unassigned") => Some(AssignedFilter::Unassigned),
        Some(raw) => Some(AssignedFilter::User(raw.parse().map_err(|_| {
            ApiError::field(
                Code::InvalidField,
                "assigned_to",
                "`assigned_to` must be `me`, `unassigned` or a user id",
            )
        })?)),
    };
    let archived = match params.archived.as_deref() {
        None | Some("false") => ArchivedFilter::Exclude,
        Some("true") => ArchivedFilter::Only,
        Some("all") => ArchivedFilter::Include,
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "archived",
                "`archived` must be `false`, `true` or `all`",
            ))
        }
    };
    let search = params
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    if search
        .as_ref()
        .is_some_and(|q| q.chars().count() > SEARCH_MAX_CHARS)
    {
        return Err(ApiError::field(
            Code::InvalidField,
            "q",
            format!("`q` is limited to {SEARCH_MAX_CHARS} characters"),
        ));
    }
    Ok(ConversationQuery {
        channel_id,
        statuses,
        assigned,
        archived,
        search,
        after: params.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: limit(params.limit)?,
    })
}

/// Lists conversations, most recently active first, with the latest message's preview and
/// the caller's unread count.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListParams),
    responses((status = 200, body = ConversationList), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn list(
    state: AppState,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let mut query = list_query(&caller, &params)?;
    let page = query.limit;
    // One more than asked tells whether another page follows.
    query.limit += 1;
    let mut data = state
        .store
        .list_conversations(caller.0.org_id, caller.0.user_id, &query)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    let next_cursor = if data.len() as i64 > page {
        data.truncate(page as usize);
        data.last().map(|last| encode_cursor(&last.cursor()))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(ConversationList { data, next_cursor }))
}

/// Reads one conversation, with its latest message and the caller's unread count.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationSummary), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let conversation = state
        .store
        .conversation_summary(caller.0.org_id, caller.0.user_id, conversation_id(&id)?)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    Ok(HttpResponse::Ok().json(conversation))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct MessageParams {
    /// The latest this many messages, oldest first (default 50, at most 500).
    limit: Option<i64>,
    /// Only messages before this message id (the first of the previous page).
    before: Option<String>,
}

/// A page of a conversation's messages, oldest first, and whether older ones exist.
async fn message_page(
    state: &AppState,
    caller: &Caller,
    id: ConversationId,
    params: &MessageParams,
) -> Result<(Vec<MessageRecord>, bool), ApiError> {
    let org_id = caller.0.org_id;
    let page = limit(params.limit)?;
    let before = match params.before.as_deref() {
        None => None,
        Some(raw) => {
            let invalid = || {
                ApiError::field(
                    Code::InvalidField,
                    "before",
                    "`before` must be the id of a message of this conversation",
                )
            };
            let message_id: MessageId = raw.parse().map_err(|_| invalid())?;
            let known = state
                .store
                .message_in_conversation(id, message_id)
                .await
                .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
            if !known {
                return Err(invalid());
            }
            Some(message_id)
        }
    };
    let mut data = state
        .store
        .messages_before(org_id, id, before, page + 1)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    let has_more = data.len() as i64 > page;
    if has_more {
        data.remove(0);
    }
    Ok((data, has_more))
}

/// The messages of a conversation, oldest first, with delivery status and failure reason.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), MessageParams),
    responses((status = 200, body = MessageList), (status = 404, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn messages(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    params: web::Query<MessageParams>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let id = conversation_id(&id)?;
    // Reading the conversation first turns another organisation's id into a 404.
    state
        .store
        .conversation(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    let (data, has_more) = message_page(&state, &caller, id, &params).await?;
    Ok(HttpResponse::Ok().json(MessageList { data, has_more }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ThreadParams {
    /// The viewer's offset from UTC in minutes (e.g. `60` for UTC+01:00); days are cut at
    /// the viewer's midnight. Default 0.
    tz_offset_minutes: Option<i64>,
    /// The latest this many messages (default 50, at most 500).
    limit: Option<i64>,
    /// Only messages before this message id (the first of the previous page).
    before: Option<String>,
}

/// The thread as the inbox shows it: the conversation, and its messages grouped by day.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/thread", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), ThreadParams),
    responses((status = 200, body = Thread), (status = 404, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn thread(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    params: web::Query<ThreadParams>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let offset = params.tz_offset_minutes.unwrap_or(0);
    if !(-TZ_OFFSET_MAX_MINUTES..=TZ_OFFSET_MAX_MINUTES).contains(&offset) {
        return Err(ApiError::field(
            Code::InvalidField,
            "tz_offset_minutes",
            format!("`tz_offset_minutes` must be between -{TZ_OFFSET_MAX_MINUTES} and {TZ_OFFSET_MAX_MINUTES}"),
        ));
    }
    let id = conversation_id(&id)?;
    let conversation = state
        .store
        .conversation_summary(caller.0.org_id, caller.0.user_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    let page = MessageParams {
        limit: params.limit,
        before: params.before.clone(),
    };
    let (messages, has_more) = message_page(&state, &caller, id, &page).await?;
    Ok(HttpResponse::Ok().json(Thread {
        conversation,
        days: group_by_day(messages, offset),
        has_more,
    }))
}

/// Groups messages (oldest first) by their local day at `offset_minutes` from UTC.
fn group_by_day(messages: Vec<MessageRecord>, offset_minutes: i64) -> Vec<ThreadDay> {
    let mut days: Vec<ThreadDay> = Vec::new();
    for message in messages {
        let local = message.received_at + offset_minutes * 60_000;
        let date = chrono::DateTime::from_timestamp_millis(local)
            .map(|at| at.date_naive().to_string())
            .unwrap_or_default();
        match days.last_mut() {
            Some(day) if day.date == date => day.messages.push(message),
            _ => days.push(ThreadDay {
                date,
                messages: vec![message],
            }),
        }
    }
    days
}

/// Marks every message of the conversation received so far as read by the caller.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ReadMark), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn mark_read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    Ok(HttpResponse::Ok().json(read_mark(&state, &caller, &id).await?))
}

/// Marks the conversation read by the caller (REST and the agent WebSocket), and tells the
/// contact their latest message was read. Another organisation's conversation, or one
/// deleted meanwhile, is not found.
pub(crate) async fn read_mark(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> Result<ReadMark, ApiError> {
    let id = conversation_id(raw)?;
    let read_up_to = state
        .store
        .mark_read(id, caller.0.org_id, caller.0.user_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    if caller.0.role != crate::domain::Role::Bot {
        let (core, org_id) = (state.get_ref().clone(), caller.0.org_id);
        tokio::spawn(async move { core.send_read_receipt(org_id, id).await });
    }
    Ok(ReadMark {
        conversation_id: id,
        read_up_to,
        unread_count: 0,
    })
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
pub(crate) async fn actor(state: &AppState, caller: &Caller) -> Result<Actor, ApiError> {
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

/// What a staff action produced.
pub(crate) enum Performed {
    /// A reply: the message.
    Message(MessageRecord),
    /// The conversation as it is afterwards.
    Conversation(ConversationRecord),
    Deleted,
}

/// Runs a staff action through the conversation's actor (the HTTP API and the agent
/// WebSocket both come here).
pub(crate) async fn perform(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
    content: Option<MessageContent>,
) -> Result<Performed, ApiError> {
    let actor = actor(state, caller).await?;
    let conversation = state
        .store
        .conversation(caller.0.org_id, conversation_id(id)?)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    let deleting = action == Action::Delete;
    let closing = matches!(action, Action::Resolve | Action::Close);
    let outcome = state
        .get_ref()
        .staff_action(&conversation, actor, action, content)
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
        return Ok(Performed::Message(message));
    }
    if deleting {
        return Ok(Performed::Deleted);
    }
    if closing {
        // A resolved conversation gets its sentiment and summary, off the request's path.
        let core = std::sync::Arc::clone(state.get_ref());
        let (org_id, id) = (caller.0.org_id, conversation.id);
        tokio::spawn(async move {
            let now = core.clock.now();
            let ai = core.ai_for(org_id).await;
            if let Err(error) =
                crate::store::insights::refresh_insight(&core.store, &*ai, org_id, id, now).await
            {
                tracing::warn!(conversation_id = %id, error = %error, "no insight for a resolved conversation");
            }
        });
    }
    let conversation = state
        .store
        .conversation(caller.0.org_id, conversation.id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    Ok(Performed::Conversation(conversation))
}

/// Runs a staff action and answers with the conversation as it is afterwards (or, for a
/// reply, 201 with the message; for a deletion, 204).
async fn act(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
    content: Option<MessageContent>,
) -> Result<HttpResponse, ApiError> {
    Ok(match perform(state, caller, id, action, content).await? {
        Performed::Message(message) => HttpResponse::Created().json(message),
        Performed::Conversation(conversation) => HttpResponse::Ok().json(conversation),
        Performed::Deleted => HttpResponse::NoContent().finish(),
    })
}

/// A reply's text, checked: non-empty after trimming and within the channel's limit.
pub(crate) fn reply_text(value: Option<&serde_json::Value>) -> Result<String, ApiError> {
    let text = match value {
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
    Ok(text)
}

/// The assign action for `user_id`: a team member of the caller's organisation (not a bot).
pub(crate) async fn assign_to(
    state: &AppState,
    caller: &Caller,
    user_id: Option<&serde_json::Value>,
) -> Result<Action, ApiError> {
    let user_id = match user_id {
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
    Ok(Action::Assign {
        to,
        to_name: user.name,
    })
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
    let body = reply_text(body.get("text"))?;
    act(
        &state,
        &caller,
        &id,
        Action::Reply,
        Some(MessageContent::Text { body }),
    )
    .await
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
    let action = assign_to(&state, &caller, body.get("user_id")).await?;
    act(&state, &caller, &id, action, None).await
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

/// Closes the conversation: it ends as `resolved`, and the guest's next message starts a
/// fresh bot conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/close", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationRecord), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn close(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, &id, Action::Close, None).await
}

/// Archives a closed (resolved or expired) conversation: it leaves the default inbox list
/// (`?archived=true` lists it) until the guest writes again or it is reopened.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/archive", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationRecord), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn archive(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, &id, Action::Archive, None).await
}

/// Opens a closed or archived conversation again, assigned to the caller.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/reopen", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationRecord), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn reopen(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, &id, Action::Reopen, None).await
}

/// Turns the bot and AI on or off for this conversation. Off, it is for humans only: a
/// conversation the bot was handling waits for the team (and is auto-assigned), and it cannot
/// be handed back to the bot until the AI is on again.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = Object, description = "`{\"ai_enabled\": false}`"),
    responses((status = 200, body = ConversationRecord), (status = 403, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = super::json_body(&body)?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
    if let Some(unknown) = object.keys().find(|key| key.as_str() != "ai_enabled") {
        return Err(ApiError::field(
            Code::InvalidField,
            unknown,
            format!("`{unknown}` cannot be changed here; only `ai_enabled` can"),
        ));
    }
    let enabled = match object.get("ai_enabled") {
        Some(serde_json::Value::Bool(enabled)) => *enabled,
        None | Some(serde_json::Value::Null) => return Err(ApiError::missing("ai_enabled")),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "ai_enabled",
                "`ai_enabled` must be true or false",
            ))
        }
    };
    act(&state, &caller, &id, Action::SetAi { enabled }, None).await
}

/// Deletes the conversation with its messages, notes and pending sends (owners and admins).
/// The contact stays; their next message starts a new conversation.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = crate::http::error::ErrorBody),
              (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, &id, Action::Delete, None).await
}
