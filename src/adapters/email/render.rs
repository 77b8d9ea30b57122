//! Channel-neutral content as an email body: a plain-text part and an HTML part.
//!
//! Email has no buttons that talk back, so a choice becomes a link that opens a reply to the
//! channel's inbound address with the choice's title as its body: the reply comes back like
//! any other, threaded to the conversation, and the journey matches the title as it matches
//! a typed answer. In the plain-text part the same choices are listed to be typed.

use crate::adapters::SendError;
use crate::domain::{ChoiceItem, Header, MessageContent};

/// The two alternative bodies of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub text: String,
    pub html: String,
}

/// Where a reply goes and what it is about: the target of the choice links.
pub struct ReplyTarget<'a> {
    pub address: &'a str,
    pub subject: &'a str,
}

/// Whether the content is a file Parley keeps, sent as an attachment rather than a link.
pub fn content_has_kept_file(content: &MessageContent) -> bool {
    matches!(
        content,
        MessageContent::Media {
            media_id: Some(_),
            url: None,
            ..
        }
    )
}

/// Renders content for email. Templates are WhatsApp's alone and are refused.
pub fn render(content: &MessageContent, reply: &ReplyTarget<'_>) -> Result<Body, SendError> {
    let mut page = Page::default();
    match content {
        MessageContent::Text { body } | MessageContent::System { body } => page.paragraph(body),
        MessageContent::Media {
            url,
            caption,
            filename,
            media_kind,
            ..
        } => {
            if let Some(caption) = caption {
                page.paragraph(caption);
            }
            match url {
                Some(url) => {
                    let label = filename
                        .clone()
                        .unwrap_or_else(|| format!("Open the {media_kind}"));
                    page.link(&label, url);
                }
                // A file Parley keeps goes as an attachment of the mail (`actors::email`).
                None if content_has_kept_file(content) => {
                    let name = filename.as_deref().unwrap_or("file");
                    page.paragraph(&format!("Attached: {name}"));
                }
                None => {
                    return Err(SendError::Permanent {
                        reason: "email sends media as a link, and this media has no URL".into(),
                    })
                }
            }
        }
        MessageContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => {
            let label = [name.as_deref(), address.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let label = if label.is_empty() {
                "Open the map".to_owned()
            } else {
                label
            };
            page.link(
                &label,
                &format!("https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}"),
            );
        }
        MessageContent::Choices {
            header,
            body,
            footer,
            choices,
            ..
        } => {
            page.header(header.as_ref());
            page.paragraph(body);
            page.choices(choices.iter(), reply);
            page.footer(footer.as_deref());
        }
        MessageContent::List {
            header,
            body,
            footer,
            sections,
            ..
        } => {
            if let Some(header) = header {
                page.heading(header);
            }
            page.paragraph(body);
            for section in sections {
                if let Some(title) = &section.title {
                    page.heading(title);
                }
                page.choices(section.rows.iter(), reply);
            }
            page.footer(footer.as_deref());
        }
        MessageContent::CtaUrl {
            header,
            body,
            footer,
            button_text,
            url,
        } => {
            page.header(header.as_ref());
            page.paragraph(body);
            page.button(button_text, url);
            page.footer(footer.as_deref());
        }
        MessageContent::InteractiveReply { title, .. } => page.paragraph(title),
        MessageContent::TemplateButton { text, .. } => page.paragraph(text),
        MessageContent::Template { name, .. } => {
            return Err(SendError::Permanent {
                reason: format!("the WhatsApp template `{name}` cannot be sent by email"),
            })
        }
        MessageContent::Reaction { .. }
        | MessageContent::Contacts { .. }
        | MessageContent::Unsupported { .. } => {
            return Err(SendError::Permanent {
                reason: "this kind of message cannot be sent by email".into(),
            })
        }
    }
    Ok(page.finish())
}

#[derive(Default)]
struct Page {
    text: Vec<String>,
    html: Vec<String>,
}

impl Page {
    fn paragraph(&mut self, body: &str) {
        self.text.push(body.to_owned());
        let lines: Vec<String> = body.lines().map(escape).collect();
        self.html.push(format!("<p>{}</p>", lines.join("<br>\n")));
    }

    fn heading(&mut self, title: &str) {
        self.text.push(title.to_owned());
        self.html
            .push(format!("<p><strong>{}</strong></p>", escape(title)));
    }

    fn header(&mut self, header: Option<&Header>) {
        match header {
            Some(Header::Text { text }) => self.heading(text),
            Some(Header::Image { url }) => {
                self.text.push(url.clone());
                self.html.push(format!(
                    "<p><img src=\"{}\" alt=\"\" style=\"max-width:100%\"></p>",
                    escape(url)
                ));
            }
            Some(Header::Video { url } | Header::Document { url }) => self.link(url, url),
            None => {}
        }
    }

    fn footer(&mut self, footer: Option<&str>) {
        if let Some(footer) = footer {
            self.text.push(footer.to_owned());
            self.html.push(format!(
                "<p style=\"color:#6b7280;font-size:12px\">{}</p>",
                escape(footer)
            ));
        }
    }

    fn link(&mut self, label: &str, url: &str) {
        self.text.push(format!("{label}: {url}"));
        self.html.push(format!(
            "<p><a href=\"{}\">{}</a></p>",
            escape(url),
            escape(label)
        ));
    }

    fn button(&mut self, label: &str, url: &str) {
        self.text.push(format!("{label}: {url}"));
        self.html
            .push(format!("<p>{}</p>", button_html(label, url)));
    }

    fn choices<'a>(
        &mut self,
        choices: impl Iterator<Item = &'a ChoiceItem>,
        reply: &ReplyTarget<'_>,
    ) {
        let mut text = vec!["Reply with one of:".to_owned()];
        let mut html = Vec::new();
        for choice in choices {
            let line = match &choice.description {
                Some(description) => format!("- {} ({description})", choice.title),
                None => format!("- {}", choice.title),
            };
            text.push(line);
            html.push(button_html(&choice.title, &mailto(reply, &choice.title)));
        }
        self.text.push(text.join("\n"));
        self.html.push(format!("<p>{}</p>", html.join(" ")));
    }

    fn finish(self) -> Body {
        Body {
            text: self.text.join("\n\n"),
            html: format!(
                "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif;font-size:15px;line-height:1.5\">\n{}\n</body></html>",
                self.html.join("\n")
            ),
        }
    }
}

