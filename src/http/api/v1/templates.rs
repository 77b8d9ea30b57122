//! WhatsApp templates and the events that send them: sync a channel's templates from Meta
//! (`POST /api/v1/channels/{id}/templates/sync`), list them, map events
//! (`reservation_confirmed`, `check_in_reminder`, or custom ones) to a template with a JSON
//! parameter mapping (`/api/v1/templates/mappings`), and `POST /api/v1/events`, which sends
//! the mapped template to a contact with the event's data filled in.

use super::channels::{channel_id, require_manager};
use crate::adapters::meta::GraphFailure;
use crate::adapters::whatsapp_cloud::{WhatsappPublicConfig, WhatsappSecrets};
use crate::domain::{ChannelId, ChannelKind};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::templates::{
    placeholders, template_content, MappingRecord, NewMapping, TemplateRecord,
};
use crate::store::{ChannelRecord, StoreError};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Longest event name, in characters.
const EVENT_MAX_CHARS: usize = 64;
/// Longest data path of a parameter mapping, in characters.
const PATH_MAX_CHARS: usize = 200;
/// Mappings an organisation may keep.
const MAPPINGS_MAX: usize = 500;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/channels/{id}/templates/sync", web::post().to(sync))
        .route("/channels/{id}/templates", web::get().to(list))
        .route("/templates/mappings", web::get().to(list_mappings))
        .route("/templates/mappings", web::post().to(create_mapping))
        .route("/templates/mappings/{id}", web::get().to(read_mapping))
        .route("/templates/mappings/{id}", web::put().to(update_mapping))
        .route("/templates/mappings/{id}", web::delete().to(delete_mapping))
        .route("/events", web::post().to(post_event));
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplateList {
    data: Vec<TemplateRecord>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MappingList {
    data: Vec<MappingRecord>,
}

/// What `POST /api/v1/events` sent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventSent {
    event: String,
    channel_id: ChannelId,
    template_name: String,
    language: String,
    /// The message stored in the contact's conversation; its delivery status follows.
    message: crate::store::MessageRecord,
}

fn store_error(error: StoreError) -> ApiError {
    ApiError::from_store(error, Code::ChannelNotFound)
}

async fn whatsapp_channel(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ChannelRecord, ApiError> {
    require_manager(caller)?;
    let id = channel_id(id)?;
    let record = state
        .store
        .channel(caller.0.org_id, id)
        .await
        .map_err(store_error)?;
    if record.kind != ChannelKind::WhatsappCloud {
        return Err(ApiError::new(
            Code::TemplatesNotSupported,
            format!(
                "templates are WhatsApp's; this is a {} channel",
                record.kind
            ),
        ));
    }
    Ok(record)
}

/// Fetches the channel's templates from Meta and replaces what was stored.
#[utoipa::path(post, path = "/api/v1/channels/{id}/templates/sync", tag = "templates",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, body = TemplateList), (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody), (status = 502, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn sync(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = whatsapp_channel(&state, &caller, &id).await?;
    let public: WhatsappPublicConfig = serde_json::from_value(record.public_config.clone())
        .map_err(|_| ApiError::new(Code::Internal, "the channel's configuration is invalid"))?;
    let Some(waba_id) = public.waba_id else {
        return Err(ApiError::new(
            Code::TemplatesNotSupported,
            "the channel has no WhatsApp business account id (`waba_id`); reconnect it with one",
        ));
    };
    let secrets: WhatsappSecrets = state
        .master_key
        .decrypt(&record.sealed_secrets)
        .ok()
        .and_then(|plain| serde_json::from_slice(&plain).ok())
        .ok_or_else(|| ApiError::new(Code::Internal, "the channel's credentials cannot be read"))?;
    let found = state
        .settings
        .meta
        .graph
        .message_templates(&waba_id, &secrets.access_token)
        .await
        .map_err(graph_error)?;
    let now = state.clock.now();
    let templates: Vec<TemplateRecord> = found
        .iter()
        .filter_map(|template| {
            let text = |key: &str| template.get(key).and_then(Value::as_str).map(str::to_owned);
            let components = template.get("components").cloned().unwrap_or(json!([]));
            Some(TemplateRecord {
                name: text("name")?,
                language: text("language")?,
                status: text("status").unwrap_or_else(|| "UNKNOWN".into()),
                category: text("category"),
                provider_id: text("id"),
                parameters: placeholders(&components)
                    .into_iter()
                    .map(|placeholder| placeholder.key)
                    .collect(),
                components,
                synced_at: now,
            })
        })
        .collect();
    state
        .store
        .replace_templates(record.org_id, record.id, &templates)
        .await
        .map_err(store_error)?;
    tracing::info!(channel_id = %record.id, templates = templates.len(), "templates synced");
    Ok(HttpResponse::Ok().json(TemplateList { data: templates }))
}

