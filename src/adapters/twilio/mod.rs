//! Twilio Programmable Messaging, for WhatsApp senders and SMS numbers: webhook signatures
//! (`X-Twilio-Signature`), inbound form parsing, status callbacks, rendering for a channel
//! with no buttons, the Messages API client, and SMS segment counting.

pub mod client;
pub mod parse;
pub mod render;
pub mod segments;
pub mod signature;

pub use client::TwilioClient;
use serde::{Deserialize, Serialize};

/// Which Twilio product a channel speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// A WhatsApp sender: addresses carry the `whatsapp:` prefix.
    Whatsapp,
    /// An SMS number: outbound only (broadcasts and journeys), as the channel spec says.
    Sms,
}

impl Flavor {
    /// The address Twilio uses for `id` (`whatsapp:+351…` or `+351…`).
    pub fn address(&self, id: &str) -> String {
        match self {
            Flavor::Whatsapp if !id.starts_with("whatsapp:") => format!("whatsapp:{id}"),
            _ => id.to_owned(),
        }
    }

    /// The contact id of an address: the prefix removed.
    pub fn contact_id(address: &str) -> &str {
        address.strip_prefix("whatsapp:").unwrap_or(address)
    }
}

/// What the API shows of a Twilio channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioPublicConfig {
    /// `AC` and 32 hex digits.
    pub account_sid: String,
    /// The sender's number in E.164 (`+14155238886`), without `whatsapp:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A Messaging Service (`MG…`) to send through instead of one number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<String>,
}

/// A Twilio channel's credentials, sealed at rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioSecrets {
    /// Signs webhooks, and authenticates API calls unless an API key is given.
    pub auth_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<String>,
}

impl TwilioSecrets {
    /// The Basic-auth pair for API calls: the API key when there is one, else the account.
    pub fn basic_auth<'a>(&'a self, account_sid: &'a str) -> (&'a str, &'a str) {
        match (&self.api_key_sid, &self.api_key_secret) {
            (Some(sid), Some(secret)) => (sid, secret),
            _ => (account_sid, &self.auth_token),
        }
    }
}

/// Whether `sid` is a Twilio SID with `prefix` (`AC`, `MG`, `SK`): the prefix and 32 hex digits.
pub fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Whether `number` is E.164: `+`, then 8 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_and_numbers_are_recognised() {
        assert!(is_sid("AC0123456789abcdef0123456789abcdef", "AC"));
        assert!(!is_sid("AC0123456789abcdef0123456789abcde", "AC"));
        assert!(!is_sid("MG0123456789abcdef0123456789abcdef", "AC"));
        assert!(is_e164("+14155238886"));
        assert!(!is_e164("14155238886"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1 415 523"));
    }

    #[test]
    fn whatsapp_addresses_carry_their_prefix_and_contacts_do_not() {
        assert_eq!(Flavor::Whatsapp.address("+351912"), "whatsapp:+351912");
        assert_eq!(
            Flavor::Whatsapp.address("whatsapp:+351912"),
            "whatsapp:+351912"
        );
        assert_eq!(Flavor::Sms.address("+351912"), "+351912");
        assert_eq!(Flavor::contact_id("whatsapp:+351912"), "+351912");
        assert_eq!(Flavor::contact_id("+351912"), "+351912");
    }
}
