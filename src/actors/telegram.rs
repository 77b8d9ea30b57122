//! Telegram channels in the live system: connecting a bot (token checked with `getMe`, the
//! webhook set with a fresh secret and read back), disconnecting it (`deleteWebhook`),
//! sending an outbox row, and the work a button tap asks for (mapping its data back to the
//! choice, and answering it so the button stops spinning).

use super::connections::ConnectionError;
use super::core::Core;
use crate::adapters::telegram::{
    self, verify, BotFailure, BotToken, Callback, TelegramClient, TelegramPublicConfig,
    TelegramSecrets,
};
use crate::adapters::{SendError, Sent};
use crate::domain::{ChannelId, ChannelKind, InboundEvent, MessageContent};
use crate::store::{ChannelConnection, ChannelRecord, OutboxRecord, Setup, StoreError};
use serde_json::{json, Value};

/// The field a refused token is reported on.
const TOKEN_FIELD: &str = "config.bot_token";

/// A bot ready to be stored as a channel, or to refresh the channel it is.
#[derive(Debug)]
pub struct Connected {
    pub public_config: Value,
    /// Plain credentials (token and webhook secret), sealed by the caller.
    pub secrets: Value,
    pub connection: ChannelConnection,
}

/// Why a bot could not be connected.
#[derive(Debug, thiserror::Error)]
pub enum TelegramConnectError {
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// Another live channel speaks for this bot.
    #[error("the bot {0} is already connected as another channel")]
    AccountTaken(String),
    /// The channel being reconnected is another bot.
    #[error("the channel speaks for bot {old}; this token is bot {new}")]
    OtherAccount { old: String, new: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Connects bot `token` as channel `channel_id` (new, or `reconnecting`): checks the token
/// with `getMe`, refuses a bot another live channel speaks for, then points the bot's webhook
/// at the channel with a fresh secret and reads it back for the `webhook_attached` badge.
/// Nothing is changed at Telegram before the checks pass.
pub async fn connect(
    core: &Core,
    channel_id: ChannelId,
    token: &BotToken,
    reconnecting: Option<&ChannelRecord>,
) -> Result<Connected, TelegramConnectError> {
    let client = &core.settings.telegram;
    let bot = client
        .get_me(token)
        .await
        .map_err(|failure| connection_error(failure, TOKEN_FIELD))?;
    let bot_id = bot.id.to_string();
    if let Some(old) = reconnecting.and_then(|record| record.connection.account_id.clone()) {
        if old != bot_id {
            return Err(TelegramConnectError::OtherAccount { old, new: bot_id });
        }
    }
    if let Some(holder) = core
        .store
        .channel_by_account(ChannelKind::Telegram, &bot_id)
        .await?
    {
        if holder.id != channel_id {
            return Err(TelegramConnectError::AccountTaken(bot_id));
        }
    }
    let url = core.public_url(&format!("/webhooks/telegram/{channel_id}"));
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(ConnectionError::Rejected(
            "Telegram posts updates to an absolute URL; set PARLEY_PUBLIC_URL to the server's public HTTPS address".into(),
        )
        .into());
    }
    let secret_token = verify::new_secret();
    client
        .set_webhook(token.as_str(), &url, &secret_token)
        .await
        .map_err(|failure| connection_error(failure, TOKEN_FIELD))?;
    let webhook_attached = match client.webhook_info(token.as_str()).await {
        Ok(info) => info.url == url,
        Err(error) => {
            tracing::warn!(channel_id = %channel_id, error = %error, "could not read the webhook back");
            false
        }
    };
    let public = TelegramPublicConfig {
        bot_id: bot_id.clone(),
        username: bot.username.clone(),
    };
    let secrets = TelegramSecrets {
        bot_token: token.as_str().to_owned(),
        secret_token,
    };
    Ok(Connected {
        public_config: serde_json::to_value(public).expect("config serialises"),
        secrets: serde_json::to_value(secrets).expect("secrets serialise"),
        connection: ChannelConnection {
            account_id: Some(bot_id),
            metadata: json!({"username": bot.username, "name": bot.first_name}),
            webhook_attached,
            verified: false,
            setup: Setup::Manual,
            token_expires_at: None,
        },
    })
}

/// Removes the bot's webhook. A token Telegram no longer accepts is no reason to keep the
/// channel: its webhook is then moot, and the note says so.
pub async fn disconnect(
    core: &Core,
    record: &ChannelRecord,
) -> Result<Option<String>, ConnectionError> {
    let plaintext = core
        .master_key
        .decrypt(&record.sealed_secrets)
        .map_err(|error| ConnectionError::Disconnect(error.to_string()))?;
    let secrets: TelegramSecrets = serde_json::from_slice(&plaintext)
        .map_err(|error| ConnectionError::Disconnect(error.to_string()))?;
    match core
        .settings
        .telegram
        .delete_webhook(&secrets.bot_token)
        .await
    {
        Ok(()) => Ok(None),
        Err(BotFailure::Credentials(reason)) => Ok(Some(format!(
            "Telegram no longer accepts the bot's token ({reason}); its webhook lapses with it"
        ))),
        Err(failure) => Err(ConnectionError::Disconnect(failure.to_string())),
    }
}

/// Sends one outbox row to its chat.
pub(crate) async fn send(
    client: &TelegramClient,
    secrets: &TelegramSecrets,
    row: &OutboxRecord,
) -> Result<Sent, SendError> {
    let token =
        BotToken::parse(&secrets.bot_token).map_err(|reason| SendError::CredentialsRejected {
            reason: format!("the stored bot token is unusable: {reason}"),
        })?;
    let calls = telegram::render(
        &row.recipient,
        &row.content,
        row.reply_to_provider_message_id.as_deref(),
    )?;
    client.send(&token, &row.recipient, &calls).await
}

/// Maps a tapped button's data back to the id of the choice it stands for, when Parley had to
/// shorten it: the message that carried the keyboard says which choices it offered. When that
/// message is unknown (a tap racing the record of its send), the data stays as it is and the
/// journey matches the tap by the button's title instead.
pub async fn resolve_callback(
    core: &Core,
    channel_id: ChannelId,
    callback: &Callback,
    events: &mut [InboundEvent],
) {
    let Some(message_id) = callback.message_id else {
        return;
    };
    let key = telegram::parse::message_key(callback.chat_id, message_id);
    let content = match core.store.sent_content(channel_id, &key).await {
        Ok(Some(content)) => content,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(channel_id = %channel_id, error = %error, "failed to read the message a button belongs to");
            return;
        }
    };
    let Some(choice) = telegram::resolve_callback(&callback.data, &content) else {
        return;
    };
    for event in events {
        if let InboundEvent::Message(message) = event {
            if let MessageContent::InteractiveReply { reply_id, .. } = &mut message.content {
                reply_id.clone_from(&choice);
            }
        }
    }
}

