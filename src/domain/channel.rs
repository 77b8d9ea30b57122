//! Channel kinds and the connection status of a channel.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// WhatsApp through Meta's official Cloud API.
    WhatsappCloud,
    /// Parley's own web chat widget.
    Webchat,
    /// Facebook Messenger through a Facebook Page.
    Messenger,
    /// Instagram direct messages of a professional account linked to a Facebook Page.
    Instagram,
    /// A WhatsApp sender through Twilio's Messaging API.
    TwilioWhatsapp,
    /// An SMS number through Twilio: outbound only (broadcasts and journeys).
    TwilioSms,
    /// WhatsApp paired by QR code through a provider speaking the Evolution API.
    WhatsappUnofficial,
    /// A Telegram bot through the Bot API.
    Telegram,
    /// Email sent from the organisation's own domain (DKIM and SPF verified).
    Email,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 9] = [
        ChannelKind::WhatsappCloud,
        ChannelKind::Webchat,
        ChannelKind::Messenger,
        ChannelKind::Instagram,
        ChannelKind::TwilioWhatsapp,
        ChannelKind::TwilioSms,
        ChannelKind::WhatsappUnofficial,
        ChannelKind::Telegram,
        ChannelKind::Email,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelKind::WhatsappCloud => "whatsapp_cloud",
            ChannelKind::Webchat => "webchat",
            ChannelKind::Messenger => "messenger",
            ChannelKind::Instagram => "instagram",
            ChannelKind::TwilioWhatsapp => "twilio_whatsapp",
            ChannelKind::TwilioSms => "twilio_sms",
            ChannelKind::WhatsappUnofficial => "whatsapp_unofficial",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Email => "email",
        }
    }

    /// The provider's default sending rate for one channel of this kind. WhatsApp allows 80
    /// messages per second per phone number until Meta upgrades the number.
    pub fn default_send_rate_per_second(&self) -> u32 {
        match self {
            ChannelKind::WhatsappCloud => 80,
            ChannelKind::Webchat => 1_000,
            // 300 calls per second per Page for text, links and reactions.
            ChannelKind::Messenger => 300,
            ChannelKind::Instagram => 100,
            // A WhatsApp sender takes about 80 messages per second; Twilio queues SMS past a
            // number's own rate (about 1 segment per second on a long code) for hours.
            ChannelKind::TwilioWhatsapp => 80,
            ChannelKind::TwilioSms => 100,
            // An unofficial number that sends like a machine gets banned: keep to a person's pace.
            ChannelKind::WhatsappUnofficial => 5,
            // About 30 messages per second per bot across chats; each chat gets about one
            // per second more, paced by the Telegram client.
            ChannelKind::Telegram => 30,
            // A relay's own limits vary; a few mails a second keeps clear of most.
            ChannelKind::Email => 10,
        }
    }

    /// How long a provider keeps retrying a webhook: inbound dedupe keys must outlive it.
    pub fn webhook_redelivery_horizon(&self) -> Duration {
        const DAY: Duration = Duration::from_secs(24 * 60 * 60);
        match self {
            ChannelKind::WhatsappCloud => 7 * DAY,
            ChannelKind::Webchat => DAY,
            // Graph webhooks retry for 36 hours.
            ChannelKind::Messenger | ChannelKind::Instagram => 2 * DAY,
            // Twilio retries a failed webhook only briefly.
            ChannelKind::TwilioWhatsapp | ChannelKind::TwilioSms => DAY,
            // The provider retries a webhook up to 10 times, 5 minutes apart at most.
            ChannelKind::WhatsappUnofficial => DAY,
            // Telegram keeps an undelivered update for at most 24 hours.
            ChannelKind::Telegram => 2 * DAY,
            // SendGrid retries for 3 days; a mail server may retry for 5.
            ChannelKind::Email => 5 * DAY,
        }
    }

    /// Whether channels of this kind connect through Meta's consent flow.
    pub fn is_meta(&self) -> bool {
        matches!(
            self,
            ChannelKind::WhatsappCloud | ChannelKind::Messenger | ChannelKind::Instagram
        )
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChannelKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("unknown channel kind `{s}`"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    PendingVerification,
    Connected,
    /// The provider rejected the credentials (expired or revoked token): staff must reconnect.
    NeedsReconnect,
    Error,
    Disconnected,
}

impl ChannelStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelStatus::PendingVerification => "pending_verification",
            ChannelStatus::Connected => "connected",
            ChannelStatus::NeedsReconnect => "needs_reconnect",
            ChannelStatus::Error => "error",
            ChannelStatus::Disconnected => "disconnected",
        }
    }

    /// Whether outbound messages may be handed to the provider.
    pub fn can_send(&self) -> bool {
        matches!(self, ChannelStatus::Connected)
    }
}

impl FromStr for ChannelStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ChannelStatus::PendingVerification,
            ChannelStatus::Connected,
            ChannelStatus::NeedsReconnect,
            ChannelStatus::Error,
            ChannelStatus::Disconnected,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| format!("unknown channel status `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_their_wire_names() {
        for kind in ChannelKind::ALL {
            assert_eq!(kind.as_str().parse::<ChannelKind>().unwrap(), kind);
        }
        assert!("fax".parse::<ChannelKind>().is_err());
    }

    #[test]
    fn only_connected_channels_send() {
        assert!(ChannelStatus::Connected.can_send());
        assert!(!ChannelStatus::NeedsReconnect.can_send());
        assert!(!ChannelStatus::Disconnected.can_send());
    }
}
