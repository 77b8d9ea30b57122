//! Channel-neutral content into the form parameters of a Messages API call (`Body`,
//! `MediaUrl`, or `ContentSid` and `ContentVariables`); the client adds `To`, `From` and
//! `StatusCallback`.
//!
//! Twilio sends no buttons outside its Content API templates, so choices and lists become
//! numbered text the guest answers by typing the number or the label; a call to action
//! becomes its text and link; a location becomes its name, address and a map link. Media go
//! by public link (with the text as caption). A WhatsApp template is sent by its Content SID
//! (`HX…`) with its variables; SMS has no templates. A body over 1,600 characters is refused,
//! as Twilio would refuse it (21617).

use super::segments::SMS_MAX_CHARS;
use super::Flavor;
use crate::adapters::messenger::render::{location_text, numbered_list};
use crate::adapters::SendError;
use crate::domain::{Header, ListSection, MessageContent};

fn permanent(reason: &str) -> SendError {
    SendError::Permanent {
        reason: reason.to_owned(),
    }
}

fn body(text: String) -> Result<Vec<(String, String)>, SendError> {
    let length = text.chars().count();
    if text.trim().is_empty() {
        return Err(permanent("the message is empty"));
    }
    if length > SMS_MAX_CHARS {
        return Err(permanent(&format!(
            "the text has {length} characters; Twilio takes at most {SMS_MAX_CHARS} in one message"
        )));
    }
    Ok(vec![("Body".to_owned(), text)])
}

