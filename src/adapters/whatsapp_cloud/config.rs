//! The configuration of a WhatsApp Cloud channel, split into what may be shown and what is
//! sealed at rest.

use serde::{Deserialize, Serialize};

/// Shown by the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsappPublicConfig {
    pub phone_number_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<String>,
}

/// Encrypted at rest, never returned.
#[derive(Clone, Serialize, Deserialize)]
pub struct WhatsappSecrets {
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
}

impl std::fmt::Debug for WhatsappSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WhatsappSecrets([redacted])")
    }
}