fn button_html(label: &str, url: &str) -> String {
    format!(
        "<a href=\"{}\" style=\"display:inline-block;padding:8px 16px;margin:4px 4px 4px 0;border-radius:6px;background:#2563eb;color:#ffffff;text-decoration:none\">{}</a>",
        escape(url),
        escape(label)
    )
}

/// A `mailto:` link that opens a reply carrying `body` (RFC 6068, percent-encoded).
fn mailto(reply: &ReplyTarget<'_>, body: &str) -> String {
    let encode = |text: &str| -> String {
        url::form_urlencoded::byte_serialize(text.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!(
        "mailto:{}?subject={}&body={}",
        reply.address,
        encode(reply.subject),
        encode(body)
    )
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChoiceStyle;

    const REPLY: ReplyTarget<'static> = ReplyTarget {
        address: "in@parley.test",
        subject: "Re: Booking",
    };

    #[test]
    fn text_is_escaped_in_html_and_kept_in_plain_text() {
        let body = render(
            &MessageContent::Text {
                body: "Tom & <Jerry>\nline two".into(),
            },
            &REPLY,
        )
        .unwrap();
        assert_eq!(body.text, "Tom & <Jerry>\nline two");
        assert!(
            body.html
                .contains("<p>Tom &amp; &lt;Jerry&gt;<br>\nline two</p>"),
            "{}",
            body.html
        );
    }

    #[test]
    fn choices_become_reply_links_carrying_their_title() {
        let content = MessageContent::Choices {
            style: ChoiceStyle::Buttons,
            header: None,
            body: "Which room?".into(),
            footer: None,
            choices: vec![
                ChoiceItem {
                    id: "sea".into(),
                    title: "Sea view".into(),
                    description: None,
                },
                ChoiceItem {
                    id: "garden".into(),
                    title: "Garden".into(),
                    description: None,
                },
            ],
        };
        let body = render(&content, &REPLY).unwrap();
        assert!(
            body.text
                .contains("Reply with one of:\n- Sea view\n- Garden"),
            "{}",
            body.text
        );
        assert!(
            body.html.contains(
                "href=\"mailto:in@parley.test?subject=Re%3A%20Booking&amp;body=Sea%20view\""
            ),
            "{}",
            body.html
        );
    }

    #[test]
    fn a_url_button_is_a_styled_link_and_templates_are_refused() {
        let content = MessageContent::CtaUrl {
            header: None,
            body: "Your booking".into(),
            footer: Some("Lodge".into()),
            button_text: "See it".into(),
            url: "https://example.com/b?x=1&y=2".into(),
        };
        let body = render(&content, &REPLY).unwrap();
        assert!(
            body.html
                .contains("<a href=\"https://example.com/b?x=1&amp;y=2\" style="),
            "{}",
            body.html
        );
        assert!(body.text.contains("See it: https://example.com/b?x=1&y=2"));
        let template = MessageContent::Template {
            name: "hello".into(),
            language: "en".into(),
            parameters: vec![],
            parameter_names: vec![],
            header: None,
            buttons: vec![],
        };
        assert!(matches!(
            render(&template, &REPLY),
            Err(SendError::Permanent { .. })
        ));
    }

    #[test]
    fn lists_locations_and_media_links_render_and_media_without_a_link_is_refused() {
        let list = MessageContent::List {
            header: Some("Rooms".into()),
            body: "Pick one".into(),
            footer: None,
            button: "See rooms".into(),
            sections: vec![crate::domain::ListSection {
                title: Some("Upstairs".into()),
                rows: vec![ChoiceItem {
                    id: "r1".into(),
                    title: "Loft".into(),
                    description: Some("2 beds".into()),
                }],
            }],
        };
        let body = render(&list, &REPLY).unwrap();
        assert!(
            body.text
                .contains("Upstairs\n\nReply with one of:\n- Loft (2 beds)"),
            "{}",
            body.text
        );
        assert!(body.html.contains("body=Loft\""), "{}", body.html);
        let location = MessageContent::Location {
            latitude: 38.7,
            longitude: -9.1,
            name: Some("Lodge".into()),
            address: None,
        };
        assert!(render(&location, &REPLY)
            .unwrap()
            .text
            .contains("Lodge: https://www.openstreetmap.org/?mlat=38.7&mlon=-9.1"));
        let media = |url: Option<&str>| MessageContent::Media {
            media_kind: crate::domain::MediaKind::Image,
            media_id: None,
            url: url.map(str::to_owned),
            mime_type: None,
            caption: Some("The view".into()),
            filename: None,
            voice: false,
        };
        let body = render(&media(Some("https://example.com/v.jpg")), &REPLY).unwrap();
        assert_eq!(
            body.text,
            "The view\n\nOpen the image: https://example.com/v.jpg"
        );
        assert!(matches!(
            render(&media(None), &REPLY),
            Err(SendError::Permanent { .. })
        ));
    }
}
