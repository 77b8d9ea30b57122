//! Meta's consent flow. `POST /api/v1/channels/connect/{kind}` (and a reconnect without
//! credentials) answers the consent dialog's URL with a `state` that binds the organisation,
//! the team member, the channel kind (and the channel being reconnected) and a nonce, signed
//! with a key derived from the master key and good for 15 minutes and one callback.
//! `GET /oauth/meta/callback` is where Meta sends the browser back: it checks the state,
//! exchanges the code, sets up every granted account and redirects to `return_to` with
//! `channel_connected=<ids>` or `channel_error=<code>&message=…`.

use super::api::v1::channels::{connection_error, require_manager, store_accounts};
use super::auth::Caller;
use super::error::{ApiError, Code};
use super::AppState;
use crate::actors::connections::{self, CONSENT_TTL_MS};
use crate::domain::{ChannelId, ChannelKind, ChannelStatus, Millis, OrgId, UserId};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where Meta sends the browser back.
pub const CALLBACK_PATH: &str = "/oauth/meta/callback";
const STATE_KEY_PURPOSE: &str = "meta-consent-state";

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config.route(CALLBACK_PATH, web::get().to(callback));
}

/// What a consent state carries, signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ConsentState {
    org: OrgId,
    user: UserId,
    kind: ChannelKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<ChannelId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    return_to: String,
    redirect_uri: String,
    nonce: String,
    expires_at: Millis,
}

fn sign(key: &[u8; 32], state: &ConsentState) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(state).expect("states serialise"));
    let tag = URL_SAFE_NO_PAD.encode(crate::crypto::hmac_sha256(key, payload.as_bytes()));
    format!("{payload}.{tag}")
}

/// The state, if it is one this server signed; its expiry is the caller's to check.
fn open(key: &[u8; 32], raw: &str) -> Option<ConsentState> {
    let (payload, tag) = raw.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if !crate::crypto::verify_hmac_sha256(key, payload.as_bytes(), &tag) {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// The answer of starting a consent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentStart {
    /// Open this in the browser: Meta's consent dialog.
    url: String,
    state: String,
    expires_at: Millis,
    /// Where the browser comes back to.
    redirect_uri: String,
}

/// Only a path of this server may be returned to, never another site.
fn return_path(raw: Option<&str>) -> Result<String, ApiError> {
    match raw {
        None => Ok("/".into()),
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            Ok(path.to_owned())
        }
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            "return_to",
            "`return_to` must be a path on this server, such as `/settings/connections`",
        )),
    }
}

/// The permissions each kind asks for when no Login for Business configuration is set.
fn scopes(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::WhatsappCloud => {
            "whatsapp_business_management,whatsapp_business_messaging,business_management"
        }
        ChannelKind::Messenger => {
            "pages_show_list,pages_messaging,pages_manage_metadata,business_management"
        }
        ChannelKind::Instagram => {
            "instagram_basic,instagram_manage_messages,pages_show_list,pages_messaging,pages_manage_metadata,business_management"
        }
        ChannelKind::Webchat
        | ChannelKind::TwilioWhatsapp
        | ChannelKind::TwilioSms
        | ChannelKind::WhatsappUnofficial
        | ChannelKind::Telegram
        | ChannelKind::Email => "",
    }
}

