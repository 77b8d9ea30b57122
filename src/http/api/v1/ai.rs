//! `/api/v1/ai`: the organisation's LLM provider (without one, the local engine answers),
//! the tokens it used, and the local engine's reading of a message.

use crate::ai::llm::{Provider, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT};
use crate::ai::nlu::{self, Language};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::ai::{AiSettingsRecord, AiUsageRecord};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;

/// Bounds of `timeout_ms`.
const TIMEOUT_MS: std::ops::RangeInclusive<i64> = 1_000..=120_000;
/// Bounds of `max_retries`.
const MAX_RETRIES: std::ops::RangeInclusive<i64> = 0..=10;
/// Longest text `understand` reads, in characters.
const UNDERSTAND_MAX_CHARS: usize = 4_096;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/ai/settings", web::get().to(read_settings))
        .route("/ai/settings", web::put().to(put_settings))
        .route("/ai/settings", web::delete().to(delete_settings))
        .route("/ai/usage", web::get().to(usage))
        .route("/ai/understand", web::post().to(understand));
}

/// The organisation's AI. The key is never shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AiSettingsView {
    /// `local` (the built-in engine, no network), `openai` (any OpenAI-compatible server) or
    /// `anthropic`.
    provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_retries: Option<i64>,
    /// Whether a key is stored (it always is for a provider).
    has_api_key: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<i64>,
}

impl From<Option<AiSettingsRecord>> for AiSettingsView {
    fn from(record: Option<AiSettingsRecord>) -> Self {
        match record {
            None => AiSettingsView {
                provider: "local".into(),
                base_url: None,
                model: None,
                timeout_ms: None,
                max_retries: None,
                has_api_key: false,
                updated_at: None,
            },
            Some(record) => AiSettingsView {
                provider: record.provider,
                base_url: Some(record.base_url),
                model: Some(record.model),
                timeout_ms: Some(record.timeout_ms),
                max_retries: Some(record.max_retries),
                has_api_key: true,
                updated_at: Some(record.updated_at),
            },
        }
    }
}

fn require_admin(caller: &Caller, action: &str) -> Result<(), ApiError> {
    if caller.0.role.can_manage_channels() {
        Ok(())
    } else {
        Err(ApiError::forbidden(action))
    }
}

/// Reads the organisation's AI provider (Owner and Admin).
#[utoipa::path(get, path = "/api/v1/ai/settings", tag = "ai",
    responses((status = 200, body = AiSettingsView)), security(("api_key" = [])))]
pub(crate) async fn read_settings(
    state: AppState,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller, "read the AI settings")?;
    let record = state
        .store
        .ai_settings(caller.0.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    Ok(HttpResponse::Ok().json(AiSettingsView::from(record)))
}

fn text_field<'b>(body: &'b Value, field: &str) -> Result<Option<&'b str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.trim())),
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            field,
            format!("`{field}` must be a non-empty string"),
        )),
    }
}

fn integer_field(
    body: &Value,
    field: &str,
    bounds: &std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_i64()
            .filter(|number| bounds.contains(number))
            .map(Some)
            .ok_or_else(|| {
                ApiError::field(
                    Code::InvalidField,
                    field,
                    format!(
                        "`{field}` must be a whole number from {} to {}",
                        bounds.start(),
                        bounds.end()
                    ),
                )
            }),
    }
}

