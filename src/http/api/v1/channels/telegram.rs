//! Adding and reconnecting Telegram bots: the HTTP side of [`crate::actors::telegram`].

use super::Credentials;
use crate::actors::telegram::{self, TelegramConnectError};
use crate::adapters::telegram::{BotToken, TelegramSecrets};
use crate::domain::ChannelId;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::{ChannelConnection, ChannelRecord};
use serde_json::{json, Value};

/// Checks the bot's token and points its webhook at channel `id`.
pub(super) async fn connect(
    state: &AppState,
    id: ChannelId,
    credentials: &Credentials,
    reconnecting: Option<&ChannelRecord>,
) -> Result<(Credentials, ChannelConnection), ApiError> {
    let raw = credentials
        .secrets
        .get("bot_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let token = BotToken::parse(raw)
        .map_err(|reason| ApiError::field(Code::InvalidField, "config.bot_token", reason))?;
    let connected = telegram::connect(state, id, &token, reconnecting)
        .await
        .map_err(|error| match error {
            TelegramConnectError::Connection(error) => super::connection_error(error),
            TelegramConnectError::AccountTaken(bot_id) => ApiError::new(
                Code::ChannelAccountTaken,
                format!("the bot {bot_id} is already connected as another channel; disconnect that one first"),
            ),
            TelegramConnectError::OtherAccount { old, new } => ApiError::field(
                Code::InvalidField,
                "config",
                format!("the channel speaks for bot {old}; this token is for bot {new}. Add a new channel for another bot"),
            ),
            TelegramConnectError::Store(error) => {
                ApiError::from_store(error, Code::ChannelNotFound)
            }
        })?;
    Ok((
        Credentials {
            public_config: connected.public_config,
            secrets: connected.secrets,
        },
        connected.connection,
    ))
}

/// The token a bot channel was connected with, for a reconnect without a new one.
pub(super) fn stored_credentials(
    state: &AppState,
    record: &ChannelRecord,
) -> Result<Credentials, ApiError> {
    let undecryptable =
        || ApiError::new(Code::Internal, "the channel's credentials are unreadable");
    let plaintext = state
        .master_key
        .decrypt(&record.sealed_secrets)
        .map_err(|_| undecryptable())?;
    let secrets: TelegramSecrets =
        serde_json::from_slice(&plaintext).map_err(|_| undecryptable())?;
    Ok(Credentials {
        public_config: record.public_config.clone(),
        secrets: json!({"bot_token": secrets.bot_token}),
    })
}
