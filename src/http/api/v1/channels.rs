//! `/api/v1/channels`: add, list, read and remove channels. Credentials are sealed with the
//! master key before they are stored and are never returned.

use crate::adapters::whatsapp_cloud::{WhatsappPublicConfig, WhatsappSecrets};
use crate::domain::{ChannelId, ChannelKind, ChannelStatus, Millis};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::{ChannelRecord, NewChannel};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Longest channel name, in characters.
const NAME_MAX_CHARS: usize = 255;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/channels", web::post().to(create))
        .route("/channels", web::get().to(list))
        .route("/channels/{id}", web::get().to(read))
        .route("/channels/{id}", web::delete().to(delete));
}

/// A channel as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    id: ChannelId,
    kind: ChannelKind,
    name: String,
    status: ChannelStatus,
    /// Why the channel is in its status, e.g. the provider's answer that needs a reconnect.
    status_reason: Option<String>,
    active: bool,
    /// The channel's non-secret configuration.
    #[schema(value_type = Object)]
    config: Value,
    /// Where the provider must send webhooks (WhatsApp) or visitors connect (web chat).
    webhook_url: String,
    created_at: Millis,
    updated_at: Millis,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelList {
    data: Vec<ChannelView>,
}

/// The body of `POST /api/v1/channels`, checked field by field.
struct CreateChannel {
    kind: ChannelKind,
    name: String,
    public_config: Value,
    secrets: Value,
}

fn parse_create(body: &Value) -> Result<CreateChannel, ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
    let kind_name = required_string(object, "kind", "kind")?;
    let kind: ChannelKind = kind_name.parse().map_err(|_| {
        let known: Vec<_> = ChannelKind::ALL.iter().map(ChannelKind::as_str).collect();
        ApiError::field(
            Code::UnknownChannelKind,
            "kind",
            format!(
                "`{kind_name}` is not a channel kind; use one of {}",
                known.join(", ")
            ),
        )
    })?;
    let name = required_string(object, "name", "name")?.trim().to_owned();
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(ApiError::field(
            Code::InvalidField,
            "name",
            format!("`name` is limited to {NAME_MAX_CHARS} characters"),
        ));
    }
    let empty = Map::new();
    let config = match object.get("config") {
        Some(Value::Object(config)) => config,
        None | Some(Value::Null) if kind == ChannelKind::Webchat => &empty,
        None | Some(Value::Null) => return Err(ApiError::missing("config")),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "config",
                "`config` must be an object",
            ))
        }
    };
    let (public_config, secrets) = match kind {
        ChannelKind::WhatsappCloud => {
            let phone_number_id =
                required_string(config, "phone_number_id", "config.phone_number_id")?;
            if !phone_number_id.chars().all(|c| c.is_ascii_digit()) {
                return Err(ApiError::field(
                    Code::InvalidField,
                    "config.phone_number_id",
                    "`config.phone_number_id` is the numeric id Meta shows for the number, not the phone number",
                ));
            }
            let waba_id = optional_string(config, "waba_id", "config.waba_id")?;
            let public = WhatsappPublicConfig {
                phone_number_id: phone_number_id.to_owned(),
                waba_id: waba_id.map(str::to_owned),
            };
            let secrets = WhatsappSecrets {
                access_token: required_string(config, "access_token", "config.access_token")?
                    .to_owned(),
                app_secret: required_string(config, "app_secret", "config.app_secret")?.to_owned(),
                verify_token: required_string(config, "verify_token", "config.verify_token")?
                    .to_owned(),
            };
            (
                serde_json::to_value(public).expect("config serialises"),
                serde_json::to_value(secrets).expect("secrets serialise"),
            )
        }
        ChannelKind::Webchat => {
            let allowed_origins = match config.get("allowed_origins") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(origins)) => origins
                    .iter()
                    .map(|origin| origin.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        ApiError::field(
                            Code::InvalidField,
                            "config.allowed_origins",
                            "`config.allowed_origins` must list origins as strings",
                        )
                    })?,
                Some(_) => {
                    return Err(ApiError::field(
                        Code::InvalidField,
                        "config.allowed_origins",
                        "`config.allowed_origins` must be an array",
                    ))
                }
            };
            (json!({"allowed_origins": allowed_origins}), json!({}))
        }
    };
    Ok(CreateChannel {
        kind,
        name,
        public_config,
        secrets,
    })
}

fn required_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(ApiError::missing(path)),
        Some(Value::String(text)) if text.trim().is_empty() => Err(ApiError::field(
            Code::InvalidField,
            path,
            format!("`{path}` must not be empty"),
        )),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            path,
            format!("`{path}` must be a string"),
        )),
    }
}

fn optional_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_string(object, key, path).map(Some),
    }
}

pub(crate) fn view(record: &ChannelRecord, state: &AppState) -> ChannelView {
    let path = match record.kind {
        ChannelKind::WhatsappCloud => format!("/webhooks/{}/{}", record.kind, record.id),
        ChannelKind::Webchat => format!("/webchat/{}", record.id),
    };
    ChannelView {
        id: record.id,
        kind: record.kind,
        name: record.name.clone(),
        status: record.status,
        status_reason: record.status_reason.clone(),
        active: record.active,
        config: record.public_config.clone(),
        webhook_url: state.public_url(&path),
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}

fn require_manager(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.role.can_manage_channels() {
        Ok(())
    } else {
        Err(ApiError::forbidden("manage channels"))
    }
}

pub(crate) fn channel_id(raw: &str) -> Result<ChannelId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            Code::ChannelNotFound,
            "no such channel in your organisation",
        )
    })
}

