//! Messages and conversations: direction, who spoke, the channel-neutral content, and the
//! delivery status of outbound messages.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err(format!(concat!("unknown ", stringify!($name), " `{}`"), other)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Whether a message came from the contact or goes to them.
    Direction { Inbound => "inbound", Outbound => "outbound" }
);

wire_enum!(
    /// Who produced a message.
    SenderKind { Contact => "contact", Bot => "bot", Agent => "agent", System => "system" }
);

wire_enum!(
    /// Where a conversation stands between the bot and the human agents.
    ConversationStatus {
        BotHandling => "bot_handling",
        AwaitingAgent => "awaiting_agent",
        AgentAssigned => "agent_assigned",
        Resolved => "resolved",
        Expired => "expired",
    }
);

wire_enum!(
    /// Delivery state of a message. Inbound messages are `received`; outbound ones move forward
    /// through `pending < sent < delivered < read`, and `failed` is terminal.
    DeliveryStatus {
        Received => "received",
        Pending => "pending",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
    }
);

impl DeliveryStatus {
    /// Position in the monotonic order. Providers deliver statuses out of order, so an update
    /// is applied only when its rank is higher than the stored one (`read` never regresses to
    /// `delivered`).
    pub fn rank(&self) -> i64 {
        match self {
            DeliveryStatus::Received => 0,
            DeliveryStatus::Pending => 1,
            DeliveryStatus::Sent => 2,
            DeliveryStatus::Delivered => 3,
            DeliveryStatus::Read => 4,
            DeliveryStatus::Failed => 5,
        }
    }
}

wire_enum!(
    /// The kinds of media a message can carry.
    MediaKind {
        Image => "image",
        Video => "video",
        Audio => "audio",
        Document => "document",
        Sticker => "sticker",
    }
);

/// Channel-neutral message content, stored as JSON in `messages.content`. Adapters parse
/// provider payloads into it and render it back for their channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    Text {
        body: String,
    },
    Media {
        media_kind: MediaKind,
        /// The provider's media id, resolvable through its media API.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        /// A voice note (audio recorded in the app) rather than an audio file.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        voice: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// The contact tapped a reply button or picked a list row.
    InteractiveReply {
        /// The payload the business attached to the button or row.
        reply_id: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// The contact tapped a quick-reply button of a template message.
    TemplateButton {
        payload: String,
        text: String,
    },
    Reaction {
        /// The provider id of the message reacted to.
        target_provider_message_id: String,
        /// `None` when the contact removed their reaction.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emoji: Option<String>,
    },
    /// Shared contact cards, kept as the provider sent them.
    Contacts {
        #[schema(value_type = Object)]
        contacts: serde_json::Value,
    },
    /// Something the provider could not represent (polls, view-once media, ...).
    Unsupported {
        detail: String,
    },
    /// A provider or Parley system notice shown in the thread.
    System {
        body: String,
    },
    /// A body with tappable choices: up to 3 reply buttons, or up to 10 quick replies.
    Choices {
        style: ChoiceStyle,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<Header>,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<String>,
        choices: Vec<ChoiceItem>,
    },
    /// A menu of rows in sections, opened with a button.
    List {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<String>,
        button: String,
        sections: Vec<ListSection>,
    },
    /// A body with one button that opens a URL.
    CtaUrl {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<Header>,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<String>,
        button_text: String,
        url: String,
    },
    /// An approved WhatsApp template, the only free-form outbound outside the 24-hour window.
    Template {
        name: String,
        language: String,
        /// Body parameters in order (`{{1}}`, `{{2}}` …).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parameters: Vec<String>,
        /// For a template made with named variables, the name of each body parameter, in the
        /// order of `parameters`; empty for numbered ones.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parameter_names: Vec<String>,
        /// The value of the header's variable, or the media a media header shows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<Box<TemplateHeader>>,
        /// The dynamic parts of URL buttons.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<TemplateButtonValue>,
    },
}

/// What fills a template's header: its text variable, or the media of a media header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TemplateHeader {
    Text {
        text: String,
        /// The variable's name, for a template made with named variables.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    Image {
        link: String,
    },
    Video {
        link: String,
    },
    Document {
        link: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
}

/// The dynamic suffix of a template's URL button (`https://example.com/booking/{{1}}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateButtonValue {
    /// The button's position among the template's buttons, from 0.
    pub index: u8,
    pub url_suffix: String,
}

wire_enum!(
    /// How a set of choices is presented: reply buttons (1–3) or quick replies (1–10).
    ChoiceStyle { Buttons => "buttons", QuickReplies => "quick_replies" }
);

/// The header of an interactive message: a line of text or a piece of media.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Header {
    Text { text: String },
    Image { url: String },
    Video { url: String },
    Document { url: String },
}

/// One tappable choice; `id` comes back as the reply's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChoiceItem {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub rows: Vec<ChoiceItem>,
}

/// Longest message preview, in characters.
pub const PREVIEW_MAX_CHARS: usize = 120;

