//! `/api/v1/channels`: add (with credentials, or through Meta's consent flow), list, read,
//! rename, activate and deactivate, reconnect in place, disconnect, remove, and statistics.
//! Credentials are sealed with the master key before they are stored and are never returned.

use crate::actors::connections::{self, Account, ConnectionError};
use crate::adapters::meta::{PagePublicConfig, PageSecrets};
use crate::adapters::twilio;
use crate::adapters::whatsapp_cloud::{WhatsappPublicConfig, WhatsappSecrets};
use crate::domain::{ChannelId, ChannelKind, ChannelStatus, Millis};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::{ChannelConnection, ChannelRecord, ChannelRefresh, NewChannel, Setup};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

mod telegram;

/// Longest channel name, in characters.
const NAME_MAX_CHARS: usize = 255;
/// The period `GET /channels/{id}/stats` covers unless `days` says otherwise.
const STATS_DEFAULT_DAYS: i64 = 30;
const STATS_MAX_DAYS: i64 = 366;
const DAY_MS: Millis = 24 * 60 * 60 * 1_000;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/channels", web::post().to(create))
        .route("/channels", web::get().to(list))
        .route(
            "/channels/connect/{kind}",
            web::post().to(crate::http::oauth::start),
        )
        .route("/channels/{id}", web::get().to(read))
        .route("/channels/{id}", web::patch().to(update))
        .route("/channels/{id}", web::delete().to(delete))
        .route("/channels/{id}/reconnect", web::post().to(reconnect))
        .route("/channels/{id}/disconnect", web::post().to(disconnect))
        .route("/channels/{id}/activate", web::post().to(activate))
        .route("/channels/{id}/deactivate", web::post().to(deactivate))
        .route("/channels/{id}/stats", web::get().to(stats))
        .route(
            "/channels/{id}/verify",
            web::post().to(super::email::verify),
        );
}

/// A channel as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    id: ChannelId,
    kind: ChannelKind,
    name: String,
    /// `pending_verification`, `connected`, `needs_reconnect`, `error` or `disconnected`.
    status: ChannelStatus,
    /// Why the channel is in its status, e.g. the provider's answer that needs a reconnect.
    status_reason: Option<String>,
    /// An inactive channel keeps its credentials but neither receives nor sends.
    active: bool,
    /// Badge: inbound is wired up (the webhook subscription exists, or the provider called).
    webhook_attached: bool,
    /// Badge: the provider verified the business behind the account.
    verified: bool,
    /// `manual` (credentials entered) or `consent` (the provider's consent flow).
    setup: Setup,
    /// The provider's id of the account: phone number id, Page id, Instagram account id.
    account_id: Option<String>,
    /// What the provider says of the account: business name and number, Page name,
    /// Instagram handle and follower count.
    #[schema(value_type = Object)]
    metadata: Value,
    /// When the channel's access token expires, if it does.
    token_expires_at: Option<Millis>,
    /// The live journey assigned to the channel, and the bot user it speaks as.
    journey_id: Option<String>,
    bot_user_id: Option<String>,
    /// The channel's non-secret configuration.
    #[schema(value_type = Object)]
    config: Value,
    /// Where the provider must send webhooks (WhatsApp) or visitors connect (web chat).
    webhook_url: String,
    /// Web chat: the one line that puts the chat widget on a website.
    #[serde(skip_serializing_if = "Option::is_none")]
    embed_snippet: Option<String>,
    /// Email: the DNS records to publish, with what the last check found.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    dns_records: Option<Value>,
    /// Email: the inbound address, and the SendGrid Inbound Parse URL (with its token).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    inbound: Option<Value>,
    created_at: Millis,
    updated_at: Millis,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelList {
    data: Vec<ChannelView>,
}

/// `GET /api/v1/channels/{id}/stats`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelStatsView {
    channel_id: ChannelId,
    /// The period's start (inclusive) and end, in Unix milliseconds.
    from: Millis,
    to: Millis,
    #[serde(flatten)]
    stats: crate::store::ChannelStats,
}

/// Credentials of one channel kind, checked field by field.
pub(crate) struct Credentials {
    pub(crate) public_config: Value,
    pub(crate) secrets: Value,
}

/// The body of `POST /api/v1/channels`, checked field by field.
struct CreateChannel {
    kind: ChannelKind,
    name: String,
    credentials: Credentials,
}

fn parse_kind(kind_name: &str) -> Result<ChannelKind, ApiError> {
    kind_name.parse().map_err(|_| {
        let known: Vec<_> = ChannelKind::ALL.iter().map(ChannelKind::as_str).collect();
        ApiError::field(
            Code::UnknownChannelKind,
            "kind",
            format!(
                "`{kind_name}` is not a channel kind; use one of {}",
                known.join(", ")
            ),
        )
    })
}