fn graph_error(failure: GraphFailure) -> ApiError {
    match failure {
        GraphFailure::Credentials(reason) => ApiError::new(
            Code::ProviderRejectedCredentials,
            format!("Meta refused the channel's credentials: {reason}; reconnect the channel"),
        ),
        GraphFailure::NotFound(reason) => ApiError::new(
            Code::TemplatesNotSupported,
            format!("Meta does not know the channel's business account: {reason}"),
        ),
        GraphFailure::Unavailable(reason) => ApiError::new(
            Code::ProviderUnavailable,
            format!("Meta could not be reached; nothing was changed: {reason}"),
        ),
        GraphFailure::Rejected(reason) => {
            ApiError::new(Code::ProviderRejected, format!("Meta refused: {reason}"))
        }
    }
}

/// The channel's templates as last synced.
#[utoipa::path(get, path = "/api/v1/channels/{id}/templates", tag = "templates",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, body = TemplateList), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn list(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = whatsapp_channel(&state, &caller, &id).await?;
    let data = state
        .store
        .templates(record.org_id, record.id)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(TemplateList { data }))
}

fn valid_event(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= EVENT_MAX_CHARS
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.' || c == '-'
        })
}

fn event_field(body: &Value, field: &str) -> Result<String, ApiError> {
    let event = super::required_text(body, field, EVENT_MAX_CHARS)?;
    if !valid_event(&event) {
        return Err(ApiError::field(
            Code::InvalidField,
            field,
            format!("`{field}` is made of lowercase letters, digits, `_`, `.` and `-`, at most {EVENT_MAX_CHARS}"),
        ));
    }
    Ok(event)
}

