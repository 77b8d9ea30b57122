//! Unofficial WhatsApp pairing: a channel gets its own instance at the provider, whose
//! webhooks carry a secret header Parley chose; `GET /api/v1/channels/{id}/qr` shows the QR
//! code to scan (the console polls it, since the provider rotates the code about every 45
//! seconds), and the provider's connection webhook flips the channel to `connected`. A scan
//! not made in time leaves the channel in `error` with the reason; `reconnect` starts a new
//! attempt (on a new instance if the old one is gone).

use super::channels::{channel_id, require_manager, seal, view, Credentials};
use crate::actors::bus::Event;
use crate::actors::ChannelSecrets;
use crate::adapters::evolution::client::Connect;
use crate::adapters::evolution::{EvolutionPublicConfig, EvolutionSecrets, Qr};
use crate::adapters::SendError;
use crate::domain::{ChannelId, ChannelKind, ChannelStatus};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};

pub fn configure(config: &mut web::ServiceConfig) {
    config.route("/channels/{id}/qr", web::get().to(qr));
}

fn provider_error(error: SendError) -> ApiError {
    ApiError::from_provider("The unofficial WhatsApp provider", error)
}

/// An unofficial channel's `config`: an optional `phone_number` (E.164) and `label`.
pub(crate) fn parse_config(config: &Map<String, Value>) -> Result<Credentials, ApiError> {
    let text = |key: &str, max: usize| -> Result<Option<String>, ApiError> {
        let path = format!("config.{key}");
        match config.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) if text.trim().chars().count() <= max => {
                Ok(Some(text.trim().to_owned()))
            }
            Some(_) => Err(ApiError::field(
                Code::InvalidField,
                &path,
                format!("`{path}` is a string of at most {max} characters"),
            )),
        }
    };
    let phone_number = match text("phone_number", 32)? {
        Some(raw) => {
            let compact: String = raw
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
                .collect();
            if !crate::adapters::twilio::is_e164(&compact) {
                return Err(ApiError::field(
                    Code::InvalidField,
                    "config.phone_number",
                    "`config.phone_number` is the number to pair in international form, such as +351 912 345 678",
                ));
            }
            Some(compact)
        }
        None => None,
    };
    let label = text("label", 64)?;
    Ok(Credentials {
        public_config: json!(EvolutionPublicConfig {
            instance: String::new(),
            phone_number,
            label,
        }),
        secrets: json!({}),
    })
}