fn parse_name(object: &Map<String, Value>) -> Result<String, ApiError> {
    let name = required_string(object, "name", "name")?.trim().to_owned();
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(ApiError::field(
            Code::InvalidField,
            "name",
            format!("`name` is limited to {NAME_MAX_CHARS} characters"),
        ));
    }
    Ok(name)
}

fn parse_create(body: &Value) -> Result<CreateChannel, ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
    let kind = parse_kind(required_string(object, "kind", "kind")?)?;
    let name = parse_name(object)?;
    let credentials = parse_credentials(kind, object.get("config"))?;
    Ok(CreateChannel {
        kind,
        name,
        credentials,
    })
}

/// The `config` of a channel kind: ids shown by the API and credentials sealed at rest.
fn parse_credentials(kind: ChannelKind, config: Option<&Value>) -> Result<Credentials, ApiError> {
    let empty = Map::new();
    let config = match config {
        Some(Value::Object(config)) => config,
        None | Some(Value::Null)
            if matches!(kind, ChannelKind::Webchat | ChannelKind::WhatsappUnofficial) =>
        {
            &empty
        }
        None | Some(Value::Null) => return Err(ApiError::missing("config")),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "config",
                "`config` must be an object",
            ))
        }
    };
    let numeric = |key: &str| -> Result<String, ApiError> {
        let path = format!("config.{key}");
        let value = required_string(config, key, &path)?;
        if !value.chars().all(|c| c.is_ascii_digit()) {
            return Err(ApiError::field(
                Code::InvalidField,
                &path,
                format!("`{path}` is the numeric id Meta shows, not a name or a phone number"),
            ));
        }
        Ok(value.to_owned())
    };
    let (public_config, secrets) = match kind {
        ChannelKind::WhatsappCloud => {
            let phone_number_id = numeric("phone_number_id")?;
            let waba_id = match optional_string(config, "waba_id", "config.waba_id")? {
                Some(_) => Some(numeric("waba_id")?),
                None => None,
            };
            let public = WhatsappPublicConfig {
                phone_number_id,
                waba_id,
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
        ChannelKind::Messenger | ChannelKind::Instagram => {
            let page_id = numeric("page_id")?;
            let instagram_id = match optional_string(config, "instagram_id", "config.instagram_id")?
            {
                Some(_) => Some(numeric("instagram_id")?),
                None => None,
            };
            if kind == ChannelKind::Messenger && instagram_id.is_some() {
                return Err(ApiError::field(
                    Code::InvalidField,
                    "config.instagram_id",
                    "a Messenger channel has no Instagram account; add an `instagram` channel",
                ));
            }
            let public = PagePublicConfig {
                page_id,
                instagram_id,
            };
            let secrets = PageSecrets {
                page_access_token: required_string(
                    config,
                    "page_access_token",
                    "config.page_access_token",
                )?
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
        ChannelKind::WhatsappUnofficial => {
            let credentials = super::pairing::parse_config(config)?;
            (credentials.public_config, credentials.secrets)
        }
        ChannelKind::TwilioWhatsapp | ChannelKind::TwilioSms => {
            let (public, secrets) = twilio_config(config)?;
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
            (
                json!({"allowed_origins": allowed_origins}),
                json!({"identity_secret": crate::crypto::generate_token("wcid")}),
            )
        }
        ChannelKind::Telegram => {
            let raw = required_string(config, "bot_token", "config.bot_token")?;
            let token = crate::adapters::telegram::BotToken::parse(raw).map_err(|reason| {
                ApiError::field(
                    Code::InvalidField,
                    "config.bot_token",
                    format!("`config.bot_token` is not a Telegram bot token: {reason}"),
                )
            })?;
            // The bot's id and the webhook secret are added once Telegram has been asked.
            (json!({}), json!({"bot_token": token.as_str()}))
        }
        ChannelKind::Email => {
            let credentials = super::email::credentials(config)?;
            (credentials.public_config, credentials.secrets)
        }
    };
    Ok(Credentials {
        public_config,
        secrets,
    })
}

/// A Twilio channel's `config`: `account_sid` and `auth_token`, and `from` (the sender's
/// number in E.164, `whatsapp:` allowed) or `messaging_service_sid`; optionally an API key
/// (`api_key_sid`, `api_key_secret`) for API calls.
fn twilio_config(
    config: &Map<String, Value>,
) -> Result<(twilio::TwilioPublicConfig, twilio::TwilioSecrets), ApiError> {
    let sid = |key: &str, prefix: &str, required: bool| -> Result<Option<String>, ApiError> {
        let path = format!("config.{key}");
        let value = if required {
            Some(required_string(config, key, &path)?)
        } else {
            optional_string(config, key, &path)?
        };
        match value.map(str::trim) {
            Some(value) if !twilio::is_sid(value, prefix) => Err(ApiError::field(
                Code::InvalidField,
                &path,
                format!("`{path}` is the SID Twilio shows: `{prefix}` and 32 hexadecimal digits"),
            )),
            other => Ok(other.map(str::to_owned)),
        }
    };
    let account_sid = sid("account_sid", "AC", true)?.unwrap_or_default();
    let messaging_service_sid = sid("messaging_service_sid", "MG", false)?;
    let from = match optional_string(config, "from", "config.from")? {
        Some(raw) => {
            let number = twilio::Flavor::contact_id(raw.trim());
            if !twilio::is_e164(number) {
                return Err(ApiError::field(
                    Code::InvalidField,
                    "config.from",
                    "`config.from` is the sender's number in international form, such as +14155238886",
                ));
            }
            Some(number.to_owned())
        }
        None => None,
    };
    if from.is_none() && messaging_service_sid.is_none() {
        return Err(ApiError::field(
            Code::MissingField,
            "config.from",
            "`config.from` (the sender's number) or `config.messaging_service_sid` is required",
        ));
    }
    let auth_token = required_string(config, "auth_token", "config.auth_token")?
        .trim()
        .to_owned();
    let api_key_sid = sid("api_key_sid", "SK", false)?;
    let api_key_secret =
        optional_string(config, "api_key_secret", "config.api_key_secret")?.map(str::to_owned);
    if api_key_sid.is_some() != api_key_secret.is_some() {
        return Err(ApiError::field(
            Code::MissingField,
            if api_key_sid.is_some() {
                "config.api_key_secret"
            } else {
                "config.api_key_sid"
            },
            "an API key needs both `config.api_key_sid` and `config.api_key_secret`",
        ));
    }
    Ok((
        twilio::TwilioPublicConfig {
            account_sid,
            from,
            messaging_service_sid,
        },
        twilio::TwilioSecrets {
            auth_token,
            api_key_sid,
            api_key_secret,
        },
    ))
}

/// Checks Twilio credentials: the account must open with them and be active, and an SMS
/// number must be the account's.
async fn verify_twilio(
    state: &AppState,
    kind: ChannelKind,
    credentials: &Credentials,
) -> Result<ChannelConnection, ApiError> {
    let invalid = |_| ApiError::new(Code::Internal, "credentials did not round-trip");
    let public: twilio::TwilioPublicConfig =
        serde_json::from_value(credentials.public_config.clone()).map_err(invalid)?;
    let secrets: twilio::TwilioSecrets =
        serde_json::from_value(credentials.secrets.clone()).map_err(invalid)?;
    let client = &state.settings.twilio;
    let refused = |error| {
        let refused = ApiError::from_provider("Twilio", error);
        match refused.code {
            Code::ProviderRejectedCredentials => ApiError {
                field: Some("config.auth_token".into()),
                ..refused
            },
            _ => refused,
        }
    };
    let account = client.account(&public, &secrets).await.map_err(refused)?;
    if let Some(status) = account
        .status
        .as_deref()
        .filter(|status| *status != "active")
    {
        return Err(ApiError::field(
            Code::ProviderRejectedCredentials,
            "config.account_sid",
            format!("the Twilio account is {status}"),
        ));
    }
    if let (ChannelKind::TwilioSms, Some(from)) = (kind, &public.from) {
        if !client
            .owns_number(&public, &secrets, from)
            .await
            .map_err(refused)?
        {
            return Err(ApiError::field(
                Code::InvalidField,
                "config.from",
                format!("{from} is not a number of this Twilio account"),
            ));
        }
    }
    let sender = public
        .messaging_service_sid
        .clone()
        .or(public.from.clone())
        .unwrap_or_default();
    Ok(ChannelConnection {
        account_id: Some(format!("{}/{sender}", public.account_sid)),
        metadata: json!({
            "account_name": account.friendly_name,
            "number": public.from,
            "messaging_service_sid": public.messaging_service_sid,
        }),
        // Twilio posts to the URL its owner sets on the number; Parley learns it works when
        // the first webhook arrives.
        webhook_attached: false,
        ..ChannelConnection::default()
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
        ChannelKind::Webchat => format!("/webchat/{}", record.id),
        ChannelKind::Email => format!("/webhooks/email/{}/mailgun", record.id),
        // Channels added with their own app's credentials have their own webhook; those
        // connected through Parley's app share the app's, routed by account id.
        _ if record.connection.setup == Setup::Manual => {
            format!("/webhooks/{}/{}", record.kind, record.id)
        }
        _ => "/webhooks/meta".to_owned(),
    };
    ChannelView {
        id: record.id,
        kind: record.kind,
        name: record.name.clone(),
        status: record.status,
        status_reason: record.status_reason.clone(),
        active: record.active,
        webhook_attached: record.connection.webhook_attached,
        verified: record.connection.verified,
        setup: record.connection.setup,
        account_id: record.connection.account_id.clone(),
        metadata: record.connection.metadata.clone(),
        token_expires_at: record.connection.token_expires_at,
        journey_id: record.journey_id.clone(),
        bot_user_id: record.bot_user_id.clone(),
        config: record.public_config.clone(),
        webhook_url: state.public_url(&path),
        embed_snippet: (record.kind == ChannelKind::Webchat).then(|| {
            format!(
                "<script src=\"{}\" async></script>",
                state.public_url(&format!("/webchat/{}/widget.js", record.id))
            )
        }),
        dns_records: super::email::dns_records(record),
        inbound: super::email::inbound(record, state),
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}

pub(crate) fn require_manager(caller: &Caller) -> Result<(), ApiError> {
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

/// The HTTP answer of a failed connection step.
pub(crate) fn connection_error(error: ConnectionError) -> ApiError {
    match error {
        ConnectionError::Credentials { field, reason } => ApiError::field(
            Code::ProviderRejectedCredentials,
            field,
            format!("the provider refused the credentials: {reason}"),
        ),
        ConnectionError::NotFound { field, reason } => ApiError::field(
            Code::InvalidField,
            field,
            format!("the provider knows no such account for these credentials: {reason}"),
        ),
        ConnectionError::Unavailable(reason) => ApiError::new(
            Code::ProviderUnavailable,
            format!("the provider could not be reached; nothing was changed: {reason}"),
        ),
        ConnectionError::Rejected(reason) => ApiError::new(
            Code::ProviderRejected,
            format!("the provider refused: {reason}"),
        ),
        ConnectionError::FailedToLoadAccounts(reason) => ApiError::new(
            Code::FailedToLoadAccounts,
            format!("failed to load accounts: {reason}"),
        ),
        ConnectionError::Validation(reason) => ApiError::new(
            Code::BusinessAccountValidationFailed,
            format!("business account validation failed: {reason}"),
        ),
        ConnectionError::Disconnect(reason) => ApiError::new(
            Code::DisconnectFailed,
            format!("failed to disconnect: {reason}"),
        ),
    }
}

fn store_error(error: crate::store::StoreError) -> ApiError {
    match error {
        crate::store::StoreError::Conflict(_) => ApiError::new(
            Code::ChannelAccountTaken,
            "this provider account is already connected as another channel",
        ),
        other => ApiError::from_store(other, Code::ChannelNotFound),
    }
}

/// Checks credentials with the provider for channel `id` (new, or `reconnecting`): what it
/// says of the account, or why it refused. A Telegram bot is also pointed at the channel's
/// webhook, which adds to its credentials.
async fn verify(
    state: &AppState,
    kind: ChannelKind,
    id: ChannelId,
    credentials: Credentials,
    reconnecting: Option<&ChannelRecord>,
) -> Result<(Credentials, ChannelConnection), ApiError> {
    if kind == ChannelKind::Telegram {
        return telegram::connect(state, id, &credentials, reconnecting).await;
    }
    let connection = verify_account(state, kind, &credentials).await?;
    Ok((credentials, connection))
}

async fn verify_account(
    state: &AppState,
    kind: ChannelKind,
    credentials: &Credentials,
) -> Result<ChannelConnection, ApiError> {
    let graph = &state.settings.meta.graph;
    let invalid = |_| ApiError::new(Code::Internal, "credentials did not round-trip");
    match kind {
        ChannelKind::WhatsappCloud => {
            let public =
                serde_json::from_value(credentials.public_config.clone()).map_err(invalid)?;
            let secrets = serde_json::from_value(credentials.secrets.clone()).map_err(invalid)?;
            connections::verify_whatsapp(graph, &public, &secrets)
                .await
                .map_err(connection_error)
        }
        ChannelKind::Messenger | ChannelKind::Instagram => {
            let public =
                serde_json::from_value(credentials.public_config.clone()).map_err(invalid)?;
            let secrets = serde_json::from_value(credentials.secrets.clone()).map_err(invalid)?;
            connections::verify_page(graph, kind, &public, &secrets)
                .await
                .map_err(connection_error)
        }
        ChannelKind::TwilioWhatsapp | ChannelKind::TwilioSms => {
            verify_twilio(state, kind, credentials).await
        }
        // The instance was just created with Parley's webhook; the number pairs later.
        ChannelKind::WhatsappUnofficial => Ok(ChannelConnection {
            metadata: json!({
                "phone_number": credentials.public_config.get("phone_number"),
                "label": credentials.public_config.get("label"),
            }),
            webhook_attached: true,
            ..ChannelConnection::default()
        }),
        ChannelKind::Webchat | ChannelKind::Telegram => Ok(ChannelConnection {
            webhook_attached: true,
            ..ChannelConnection::default()
        }),
        ChannelKind::Email => super::email::connection(credentials),
    }
}

/// Reads a channel back and (re)starts its actor with what is now stored.
pub(crate) async fn restart(
    state: &AppState,
    org_id: crate::domain::OrgId,
    id: ChannelId,
) -> Result<ChannelRecord, ApiError> {
    let record = state
        .store
        .channel(org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    if let Err(error) = state.start_channel(&record) {
        tracing::error!(channel_id = %record.id, error = %error, "failed to start a channel");
        return Err(ApiError::new(
            Code::Internal,
            "the channel was stored but could not be started",
        ));
    }
    Ok(record)
}

/// Adds a channel with credentials entered by hand (advanced setup). The provider is asked
/// first: credentials it refuses are answered with its reason, and nothing is stored.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels",
    request_body(content = Object, description = "`{\"kind\": \"whatsapp_cloud\", \"name\": \"…\", \"config\": {\"phone_number_id\", \"access_token\", \"app_secret\", \"verify_token\", \"waba_id\"?}}`; Messenger and Instagram: `config: {\"page_id\", \"page_access_token\", \"app_secret\", \"verify_token\", \"instagram_id\"?}`; Telegram: `config: {\"bot_token\"}` (checked with getMe; Parley sets the bot's webhook); web chat: `config: {\"allowed_origins\"?}`"),
    responses((status = 201, body = ChannelView), (status = 422, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody), (status = 502, body = crate::http::error::ErrorBody), (status = 401, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_manager(&caller)?;
    let mut request = parse_create(&super::json_body(&body)?)?;
    let id = ChannelId::new();
    let pairing = request.kind == ChannelKind::WhatsappUnofficial;
    if pairing {
        super::pairing::create_instance(&state, id, &mut request.credentials).await?;
    }
    if request.kind == ChannelKind::Email {
        request.credentials =
            super::email::with_new_key(request.credentials, &state.settings.email.inbound_domain)
                .await?;
    }
    let (credentials, connection) =
        verify(&state, request.kind, id, request.credentials, None).await?;
    let now = state.clock.now();
    let new = NewChannel {
        id,
        org_id: caller.0.org_id,
        kind: request.kind,
        name: request.name,
        // A QR-paired number is connected once its phone scans the code; an email domain
        // sends only once its DNS records are verified.
        status: if pairing || request.kind == ChannelKind::Email {
            ChannelStatus::PendingVerification
        } else {
            ChannelStatus::Connected
        },
        status_reason: None,
        public_config: credentials.public_config,
        sealed_secrets: seal(&state, &credentials.secrets),
        connection,
    };
    if let Err(error) = state.store.insert_channel(&new, now).await {
        undo_setup(&state, new.kind, &new.public_config, &credentials.secrets).await;
        return Err(store_error(error));
    }
    let record = restart(&state, caller.0.org_id, new.id).await?;
    tracing::info!(channel_id = %record.id, kind = %record.kind, "channel added");
    Ok(HttpResponse::Created().json(view(&record, &state)))
}

/// Takes back what adding a channel set up at its provider when the channel could not be
/// stored: a bot's webhook pointing at a channel that does not exist, or a provider instance
/// nobody would ever remove. Failures are logged; the caller's error stands.
async fn undo_setup(state: &AppState, kind: ChannelKind, public: &Value, secrets: &Value) {
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let undone = match kind {
        ChannelKind::Telegram => match text(secrets, "bot_token") {
            Some(token) => state
                .settings
                .telegram
                .delete_webhook(&token)
                .await
                .map_err(|failure| failure.to_string()),
            None => Ok(()),
        },
        ChannelKind::WhatsappUnofficial => {
            match (
                state.settings.evolution.as_ref(),
                text(public, "instance"),
                text(secrets, "instance_token"),
            ) {
                (Some(provider), Some(instance), Some(token)) => provider
                    .client
                    .remove(&instance, &token)
                    .await
                    .map_err(|error| error.to_string()),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    };
    if let Err(reason) = undone {
        tracing::warn!(kind = %kind, reason = %reason, "could not take back a channel's provider setup");
    }
}

pub(crate) fn seal(state: &AppState, secrets: &Value) -> String {
    state.master_key.encrypt(
        serde_json::to_string(secrets)
            .expect("secrets serialise")
            .as_bytes(),
    )
}

/// Stores the accounts a consent flow set up: each refreshes the channel it already is (the
/// one being reconnected, or the organisation's live channel of that account) or becomes a
/// new channel. Returns the channels, or the first account another organisation holds.
pub(crate) async fn store_accounts(
    state: &AppState,
    org_id: crate::domain::OrgId,
    reconnecting: Option<ChannelId>,
    name: Option<&str>,
    accounts: Vec<Account>,
) -> Result<Vec<ChannelRecord>, ApiError> {
    let now = state.clock.now();
    let mut stored = Vec::new();
    for account in accounts {
        let account_id = account.connection.account_id.clone().unwrap_or_default();
        let existing = match reconnecting {
            Some(id) => {
                let record = state
                    .store
                    .channel(org_id, id)
                    .await
                    .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
                let same = record
                    .connection
                    .account_id
                    .as_deref()
                    .is_none_or(|id| id == account_id);
                if !same || record.kind != account.kind {
                    continue;
                }
                Some(record)
            }
            None => state
                .store
                .channel_by_account(account.kind, &account_id)
                .await
                .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?,
        };
        let sealed = seal(state, &account.secrets);
        let id = match existing {
            Some(record) if record.org_id != org_id => {
                return Err(ApiError::new(
                    Code::ChannelAccountTaken,
                    format!("the account {account_id} is connected by another organisation"),
                ));
            }
            Some(record) => {
                let event = crate::actors::bus::Event::ChannelUpdated {
                    channel_id: record.id,
                    status: account.status,
                    reason: account.status_reason.clone(),
                };
                let events =
                    crate::actors::bus::log_script(org_id, std::slice::from_ref(&event), now);
                state
                    .store
                    .refresh_channel(
                        org_id,
                        record.id,
                        ChannelRefresh {
                            status: account.status,
                            status_reason: account.status_reason.clone(),
                            public_config: account.public_config.clone(),
                            sealed_secrets: sealed,
                            connection: account.connection.clone(),
                        },
                        now,
                        events,
                    )
                    .await
                    .map_err(store_error)?;
                state.bus.publish(org_id, event);
                tracing::info!(channel_id = %record.id, kind = %record.kind, "channel refreshed in place");
                record.id
            }
            None => {
                let new = NewChannel {
                    id: ChannelId::new(),
                    org_id,
                    kind: account.kind,
                    name: name
                        .map(str::to_owned)
                        .unwrap_or_else(|| account.suggested_name.clone()),
                    status: account.status,
                    status_reason: account.status_reason.clone(),
                    public_config: account.public_config.clone(),
                    sealed_secrets: sealed,
                    connection: account.connection.clone(),
                };
                state
                    .store
                    .insert_channel(&new, now)
                    .await
                    .map_err(store_error)?;
                tracing::info!(channel_id = %new.id, kind = %new.kind, "channel connected");
                new.id
            }
        };
        stored.push(restart(state, org_id, id).await?);
    }
    if stored.is_empty() {
        return Err(ApiError::new(
            Code::BusinessAccountValidationFailed,
            "business account validation failed: the account of the channel being reconnected was not granted",
        ));
    }
    Ok(stored)
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

pub(crate) async fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ChannelRecord, ApiError> {
    require_manager(caller)?;
    let id = channel_id(id)?;
    state
        .store
        .channel(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))
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
    let record = find(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&record, &state)))
}

/// Renames a channel and/or switches it on or off: `{"name"?, "active"?}`.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "Channel id")),
    request_body(content = Object, description = "`{\"name\"?: \"…\", \"active\"?: true}`"),
    responses((status = 200, body = ChannelView), (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let record = find(&state, &caller, &id).await?;
    let body = super::json_body(&body)?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
    let name = match object.get("name") {
        None | Some(Value::Null) => None,
        Some(_) => Some(parse_name(object)?),
    };
    let active = match object.get("active") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(active)) => Some(*active),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "active",
                "`active` must be true or false",
            ))
        }
    };
    let now = state.clock.now();
    if let Some(name) = name {
        state
            .store
            .rename_channel(record.org_id, record.id, &name, now)
            .await
            .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    }
    if let Some(active) = active {
        set_active(&state, &record, active).await?;
    }
    let record = find(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&record, &state)))
}

async fn set_active(
    state: &AppState,
    record: &ChannelRecord,
    active: bool,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let event = crate::actors::bus::Event::ChannelUpdated {
        channel_id: record.id,
        status: record.status,
        reason: record.status_reason.clone(),
    };
    let events = crate::actors::bus::log_script(record.org_id, std::slice::from_ref(&event), now);
    state
        .store
        .set_channel_active(record.org_id, record.id, active, now, events)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    if let Some(runtime) = state.channel(record.id) {
        runtime.set_active(active);
        if active {
            runtime.wake();
        }
    }
    state.bus.publish(record.org_id, event);
    tracing::info!(channel_id = %record.id, active, "channel switched");
    Ok(())
}

/// Activates a channel: it receives and sends again.
#[utoipa::path(post, path = "/api/v1/channels/{id}/activate", tag = "channels",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, body = ChannelView), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn activate(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = find(&state, &caller, &id).await?;
    set_active(&state, &record, true).await?;
    let record = find(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&record, &state)))
}

