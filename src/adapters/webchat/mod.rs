//! Parley's own web chat: signed visitor tokens and the JSON frames of the visitor socket.
//!
//! A visitor token binds a visitor id to one channel with an HMAC, so a reload continues the
//! same conversation and a guessed visitor id alone grants nothing.
//!
//! Business messages reach the browser as their [`MessageContent`] JSON, unchanged: the page
//! renders every content type itself (choices, lists, CTA URLs, media, locations, templates).
//! What a visitor sends is parsed here into content, or refused with an error frame's code.

use crate::crypto::{hmac_sha256, verify_hmac_sha256};
use crate::domain::{ChannelId, MediaKind, MessageContent};
use serde::{Deserialize, Serialize};

/// The longest message a visitor may send, in characters.
pub const MESSAGE_MAX_CHARS: usize = 10_000;
/// The longest reply id a visitor may send back, in characters: WhatsApp's limit on a
/// button id, the longest id a choice can have.
pub const REPLY_ID_MAX_CHARS: usize = 256;
/// The longest title of a tapped choice, in characters.
pub const REPLY_TITLE_MAX_CHARS: usize = 1_024;

pub fn sign_visitor(key: &[u8; 32], channel_id: ChannelId, visitor_id: &str) -> String {
    let tag = hmac_sha256(key, format!("{channel_id}:{visitor_id}").as_bytes());
    format!("v1.{visitor_id}.{}", hex::encode(tag))
}

/// The visitor id a token stands for, if it was signed for this channel.
pub fn verify_visitor(key: &[u8; 32], channel_id: ChannelId, token: &str) -> Option<String> {
    let rest = token.strip_prefix("v1.")?;
    let (visitor_id, tag_hex) = rest.rsplit_once('.')?;
    let tag = hex::decode(tag_hex).ok()?;
    verify_hmac_sha256(key, format!("{channel_id}:{visitor_id}").as_bytes(), &tag)
        .then(|| visitor_id.to_owned())
}

/// Frames the visitor sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VisitorFrame {
    /// A message; `client_id` makes a resend after a reconnect idempotent.
    Message {
        #[serde(default)]
        client_id: Option<String>,
        text: String,
    },
    /// A tap on a choice or list row of a business message; `reply_id` is the choice's id.
    Reply {
        #[serde(default)]
        client_id: Option<String>,
        reply_id: String,
        title: String,
    },
    Ping,
    /// The visitor is typing; the team's consoles show it.
    Typing,
}

/// Why a visitor frame was refused, as the `error` frame tells the visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRefusal {
    pub code: &'static str,
    pub message: &'static str,
}

/// The content of a `message` frame: its text without surrounding whitespace.
pub fn message_content(text: &str) -> Result<MessageContent, FrameRefusal> {
    let text = text.trim();
    if text.is_empty() {
        return Err(FrameRefusal {
            code: "empty_message",
            message: "write something before sending",
        });
    }
    if text.chars().count() > MESSAGE_MAX_CHARS {
        return Err(FrameRefusal {
            code: "message_too_long",
            message: "messages are limited to 10,000 characters",
        });
    }
    Ok(MessageContent::Text { body: text.into() })
}

/// The content of a `reply` frame. The reply id is kept exactly as sent, because the bot
/// matches it against the ids of its choices; the title is trimmed like a message.
pub fn reply_content(reply_id: &str, title: &str) -> Result<MessageContent, FrameRefusal> {
    let title = title.trim();
    if reply_id.trim().is_empty() || title.is_empty() {
        return Err(FrameRefusal {
            code: "empty_reply",
            message: "a reply needs the reply_id and the title of the choice tapped",
        });
    }
    if reply_id.chars().count() > REPLY_ID_MAX_CHARS
        || title.chars().count() > REPLY_TITLE_MAX_CHARS
    {
        return Err(FrameRefusal {
            code: "reply_too_long",
            message: "reply ids are limited to 256 characters and titles to 1,024",
        });
    }
    Ok(MessageContent::InteractiveReply {
        reply_id: reply_id.into(),
        title: title.into(),
        description: None,
    })
}

