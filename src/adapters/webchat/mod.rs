//! Parley's own web chat: signed visitor tokens and the JSON frames of the visitor socket.
//!
//! A visitor token binds a visitor id to one channel with an HMAC, so a reload continues the
//! same conversation and a guessed visitor id alone grants nothing.

use crate::crypto::{hmac_sha256, verify_hmac_sha256};
use crate::domain::{ChannelId, MessageContent};
use serde::{Deserialize, Serialize};

/// The longest message a visitor may send, in characters.
pub const MESSAGE_MAX_CHARS: usize = 10_000;

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
    Ping,
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
    }
}