/// Sets the organisation's LLM provider (Owner and Admin): `{"provider": "openai" |
/// "anthropic", "model", "api_key", "base_url"?, "timeout_ms"? (1000–120000, default 30000),
/// "max_retries"? (0–10, default 3)}`. `base_url` defaults to the provider's public API; an
/// OpenAI-compatible local server (llama.cpp, vLLM) is `http://host:port/v1`. The key is
/// stored encrypted and never returned.
#[utoipa::path(put, path = "/api/v1/ai/settings", tag = "ai",
    request_body(content = Object, description = "`{\"provider\", \"model\", \"api_key\", \"base_url\"?, \"timeout_ms\"?, \"max_retries\"?}`"),
    responses((status = 200, body = AiSettingsView), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn put_settings(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller, "change the AI settings")?;
    let body = super::json_body(&body)?;
    let provider_name =
        text_field(&body, "provider")?.ok_or_else(|| ApiError::missing("provider"))?;
    let provider: Provider = provider_name.parse().map_err(|_| {
        ApiError::field(
            Code::InvalidField,
            "provider",
            format!("`{provider_name}` is not a provider; use `openai` or `anthropic`"),
        )
    })?;
    let model = text_field(&body, "model")?.ok_or_else(|| ApiError::missing("model"))?;
    let api_key = text_field(&body, "api_key")?.ok_or_else(|| ApiError::missing("api_key"))?;
    let base_url = match text_field(&body, "base_url")? {
        Some(text) => {
            let url = url::Url::parse(text)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
            url.ok_or_else(|| {
                ApiError::field(
                    Code::InvalidField,
                    "base_url",
                    "`base_url` must be an http or https URL",
                )
            })?;
            text.trim_end_matches('/').to_owned()
        }
        None => provider.default_base_url().to_owned(),
    };
    let default_timeout = i64::try_from(DEFAULT_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
    let timeout_ms = integer_field(&body, "timeout_ms", &TIMEOUT_MS)?.unwrap_or(default_timeout);
    let max_retries = integer_field(&body, "max_retries", &MAX_RETRIES)?
        .unwrap_or(i64::from(DEFAULT_MAX_RETRIES));
    let record = AiSettingsRecord {
        org_id: caller.0.org_id,
        provider: provider.as_str().to_owned(),
        base_url,
        model: model.to_owned(),
        api_key_sealed: state.master_key.encrypt(api_key.as_bytes()),
        timeout_ms,
        max_retries,
        updated_at: state.clock.now(),
    };
    state
        .store
        .put_ai_settings(&record)
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    state.forget_ai(caller.0.org_id);
    Ok(HttpResponse::Ok().json(AiSettingsView::from(Some(record))))
}

/// Goes back to the local engine (Owner and Admin); the stored key is deleted.
#[utoipa::path(delete, path = "/api/v1/ai/settings", tag = "ai",
    responses((status = 204)), security(("api_key" = [])))]
pub(crate) async fn delete_settings(
    state: AppState,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller, "change the AI settings")?;
    state
        .store
        .delete_ai_settings(caller.0.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    state.forget_ai(caller.0.org_id);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AiUsageView {
    /// Per UTC day, provider and model, newest first, for the last 90 days.
    days: Vec<AiUsageRecord>,
}

/// The tokens the organisation's AI calls used (Owner and Admin).
#[utoipa::path(get, path = "/api/v1/ai/usage", tag = "ai",
    responses((status = 200, body = AiUsageView)), security(("api_key" = [])))]
pub(crate) async fn usage(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_admin(&caller, "read the AI usage")?;
    let days = state
        .store
        .ai_usage(caller.0.org_id, state.clock.now())
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    Ok(HttpResponse::Ok().json(AiUsageView { days }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UnderstandingView {
    /// `book`, `check_availability`, `my_reservations`, `talk_to_human`, `pricing`,
    /// `check_in_out_times`, `cancel`, `thanks`, `greeting`; null when nothing points to one.
    intent: Option<String>,
    /// 0 to 1; below 0.5 the bot does not act on the intent.
    confidence: f32,
    #[schema(value_type = Object)]
    entities: nlu::Entities,
}

/// How the local engine reads a guest message: `{"text", "today"? ("YYYY-MM-DD", the date
/// relative dates count from; default today in the organisation's time zone)}`. Any team
/// member may ask.
#[utoipa::path(post, path = "/api/v1/ai/understand", tag = "ai",
    request_body(content = Object, description = "`{\"text\", \"today\"?}`"),
    responses((status = 200, body = UnderstandingView), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn understand(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = super::json_body(&body)?;
    let text = match body.get("text") {
        None | Some(Value::Null) => return Err(ApiError::missing("text")),
        Some(Value::String(text)) => text,
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "text",
                "`text` must be a string",
            ))
        }
    };
    if text.chars().count() > UNDERSTAND_MAX_CHARS {
        return Err(ApiError::field(
            Code::InvalidField,
            "text",
            format!("`text` is longer than {UNDERSTAND_MAX_CHARS} characters"),
        ));
    }
    let today = match body.get("today") {
        None | Some(Value::Null) => {
            let time_zone = state
                .time_zone(caller.0.org_id)
                .await
                .map_err(|error| ApiError::from_store(error, Code::Internal))?;
            crate::clock::local_date(state.clock.now(), time_zone)
        }
        Some(value) => value
            .as_str()
            .and_then(|text| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .ok_or_else(|| {
                ApiError::field(
                    Code::InvalidField,
                    "today",
                    "`today` must be a date written YYYY-MM-DD",
                )
            })?,
    };
    let understanding = nlu::understand(text, today, Language::English);
    Ok(HttpResponse::Ok().json(UnderstandingView {
        intent: understanding
            .classification
            .intent
            .map(|intent| intent.as_str().to_owned()),
        confidence: understanding.classification.confidence,
        entities: understanding.entities,
    }))
}