/// The largest file a visitor or the team may exchange on the web chat.
pub const FILE_MAX_BYTES: usize = 10 * 1024 * 1024;

/// What kind of media a file of this type is on the web chat, or `None` for a type it does
/// not take. Only types a browser shows or downloads without running anything are taken:
/// no HTML, SVG or scripts, since the files are served back from Parley's own origin.
pub fn file_kind(mime_type: &str) -> Option<MediaKind> {
    let mime_type = mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Some(match mime_type.as_str() {
        "image/jpeg" | "image/png" | "image/gif" | "image/webp" => MediaKind::Image,
        "video/mp4" | "video/webm" | "video/quicktime" => MediaKind::Video,
        "audio/mpeg" | "audio/mp4" | "audio/aac" | "audio/ogg" | "audio/wav" | "audio/webm" => {
            MediaKind::Audio
        }
        "application/pdf"
        | "text/plain"
        | "text/csv"
        | "application/zip"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            MediaKind::Document
        }
        _ => return None,
    })
}

/// The id a visitor's upload is kept under. With the page's `client_id`, a resent upload
/// gets the same id (and the same message), so a retry after a dropped answer stores it once.
pub fn upload_id(channel_id: ChannelId, visitor_id: &str, client_id: Option<&str>) -> String {
    match client_id {
        Some(client_id) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(format!("{channel_id}:{visitor_id}:{client_id}"));
            hex::encode(&digest[..16])
        }
        None => uuid::Uuid::new_v4().simple().to_string(),
    }
}

