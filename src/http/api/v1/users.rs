//! `/api/v1/users`: the organisation's team members, bot identities included. Owners and
//! admins add members; everyone but the bot identity may list them.

use crate::actors::bus::{log_script, Event};
use crate::crypto::{generate_token, hash_token};
use crate::domain::{Millis, Role, UserId};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::{NewUser, StoreError, UserRecord};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;

const EMAIL_MAX_CHARS: usize = 254;
const NAME_MAX_CHARS: usize = 255;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/users", web::post().to(create))
        .route("/users", web::get().to(list))
        .route("/users/{id}", web::get().to(read))
        .route("/users/{id}", web::patch().to(update));
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    id: UserId,
    email: String,
    name: String,
    role: Role,
    /// `online`, `away` or `offline`; only online agents take new escalations.
    presence: String,
    /// Most conversations the member owns at once before auto-assignment passes them by.
    max_active_conversations: i64,
    created_at: Millis,
    /// Only in the answer to the creation that asked for one (`with_api_key`); never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserList {
    data: Vec<UserView>,
}

pub(crate) fn view(user: UserRecord) -> UserView {
    UserView {
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        presence: user.presence,
        max_active_conversations: user.max_active_conversations,
        created_at: user.created_at,
        api_key: None,
    }
}

/// Length of a console password, in characters.
const PASSWORD_MIN_CHARS: usize = 8;
const PASSWORD_MAX_CHARS: usize = 256;

#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body(content = Object, description = "`{\"email\", \"name\"?, \"role\": \"owner|admin|user|bot\", \"with_api_key\"?: bool, \"password\"?: \"8 to 256 characters, to log in to the console\"}`"),
    responses((status = 201, body = UserView), (status = 409, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !caller.0.role.can_manage_channels() {
        return Err(ApiError::forbidden("add team members"));
    }
    let body = super::json_body(&body)?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
    let email = match object.get("email") {
        Some(Value::String(email)) => email.trim().to_lowercase(),
        None | Some(Value::Null) => return Err(ApiError::missing("email")),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "email",
                "`email` must be a string",
            ))
        }
    };
    let plausible = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !plausible || email.chars().count() > EMAIL_MAX_CHARS || email.contains(char::is_whitespace)
    {
        return Err(ApiError::field(
            Code::InvalidField,
            "email",
            "`email` must be an email address",
        ));
    }
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_owned(),
        None | Some(Value::Null) => email.clone(),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "name",
                "`name` must be a non-empty string",
            ))
        }
    };
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(ApiError::field(
            Code::InvalidField,
            "name",
            format!("`name` is limited to {NAME_MAX_CHARS} characters"),
        ));
    }
    let role: Role = match object.get("role") {
        Some(Value::String(role)) => role.parse().map_err(|_| {
            ApiError::field(
                Code::InvalidField,
                "role",
                "`role` must be one of owner, admin, user, bot",
            )
        })?,
        None | Some(Value::Null) => return Err(ApiError::missing("role")),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "role",
                "`role` must be a string",
            ))
        }
    };
    if role == Role::Owner && caller.0.role != Role::Owner {
        return Err(ApiError::forbidden("add an owner"));
    }
    let with_key = match object.get("with_api_key") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "with_api_key",
                "`with_api_key` must be a boolean",
            ))
        }
    };
    let password = match object.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(_)) if role == Role::Bot => {
            return Err(ApiError::field(
                Code::InvalidField,
                "password",
                "the bot identity does not log in; it has no password",
            ));
        }
        Some(Value::String(password))
            if (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&password.chars().count()) =>
        {
            Some(password.clone())
        }
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "password",
                format!(
                    "`password` must be a string of {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"
                ),
            ))
        }
    };
    let password_hash = match password {
        // Argon2 is slow on purpose: off the request worker.
        Some(password) => Some(
            web::block(move || crate::crypto::hash_password(&password))
                .await
                .map_err(|_| ApiError::new(Code::Internal, "failed to hash the password"))?,
        ),
        None => None,
    };
    let api_key = with_key.then(|| generate_token("pk"));
    let id = UserId::new();
    let now = state.clock.now();
    let result = state
        .store
        .create_user(
            NewUser {
                id,
                org_id: caller.0.org_id,
                email,
                name,
                role,
                api_key_hash: api_key.as_deref().map(hash_token),
                password_hash,
            },
            now,
        )
        .await;
    match result {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::field(
                Code::EmailTaken,
                "email",
                "a user with this email already exists",
            ))
        }
        Err(error) => return Err(ApiError::from_store(error, Code::UserNotFound)),
    }
    let user = state
        .store
        .user(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::UserNotFound))?;
    let mut view = view(user);
    view.api_key = api_key;
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = UserList), (status = 403, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn list(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    if !caller.0.role.can_read_conversations() {
        return Err(ApiError::forbidden("list team members"));
    }
    let users = state
        .store
        .list_users(caller.0.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::UserNotFound))?;
    Ok(HttpResponse::Ok().json(UserList {
        data: users.into_iter().map(view).collect(),
    }))
}

