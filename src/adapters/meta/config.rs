//! The configuration of a Messenger or Instagram channel, split into what may be shown and
//! what is sealed at rest.

use serde::{Deserialize, Serialize};

/// Shown by the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagePublicConfig {
    /// The Facebook Page the channel speaks as.
    pub page_id: String,
    /// The Instagram professional account linked to the Page (Instagram channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram_id: Option<String>,
}

/// Encrypted at rest, never returned.
#[derive(Clone, Serialize, Deserialize)]
pub struct PageSecrets {
    /// The Page access token Send API calls and subscriptions use.
    pub page_access_token: String,
    /// The Meta app secret webhooks are signed with.
    pub app_secret: String,
    /// What Meta echoes when it verifies the channel's own webhook (channels added with
    /// their own app's credentials; consent channels share the app's webhook).
    #[serde(default)]
    pub verify_token: String,
}

impl std::fmt::Debug for PageSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageSecrets([redacted])")
    }
}
