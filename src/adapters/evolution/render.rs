//! Channel-neutral content into a send of the provider: `sendText`, `sendMedia` or
//! `sendLocation`, addressed to a person's digits or a group's JID. Buttons and lists are not
//! reliable on unofficial engines, so they go as numbered text, with headers and footers as
//! lines; a call to action goes as its text and link.

use crate::adapters::messenger::render::numbered_list;
use crate::adapters::SendError;
use crate::domain::{Header, ListSection, MediaKind, MessageContent};
use serde_json::{json, Value};

/// One send: the endpoint under `/message/` and its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Outbound {
    pub endpoint: &'static str,
    pub body: Value,
}

fn permanent(reason: &str) -> SendError {
    SendError::Permanent {
        reason: reason.to_owned(),
    }
}

fn lines(parts: [Option<&str>; 3]) -> String {
    parts
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn text(number: &str, body: &str, quoted: Option<&str>) -> Result<Outbound, SendError> {
    if body.trim().is_empty() {
        return Err(permanent("the message is empty"));
    }
    let mut body =
        json!({"number": number, "text": body, "linkPreview": body.contains("https://")});
    if let Some(id) = quoted {
        body["quoted"] = json!({"key": {"id": id}});
    }
    Ok(Outbound {
        endpoint: "sendText",
        body,
    })
}

/// The send of `content` to `number` (digits, or a group's JID), quoting `quoted` if given.
pub fn render(
    number: &str,
    content: &MessageContent,
    quoted: Option<&str>,
) -> Result<Outbound, SendError> {
    match content {
        MessageContent::Text { body } => text(number, body, quoted),
        MessageContent::Media {
            media_kind,
            url,
            mime_type,
            caption,
            filename,
            ..
        } => {
            let Some(url) = url
                .as_deref()
                .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
            else {
                return Err(permanent(
                    "unofficial WhatsApp sends media by public link, and this media has none",
                ));
            };
            let mediatype = match media_kind {
                MediaKind::Image | MediaKind::Sticker => "image",
                MediaKind::Video => "video",
                MediaKind::Audio => "audio",
                MediaKind::Document => "document",
            };
            let mut body = json!({"number": number, "mediatype": mediatype, "media": url});
            if let Some(mime_type) = mime_type {
                body["mimetype"] = json!(mime_type);
            }
            if let Some(caption) = caption.as_deref().filter(|caption| !caption.is_empty()) {
                body["caption"] = json!(caption);
            }
            if let Some(filename) = filename {
                body["fileName"] = json!(filename);
            }
            Ok(Outbound {
                endpoint: "sendMedia",
                body,
            })
        }
        MessageContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => Ok(Outbound {
            endpoint: "sendLocation",
            body: json!({"number": number, "latitude": latitude, "longitude": longitude,
                         "name": name.clone().unwrap_or_default(),
                         "address": address.clone().unwrap_or_default()}),
        }),
        MessageContent::Choices {
            header,
            body,
            footer,
            choices,
            ..
        } => {
            let header = match header {
                Some(Header::Text { text }) => Some(text.as_str()),
                _ => None,
            };
            let listed = numbered_list(
                body,
                &[ListSection {
                    title: None,
                    rows: choices.clone(),
                }],
            )?;
            text(
                number,
                &lines([header, Some(&listed), footer.as_deref()]),
                quoted,
            )
        }
        MessageContent::List {
            header,
            body,
            footer,
            sections,
            ..
        } => {
            let listed = numbered_list(body, sections)?;
            text(
                number,
                &lines([header.as_deref(), Some(&listed), footer.as_deref()]),
                quoted,
            )
        }
        MessageContent::CtaUrl {
            body,
            button_text,
            url,
            footer,
            ..
        } => text(
            number,
            &lines([
                Some(body.as_str()),
                Some(&format!("{button_text}: {url}")),
                footer.as_deref(),
            ]),
            quoted,
        ),
        MessageContent::Reaction {
            target_provider_message_id,
            emoji,
        } => Ok(Outbound {
            endpoint: "sendReaction",
            body: json!({"key": {"remoteJid": if number.contains('@') { number.to_owned() } else { format!("{number}@s.whatsapp.net") },
                                 "fromMe": false, "id": target_provider_message_id},
                         "reaction": emoji.clone().unwrap_or_default()}),
        }),
        MessageContent::Template { .. } => Err(permanent(
            "unofficial WhatsApp has no templates; send the text itself",
        )),
        MessageContent::InteractiveReply { .. }
        | MessageContent::TemplateButton { .. }
        | MessageContent::Contacts { .. }
        | MessageContent::Unsupported { .. }
        | MessageContent::System { .. } => Err(permanent(
            "this content is only ever received or shown, never sent",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChoiceItem, ChoiceStyle};

    #[test]
    fn each_kind_goes_to_its_endpoint() {
        let plain = render(
            "5511999998888",
            &MessageContent::Text {
                body: "Olá".into()
            },
            Some("3EB0"),
        )
        .unwrap();
        assert_eq!(
            plain,
            Outbound {
                endpoint: "sendText",
                body: json!({"number": "5511999998888", "text": "Olá", "linkPreview": false, "quoted": {"key": {"id": "3EB0"}}})
            }
        );
        let media = MessageContent::Media {
            media_kind: MediaKind::Document,
            media_id: None,
            url: Some("https://cdn.example/menu.pdf".into()),
            mime_type: Some("application/pdf".into()),
            caption: Some("Our menu".into()),
            filename: Some("menu.pdf".into()),
            voice: false,
        };
        assert_eq!(
            render("120363012345678901@g.us", &media, None).unwrap(),
            Outbound {
                endpoint: "sendMedia",
                body: json!({"number": "120363012345678901@g.us", "mediatype": "document", "media": "https://cdn.example/menu.pdf",
                             "mimetype": "application/pdf", "caption": "Our menu", "fileName": "menu.pdf"})
            }
        );
        let place = MessageContent::Location {
            latitude: 1.5,
            longitude: 2.5,
            name: Some("Villa".into()),
            address: None,
        };
        assert_eq!(render("55", &place, None).unwrap().endpoint, "sendLocation");
        let choices = MessageContent::Choices {
            style: ChoiceStyle::Buttons,
            header: None,
            body: "Breakfast?".into(),
            footer: None,
            choices: vec![ChoiceItem {
                id: "y".into(),
                title: "Yes".into(),
                description: None,
            }],
        };
        assert_eq!(
            render("55", &choices, None).unwrap().body["text"],
            "Breakfast?\n\n1. Yes\n\nReply with the number of your choice."
        );
        assert!(render("55", &MessageContent::Text { body: " ".into() }, None).is_err());
    }
}