/// Builds the consent URL and its state.
pub(crate) fn begin(
    state: &AppState,
    caller: &Caller,
    request: &HttpRequest,
    kind: ChannelKind,
    channel: Option<ChannelId>,
    name: Option<String>,
    return_to: Option<&str>,
) -> Result<ConsentStart, ApiError> {
    require_manager(caller)?;
    let meta = &state.settings.meta;
    if !kind.is_meta() {
        return Err(ApiError::field(
            Code::UnknownChannelKind,
            "kind",
            format!("`{kind}` does not connect through Meta; use whatsapp_cloud, messenger or instagram"),
        ));
    }
    if !meta.app_configured {
        return Err(ApiError::new(
            Code::MetaAppNotConfigured,
            "no Meta app is configured (PARLEY_META_APP_ID, PARLEY_META_APP_SECRET); add the channel with its credentials instead",
        ));
    }
    let redirect_uri = match &state.settings.public_url {
        Some(_) => state.public_url(CALLBACK_PATH),
        None => {
            let info = request.connection_info();
            format!("{}://{}{CALLBACK_PATH}", info.scheme(), info.host())
        }
    };
    let expires_at = state.clock.now().saturating_add(CONSENT_TTL_MS);
    let consent = ConsentState {
        org: caller.0.org_id,
        user: caller.0.user_id,
        kind,
        channel,
        name,
        return_to: return_path(return_to)?,
        redirect_uri: redirect_uri.clone(),
        nonce: crate::crypto::generate_token("n"),
        expires_at,
    };
    let signed = sign(&state.master_key.derive(STATE_KEY_PURPOSE), &consent);
    let mut url = meta
        .dialog_url
        .join(&format!("{}/dialog/oauth", meta.version))
        .map_err(|_| ApiError::new(Code::Internal, "the Meta dialog URL is not valid"))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", meta.graph.app_id())
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", &signed)
            .append_pair("response_type", "code");
        match &meta.config_id {
            Some(config_id) => {
                query
                    .append_pair("config_id", config_id)
                    .append_pair("override_default_response_type", "true");
            }
            None => {
                query.append_pair("scope", scopes(kind));
            }
        }
    }
    Ok(ConsentStart {
        url: url.to_string(),
        state: signed,
        expires_at,
        redirect_uri,
    })
}