/// Frames the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    Ready {
        visitor_id: &'a str,
        visitor_token: &'a str,
    },
    /// The conversation so far, oldest first, sent after `ready` on every (re)connect.
    History {
        messages: Vec<WebchatMessage>,
    },
    Message {
        message: WebchatMessage,
    },
    Ack {
        client_id: &'a str,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
    Pong,
    /// A team member is typing an answer (shown for a few seconds, or until the message).
    Typing,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebchatMessage {
    pub id: String,
    /// `visitor` or `business`.
    pub from: &'static str,
    pub content: MessageContent,
    pub at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_for_its_own_channel_only() {
        let key = [3u8; 32];
        let channel = ChannelId::new();
        let token = sign_visitor(&key, channel, "visitor-1");
        assert_eq!(
            verify_visitor(&key, channel, &token).as_deref(),
            Some("visitor-1")
        );
        assert_eq!(verify_visitor(&key, ChannelId::new(), &token), None);
        assert_eq!(verify_visitor(&[4u8; 32], channel, &token), None);
    }

    #[test]
    fn forged_tokens_are_refused() {
        let key = [3u8; 32];
        let channel = ChannelId::new();
        let token = sign_visitor(&key, channel, "visitor-1");
        let forged = token.replace("visitor-1", "visitor-2");
        for bad in [forged.as_str(), "v1.visitor-1", "garbage", "v1.a.zz"] {
            assert_eq!(verify_visitor(&key, channel, bad), None, "{bad}");
        }
    }

    #[test]
    fn visitor_frames_parse() {
        let frame: VisitorFrame =
            serde_json::from_str(r#"{"type":"message","text":"hi","client_id":"c1"}"#).unwrap();
        assert!(matches!(
            frame,
            VisitorFrame::Message {
                client_id: Some(_),
                ..
            }
        ));
        assert!(serde_json::from_str::<VisitorFrame>(r#"{"type":"shout"}"#).is_err());
        let reply: VisitorFrame = serde_json::from_str(
            r#"{"type":"reply","client_id":"c2","reply_id":"track","title":"Track parcel"}"#,
        )
        .unwrap();
        assert!(matches!(
            reply,
            VisitorFrame::Reply { client_id: Some(client_id), reply_id, title }
                if client_id == "c2" && reply_id == "track" && title == "Track parcel"
        ));
        assert!(
            serde_json::from_str::<VisitorFrame>(r#"{"type":"reply","title":"Track"}"#).is_err(),
            "a reply without its id is malformed"
        );
    }

    #[test]
    fn a_message_is_trimmed_and_must_say_something_within_the_limit() {
        assert_eq!(
            message_content("  hi \n"),
            Ok(MessageContent::Text { body: "hi".into() })
        );
        assert_eq!(message_content(" \n").unwrap_err().code, "empty_message");
        assert!(message_content(&"a".repeat(MESSAGE_MAX_CHARS)).is_ok());
        assert_eq!(
            message_content(&"a".repeat(MESSAGE_MAX_CHARS + 1))
                .unwrap_err()
                .code,
            "message_too_long"
        );
    }

    #[test]
    fn a_reply_becomes_an_interactive_reply_with_its_id_kept_exactly() {
        assert_eq!(
            reply_content("track", " Track parcel "),
            Ok(MessageContent::InteractiveReply {
                reply_id: "track".into(),
                title: "Track parcel".into(),
                description: None,
            })
        );
        let at_limit = reply_content(
            &"i".repeat(REPLY_ID_MAX_CHARS),
            &"t".repeat(REPLY_TITLE_MAX_CHARS),
        );
        assert!(at_limit.is_ok());
    }

    #[test]
    fn replies_that_are_empty_or_too_long_are_refused() {
        let cases = [
            ("", "Track", "empty_reply", "no reply id"),
            ("  ", "Track", "empty_reply", "a blank reply id"),
            ("track", " ", "empty_reply", "a blank title"),
            (
                &*"i".repeat(REPLY_ID_MAX_CHARS + 1),
                "Track",
                "reply_too_long",
                "a long id",
            ),
            (
                "track",
                &*"t".repeat(REPLY_TITLE_MAX_CHARS + 1),
                "reply_too_long",
                "a long title",
            ),
        ];
        for (reply_id, title, code, case) in cases {
            assert_eq!(
                reply_content(reply_id, title).unwrap_err().code,
                code,
                "{case}"
            );
        }
    }

    #[test]
    fn files_a_browser_could_run_are_not_taken() {
        assert_eq!(file_kind("image/png"), Some(MediaKind::Image));
        assert_eq!(
            file_kind("Application/PDF; name=x"),
            Some(MediaKind::Document)
        );
        assert_eq!(file_kind("audio/ogg"), Some(MediaKind::Audio));
        assert_eq!(file_kind("video/webm"), Some(MediaKind::Video));
        for refused in [
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "",
            "x",
        ] {
            assert_eq!(file_kind(refused), None, "{refused}");
        }
    }

    #[test]
    fn a_resent_upload_keeps_its_id() {
        let channel = ChannelId::new();
        let first = upload_id(channel, "v1", Some("c1"));
        assert_eq!(first, upload_id(channel, "v1", Some("c1")));
        assert_eq!(first.len(), 32);
        assert_ne!(first, upload_id(channel, "v2", Some("c1")));
        assert_ne!(first, upload_id(channel, "v1", Some("c2")));
        assert_ne!(
            upload_id(channel, "v1", None),
            upload_id(channel, "v1", None)
        );
    }

    #[test]
    fn business_content_reaches_the_browser_as_its_json() {
        let content = MessageContent::Choices {
            style: crate::domain::ChoiceStyle::QuickReplies,
            header: Some(crate::domain::Header::Image {
                url: "https://cdn.test/room.jpg".into(),
            }),
            body: "Which room?".into(),
            footer: None,
            choices: vec![crate::domain::ChoiceItem {
                id: "double".into(),
                title: "Double".into(),
                description: Some("Two guests".into()),
            }],
        };
        let frame = ServerFrame::Message {
            message: WebchatMessage {
                id: "m1".into(),
                from: "business",
                content,
                at: 1_780_000_000_000,
            },
        };
        assert_eq!(
            serde_json::to_value(&frame).unwrap(),
            serde_json::json!({"type": "message", "message": {
                "id": "m1", "from": "business", "at": 1_780_000_000_000_i64,
                "content": {
                    "type": "choices", "style": "quick_replies",
                    "header": {"type": "image", "url": "https://cdn.test/room.jpg"},
                    "body": "Which room?",
                    "choices": [{"id": "double", "title": "Double", "description": "Two guests"}],
                },
            }})
        );
    }
}
