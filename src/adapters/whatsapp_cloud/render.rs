//! Channel-neutral content into the body of a Cloud API send.

use crate::adapters::SendError;
use crate::domain::MessageContent;
use serde_json::{json, Map, Value};

/// WhatsApp's limit on a text body, in characters.
pub const TEXT_MAX_CHARS: usize = 4_096;
/// WhatsApp's limit on a media caption, in characters.
pub const CAPTION_MAX_CHARS: usize = 1_024;

/// The JSON body of `POST /{version}/{phone_number_id}/messages`.
pub fn render(
    recipient: &str,
    content: &MessageContent,
    reply_to: Option<&str>,
) -> Result<Value, SendError> {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient,
    });
    let (kind, object) = match content {
        MessageContent::Text { body } => {
            check_length("text", body, TEXT_MAX_CHARS)?;
            let preview_url = body.contains("http://") || body.contains("https://");
            ("text", json!({"body": body, "preview_url": preview_url}))
        }
        MessageContent::Media {
            media_kind,
            media_id,
            url,
            caption,
            filename,
            voice,
            ..
        } => {
            let mut object = Map::new();
            match (media_id, url) {
                (Some(id), _) => object.insert("id".into(), json!(id)),
                (None, Some(link)) => object.insert("link".into(), json!(link)),
                (None, None) => {
                    return Err(permanent("a media message needs a media id or a link"))
                }
            };
            let kind = media_kind.as_str();
            // Audio and stickers take no caption on WhatsApp.
            if let Some(caption) = caption
                .as_ref()
                .filter(|_| !matches!(kind, "audio" | "sticker"))
            {
                check_length("caption", caption, CAPTION_MAX_CHARS)?;
                object.insert("caption".into(), json!(caption));
            }
            if let Some(filename) = filename.as_ref().filter(|_| kind == "document") {
                object.insert("filename".into(), json!(filename));
            }
            if *voice && kind == "audio" {
                object.insert("voice".into(), json!(true));
            }
            (kind, Value::Object(object))
        }
        MessageContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => {
            let mut object = json!({"latitude": latitude, "longitude": longitude});
            if let Some(name) = name {
                object["name"] = json!(name);
            }
            if let Some(address) = address {
                object["address"] = json!(address);
            }
            ("location", object)
        }
        MessageContent::Reaction {
            target_provider_message_id,
            emoji,
        } => (
            "reaction",
            json!({"message_id": target_provider_message_id, "emoji": emoji.clone().unwrap_or_default()}),
        ),
        other => {
            return Err(permanent(&format!(
                "{} content cannot be sent on WhatsApp",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|value| value.get("type").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| "this".into())
            )))
        }
    };
    body["type"] = json!(kind);
    body[kind] = object;
    if let Some(reply_to) = reply_to {
        body["context"] = json!({"message_id": reply_to});
    }
    Ok(body)
}

fn check_length(field: &str, text: &str, limit: usize) -> Result<(), SendError> {
    let length = text.chars().count();
    if length > limit {
        return Err(permanent(&format!(
            "the {field} has {length} characters; WhatsApp allows {limit}"
        )));
    }
    Ok(())
}

fn permanent(reason: &str) -> SendError {
    SendError::Permanent {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MediaKind;

    #[test]
    fn text_renders_with_a_link_preview_only_when_it_has_a_link() {
        let body = render(
            "16505551234",
            &MessageContent::Text { body: "Hi".into() },
            None,
        )
        .unwrap();
        assert_eq!(
            body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                   "type": "text", "text": {"body": "Hi", "preview_url": false}})
        );
        let linked = render(
            "1",
            &MessageContent::Text {
                body: "see https://x.test".into(),
            },
            Some("wamid.q"),
        )
        .unwrap();
        assert_eq!(linked["text"]["preview_url"], true);
        assert_eq!(linked["context"]["message_id"], "wamid.q");
    }

    #[test]
    fn text_at_the_limit_renders_and_one_more_character_is_refused() {
        assert!(render(
            "1",
            &MessageContent::Text {
                body: "a".repeat(TEXT_MAX_CHARS)
            },
            None
        )
        .is_ok());
        assert!(matches!(
            render(
                "1",
                &MessageContent::Text {
                    body: "a".repeat(TEXT_MAX_CHARS + 1)
                },
                None
            ),
            Err(SendError::Permanent { .. })
        ));
    }

    #[test]
    fn media_renders_by_id_or_link_and_drops_captions_where_whatsapp_has_none() {
        let media = |kind: MediaKind, id: Option<&str>, url: Option<&str>| MessageContent::Media {
            media_kind: kind,
            media_id: id.map(str::to_owned),
            url: url.map(str::to_owned),
            mime_type: None,
            caption: Some("Invoice".into()),
            filename: Some("invoice.pdf".into()),
            voice: true,
        };
        let document = render(
            "1",
            &media(MediaKind::Document, None, Some("https://f.test/i.pdf")),
            None,
        )
        .unwrap();
        assert_eq!(
            document["document"],
            json!({"link": "https://f.test/i.pdf", "caption": "Invoice", "filename": "invoice.pdf"})
        );
        let audio = render("1", &media(MediaKind::Audio, Some("77"), None), None).unwrap();
        assert_eq!(audio["audio"], json!({"id": "77", "voice": true}));
        assert!(render("1", &media(MediaKind::Image, None, None), None).is_err());
    }

    #[test]
    fn inbound_only_content_is_refused() {
        let reply = MessageContent::InteractiveReply {
            reply_id: "a".into(),
            title: "A".into(),
            description: None,
        };
        assert!(matches!(
            render("1", &reply, None),
            Err(SendError::Permanent { .. })
        ));
    }
}
