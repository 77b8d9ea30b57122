//! Telegram bots through the Bot API: a channel is one bot, talked to with its token in the
//! URL path (`{api_url}/bot<TOKEN>/<method>`). Telegram posts one `Update` per webhook request
//! with the `X-Telegram-Bot-Api-Secret-Token` header Parley registered through `setWebhook`
//! ([`verify`]); [`parse`] turns updates into inbound events, [`render`] turns outbound
//! content into Bot API calls, and [`client`] makes the calls and classifies their errors.

pub mod client;
pub mod parse;
pub mod render;
pub mod verify;

pub use client::{BotFailure, BotInfo, TelegramClient, WebhookInfo};
pub use parse::{parse, Callback, ParsedUpdate};
pub use render::{callback_data, render, resolve_callback, split_text, Call};

use serde::{Deserialize, Serialize};

/// The update kinds Parley reads; `setWebhook` asks for these only. Edits are not among them
/// (see [`parse`]), so Telegram does not post them.
pub const ALLOWED_UPDATES: [&str; 2] = ["message", "callback_query"];

/// Shown by the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramPublicConfig {
    /// The bot's user id, the number before `:` in its token.
    pub bot_id: String,
    /// The bot's `@username`, without the `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// Encrypted at rest, never returned.
#[derive(Clone, Serialize, Deserialize)]
pub struct TelegramSecrets {
    /// The token BotFather gave, `<bot id>:<secret>`.
    pub bot_token: String,
    /// What Telegram sends back in `X-Telegram-Bot-Api-Secret-Token` on every webhook.
    pub secret_token: String,
}

impl std::fmt::Debug for TelegramSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TelegramSecrets([redacted])")
    }
}

/// A bot token of the shape Telegram hands out: the bot's numeric id, `:`, and a secret of
/// letters, digits, `_` and `-`.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    /// Accepts `<digits>:<secret>` where the secret is at least 30 characters of
    /// `A-Za-z0-9_-` (Telegram's are 35; the length is not pinned, in case it changes).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (id, secret) = raw.split_once(':').ok_or_else(|| {
            "a bot token looks like `123456789:AA…` (the bot id, a colon, and its secret)"
                .to_owned()
        })?;
        let id_ok = !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit());
        let secret_ok = secret.len() >= 30
            && secret.len() <= 100
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if id_ok && secret_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(
                "a bot token looks like `123456789:AA…` (the bot id, a colon, and its secret)"
                    .into(),
            )
        }
    }

    /// The bot's id, the part before `:`.
    pub fn bot_id(&self) -> &str {
        self.0.split_once(':').map_or("", |(id, _)| id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BotToken({}:[redacted])", self.bot_id())
    }
}

#[cfg(test)]
mod render_table;

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(raw: &str, expected: Option<&str>) {
        assert_eq!(
            BotToken::parse(raw)
                .ok()
                .map(|token| token.bot_id().to_owned()),
            expected.map(str::to_owned),
            "{raw}"
        );
    }

    #[test]
    fn bot_tokens_parse_only_in_telegrams_shape() {
        check(
            "7000000001:AAE_exampleexampleexampleexample123",
            Some("7000000001"),
        );
        check(" 42:AAE-exampleexampleexampleexample12 ", Some("42"));
        check("7000000001AAE_exampleexampleexampleexample123", None);
        check("bot:AAE_exampleexampleexampleexample123", None);
        check("7000000001:short", None);
        check("7000000001:AAE exampleexampleexampleexample123", None);
        check(":AAE_exampleexampleexampleexample123", None);
    }

    proptest::proptest! {
        #[test]
        fn every_token_of_telegrams_shape_parses_with_its_bot_id(
            id in "[1-9][0-9]{0,12}",
            secret in "[A-Za-z0-9_-]{35}",
        ) {
            let raw = format!("{id}:{secret}");
            let token = BotToken::parse(&raw).unwrap();
            proptest::prop_assert_eq!(token.bot_id(), id.as_str());
            proptest::prop_assert_eq!(token.as_str(), raw.as_str());
        }
    }

    #[test]
    fn a_token_never_shows_its_secret_in_debug() {
        let token = BotToken::parse("7000000001:AAE_exampleexampleexampleexample123").unwrap();
        assert_eq!(format!("{token:?}"), "BotToken(7000000001:[redacted])");
    }
}
