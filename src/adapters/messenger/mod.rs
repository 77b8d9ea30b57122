//! Facebook Messenger and Instagram Direct through Meta's Graph API. Both platforms share one
//! wire format (the `entry[].messaging[]` webhook, the Send API body and its answer), so one
//! module serves both, and [`Platform`] carries what differs: the webhook `object`, the text
//! limit (2000 characters on Messenger, 1000 UTF-8 bytes on Instagram), the error subcodes of
//! the messaging window, and Instagram's story mentions, story replies and reactions.
//!
//! Webhook signatures use the same `X-Hub-Signature-256` scheme as WhatsApp:
//! [`crate::adapters::whatsapp_cloud::verify::verify_signature`] checks them, with the Meta app
//! secret (or, for Instagram Login apps, the Instagram app secret).

pub mod client;
pub mod parse;
pub mod render;

pub use client::MessengerClient;
pub use parse::{parse, AccountEvents};
pub use render::{delivery_for, render, render_sender_action, Delivery, SenderAction};

/// The Meta messaging platform a channel talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Facebook Messenger: a Page talks to people by page-scoped id (PSID).
    Messenger,
    /// Instagram Direct: a professional account talks to people by Instagram-scoped id (IGSID).
    Instagram,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::Messenger, Platform::Instagram];

    /// The `object` of this platform's webhook envelope.
    pub fn webhook_object(self) -> &'static str {
        match self {
            Platform::Messenger => "page",
            Platform::Instagram => "instagram",
        }
    }

    /// The platform whose webhooks carry `object`, for a webhook URL shared by both.
    pub fn from_webhook_object(object: &str) -> Option<Platform> {
        Platform::ALL
            .into_iter()
            .find(|platform| platform.webhook_object() == object)
    }

    /// The platform's name as people know it, used in error reasons.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Messenger => "Messenger",
            Platform::Instagram => "Instagram",
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_platform_is_found_by_its_webhook_object() {
        for platform in Platform::ALL {
            assert_eq!(
                Platform::from_webhook_object(platform.webhook_object()),
                Some(platform)
            );
        }
        assert_eq!(
            Platform::from_webhook_object("page"),
            Some(Platform::Messenger)
        );
        assert_eq!(
            Platform::from_webhook_object("instagram"),
            Some(Platform::Instagram)
        );
        assert_eq!(
            Platform::from_webhook_object("whatsapp_business_account"),
            None
        );
    }
}