/// Checks a mapping's body against the synced template it names.
async fn parse_mapping(
    state: &AppState,
    caller: &Caller,
    body: &Value,
) -> Result<NewMapping, ApiError> {
    if !body.is_object() {
        return Err(ApiError::new(
            Code::MalformedJson,
            "the body must be a JSON object",
        ));
    }
    let event = event_field(body, "event")?;
    let raw_channel = super::required_text(body, "channel_id", 64)?;
    let channel = whatsapp_channel(state, caller, &raw_channel)
        .await
        .map_err(|error| match error.code {
            Code::ChannelNotFound => ApiError::field(
                Code::ChannelNotFound,
                "channel_id",
                "no such channel in your organisation",
            ),
            _ => error,
        })?;
    let template_name = super::required_text(body, "template_name", 512)?;
    let language = super::required_text(body, "language", 16)?;
    let template = state
        .store
        .template(channel.org_id, channel.id, &template_name, &language)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::field(
                Code::TemplateNotFound,
                "template_name",
                format!("the channel has no template `{template_name}` in `{language}`; names and languages are exact, and templates are known once synced"),
            )
        })?;
    if template.status != "APPROVED" {
        return Err(ApiError::field(
            Code::TemplateNotApproved,
            "template_name",
            format!("the template is {} at Meta, not approved", template.status),
        ));
    }
    let parameters =
        match body.get("parameters") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(ApiError::field(
                Code::InvalidField,
                "parameters",
                "`parameters` maps each placeholder to a data path, e.g. {\"1\": \"guestName\"}",
            )),
        };
    let mut mapped = BTreeMap::new();
    for (key, path) in &parameters {
        let field = format!("parameters.{key}");
        let path = path
            .as_str()
            .map(str::trim)
            .filter(|path| !path.is_empty() && path.chars().count() <= PATH_MAX_CHARS)
            .ok_or_else(|| {
                ApiError::field(
                    Code::InvalidField,
                    &field,
                    format!("`{field}` is a data path such as `guestName` or `guest.name`, at most {PATH_MAX_CHARS} characters"),
                )
            })?;
        mapped.insert(key.clone(), path.to_owned());
    }
    let needed: Vec<String> = placeholders(&template.components)
        .into_iter()
        .map(|placeholder| placeholder.key)
        .collect();
    let expected: Vec<&String> = needed.iter().collect();
    let given: Vec<&String> = mapped.keys().collect();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    if sorted_expected != given {
        return Err(ApiError::field(
            Code::ParameterMappingMismatch,
            "parameters",
            format!(
                "the template has the placeholders [{}]; the mapping names [{}]",
                expected
                    .iter()
                    .map(|key| key.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                given
                    .iter()
                    .map(|key| key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(NewMapping {
        event,
        channel_id: channel.id,
        template_name,
        language,
        parameters: mapped,
    })
}

fn mapping_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(_) => ApiError::field(
            Code::TemplateMappingTaken,
            "event",
            "the event is already mapped on this channel",
        ),
        other => ApiError::from_store(other, Code::TemplateMappingNotFound),
    }
}

/// Maps an event to a template: `{"event", "channel_id", "template_name", "language",
/// "parameters": {"1": "guestName", …}}`.
#[utoipa::path(post, path = "/api/v1/templates/mappings", tag = "templates",
    request_body(content = Object, description = "`{\"event\": \"reservation_confirmed\", \"channel_id\", \"template_name\", \"language\": \"en_US\", \"parameters\": {\"1\": \"guestName\"}}`"),
    responses((status = 201, body = MappingRecord), (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create_mapping(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let mapping = parse_mapping(&state, &caller, &super::json_body(&body)?).await?;
    let existing = state
        .store
        .mappings(caller.0.org_id, None)
        .await
        .map_err(store_error)?;
    if existing.len() >= MAPPINGS_MAX {
        return Err(ApiError::new(
            Code::InvalidField,
            format!("an organisation keeps at most {MAPPINGS_MAX} template mappings"),
        ));
    }
    let record = state
        .store
        .insert_mapping(caller.0.org_id, &mapping, state.clock.now())
        .await
        .map_err(mapping_error)?;
    Ok(HttpResponse::Created().json(record))
}

#[utoipa::path(get, path = "/api/v1/templates/mappings", tag = "templates",
    responses((status = 200, body = MappingList)), security(("api_key" = [])))]
pub(crate) async fn list_mappings(
    state: AppState,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let data = state
        .store
        .mappings(caller.0.org_id, None)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(MappingList { data }))
}

#[utoipa::path(get, path = "/api/v1/templates/mappings/{id}", tag = "templates",
    params(("id" = String, Path, description = "Mapping id")),
    responses((status = 200, body = MappingRecord), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read_mapping(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let record = state
        .store
        .mapping(caller.0.org_id, &id)
        .await
        .map_err(mapping_error)?;
    Ok(HttpResponse::Ok().json(record))
}

#[utoipa::path(put, path = "/api/v1/templates/mappings/{id}", tag = "templates",
    params(("id" = String, Path, description = "Mapping id")),
    request_body(content = Object, description = "The whole mapping, as for creating one"),
    responses((status = 200, body = MappingRecord), (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update_mapping(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    state
        .store
        .mapping(caller.0.org_id, &id)
        .await
        .map_err(mapping_error)?;
    let mapping = parse_mapping(&state, &caller, &super::json_body(&body)?).await?;
    let record = state
        .store
        .update_mapping(caller.0.org_id, &id, &mapping, state.clock.now())
        .await
        .map_err(mapping_error)?;
    Ok(HttpResponse::Ok().json(record))
}

#[utoipa::path(delete, path = "/api/v1/templates/mappings/{id}", tag = "templates",
    params(("id" = String, Path, description = "Mapping id")),
    responses((status = 204), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete_mapping(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    state
        .store
        .delete_mapping(caller.0.org_id, &id)
        .await
        .map_err(mapping_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The digits of a phone number in international form (`+351 912-345-678` → `351912345678`).
fn phone_digits(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'))
    {
        return None;
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    (6..=15).contains(&digits.len()).then_some(digits)
}

/// The text at a dot path of the event's data: strings as they are, numbers and booleans
/// written out; `None` when absent, null, or not a scalar.
fn lookup(data: &Value, path: &str) -> Option<String> {
    let mut value = data;
    for key in path.split('.') {
        value = match value {
            Value::Object(map) => map.get(key)?,
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Sends the template mapped to an event to a contact: `{"event", "contact": {"phone",
/// "name"?}, "data": {…}, "channel_id"?}`. Answered once the message is stored; its delivery
/// follows on the conversation (a template may go outside WhatsApp's 24-hour window).
#[utoipa::path(post, path = "/api/v1/events", tag = "templates",
    request_body(content = Object, description = "`{\"event\": \"reservation_confirmed\", \"contact\": {\"phone\": \"+351912345678\", \"name\"?: \"Ana\"}, \"data\": {\"guestName\": \"Ana\", …}, \"channel_id\"?: \"…\"}`"),
    responses((status = 202, body = EventSent), (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn post_event(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let body = super::json_body(&body)?;
    if !body.is_object() {
        return Err(ApiError::new(
            Code::MalformedJson,
            "the body must be a JSON object",
        ));
    }
    let event = event_field(&body, "event")?;
    let contact = body
        .get("contact")
        .filter(|contact| contact.is_object())
        .ok_or_else(|| ApiError::missing("contact"))?;
    let raw_phone = super::required_text(contact, "phone", 32).map_err(|error| ApiError {
        field: Some("contact.phone".into()),
        ..error
    })?;
    let phone = phone_digits(&raw_phone).ok_or_else(|| {
        ApiError::field(
            Code::InvalidField,
            "contact.phone",
            "`contact.phone` is a phone number in international form, such as +351 912 345 678",
        )
    })?;
    let name = super::text_field(contact, "name", 1, 255).map_err(|error| ApiError {
        field: Some("contact.name".into()),
        ..error
    })?;
    let data = match body.get("data") {
        None | Some(Value::Null) => json!({}),
        Some(data @ Value::Object(_)) => data.clone(),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "data",
                "`data` must be an object",
            ))
        }
    };
    let wanted_channel = match body.get("channel_id").and_then(Value::as_str) {
        Some(raw) => Some(raw.parse::<ChannelId>().map_err(|_| {
            ApiError::field(
                Code::ChannelNotFound,
                "channel_id",
                "no such channel in your organisation",
            )
        })?),
        None => None,
    };
    let mut mappings: Vec<MappingRecord> = state
        .store
        .mappings(caller.0.org_id, Some(&event))
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|mapping| wanted_channel.is_none_or(|id| mapping.channel_id == id))
        .collect();
    let mapping = match mappings.len() {
        0 => {
            return Err(ApiError::field(
                Code::EventNotMapped,
                "event",
                format!(
                    "no template is mapped to `{event}`{}",
                    if wanted_channel.is_some() {
                        " on that channel"
                    } else {
                        ""
                    }
                ),
            ))
        }
        1 => mappings.remove(0),
        _ => {
            return Err(ApiError::field(
                Code::AmbiguousChannel,
                "channel_id",
                format!(
                    "`{event}` is mapped on {} channels: name the one to send on",
                    mappings.len()
                ),
            ))
        }
    };
    let template = state
        .store
        .template(
            caller.0.org_id,
            mapping.channel_id,
            &mapping.template_name,
            &mapping.language,
        )
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::new(
                Code::TemplateNotFound,
                format!(
                    "the template `{}` is gone from the channel since the last sync",
                    mapping.template_name
                ),
            )
        })?;
    if template.status != "APPROVED" {
        return Err(ApiError::new(
            Code::TemplateNotApproved,
            format!(
                "the template `{}` is {} at Meta",
                template.name, template.status
            ),
        ));
    }
    let needed = placeholders(&template.components);
    let mut values = Vec::with_capacity(needed.len());
    for placeholder in &needed {
        let placeholder = &placeholder.key;
        let path = mapping.parameters.get(placeholder).ok_or_else(|| {
            ApiError::new(
                Code::ParameterMappingMismatch,
                format!("the mapping has no path for the template's placeholder `{placeholder}`; update it"),
            )
        })?;
        let value = lookup(&data, path).ok_or_else(|| {
            ApiError::field(
                Code::MissingEventData,
                &format!("data.{path}"),
                format!("the event's data has no value at `{path}`, which fills `{placeholder}`"),
            )
        })?;
        values.push(value);
    }
    let runtime = state
        .channel_or_load(mapping.channel_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::new(Code::ChannelNotFound, "the mapped channel is gone"))?;
    if !runtime.receives() || !runtime.status().0.can_send() {
        return Err(ApiError::new(
            Code::ChannelInactive,
            format!(
                "the channel is {} and {}: nothing was sent",
                runtime.status().0.as_str(),
                if runtime.active() {
                    "active"
                } else {
                    "switched off"
                }
            ),
        ));
    }
    let content = template_content(&template.name, &template.language, &needed, values);
    let message = state
        .notify_contact(
            caller.0.org_id,
            mapping.channel_id,
            &phone,
            name,
            Some(phone.clone()),
            content,
        )
        .await
        .map_err(|error| {
            tracing::error!(error = %error, "failed to store an event's template");
            ApiError::new(
                Code::Unavailable,
                "the message could not be stored; send the event again",
            )
        })?;
    tracing::info!(event, channel_id = %mapping.channel_id, template = %template.name, "event sent its template");
    Ok(HttpResponse::Accepted().json(EventSent {
        event,
        channel_id: mapping.channel_id,
        template_name: template.name,
        language: template.language,
        message,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_reduced_to_their_digits() {
        assert_eq!(
            phone_digits("+351 912-345-678").as_deref(),
            Some("351912345678")
        );
        assert_eq!(
            phone_digits("(415) 555.0100").as_deref(),
            Some("4155550100")
        );
        assert_eq!(phone_digits("12345"), None);
        assert_eq!(phone_digits("+1 555 CALL NOW"), None);
        assert_eq!(phone_digits("1234567890123456"), None);
    }

    #[test]
    fn data_paths_reach_nested_scalars() {
        let data = json!({"guestName": "Ana", "stay": {"nights": 3, "rooms": ["Sea view"]}, "paid": true, "empty": " ", "none": null});
        assert_eq!(lookup(&data, "guestName").as_deref(), Some("Ana"));
        assert_eq!(lookup(&data, "stay.nights").as_deref(), Some("3"));
        assert_eq!(lookup(&data, "stay.rooms.0").as_deref(), Some("Sea view"));
        assert_eq!(lookup(&data, "paid").as_deref(), Some("true"));
        for missing in ["empty", "none", "stay", "stay.rooms.3", "nobody"] {
            assert_eq!(lookup(&data, missing), None, "{missing}");
        }
    }

    #[test]
    fn event_names_are_lowercase_words() {
        assert!(valid_event("reservation_confirmed"));
        assert!(valid_event("spa.booking-made2"));
        assert!(!valid_event("Reservation Confirmed"));
        assert!(!valid_event(""));
        assert!(!valid_event(&"a".repeat(65)));
    }
}