/// Starts connecting a WhatsApp number, a Facebook Page (Messenger) or an Instagram account
/// through Meta's consent dialog: `{"name"?, "return_to"?}`.
#[utoipa::path(post, path = "/api/v1/channels/connect/{kind}", tag = "channels",
    params(("kind" = String, Path, description = "`whatsapp_cloud`, `messenger` or `instagram`")),
    request_body(content = Object, description = "`{\"name\"?: \"…\", \"return_to\"?: \"/…\"}`: a name for the new channel, and the path the browser returns to"),
    responses((status = 200, body = ConsentStart), (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn start(
    state: AppState,
    caller: Caller,
    request: HttpRequest,
    kind: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let kind: ChannelKind = kind.parse().map_err(|_| {
        ApiError::field(
            Code::UnknownChannelKind,
            "kind",
            format!("`{kind}` is not a channel kind; use whatsapp_cloud, messenger or instagram"),
        )
    })?;
    let body = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        super::api::v1::json_body(&body)?
    };
    let name = super::api::v1::text_field(&body, "name", 1, 255)?;
    let started = begin(
        &state,
        &caller,
        &request,
        kind,
        None,
        name,
        body.get("return_to").and_then(Value::as_str),
    )?;
    Ok(HttpResponse::Ok().json(started))
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_reason: Option<String>,
    error_description: Option<String>,
}

fn code_name(code: Code) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Sends the browser back to where the consent started.
fn back(return_to: &str, pairs: &[(&str, &str)]) -> HttpResponse {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let separator = if return_to.contains('?') { '&' } else { '?' };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{return_to}{separator}{query}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn back_with_error(return_to: &str, error: &ApiError) -> HttpResponse {
    back(
        return_to,
        &[
            ("channel_error", &code_name(error.code)),
            ("message", &error.message),
        ],
    )
}

/// Where Meta sends the browser after the consent dialog.
pub(crate) async fn callback(
    state: AppState,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = state.master_key.derive(STATE_KEY_PURPOSE);
    let Some(consent) = query.state.as_deref().and_then(|raw| open(&key, raw)) else {
        return Err(ApiError::new(
            Code::MissingOrganization,
            "missing organisation in callback: the consent was not started here, or in another browser session; start it again from Connections",
        ));
    };
    let return_to = consent.return_to.clone();
    let now = state.clock.now();
    if now > consent.expires_at {
        return Ok(back_with_error(
            &return_to,
            &ApiError::new(
                Code::ConsentExpired,
                "the consent took longer than 15 minutes; start it again",
            ),
        ));
    }
    match state.store.spend_consent_nonce(&consent.nonce, now).await {
        Ok(true) => {}
        Ok(false) => {
            return Ok(back_with_error(
                &return_to,
                &ApiError::new(
                    Code::ConsentExpired,
                    "this consent was already completed; start it again",
                ),
            ))
        }
        Err(error) => {
            return Ok(back_with_error(
                &return_to,
                &ApiError::from_store(error, Code::Internal),
            ))
        }
    }
    // The member who started the consent must still be one who may connect channels.
    match state.store.user(consent.org, consent.user).await {
        Ok(user) if user.role.can_manage_channels() => {}
        Ok(_) | Err(crate::store::StoreError::NotFound) => {
            return Ok(back_with_error(
                &return_to,
                &ApiError::forbidden("connect channels"),
            ))
        }
        Err(error) => {
            return Ok(back_with_error(
                &return_to,
                &ApiError::from_store(error, Code::Internal),
            ))
        }
    }
    if let Some(error) = &query.error {
        let reason = query
            .error_description
            .clone()
            .or_else(|| query.error_reason.clone())
            .unwrap_or_else(|| error.clone());
        tracing::info!(org_id = %consent.org, kind = %consent.kind, reason = %reason, "consent denied");
        return Ok(back_with_error(
            &return_to,
            &ApiError::new(
                Code::UserDeniedConsent,
                format!("user denied consent: {reason}"),
            ),
        ));
    }
    let Some(code) = query.code.as_deref().filter(|code| !code.is_empty()) else {
        return Ok(back_with_error(
            &return_to,
            &ApiError::new(Code::UserDeniedConsent, "Meta sent no consent code"),
        ));
    };
    let accounts = match connections::onboard(
        &state.settings.meta,
        consent.kind,
        code,
        &consent.redirect_uri,
        now,
    )
    .await
    {
        Ok(accounts) => accounts,
        Err(error) => {
            tracing::warn!(org_id = %consent.org, kind = %consent.kind, error = %error, "consent failed");
            return Ok(back_with_error(&return_to, &connection_error(error)));
        }
    };
    let records = match store_accounts(
        &state,
        consent.org,
        consent.channel,
        consent.name.as_deref(),
        accounts,
    )
    .await
    {
        Ok(records) => records,
        Err(error) => return Ok(back_with_error(&return_to, &error)),
    };
    let ids = records
        .iter()
        .map(|record| record.id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let incomplete = records
        .iter()
        .find(|record| record.status == ChannelStatus::Error);
    match incomplete {
        None => Ok(back(&return_to, &[("channel_connected", &ids)])),
        Some(record) => {
            let reason = record.status_reason.clone().unwrap_or_default();
            let code = if reason == connections::WEBHOOK_SUBSCRIPTION_EMPTY {
                Code::WebhookSubscriptionEmpty
            } else {
                Code::ProviderRejected
            };
            Ok(back(
                &return_to,
                &[
                    ("channel_connected", &ids),
                    ("channel_error", &code_name(code)),
                    ("message", &reason),
                ],
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent() -> ConsentState {
        ConsentState {
            org: OrgId::new(),
            user: UserId::new(),
            kind: ChannelKind::Messenger,
            channel: None,
            name: Some("Front desk".into()),
            return_to: "/".into(),
            redirect_uri: "https://parley.example/oauth/meta/callback".into(),
            nonce: "n_1".into(),
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_signed_state_opens_and_a_tampered_one_does_not() {
        let key = [7; 32];
        let state = consent();
        let signed = sign(&key, &state);
        assert_eq!(open(&key, &signed), Some(state.clone()));
        assert_eq!(open(&[8; 32], &signed), None);
        let (payload, tag) = signed.split_once('.').unwrap();
        let mut forged = state;
        forged.org = OrgId::new();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(open(&key, &format!("{forged_payload}.{tag}")), None);
        assert_eq!(open(&key, payload), None);
        assert_eq!(open(&key, "garbage"), None);
    }

    #[test]
    fn only_paths_of_this_server_are_returned_to() {
        assert_eq!(return_path(None).unwrap(), "/");
        assert_eq!(
            return_path(Some("/settings/connections")).unwrap(),
            "/settings/connections"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil",
            "settings",
        ] {
            assert!(return_path(Some(bad)).is_err(), "{bad}");
        }
    }
}
