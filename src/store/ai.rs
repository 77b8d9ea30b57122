//! An organisation's LLM provider (`ai_settings`, at most one row per organisation; without
//! one the local engine answers) and the tokens its AI calls used (`ai_usage`, one row per
//! organisation, UTC day, provider and model, added to after every call).
//!
//! The API key is stored sealed with the master key; this module never sees it in clear.

use super::script::Script;
use super::{Columns, Store, StoreResult};
use crate::domain::{Millis, OrgId};
use serde::Serialize;

/// How many days of usage `ai_usage` answers with at most.
pub const USAGE_DAYS: i64 = 90;

/// An organisation's provider, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AiSettingsRecord {
    pub org_id: OrgId,
    /// `openai` or `anthropic`.
    pub provider: String,
    pub base_url: String,
    pub model: String,
    /// The API key, sealed with the master key.
    pub api_key_sealed: String,
    pub timeout_ms: i64,
    pub max_retries: i64,
    pub updated_at: Millis,
}

/// The usage of one day, provider and model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AiUsageRecord {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub provider: String,
    pub model: String,
    pub requests: i64,
    /// Requests that failed after their retries.
    pub failures: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// One AI call to add to the usage.
#[derive(Clone, Debug)]
pub struct AiCall<'a> {
    pub org_id: OrgId,
    pub at: Millis,
    pub provider: &'a str,
    pub model: &'a str,
    pub failed: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

fn settings_from_row(row: &impl Columns) -> StoreResult<AiSettingsRecord> {
    Ok(AiSettingsRecord {
        org_id: super::records::parsed(row, "org_id")?,
        provider: row.text("provider")?,
        base_url: row.text("base_url")?,
        model: row.text("model")?,
        api_key_sealed: row.text("api_key_sealed")?,
        timeout_ms: row.int("timeout_ms")?,
        max_retries: row.int("max_retries")?,
        updated_at: row.int("updated_at")?,
    })
}

/// The UTC day of a time, `YYYY-MM-DD`.
fn day_of(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// Adds one call to the organisation's usage of its day.
pub fn record_ai_call_into(script: &mut Script, call: &AiCall<'_>) {
    let tokens = |count: u64| i64::try_from(count).unwrap_or(i64::MAX);
    script.push(
        "INSERT INTO ai_usage
             (org_id, day, provider, model, requests, failures, input_tokens, output_tokens)
         VALUES ($1, $2, $3, $4, 1, $5, $6, $7)
         ON CONFLICT (org_id, day, provider, model) DO UPDATE SET
             requests = ai_usage.requests + 1,
             failures = ai_usage.failures + excluded.failures,
             input_tokens = ai_usage.input_tokens + excluded.input_tokens,
             output_tokens = ai_usage.output_tokens + excluded.output_tokens",
        vec![
            call.org_id.to_string().into(),
            day_of(call.at).into(),
            call.provider.to_owned().into(),
            call.model.to_owned().into(),
            i64::from(call.failed).into(),
            tokens(call.input_tokens).into(),
            tokens(call.output_tokens).into(),
        ],
    );
}

impl Store {
    /// The organisation's provider; `None` when it uses the local engine.
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn ai_settings(&self, org_id: OrgId) -> StoreResult<Option<AiSettingsRecord>> {
        let row = sqlx::query(
            "SELECT org_id, provider, base_url, model, api_key_sealed, timeout_ms, max_retries,
                    updated_at
               FROM ai_settings WHERE org_id = $1",
        )
        .bind(org_id.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(settings_from_row).transpose()
    }

    /// Sets the organisation's provider, replacing any it had.
    #[tracing::instrument(skip_all, fields(org_id = %settings.org_id))]
    pub async fn put_ai_settings(&self, settings: &AiSettingsRecord) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "INSERT INTO ai_settings
                 (org_id, provider, base_url, model, api_key_sealed, timeout_ms, max_retries,
                  updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (org_id) DO UPDATE SET
                 provider = excluded.provider, base_url = excluded.base_url,
                 model = excluded.model, api_key_sealed = excluded.api_key_sealed,
                 timeout_ms = excluded.timeout_ms, max_retries = excluded.max_retries,
                 updated_at = excluded.updated_at",
            vec![
                settings.org_id.to_string().into(),
                settings.provider.clone().into(),
                settings.base_url.clone().into(),
                settings.model.clone().into(),
                settings.api_key_sealed.clone().into(),
                settings.timeout_ms.into(),
                settings.max_retries.into(),
                settings.updated_at.into(),
            ],
        );
        self.write_script(script).await
    }

    /// Goes back to the local engine. Usage already recorded stays.
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn delete_ai_settings(&self, org_id: OrgId) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "DELETE FROM ai_settings WHERE org_id = $1",
            vec![org_id.to_string().into()],
        );
        self.write_script(script).await
    }

    /// Adds one call to the organisation's usage.
    pub async fn record_ai_call(&self, call: &AiCall<'_>) -> StoreResult<()> {
        let mut script = Script::new();
        record_ai_call_into(&mut script, call);
        self.write_script(script).await
    }

    /// The organisation's usage of its last [`USAGE_DAYS`] days up to `now`, newest first.
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn ai_usage(&self, org_id: OrgId, now: Millis) -> StoreResult<Vec<AiUsageRecord>> {
        let since = day_of(now.saturating_sub(USAGE_DAYS.saturating_mul(86_400_000)));
        let rows = sqlx::query(
            "SELECT day, provider, model, requests, failures, input_tokens, output_tokens
               FROM ai_usage WHERE org_id = $1 AND day > $2
              ORDER BY day DESC, provider, model",
        )
        .bind(org_id.to_string())
        .bind(since)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AiUsageRecord {
                    day: row.text("day")?,
                    provider: row.text("provider")?,
                    model: row.text("model")?,
                    requests: row.int("requests")?,
                    failures: row.int("failures")?,
                    input_tokens: row.int("input_tokens")?,
                    output_tokens: row.int("output_tokens")?,
                })
            })
            .collect()
    }
}