impl MessageContent {
    /// One line of at most [`PREVIEW_MAX_CHARS`] characters summing the message up, as the
    /// inbox list shows it.
    pub fn preview(&self) -> String {
        let full = match self {
            MessageContent::Text { body } | MessageContent::System { body } => body.clone(),
            MessageContent::Media {
                media_kind,
                caption,
                filename,
                voice,
                ..
            } => {
                let label = match media_kind {
                    MediaKind::Image => "[Photo]".to_owned(),
                    MediaKind::Video => "[Video]".to_owned(),
                    MediaKind::Audio if *voice => "[Voice message]".to_owned(),
                    MediaKind::Audio => "[Audio]".to_owned(),
                    MediaKind::Document => match filename {
                        Some(name) => format!("[Document: {name}]"),
                        None => "[Document]".to_owned(),
                    },
                    MediaKind::Sticker => "[Sticker]".to_owned(),
                };
                match caption {
                    Some(caption) if !caption.trim().is_empty() => format!("{label} {caption}"),
                    _ => label,
                }
            }
            MessageContent::Location { name, address, .. } => {
                match name.as_deref().or(address.as_deref()) {
                    Some(place) => format!("[Location] {place}"),
                    None => "[Location]".to_owned(),
                }
            }
            MessageContent::InteractiveReply { title, .. } => title.clone(),
            MessageContent::TemplateButton { text, .. } => text.clone(),
            MessageContent::Reaction { emoji, .. } => match emoji {
                Some(emoji) => format!("Reacted {emoji}"),
                None => "Removed a reaction".to_owned(),
            },
            MessageContent::Contacts { .. } => "[Contact card]".to_owned(),
            MessageContent::Unsupported { .. } => "[Unsupported message]".to_owned(),
            MessageContent::Choices { body, .. }
            | MessageContent::List { body, .. }
            | MessageContent::CtaUrl { body, .. } => body.clone(),
            MessageContent::Template { name, .. } => format!("[Template {name}]"),
        };
        one_line(&full, PREVIEW_MAX_CHARS)
    }

    /// The text a bot matches against and an inbox shows as a preview.
    pub fn text_for_matching(&self) -> Option<&str> {
        match self {
            MessageContent::Text { body } => Some(body),
            MessageContent::InteractiveReply { title, .. } => Some(title),
            MessageContent::TemplateButton { text, .. } => Some(text),
            MessageContent::Media { caption, .. } => caption.as_deref(),
            _ => None,
        }
    }
}

/// `text` with runs of whitespace collapsed to one space, cut to `max` characters with an
/// ellipsis.
fn one_line(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        return collapsed;
    }
    let mut line: String = collapsed.chars().take(max.saturating_sub(1)).collect();
    line.push('…');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_one_short_line() {
        let text = MessageContent::Text {
            body: "Hello\n\n  we arrive   tomorrow".to_owned(),
        };
        assert_eq!(text.preview(), "Hello we arrive tomorrow");
        let long = MessageContent::Text {
            body: "word ".repeat(100),
        };
        let preview = long.preview();
        assert_eq!(preview.chars().count(), PREVIEW_MAX_CHARS);
        assert!(preview.ends_with('…'));
        let unbroken = MessageContent::Text {
            body: "x".repeat(500),
        };
        assert_eq!(unbroken.preview().chars().count(), PREVIEW_MAX_CHARS);
        let voice = MessageContent::Media {
            media_kind: MediaKind::Audio,
            media_id: Some("m1".to_owned()),
            url: None,
            mime_type: None,
            caption: None,
            filename: None,
            voice: true,
        };
        assert_eq!(voice.preview(), "[Voice message]");
        let photo = MessageContent::Media {
            media_kind: MediaKind::Image,
            media_id: None,
            url: None,
            mime_type: None,
            caption: Some("Our room".to_owned()),
            filename: None,
            voice: false,
        };
        assert_eq!(photo.preview(), "[Photo] Our room");
    }

    #[test]
    fn delivery_ranks_only_move_forward() {
        use DeliveryStatus::*;
        let order = [Received, Pending, Sent, Delivered, Read, Failed];
        for pair in order.windows(2) {
            assert!(
                pair[0].rank() < pair[1].rank(),
                "{} before {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn content_serialises_with_a_type_tag() {
        let content = MessageContent::Text { body: "Hi".into() };
        let json = serde_json::to_value(&content).unwrap();
        assert_eq!(json, serde_json::json!({"type": "text", "body": "Hi"}));
        let back: MessageContent = serde_json::from_value(json).unwrap();
        assert_eq!(back, content);
    }

    #[test]
    fn statuses_parse_from_their_wire_names() {
        for status in [
            "bot_handling",
            "awaiting_agent",
            "agent_assigned",
            "resolved",
            "expired",
        ] {
            assert_eq!(
                status.parse::<ConversationStatus>().unwrap().as_str(),
                status
            );
        }
        assert!("open".parse::<ConversationStatus>().is_err());
    }
}