/// Creates the channel's instance at the provider and fills in its credentials.
pub(crate) async fn create_instance(
    state: &AppState,
    id: ChannelId,
    credentials: &mut Credentials,
) -> Result<(), ApiError> {
    let Some(provider) = &state.settings.evolution else {
        return Err(ApiError::new(
            Code::ProviderNotConfigured,
            "no unofficial WhatsApp provider is configured (PARLEY_EVOLUTION_URL, PARLEY_EVOLUTION_API_KEY)",
        ));
    };
    if state.settings.public_url.is_none() {
        return Err(ApiError::new(
            Code::ProviderNotConfigured,
            "the provider must reach Parley's webhook: set PARLEY_PUBLIC_URL",
        ));
    }
    let mut public: EvolutionPublicConfig =
        serde_json::from_value(credentials.public_config.clone())
            .map_err(|_| ApiError::new(Code::Internal, "the config did not round-trip"))?;
    // A fresh name per attempt: the provider refuses a name in use.
    public.instance = format!("parley-{id}-{:08x}", rand::random::<u32>());
    let webhook_secret = crate::crypto::generate_token("whs");
    let webhook_url = state.public_url(&format!("/webhooks/whatsapp_unofficial/{id}"));
    let created = provider
        .client
        .create_instance(
            &provider.api_key,
            &public.instance,
            public.phone_number.as_deref(),
            &webhook_url,
            &webhook_secret,
        )
        .await
        .map_err(provider_error)?;
    credentials.public_config = json!(public);
    credentials.secrets = json!(EvolutionSecrets {
        instance_token: created.instance_token,
        webhook_secret,
    });
    Ok(())
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct QrView {
    /// `connecting` while waiting for the scan, `open` once paired.
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    qr: Option<Qr>,
}

/// The QR code to scan from the phone (WhatsApp → Linked devices), while the channel waits
/// for it; poll it, since the provider shows a new code about every 45 seconds.
#[utoipa::path(get, path = "/api/v1/channels/{id}/qr", tag = "channels",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, body = QrView), (status = 404, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody), (status = 502, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn qr(
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
    if record.kind != ChannelKind::WhatsappUnofficial {
        return Err(ApiError::new(
            Code::InvalidField,
            format!("{} channels are not paired with a QR code", record.kind),
        ));
    }
    if record.status == ChannelStatus::Connected {
        return Ok(HttpResponse::Ok().json(QrView {
            state: "open",
            qr: None,
        }));
    }
    let runtime = state
        .channel_or_load(id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?
        .ok_or_else(|| ApiError::new(Code::ChannelNotFound, "no such channel"))?;
    let (ChannelSecrets::Evolution { public, secrets }, Some(provider)) =
        (&runtime.secrets, &state.settings.evolution)
    else {
        return Err(ApiError::new(
            Code::ProviderNotConfigured,
            "no unofficial WhatsApp provider is configured",
        ));
    };
    let answer = provider
        .client
        .connect(&public.instance, &secrets.instance_token)
        .await
        .map_err(provider_error)?;
    Ok(HttpResponse::Ok().json(match answer {
        Connect::Qr(qr) => QrView {
            state: "connecting",
            qr: Some(qr),
        },
        Connect::Open => QrView {
            state: "open",
            qr: None,
        },
    }))
}

/// `reconnect` of an unofficial channel: a new pairing attempt. The instance is asked for a
/// new QR code; one the provider no longer knows is created again.
pub(crate) async fn retry(
    state: &AppState,
    record: &crate::store::ChannelRecord,
) -> Result<HttpResponse, ApiError> {
    let runtime = state
        .channel_or_load(record.id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?
        .ok_or_else(|| ApiError::new(Code::ChannelNotFound, "no such channel"))?;
    let (ChannelSecrets::Evolution { public, secrets }, Some(provider)) =
        (&runtime.secrets, &state.settings.evolution)
    else {
        return Err(ApiError::new(
            Code::ProviderNotConfigured,
            "no unofficial WhatsApp provider is configured",
        ));
    };
    let now = state.clock.now();
    let answer = provider
        .client
        .connect(&public.instance, &secrets.instance_token)
        .await;
    // A number still paired needs no scan: the retry finds it connected.
    let status = match answer {
        Ok(Connect::Open) => ChannelStatus::Connected,
        _ => ChannelStatus::PendingVerification,
    };
    let event = Event::ChannelUpdated {
        channel_id: record.id,
        status,
        reason: None,
    };
    let events = crate::actors::bus::log_script(record.org_id, std::slice::from_ref(&event), now);
    match answer {
        Ok(_) => {
            state
                .store
                .set_channel_status(record.id, status, None, now, events)
                .await
                .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
            runtime.set_status(status, None);
        }
        Err(SendError::CredentialsRejected { .. }) => {
            let mut credentials = Credentials {
                public_config: json!(EvolutionPublicConfig {
                    instance: String::new(),
                    ..public.clone()
                }),
                secrets: json!({}),
            };
            create_instance(state, record.id, &mut credentials).await?;
            state
                .store
                .refresh_channel(
                    record.org_id,
                    record.id,
                    crate::store::ChannelRefresh {
                        status: ChannelStatus::PendingVerification,
                        status_reason: None,
                        public_config: credentials.public_config,
                        sealed_secrets: seal(state, &credentials.secrets),
                        connection: record.connection.clone(),
                    },
                    now,
                    events,
                )
                .await
                .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
        }
        Err(error) => return Err(provider_error(error)),
    }
    state.bus.publish(record.org_id, event);
    let record = state
        .store
        .channel(record.org_id, record.id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    if let Err(error) = state.start_channel(&record) {
        tracing::error!(channel_id = %record.id, error = %error, "failed to restart a channel");
    }
    Ok(HttpResponse::Ok().json(view(&record, state)))
}
