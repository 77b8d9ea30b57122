//! Email as a channel: the sending domain's DKIM key and the DNS records that prove it
//! (`dns`), outbound mail rendered from channel-neutral content (`render`), signed and
//! submitted to the channel's SMTP relay (`smtp`), and inbound mail parsed from MIME
//! (`parse`) with the reply told apart from the quoted history (`reply`), arriving through
//! Mailgun or SendGrid webhooks (`webhook`) or Parley's own SMTP listener.

pub mod dns;
pub mod parse;
pub mod render;
pub mod reply;
pub mod smtp;
pub mod webhook;

use serde::{Deserialize, Serialize};

/// How the SMTP relay is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (submission port 587). The default.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all: only for a relay on the same host or network.
    None,
}

impl SmtpSecurity {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "starttls" => Some(Self::Starttls),
            "tls" => Some(Self::Tls),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// What an email channel shows: its domain, the DKIM selector it publishes, its sender and
/// relay, and the address its inbound mail arrives at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailPublicConfig {
    /// The sending domain, e.g. `mail.example.com`.
    pub domain: String,
    /// The DKIM selector: the key is published at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// Base64 of the DER SubjectPublicKeyInfo: the `p=` of the DKIM record.
    pub dkim_public_key: String,
    /// The SPF mechanism that authorises the relay, e.g. `include:_spf.mailgun.org`.
    pub spf_mechanism: String,
    pub from_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_username: Option<String>,
    /// Where the channel's inbound mail is sent (forwarding target and `Reply-To`).
    pub inbound_address: String,
}

/// What an email channel keeps sealed: the DKIM private key and the relay's password.
#[derive(Clone, Serialize, Deserialize)]
pub struct EmailSecrets {
    /// PKCS#1 PEM of the RSA 2048 signing key.
    pub dkim_private_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_password: Option<String>,
    /// The key Mailgun signs its webhooks with; without it the Mailgun route is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailgun_signing_key: Option<String>,
}

impl std::fmt::Debug for EmailSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSecrets").finish_non_exhaustive()
    }
}

/// `Message-ID`s without their angle brackets, as Parley stores them.
pub fn bare_message_id(raw: &str) -> String {
    raw.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}