/// A user id from the path: `me` is the caller.
fn user_id(caller: &Caller, raw: &str) -> Result<UserId, ApiError> {
    if raw == "me" {
        return Ok(caller.0.user_id);
    }
    raw.parse()
        .map_err(|_| ApiError::new(Code::UserNotFound, "no such user in your organisation"))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id, or `me`")),
    responses((status = 200, body = UserView), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !caller.0.role.can_read_conversations() {
        return Err(ApiError::forbidden("read team members"));
    }
    let id = user_id(&caller, &id)?;
    let user = state
        .store
        .user(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::UserNotFound))?;
    Ok(HttpResponse::Ok().json(view(user)))
}

/// Most active conversations an agent may be set to take.
const MAX_ACTIVE_LIMIT: i64 = 1_000;

/// Sets presence (`online`, `away`, `offline` — members set their own, owners and admins
/// anyone's) and the maximum of active conversations (owners and admins).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id, or `me`")),
    request_body(content = Object, description = "`{\"presence\"?: \"online|away|offline\", \"max_active_conversations\"?: 1..1000}`"),
    responses((status = 200, body = UserView), (status = 403, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !caller.0.role.can_read_conversations() {
        return Err(ApiError::forbidden("change team members"));
    }
    let id = user_id(&caller, &id)?;
    let manager = caller.0.role.can_manage_channels();
    let body = super::json_body(&body)?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
    let presence = match object.get("presence") {
        None | Some(Value::Null) => None,
        Some(Value::String(presence))
            if crate::store::inbox::PRESENCES.contains(&presence.as_str()) =>
        {
            Some(presence.clone())
        }
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "presence",
                "`presence` is one of online, away, offline",
            ))
        }
    };
    if presence.is_some() && id != caller.0.user_id && !manager {
        return Err(ApiError::forbidden("set another member's presence"));
    }
    let max_active = match object.get("max_active_conversations") {
        None | Some(Value::Null) => None,
        Some(value) => match value
            .as_i64()
            .filter(|n| (1..=MAX_ACTIVE_LIMIT).contains(n))
        {
            Some(n) if manager => Some(n),
            Some(_) => return Err(ApiError::forbidden("change conversation limits")),
            None => {
                return Err(ApiError::field(
                    Code::InvalidField,
                    "max_active_conversations",
                    format!(
                        "`max_active_conversations` is a whole number from 1 to {MAX_ACTIVE_LIMIT}"
                    ),
                ))
            }
        },
    };
    let user = set_availability(&state, caller.0.org_id, id, presence, max_active).await?;
    Ok(HttpResponse::Ok().json(view(user)))
}

/// Records a team member's presence and capacity, and tells the consoles of a presence
/// change; answers the member as they are now.
pub(crate) async fn set_availability(
    state: &AppState,
    org_id: crate::domain::OrgId,
    id: UserId,
    presence: Option<String>,
    max_active: Option<i64>,
) -> Result<crate::store::UserRecord, ApiError> {
    let event = presence.clone().map(|presence| Event::PresenceChanged {
        user_id: id,
        presence,
    });
    let now = state.clock.now();
    let events = log_script(org_id, event.as_slice(), now);
    state
        .store
        .update_user_availability(org_id, id, presence.as_deref(), max_active, events)
        .await
        .map_err(|error| ApiError::from_store(error, Code::UserNotFound))?;
    if let Some(event) = event {
        state.bus.publish(org_id, event);
    }
    state
        .store
        .user(org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::UserNotFound))
}