/// Deactivates a channel: it keeps its credentials but neither receives nor sends. Webhooks
/// are still acknowledged (so the provider does not disable them) and their events dropped.
#[utoipa::path(post, path = "/api/v1/channels/{id}/deactivate", tag = "channels",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, body = ChannelView), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn deactivate(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = find(&state, &caller, &id).await?;
    set_active(&state, &record, false).await?;
    let record = find(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&record, &state)))
}

/// Refreshes a channel in place: same id, history kept. With `config` (credentials entered
/// by hand) the provider checks them and the channel is connected again at once; without, a
/// Meta channel gets a consent URL bound to it (`{url, state, expires_at}`) and the callback
/// refreshes it.
#[utoipa::path(post, path = "/api/v1/channels/{id}/reconnect", tag = "channels",
    params(("id" = String, Path, description = "Channel id")),
    request_body(content = Object, description = "`{\"config\": {…}}` as for adding the channel, or `{\"return_to\"?: \"/…\"}` for the consent flow"),
    responses((status = 200, body = ChannelView), (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody), (status = 502, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn reconnect(
    state: AppState,
    caller: Caller,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let record = find(&state, &caller, &id).await?;
    if record.kind == ChannelKind::WhatsappUnofficial {
        return super::pairing::retry(&state, &record).await;
    }
    let body = if body.is_empty() {
        json!({})
    } else {
        super::json_body(&body)?
    };
    let config = body.get("config").filter(|config| !config.is_null());
    if config.is_none() && record.kind.is_meta() {
        let started = crate::http::oauth::begin(
            &state,
            &caller,
            &request,
            record.kind,
            Some(record.id),
            None,
            body.get("return_to").and_then(Value::as_str),
        )?;
        return Ok(HttpResponse::Ok().json(started));
    }
    if record.kind == ChannelKind::Email {
        return super::email::reconnect(&state, &record, config).await;
    }
    let credentials = match (config, record.kind) {
        // The web chat keeps its identity secret: identified visitors stay signed in.
        (config, ChannelKind::Webchat) => Credentials {
            public_config: match config {
                None => record.public_config.clone(),
                config => parse_credentials(ChannelKind::Webchat, config)?.public_config,
            },
            secrets: state
                .master_key
                .decrypt(&record.sealed_secrets)
                .ok()
                .and_then(|plaintext| serde_json::from_slice(&plaintext).ok())
                .unwrap_or_else(|| json!({})),
        },
        // A bot reconnects with the token it has, e.g. after a disconnect.
        (None, ChannelKind::Telegram) => telegram::stored_credentials(&state, &record)?,
        (config, kind) => parse_credentials(kind, config)?,
    };
    let (credentials, connection) =
        verify(&state, record.kind, record.id, credentials, Some(&record)).await?;
    if let (Some(old), Some(new)) = (&record.connection.account_id, &connection.account_id) {
        if old != new {
            return Err(ApiError::field(
                Code::InvalidField,
                "config",
                format!("the channel speaks for account {old}; these credentials are for {new}. Add a new channel for another account"),
            ));
        }
    }
    let now = state.clock.now();
    let event = crate::actors::bus::Event::ChannelUpdated {
        channel_id: record.id,
        status: ChannelStatus::Connected,
        reason: None,
    };
    let events = crate::actors::bus::log_script(record.org_id, std::slice::from_ref(&event), now);
    state
        .store
        .refresh_channel(
            record.org_id,
            record.id,
            ChannelRefresh {
                status: ChannelStatus::Connected,
                status_reason: None,
                public_config: credentials.public_config,
                sealed_secrets: seal(&state, &credentials.secrets),
                connection,
            },
            now,
            events,
        )
        .await
        .map_err(store_error)?;
    state.bus.publish(record.org_id, event);
    let record = restart(&state, record.org_id, record.id).await?;
    tracing::info!(channel_id = %record.id, "channel reconnected in place");
    Ok(HttpResponse::Ok().json(view(&record, &state)))
}

#[derive(Deserialize)]
pub(crate) struct DisconnectQuery {
    /// Disconnect even when the provider cannot be told (it keeps sending webhooks, which
    /// are then acknowledged and dropped).
    #[serde(default)]
    force: bool,
}

/// Disconnects a channel: the webhook subscription is removed at the provider (unless
/// another channel shares it), the journey assignment is cleared and the channel goes
/// offline. Its conversations stay; a reconnect restores it.
#[utoipa::path(post, path = "/api/v1/channels/{id}/disconnect", tag = "channels",
    params(("id" = String, Path, description = "Channel id"), ("force" = Option<bool>, Query, description = "Disconnect even if the provider cannot be reached")),
    responses((status = 200, body = ChannelView), (status = 404, body = crate::http::error::ErrorBody), (status = 502, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn disconnect(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<DisconnectQuery>,
) -> Result<HttpResponse, ApiError> {
    let record = find(&state, &caller, &id).await?;
    disconnect_channel(&state, &record, query.force).await?;
    let record = find(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&record, &state)))
}

async fn disconnect_channel(
    state: &AppState,
    record: &ChannelRecord,
    force: bool,
) -> Result<(), ApiError> {
    let siblings = state
        .store
        .list_channels(record.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    let note = match connections::unsubscribe(state, record, &siblings).await {
        Ok(note) => note,
        Err(error) if force => Some(format!("disconnected without the provider: {error}")),
        Err(error) => return Err(connection_error(error)),
    };
    let now = state.clock.now();
    let event = crate::actors::bus::Event::ChannelUpdated {
        channel_id: record.id,
        status: ChannelStatus::Disconnected,
        reason: note.clone(),
    };
    let events = crate::actors::bus::log_script(record.org_id, std::slice::from_ref(&event), now);
    state
        .store
        .disconnect_channel(record.org_id, record.id, note.as_deref(), now, events)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    if let Some(runtime) = state.channel(record.id) {
        runtime.set_status(ChannelStatus::Disconnected, note);
    }
    state.forget_journeys();
    state.bus.publish(record.org_id, event);
    tracing::info!(channel_id = %record.id, "channel disconnected");
    Ok(())
}

#[derive(Deserialize)]
pub(crate) struct StatsQuery {
    days: Option<i64>,
}

/// A channel's statistics over the last `days` (30 unless given, at most 366): messages
/// received, sent and failed, conversations started and active, and the median time from a
/// conversation's first guest message to the first answer.
#[utoipa::path(get, path = "/api/v1/channels/{id}/stats", tag = "channels",
    params(("id" = String, Path, description = "Channel id"), ("days" = Option<i64>, Query, description = "The period, in days back from now (1–366, default 30)")),
    responses((status = 200, body = ChannelStatsView), (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn stats(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let record = find(&state, &caller, &id).await?;
    let query = web::Query::<StatsQuery>::from_query(request.query_string()).map_err(|_| {
        ApiError::field(
            Code::InvalidField,
            "days",
            "`days` must be a whole number of days",
        )
    })?;
    let days = query.days.unwrap_or(STATS_DEFAULT_DAYS);
    if !(1..=STATS_MAX_DAYS).contains(&days) {
        return Err(ApiError::field(
            Code::InvalidField,
            "days",
            format!("`days` must be between 1 and {STATS_MAX_DAYS}"),
        ));
    }
    let to = state.clock.now();
    let from = to.saturating_sub(days * DAY_MS);
    let stats = state
        .store
        .channel_stats(record.org_id, record.id, from)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    Ok(HttpResponse::Ok().json(ChannelStatsView {
        channel_id: record.id,
        from,
        to,
        stats,
    }))
}

/// Removes a channel: it is disconnected (the provider told, unless `force` and it cannot
/// be) and deleted. Its conversations and messages are kept.
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "Channel id"), ("force" = Option<bool>, Query, description = "Remove even if the provider cannot be reached")),
    responses((status = 204), (status = 404, body = crate::http::error::ErrorBody), (status = 502, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<DisconnectQuery>,
) -> Result<HttpResponse, ApiError> {
    let record = find(&state, &caller, &id).await?;
    if record.status != ChannelStatus::Disconnected {
        disconnect_channel(&state, &record, query.force).await?;
    }
    state
        .store
        .delete_channel(caller.0.org_id, record.id, state.clock.now())
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    state.stop_channel(record.id);
    tracing::info!(channel_id = %record.id, "channel removed");
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
            parsed.credentials.public_config,
            json!({"phone_number_id": "106540352242922"})
        );
        assert_eq!(parsed.credentials.secrets["access_token"], "EAAG");
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
    fn page_channels_take_a_page_id_and_token_and_instagram_an_account() {
        let parsed = parse_create(&json!({"kind": "instagram", "name": "IG", "config": {
            "page_id": "104538192374661", "page_access_token": "EAAP", "app_secret": "s", "verify_token": "v",
            "instagram_id": "17841405822304914"
        }}))
        .ok()
        .unwrap();
        assert_eq!(
            parsed.credentials.public_config,
            json!({"page_id": "104538192374661", "instagram_id": "17841405822304914"})
        );
        assert_eq!(parsed.credentials.secrets["page_access_token"], "EAAP");
        let page = |config: Value| json!({"kind": "messenger", "name": "Page", "config": config});
        check_error(
            page(json!({"page_access_token": "t", "app_secret": "s", "verify_token": "v"})),
            Code::MissingField,
            "config.page_id",
        );
        check_error(
            page(
                json!({"page_id": "Lucky Shrub", "page_access_token": "t", "app_secret": "s", "verify_token": "v"}),
            ),
            Code::InvalidField,
            "config.page_id",
        );
        check_error(
            page(json!({"page_id": "1", "page_access_token": "t", "app_secret": "s"})),
            Code::MissingField,
            "config.verify_token",
        );
        check_error(
            page(json!({"page_id": "1", "app_secret": "s"})),
            Code::MissingField,
            "config.page_access_token",
        );
        check_error(
            page(
                json!({"page_id": "1", "page_access_token": "t", "app_secret": "s", "verify_token": "v", "instagram_id": "2"}),
            ),
            Code::InvalidField,
            "config.instagram_id",
        );
        check_error(
            whatsapp(
                json!({"phone_number_id": "1", "access_token": "t", "app_secret": "s", "verify_token": "v", "waba_id": "my waba"}),
            ),
            Code::InvalidField,
            "config.waba_id",
        );
    }

    #[test]
    fn a_webchat_channel_needs_no_config() {
        assert!(parse_create(&json!({"kind": "webchat", "name": "Site"})).is_ok());
    }
}