/// A header and footer around a body, as lines of text.
fn framed(header: Option<&str>, text: &str, footer: Option<&str>) -> String {
    [header, Some(text), footer]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn header_text(header: Option<&Header>) -> Option<&str> {
    match header {
        Some(Header::Text { text }) => Some(text),
        _ => None,
    }
}

/// The form parameters of `content` for a Twilio channel of `flavor`.
pub fn render(
    flavor: Flavor,
    content: &MessageContent,
) -> Result<Vec<(String, String)>, SendError> {
    match content {
        MessageContent::Text { body: text } => body(text.clone()),
        MessageContent::Media { url, caption, .. } => {
            let Some(url) = url
                .as_deref()
                .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
            else {
                return Err(permanent(
                    "Twilio sends media by public link, and this media has none",
                ));
            };
            let mut params = vec![("MediaUrl".to_owned(), url.to_owned())];
            if let Some(caption) = caption
                .as_deref()
                .filter(|caption| !caption.trim().is_empty())
            {
                params.extend(body(caption.to_owned())?);
            }
            Ok(params)
        }
        MessageContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => body(location_text(
            *latitude,
            *longitude,
            name.as_deref(),
            address.as_deref(),
        )),
        MessageContent::Choices {
            header,
            body: text,
            footer,
            choices,
            ..
        } => {
            if choices.is_empty() {
                return Err(permanent("the message has no choices; it needs at least 1"));
            }
            let listed = numbered_list(
                text,
                &[ListSection {
                    title: None,
                    rows: choices.clone(),
                }],
            )?;
            body(framed(
                header_text(header.as_ref()),
                &listed,
                footer.as_deref(),
            ))
        }
        MessageContent::List {
            header,
            body: text,
            footer,
            sections,
            ..
        } => {
            let listed = numbered_list(text, sections)?;
            body(framed(header.as_deref(), &listed, footer.as_deref()))
        }
        MessageContent::CtaUrl {
            header,
            body: text,
            footer,
            button_text,
            url,
        } => body(framed(
            header_text(header.as_ref()),
            &format!("{}\n\n{button_text}: {url}", text.trim_end()),
            footer.as_deref(),
        )),
        MessageContent::Template {
            name,
            parameters,
            parameter_names,
            ..
        } => {
            if flavor == Flavor::Sms {
                return Err(permanent("SMS has no templates; send the text itself"));
            }
            if !super::is_sid(name, "HX") {
                return Err(permanent(&format!(
                    "through Twilio a WhatsApp template is sent by its Content SID (HX…), not `{name}`"
                )));
            }
            let mut params = vec![("ContentSid".to_owned(), name.clone())];
            if !parameters.is_empty() {
                let variables: serde_json::Map<String, serde_json::Value> = parameters
                    .iter()
                    .enumerate()
                    .map(|(index, value)| {
                        let key = parameter_names
                            .get(index)
                            .cloned()
                            .unwrap_or_else(|| (index + 1).to_string());
                        (key, serde_json::Value::String(value.clone()))
                    })
                    .collect();
                params.push((
                    "ContentVariables".to_owned(),
                    serde_json::Value::Object(variables).to_string(),
                ));
            }
            Ok(params)
        }
        MessageContent::Reaction { .. } => Err(permanent("Twilio cannot send reactions")),
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
    use crate::domain::{ChoiceItem, ChoiceStyle, MediaKind};

    fn pairs(params: &[(String, String)]) -> Vec<(&str, &str)> {
        params
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    fn item(id: &str, title: &str) -> ChoiceItem {
        ChoiceItem {
            id: id.into(),
            title: title.into(),
            description: None,
        }
    }

    #[test]
    fn text_media_and_locations_render_as_twilio_takes_them() {
        let text = render(Flavor::Sms, &MessageContent::Text { body: "Hi".into() }).unwrap();
        assert_eq!(pairs(&text), [("Body", "Hi")]);
        let media = MessageContent::Media {
            media_kind: MediaKind::Image,
            media_id: None,
            url: Some("https://cdn.example/room.jpg".into()),
            mime_type: None,
            caption: Some("Your room".into()),
            filename: None,
            voice: false,
        };
        assert_eq!(
            pairs(&render(Flavor::Whatsapp, &media).unwrap()),
            [
                ("MediaUrl", "https://cdn.example/room.jpg"),
                ("Body", "Your room")
            ]
        );
        let by_id = MessageContent::Media {
            media_kind: MediaKind::Image,
            media_id: Some("1013".into()),
            url: None,
            mime_type: None,
            caption: None,
            filename: None,
            voice: false,
        };
        assert!(matches!(
            render(Flavor::Whatsapp, &by_id),
            Err(SendError::Permanent { .. })
        ));
        let place = MessageContent::Location {
            latitude: 38.7,
            longitude: -9.1,
            name: Some("Villa Serena".into()),
            address: None,
        };
        assert_eq!(
            pairs(&render(Flavor::Whatsapp, &place).unwrap()),
            [("Body", "Villa Serena\nhttps://maps.google.com/?q=38.7,-9.1")]
        );
    }

    #[test]
    fn choices_become_numbered_text_with_header_and_footer() {
        let choices = MessageContent::Choices {
            style: ChoiceStyle::Buttons,
            header: Some(Header::Text {
                text: "Villa Serena".into(),
            }),
            body: "When do you arrive?".into(),
            footer: Some("Reply any time".into()),
            choices: vec![item("am", "Morning"), item("pm", "Evening")],
        };
        assert_eq!(
            pairs(&render(Flavor::Sms, &choices).unwrap()),
            [(
                "Body",
                "Villa Serena\n\nWhen do you arrive?\n\n1. Morning\n2. Evening\n\nReply with the number of your choice.\n\nReply any time"
            )]
        );
        let cta = MessageContent::CtaUrl {
            header: None,
            body: "Manage your booking".into(),
            footer: None,
            button_text: "Open".into(),
            url: "https://villa.example/b/1".into(),
        };
        assert_eq!(
            pairs(&render(Flavor::Whatsapp, &cta).unwrap()),
            [(
                "Body",
                "Manage your booking\n\nOpen: https://villa.example/b/1"
            )]
        );
    }

    #[test]
    fn templates_go_by_content_sid_with_their_variables() {
        let template = MessageContent::Template {
            name: "HXb5b62575e6e4ff6129ad7c8efe1f983e".into(),
            language: "en".into(),
            parameters: vec!["Ana".into(), "12".into()],
            parameter_names: vec![],
            header: None,
            buttons: vec![],
        };
        assert_eq!(
            pairs(&render(Flavor::Whatsapp, &template).unwrap()),
            [
                ("ContentSid", "HXb5b62575e6e4ff6129ad7c8efe1f983e"),
                ("ContentVariables", r#"{"1":"Ana","2":"12"}"#)
            ]
        );
        assert!(render(Flavor::Sms, &template).is_err());
        let named = MessageContent::Template {
            name: "booking_confirmed".into(),
            language: "en".into(),
            parameters: vec![],
            parameter_names: vec![],
            header: None,
            buttons: vec![],
        };
        assert_eq!(
            render(Flavor::Whatsapp, &named).unwrap_err(),
            permanent("through Twilio a WhatsApp template is sent by its Content SID (HX…), not `booking_confirmed`")
        );
    }

    #[test]
    fn a_body_over_twilios_cap_is_refused() {
        let long = MessageContent::Text {
            body: "a".repeat(1_601),
        };
        assert_eq!(
            render(Flavor::Sms, &long).unwrap_err(),
            permanent("the text has 1601 characters; Twilio takes at most 1600 in one message")
        );
    }
}