/// Answers a button tap, so the guest's button stops spinning. Best effort: a tap answered
/// late only spins a little longer.
pub fn answer_callback(client: &TelegramClient, secrets: &TelegramSecrets, callback_id: String) {
    let (client, token) = (client.clone(), secrets.bot_token.clone());
    tokio::spawn(async move {
        if let Err(error) = client.answer_callback(&token, &callback_id).await {
            tracing::info!(error = %error, "a button tap was not answered");
        }
    });
}

fn connection_error(failure: BotFailure, field: &'static str) -> TelegramConnectError {
    TelegramConnectError::Connection(match failure {
        BotFailure::Credentials(reason) => ConnectionError::Credentials { field, reason },
        BotFailure::Unavailable(reason) => ConnectionError::Unavailable(reason),
        BotFailure::Rejected(reason) => ConnectionError::Rejected(reason),
    })
}

/// Starts the download of a file a guest sent (`getFile`, then its path), for the console.
pub async fn download(
    client: &TelegramClient,
    secrets: &TelegramSecrets,
    file_id: &str,
) -> Result<reqwest::Response, SendError> {
    let url = client.file_url(&secrets.bot_token, file_id).await?;
    client.download(&url).await
}

/// Shows the chat that the team is typing (Telegram shows it for about five seconds).
pub(crate) async fn typing(
    client: &TelegramClient,
    secrets: &TelegramSecrets,
    chat_id: &str,
) -> Result<(), SendError> {
    client
        .chat_action(&secrets.bot_token, chat_id, "typing")
        .await
}