/// Adds a channel.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels",
    request_body(content = Object, description = "`{\"kind\": \"whatsapp_cloud\", \"name\": \"…\", \"config\": {\"phone_number_id\", \"access_token\", \"app_secret\", \"verify_token\", \"waba_id\"?}}`"),
    responses((status = 201, body = ChannelView), (status = 422, body = crate::http::error::ErrorBody), (status = 401, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let request = parse_create(&super::json_body(&body)?)?;
    let now = state.clock.now();
    let status = ChannelStatus::Connected;
    let sealed = state.master_key.encrypt(
        serde_json::to_string(&request.secrets)
            .expect("secrets serialise")
            .as_bytes(),
    );
    let new = NewChannel {
        id: ChannelId::new(),
        org_id: caller.0.org_id,
        kind: request.kind,
        name: request.name,
        status,
        public_config: request.public_config,
        sealed_secrets: sealed,
    };
    state
        .store
        .insert_channel(&new, now)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    let record = state
        .store
        .channel(caller.0.org_id, new.id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    if let Err(error) = state.start_channel(&record) {
        tracing::error!(channel_id = %record.id, error = %error, "failed to start a new channel");
        return Err(ApiError::new(
            Code::Internal,
            "the channel was stored but could not be started",
        ));
    }
    tracing::info!(channel_id = %record.id, kind = %record.kind, "channel added");
    Ok(HttpResponse::Created().json(view(&record, &state)))
}

/// Lists the organisation's channels.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels",
    responses((status = 200, body = ChannelList)), security(("api_key" = [])))]
pub(crate) async fn list(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let records = state
        .store
        .list_channels(caller.0.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    let data = records.iter().map(|record| view(record, &state)).collect();
    Ok(HttpResponse::Ok().json(ChannelList { data }))
}

/// Reads one channel.
#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, body = ChannelView), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let id = channel_id(&id)?;
    let record = state
        .store
        .channel(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    Ok(HttpResponse::Ok().json(view(&record, &state)))
}

/// Removes a channel. Its conversations and messages are kept.
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 204), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let id = channel_id(&id)?;
    state
        .store
        .delete_channel(caller.0.org_id, id, state.clock.now())
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    state.stop_channel(id);
    tracing::info!(channel_id = %id, "channel removed");
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
#[expect(
    clippy::needless_pass_by_value,
    reason = "case helpers take json! literals by value"
)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_error(body: Value, code: Code, field: &str) {
        let error = parse_create(&body)
            .err()
            .expect("the body should be refused");
        assert_eq!(
            (error.code, error.field.as_deref()),
            (code, Some(field)),
            "{}",
            error.message
        );
    }

    fn whatsapp(config: Value) -> Value {
        json!({"kind": "whatsapp_cloud", "name": "Front desk", "config": config})
    }

    #[test]
    fn a_complete_whatsapp_channel_parses() {
        let parsed = parse_create(&whatsapp(json!({
            "phone_number_id": "106540352242922", "access_token": "EAAG", "app_secret": "s", "verify_token": "v"
        })))
        .ok()
        .unwrap();
        assert_eq!(parsed.kind, ChannelKind::WhatsappCloud);
        assert_eq!(
            parsed.public_config,
            json!({"phone_number_id": "106540352242922"})
        );
        assert_eq!(parsed.secrets["access_token"], "EAAG");
    }

    #[test]
    fn each_missing_or_bad_field_is_named() {
        let full = json!({"phone_number_id": "1", "access_token": "t", "app_secret": "s", "verify_token": "v"});
        for field in [
            "phone_number_id",
            "access_token",
            "app_secret",
            "verify_token",
        ] {
            let mut config = full.clone();
            config.as_object_mut().unwrap().remove(field);
            check_error(
                whatsapp(config),
                Code::MissingField,
                &format!("config.{field}"),
            );
        }
        let mut config = full.clone();
        config["access_token"] = json!(42);
        check_error(whatsapp(config), Code::InvalidField, "config.access_token");
        let mut config = full.clone();
        config["phone_number_id"] = json!("+1 555");
        check_error(
            whatsapp(config),
            Code::InvalidField,
            "config.phone_number_id",
        );
        check_error(
            json!({"kind": "fax", "name": "x"}),
            Code::UnknownChannelKind,
            "kind",
        );
        check_error(json!({"name": "x"}), Code::MissingField, "kind");
        check_error(json!({"kind": "webchat"}), Code::MissingField, "name");
        check_error(
            json!({"kind": "whatsapp_cloud", "name": "x"}),
            Code::MissingField,
            "config",
        );
        check_error(
            json!({"kind": "webchat", "name": "a".repeat(256)}),
            Code::InvalidField,
            "name",
        );
    }

    #[test]
    fn a_webchat_channel_needs_no_config() {
        assert!(parse_create(&json!({"kind": "webchat", "name": "Site"})).is_ok());
    }
}
