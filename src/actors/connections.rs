//! Connecting channels to their provider: checking credentials entered by hand (advanced
//! setup), the Meta consent flow (token exchange, discovery of the granted accounts, webhook
//! subscriptions checked to really exist, number registration, business profile), and
//! disconnecting (the subscription removed at the provider unless another channel needs it).

use super::core::{Core, MetaSettings};
use crate::adapters::meta::graph::{Page, PhoneNumber, Token, TokenInfo};
use crate::adapters::meta::{GraphFailure, MetaGraph, PagePublicConfig, PageSecrets};
use crate::adapters::whatsapp_cloud::{WhatsappPublicConfig, WhatsappSecrets};
use crate::domain::{ChannelKind, ChannelStatus, Millis};
use crate::store::{ChannelConnection, ChannelRecord, Setup};
use serde_json::{json, Map, Value};

/// How long a consent state is good for.
pub const CONSENT_TTL_MS: Millis = 15 * 60 * 1_000;

/// Why connecting or disconnecting failed; the HTTP layer maps each to its stable code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectionError {
    #[error("the provider refused the credentials: {reason}")]
    Credentials { field: &'static str, reason: String },
    #[error("the provider does not know `{field}`: {reason}")]
    NotFound { field: &'static str, reason: String },
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the provider refused: {0}")]
    Rejected(String),
    #[error("failed to load accounts: {0}")]
    FailedToLoadAccounts(String),
    #[error("business account validation failed: {0}")]
    Validation(String),
    #[error("failed to disconnect: {0}")]
    Disconnect(String),
}

impl ConnectionError {
    fn from_graph(failure: GraphFailure, field: &'static str) -> Self {
        match failure {
            GraphFailure::Credentials(reason) => ConnectionError::Credentials { field, reason },
            GraphFailure::NotFound(reason) => ConnectionError::NotFound { field, reason },
            GraphFailure::Unavailable(reason) => ConnectionError::Unavailable(reason),
            GraphFailure::Rejected(reason) => ConnectionError::Rejected(reason),
        }
    }
}

/// A provider account ready to become a channel, or to refresh the channel it already is.
#[derive(Debug, Clone)]
pub struct Account {
    pub kind: ChannelKind,
    /// A name for a new channel: the business name, the Page name, the handle.
    pub suggested_name: String,
    pub public_config: Value,
    /// Plain credentials, sealed by the caller.
    pub secrets: Value,
    pub connection: ChannelConnection,
    /// `connected`, or `error` when the account was set up only in part.
    pub status: ChannelStatus,
    pub status_reason: Option<String>,
}

/// Checks WhatsApp credentials entered by hand: the number must exist for the token, and the
/// app is subscribed to the business account's webhooks when its id is given.
pub async fn verify_whatsapp(
    graph: &MetaGraph,
    public: &WhatsappPublicConfig,
    secrets: &WhatsappSecrets,
) -> Result<ChannelConnection, ConnectionError> {
    let token = secrets.access_token.as_str();
    let number = graph
        .phone_number(&public.phone_number_id, token)
        .await
        .map_err(|failure| match failure {
            GraphFailure::Credentials(reason) => ConnectionError::Credentials {
                field: "config.access_token",
                reason,
            },
            other => ConnectionError::from_graph(other, "config.phone_number_id"),
        })?;
    let mut metadata = number_metadata(&number);
    let mut verified = false;
    let mut webhook_attached = false;
    if let Some(waba_id) = &public.waba_id {
        let account = graph
            .business_account(waba_id, token)
            .await
            .map_err(|failure| ConnectionError::from_graph(failure, "config.waba_id"))?;
        verified = account.business_verification_status.as_deref() == Some("verified");
        if let Some(name) = account.name {
            metadata.insert("business_account_name".into(), name.into());
        }
        graph
            .subscribe_business_account(waba_id, token)
            .await
            .map_err(|failure| ConnectionError::from_graph(failure, "config.waba_id"))?;
        webhook_attached = !graph
            .subscriptions(waba_id, token)
            .await
            .map_err(|failure| ConnectionError::from_graph(failure, "config.waba_id"))?
            .is_empty();
    }
    Ok(ChannelConnection {
        account_id: Some(public.phone_number_id.clone()),
        metadata: Value::Object(metadata),
        webhook_attached,
        verified,
        setup: Setup::Manual,
        token_expires_at: None,
    })
}

/// Checks a Page token entered by hand and subscribes the Page's messaging webhooks. For an
/// Instagram channel the Page must have the account linked.
pub async fn verify_page(
    graph: &MetaGraph,
    kind: ChannelKind,
    public: &PagePublicConfig,
    secrets: &PageSecrets,
) -> Result<ChannelConnection, ConnectionError> {
    let token = secrets.page_access_token.as_str();
    let page = graph
        .page(&public.page_id, token)
        .await
        .map_err(|failure| match failure {
            GraphFailure::Credentials(reason) => ConnectionError::Credentials {
                field: "config.page_access_token",
                reason,
            },
            other => ConnectionError::from_graph(other, "config.page_id"),
        })?;
    let account_id = match kind {
        ChannelKind::Instagram => {
            let linked = page.instagram_business_account.as_ref().map(|ig| &ig.id);
            match (&public.instagram_id, linked) {
                (Some(wanted), Some(linked)) if wanted == linked => wanted.clone(),
                (None, Some(linked)) => linked.clone(),
                _ => {
                    return Err(ConnectionError::NotFound {
                        field: "config.instagram_id",
                        reason: "the Page has no such Instagram professional account linked".into(),
                    })
                }
            }
        }
        _ => page.id.clone(),
    };
    let webhook_attached = subscribe_page(graph, &page.id, token).await?;
    Ok(ChannelConnection {
        account_id: Some(account_id),
        metadata: Value::Object(page_metadata(&page)),
        webhook_attached,
        verified: page.verification_status.as_deref() == Some("blue_verified"),
        setup: Setup::Manual,
        token_expires_at: None,
    })
}

async fn subscribe_page(
    graph: &MetaGraph,
    page_id: &str,
    token: &str,
) -> Result<bool, ConnectionError> {
    graph
        .subscribe_page(page_id, token)
        .await
        .map_err(|failure| ConnectionError::from_graph(failure, "config.page_id"))?;
    Ok(!graph
        .subscriptions(page_id, token)
        .await
        .map_err(|failure| ConnectionError::from_graph(failure, "config.page_id"))?
        .is_empty())
}

fn number_metadata(number: &PhoneNumber) -> Map<String, Value> {
    let mut metadata = Map::new();
    for (key, value) in [
        ("display_phone_number", &number.display_phone_number),
        ("verified_name", &number.verified_name),
        ("quality_rating", &number.quality_rating),
        ("code_verification_status", &number.code_verification_status),
    ] {
        if let Some(value) = value {
            metadata.insert(key.into(), value.clone().into());
        }
    }
    metadata
}

fn page_metadata(page: &Page) -> Map<String, Value> {
    let mut metadata = Map::new();
    if let Some(name) = &page.name {
        metadata.insert("page_name".into(), name.clone().into());
    }
    if let Some(ig) = &page.instagram_business_account {
        if let Some(username) = &ig.username {
            metadata.insert("instagram_username".into(), username.clone().into());
        }
        if let Some(followers) = ig.followers_count {
            metadata.insert("followers_count".into(), followers.into());
        }
    }
    metadata
}

/// When a token expires, from the exchange's `expires_in` or `debug_token`'s `expires_at`.
fn expiry(token: &Token, info: &TokenInfo, now: Millis) -> Option<Millis> {
    if info.expires_at > 0 {
        return Some(info.expires_at.saturating_mul(1_000));
    }
    token
        .expires_in
        .filter(|seconds| *seconds > 0)
        .map(|seconds| now.saturating_add(seconds.saturating_mul(1_000)))
}

/// A random six-digit two-step verification PIN for registering a number.
fn new_pin() -> String {
    use rand::Rng;
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

/// Runs the server side of a consent: exchanges the code, upgrades the token, and sets up
/// every granted account of the kind. Accounts set up only in part come back with status
/// `error` and the reason (an empty webhook subscription, a registration refused).
pub async fn onboard(
    meta: &MetaSettings,
    kind: ChannelKind,
    code: &str,
    redirect_uri: &str,
    now: Millis,
) -> Result<Vec<Account>, ConnectionError> {
    let graph = &meta.graph;
    let short = graph
        .exchange_code(code, redirect_uri)
        .await
        .map_err(|failure| ConnectionError::from_graph(failure, "code"))?;
    let token = graph
        .long_lived(&short.access_token)
        .await
        .map_err(|failure| ConnectionError::from_graph(failure, "code"))?;
    let info = graph
        .debug_token(&token.access_token)
        .await
        .map_err(|failure| ConnectionError::FailedToLoadAccounts(failure.to_string()))?;
    if !info.is_valid {
        return Err(ConnectionError::Credentials {
            field: "code",
            reason: "Meta reports the new token as invalid".into(),
        });
    }
    match kind {
        ChannelKind::WhatsappCloud => onboard_whatsapp(graph, meta, &token, &info, now).await,
        ChannelKind::Messenger | ChannelKind::Instagram => {
            onboard_pages(graph, kind, &token, &info).await
        }
        ChannelKind::Webchat
        | ChannelKind::Email
        | ChannelKind::TwilioWhatsapp
        | ChannelKind::TwilioSms
        | ChannelKind::WhatsappUnofficial => Err(ConnectionError::Validation(format!(
            "{kind} channels do not connect through Meta"
        ))),
        ChannelKind::Telegram => Err(ConnectionError::Validation(
            "a Telegram bot connects with its token, not through Meta".into(),
        )),
    }
}

async fn onboard_whatsapp(
    graph: &MetaGraph,
    meta: &MetaSettings,
    token: &Token,
    info: &TokenInfo,
    now: Millis,
) -> Result<Vec<Account>, ConnectionError> {
    let mut wabas = info.targets("whatsapp_business_management");
    for waba in info.targets("whatsapp_business_messaging") {
        if !wabas.contains(&waba) {
            wabas.push(waba);
        }
    }
    if wabas.is_empty() {
        return Err(ConnectionError::Validation(
            "no WhatsApp business account was granted".into(),
        ));
    }
    let access_token = token.access_token.as_str();
    let expires_at = expiry(token, info, now);
    let mut accounts = Vec::new();
    for waba_id in wabas {
        let account = graph
            .business_account(&waba_id, access_token)
            .await
            .map_err(|failure| ConnectionError::FailedToLoadAccounts(failure.to_string()))?;
        let numbers = graph
            .phone_numbers(&waba_id, access_token)
            .await
            .map_err(|failure| ConnectionError::FailedToLoadAccounts(failure.to_string()))?;
        if numbers.is_empty() {
            continue;
        }
        let mut problem = match graph
            .subscribe_business_account(&waba_id, access_token)
            .await
        {
            Ok(()) => None,
            Err(failure) => Some(format!("webhook subscription failed: {failure}")),
        };
        let attached = match graph.subscriptions(&waba_id, access_token).await {
            Ok(subscriptions) => !subscriptions.is_empty(),
            Err(_) => false,
        };
        if problem.is_none() && !attached {
            problem = Some(WEBHOOK_SUBSCRIPTION_EMPTY.into());
        }
        for number in numbers {
            let pin = new_pin();
            let mut number_problem = problem.clone();
            if let Err(failure) = graph.register_number(&number.id, access_token, &pin).await {
                number_problem.get_or_insert(format!("registering the number failed: {failure}"));
            }
            let mut metadata = number_metadata(&number);
            if let Some(name) = &account.name {
                metadata.insert("business_account_name".into(), name.clone().into());
            }
            if let Ok(profile) = graph.business_profile(&number.id, access_token).await {
                if !profile.is_null() {
                    metadata.insert("business_profile".into(), profile);
                }
            }
            let suggested_name = number
                .verified_name
                .clone()
                .or_else(|| number.display_phone_number.clone())
                .unwrap_or_else(|| format!("WhatsApp {}", number.id));
            let public = WhatsappPublicConfig {
                phone_number_id: number.id.clone(),
                waba_id: Some(waba_id.clone()),
            };
            let secrets = json!({
                "access_token": access_token,
                "app_secret": graph.app_secret(),
                "verify_token": meta.verify_token.clone().unwrap_or_else(|| crate::crypto::generate_token("vt")),
                "pin": pin,
            });
            accounts.push(Account {
                kind: ChannelKind::WhatsappCloud,
                suggested_name,
                public_config: serde_json::to_value(public).expect("config serialises"),
                secrets,
                connection: ChannelConnection {
                    account_id: Some(number.id.clone()),
                    metadata: Value::Object(metadata),
                    webhook_attached: attached,
                    verified: account.business_verification_status.as_deref() == Some("verified"),
                    setup: Setup::Consent,
                    token_expires_at: expires_at,
                },
                status: if number_problem.is_some() {
                    ChannelStatus::Error
                } else {
                    ChannelStatus::Connected
                },
                status_reason: number_problem,
            });
        }
    }
    if accounts.is_empty() {
        return Err(ConnectionError::Validation(
            "the granted WhatsApp business accounts have no phone numbers".into(),
        ));
    }
    Ok(accounts)
}

/// The status reason of an account whose webhook subscription Meta reports empty.
pub const WEBHOOK_SUBSCRIPTION_EMPTY: &str =
    "webhook subscription empty: Meta reported success but lists no subscription; reconnect";

async fn onboard_pages(
    graph: &MetaGraph,
    kind: ChannelKind,
    token: &Token,
    info: &TokenInfo,
) -> Result<Vec<Account>, ConnectionError> {
    let pages = graph
        .pages(&token.access_token)
        .await
        .map_err(|failure| ConnectionError::FailedToLoadAccounts(failure.to_string()))?;
    let granted = info.targets("pages_messaging");
    let mut accounts = Vec::new();
    for page in pages {
        if !granted.is_empty() && !granted.contains(&page.id) {
            continue;
        }
        let Some(page_token) = page.access_token.clone() else {
            continue;
        };
        let account_id = match kind {
            ChannelKind::Instagram => match &page.instagram_business_account {
                Some(ig) => ig.id.clone(),
                None => continue,
            },
            _ => page.id.clone(),
        };
        let (attached, problem) = match subscribe_page(graph, &page.id, &page_token).await {
            Ok(true) => (true, None),
            Ok(false) => (false, Some(WEBHOOK_SUBSCRIPTION_EMPTY.to_owned())),
            Err(error) => (false, Some(format!("webhook subscription failed: {error}"))),
        };
        let suggested_name = match (kind, &page.instagram_business_account) {
            (ChannelKind::Instagram, Some(ig)) => ig
                .username
                .as_ref()
                .map_or_else(|| format!("Instagram {}", ig.id), |name| format!("@{name}")),
            _ => page
                .name
                .clone()
                .unwrap_or_else(|| format!("Page {}", page.id)),
        };
        let public = PagePublicConfig {
            page_id: page.id.clone(),
            instagram_id: (kind == ChannelKind::Instagram).then(|| account_id.clone()),
        };
        accounts.push(Account {
            kind,
            suggested_name,
            public_config: serde_json::to_value(public).expect("config serialises"),
            secrets: json!({"page_access_token": page_token, "app_secret": graph.app_secret()}),
            connection: ChannelConnection {
                account_id: Some(account_id),
                metadata: Value::Object(page_metadata(&page)),
                webhook_attached: attached,
                verified: page.verification_status.as_deref() == Some("blue_verified"),
                setup: Setup::Consent,
                // A Page token from a long-lived user token does not expire.
                token_expires_at: None,
            },
            status: if problem.is_some() {
                ChannelStatus::Error
            } else {
                ChannelStatus::Connected
            },
            status_reason: problem,
        });
    }
    if accounts.is_empty() {
        return Err(ConnectionError::Validation(match kind {
            ChannelKind::Instagram => {
                "no granted Page has an Instagram professional account linked".into()
            }
            _ => "no Facebook Page was granted".into(),
        }));
    }
    Ok(accounts)
}

/// Removes the app's webhook subscription for a channel at the provider, unless another live
/// channel of the organisation still needs it (numbers of one business account, or the
/// Messenger and Instagram channels of one Page, share a subscription). A token the provider
/// no longer accepts is no reason to keep the channel: the subscription is then moot.
pub async fn unsubscribe(
    core: &Core,
    record: &ChannelRecord,
    siblings: &[ChannelRecord],
) -> Result<Option<String>, ConnectionError> {
    let graph = &core.settings.meta.graph;
    let plaintext = core
        .master_key
        .decrypt(&record.sealed_secrets)
        .map_err(|error| ConnectionError::Disconnect(error.to_string()))?;
    let (node, token) = match record.kind {
        ChannelKind::WhatsappCloud => {
            let public: WhatsappPublicConfig = serde_json::from_value(record.public_config.clone())
                .map_err(|error| ConnectionError::Disconnect(error.to_string()))?;
            let secrets: WhatsappSecrets = serde_json::from_slice(&plaintext)
                .map_err(|error| ConnectionError::Disconnect(error.to_string()))?;
            let Some(waba_id) = public.waba_id else {
                return Ok(None);
            };
            (waba_id, secrets.access_token)
        }
        ChannelKind::Messenger | ChannelKind::Instagram => {
            let public: PagePublicConfig = serde_json::from_value(record.public_config.clone())
                .map_err(|error| ConnectionError::Disconnect(error.to_string()))?;
            let secrets: PageSecrets = serde_json::from_slice(&plaintext)
                .map_err(|error| ConnectionError::Disconnect(error.to_string()))?;
            (public.page_id, secrets.page_access_token)
        }
        // The paired number is logged out and its instance removed at the provider.
        ChannelKind::WhatsappUnofficial => {
            let public: crate::adapters::evolution::EvolutionPublicConfig =
                serde_json::from_value(record.public_config.clone())
                    .map_err(|error| ConnectionError::Disconnect(error.to_string()))?;
            let secrets: crate::adapters::evolution::EvolutionSecrets =
                serde_json::from_slice(&plaintext)
                    .map_err(|error| ConnectionError::Disconnect(error.to_string()))?;
            let Some(provider) = &core.settings.evolution else {
                return Ok(Some(
                    "no unofficial WhatsApp provider is configured; its instance is left as it is"
                        .into(),
                ));
            };
            return provider
                .client
                .remove(&public.instance, &secrets.instance_token)
                .await
                .map(|()| None)
                .map_err(|error| ConnectionError::Disconnect(error.to_string()));
        }
        // Twilio numbers keep the webhook their owner set in Twilio's console; a disconnected
        // channel drops what arrives there.
        ChannelKind::Webchat
        | ChannelKind::Email
        | ChannelKind::TwilioWhatsapp
        | ChannelKind::TwilioSms => return Ok(None),
        // A bot's webhook is its own: never shared with another channel.
        ChannelKind::Telegram => return super::telegram::disconnect(core, record).await,
    };
    let shared = siblings.iter().any(|other| {
        other.id != record.id
            && other.status != ChannelStatus::Disconnected
            && subscription_node(other).as_deref() == Some(node.as_str())
    });
    if shared {
        return Ok(None);
    }
    match graph.unsubscribe(&node, &token).await {
        Ok(()) => Ok(None),
        Err(GraphFailure::Credentials(reason)) => Ok(Some(format!(
            "the provider no longer accepts the channel's token ({reason}); its subscription lapses with it"
        ))),
        Err(failure) => Err(ConnectionError::Disconnect(failure.to_string())),
    }
}

/// The provider node whose webhook subscription a channel relies on.
fn subscription_node(record: &ChannelRecord) -> Option<String> {
    match record.kind {
        ChannelKind::WhatsappCloud => record
            .public_config
            .get("waba_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        ChannelKind::Messenger | ChannelKind::Instagram => record
            .public_config
            .get("page_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        ChannelKind::Webchat
        | ChannelKind::Email
        | ChannelKind::TwilioWhatsapp
        | ChannelKind::TwilioSms
        | ChannelKind::WhatsappUnofficial
        | ChannelKind::Telegram => None,
    }
}
