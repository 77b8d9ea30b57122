//! Unofficial WhatsApp through a provider speaking the Evolution API v2 protocol: a number is
//! paired by scanning a QR code from the phone, the provider posts webhooks (QR rotations,
//! connection states, messages, receipts) with a secret header Parley chose, and Parley sends
//! with the instance's own token. Unofficial engines break buttons and lists, so those go as
//! numbered text the guest answers by typing.

pub mod client;
pub mod parse;
pub mod render;

pub use client::EvolutionClient;
use serde::{Deserialize, Serialize};

/// The header Parley asks the provider to send on every webhook, carrying the channel's secret.
pub const SECRET_HEADER: &str = "x-parley-secret";

/// What the API shows of an unofficial WhatsApp channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvolutionPublicConfig {
    /// The provider's instance name.
    pub instance: String,
    /// The number to pair, in E.164, when given (the provider then offers a pairing code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The instance's token and the webhook secret, sealed at rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvolutionSecrets {
    pub instance_token: String,
    pub webhook_secret: String,
}

/// A QR code to scan, as the provider renders it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Qr {
    /// The raw QR string, for rendering it locally.
    pub code: String,
    /// A `data:image/png;base64,…` URL to show as it is.
    pub base64: Option<String>,
    /// An 8-character code to type on the phone instead, when a number was given.
    pub pairing_code: Option<String>,
    /// How many QR codes the provider has shown for this attempt.
    pub count: Option<u32>,
}

/// What a disconnect reason (Baileys' status code) means for the team, and whether the
/// number must be paired again (the provider does not reconnect by itself then).
pub fn disconnect_reason(code: Option<i64>) -> (String, bool) {
    match code {
        Some(401) => (
            "the number was logged out from the phone (Linked devices); pair it again".into(),
            true,
        ),
        Some(403) => (
            "WhatsApp refused the number (it may be banned); pair it again or use another".into(),
            true,
        ),
        Some(440) => (
            "the number was paired elsewhere, which replaced this session; pair it again here"
                .into(),
            true,
        ),
        Some(402 | 406) => (
            "WhatsApp closed the session; pair the number again".into(),
            true,
        ),
        Some(408) => (
            "the phone is offline or unreachable; messages go again once it is back online".into(),
            false,
        ),
        Some(428) => (
            "the QR code was not scanned in time; retry pairing and scan the new code".into(),
            false,
        ),
        Some(code) => (
            format!("the connection to WhatsApp dropped ({code}); the provider is reconnecting"),
            false,
        ),
        None => (
            "the connection to WhatsApp dropped; the provider is reconnecting".into(),
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::disconnect_reason;

    #[test]
    fn logged_out_banned_and_replaced_sessions_need_pairing_and_offline_phones_do_not() {
        for code in [401, 403, 440, 402, 406] {
            assert!(disconnect_reason(Some(code)).1, "{code}");
        }
        for code in [408, 428, 500, 515] {
            assert!(!disconnect_reason(Some(code)).1, "{code}");
        }
        assert!(disconnect_reason(Some(440)).0.contains("paired elsewhere"));
        assert!(disconnect_reason(Some(408)).0.contains("offline"));
    }
}

/// Where the provider is and the global key that creates instances.
#[derive(Clone, Debug)]
pub struct EvolutionSettings {
    pub client: EvolutionClient,
    pub api_key: String,
}
