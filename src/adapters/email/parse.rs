//! Inbound mail from its raw MIME (mail-parser): the ids that thread it, the sender, the
//! text (a text/plain part, or the HTML part as text) with the reply told apart from the
//! quoted history, and the attachments.

use super::{bare_message_id, reply};
use crate::adapters::WebhookError;
use crate::domain::{InboundMessage, MediaKind, MessageContent, Millis};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

/// A received mail, as Parley reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedEmail {
    /// Without angle brackets; when the mail has none, `sha256:` and the hash of the raw
    /// message, so a redelivery is still recognised.
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub subject: Option<String>,
    /// Lowercased.
    pub from_address: String,
    pub from_name: Option<String>,
    /// The whole text, quoted history included.
    pub text: String,
    /// What the sender wrote this time.
    pub reply: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// An auto-reply, bounce or bulk mail: never answered, to avoid loops.
    pub automatic: bool,
    pub date: Option<Millis>,
}

/// An attachment's description; its bytes stay in the original message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Position among the message's attachments.
    pub index: usize,
    pub filename: Option<String>,
    pub mime_type: String,
    pub size: usize,
}

/// Parses raw MIME. A message without a sender cannot be answered and is refused.
pub fn parse(raw: &[u8]) -> Result<ParsedEmail, WebhookError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| WebhookError::MalformedPayload("the mail is not MIME".into()))?;
    let sender = message.from().and_then(|from| from.first());
    let from_address = sender
        .and_then(|sender| sender.address())
        .map(|address| address.trim().to_ascii_lowercase())
        .filter(|address| address.contains('@'))
        .ok_or_else(|| WebhookError::MalformedPayload("the mail has no From address".into()))?;
    let from_name = sender
        .and_then(|sender| sender.name())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    let message_id = match message.message_id() {
        Some(id) if !id.trim().is_empty() => bare_message_id(id),
        _ => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    };
    let text = message
        .body_text(0)
        .map(|text| text.into_owned())
        .unwrap_or_default();
    let attachments = message
        .attachments()
        .enumerate()
        .map(|(index, part)| Attachment {
            index,
            filename: part.attachment_name().map(str::to_owned),
            mime_type: part
                .content_type()
                .map(|content_type| match content_type.subtype() {
                    Some(subtype) => format!("{}/{subtype}", content_type.ctype()),
                    None => content_type.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase(),
            size: part.contents().len(),
        })
        .collect();
    let header_text = |name: &str| {
        message
            .header(name)
            .and_then(HeaderValue::as_text)
            .map(str::to_ascii_lowercase)
    };
    let automatic = header_text("Auto-Submitted").is_some_and(|value| value != "no")
        || message.header("X-Autoreply").is_some()
        || header_text("Precedence")
            .is_some_and(|value| matches!(value.as_str(), "bulk" | "junk" | "auto_reply"))
        || header_text("Return-Path")
            .is_some_and(|value| value.trim() == "<>" || value.trim().is_empty())
        || message.is_content_type("multipart", "report");
    let has_plain = message
        .text_bodies()
        .any(|part| part.is_text() && !part.is_text_html());
    let html = message.body_html(0).map(|html| html.into_owned());
    let reply = match (&html, has_plain) {
        // Without a plain part, the quoted history is cut at its container first.
        (Some(html), false) => reply::extract(&mail_parser::decoders::html::html_to_text(
            without_quoted_html(html),
        )),
        _ => reply::extract(&text),
    };
    Ok(ParsedEmail {
        message_id,
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        subject: message.subject().map(|subject| subject.trim().to_owned()),
        reply,
        text,
        html,
        from_address,
        from_name,
        attachments,
        automatic,
        date: message
            .date()
            .map(|date| date.to_timestamp().saturating_mul(1_000)),
    })
}

/// Where mail clients put the quoted history in HTML: Gmail, Apple Mail and Thunderbird,
/// Outlook (two forms), Yahoo.
const QUOTE_CONTAINERS: [&str; 6] = [
    "<div class=\"gmail_quote",
    "<blockquote type=\"cite\"",
    "<div class=\"moz-cite-prefix",
    "<div id=\"appendonsend\"",
    "<div id=\"divrplyfwdmsg\"",
    "<div class=\"yahoo_quoted",
];

/// The HTML before the first quote container (the reply's own part; unclosed tags do not
/// matter to the text conversion).
fn without_quoted_html(html: &str) -> &str {
    let lower = html.to_ascii_lowercase();
    let cut = QUOTE_CONTAINERS
        .iter()
        .filter_map(|marker| lower.find(marker))
        .min()
        .unwrap_or(html.len());
    html.get(..cut).unwrap_or(html)
}

/// The bytes of attachment `index` of a raw mail (decoded from its transfer encoding).
pub fn attachment(raw: &[u8], index: usize) -> Option<Vec<u8>> {
    let message = MessageParser::default().parse(raw)?;
    let part = message.attachments().nth(index)?;
    Some(part.contents().to_vec())
}

/// Splits an attachment's media id (`<message id>#<index>`).
pub fn attachment_key(media_id: &str) -> Option<(&str, usize)> {
    let (message_id, index) = media_id.rsplit_once('#')?;
    Some((message_id, index.parse().ok()?))
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    value
        .as_text_list()
        .unwrap_or_default()
        .iter()
        .flat_map(|text| text.split_whitespace())
        .map(bare_message_id)
        .filter(|id| !id.is_empty())
        .collect()
}

impl ParsedEmail {
    /// The mail as inbound messages of `contact`: its reply text, then one media message per
    /// attachment (served from the original, keyed `<message id>#<n>`).
    pub fn messages(&self, contact_external_id: &str) -> Vec<InboundMessage> {
        let mut messages = Vec::new();
        let message = |provider_message_id: String, content: MessageContent| InboundMessage {
            provider_message_id,
            contact_external_id: contact_external_id.to_owned(),
            contact_name: self.from_name.clone(),
            contact_phone: None,
            provider_timestamp: self.date,
            content,
            reply_to_provider_message_id: self.in_reply_to.first().cloned(),
        };
        if !self.reply.is_empty() || self.attachments.is_empty() {
            messages.push(message(
                self.message_id.clone(),
                MessageContent::Text {
                    body: self.reply.clone(),
                },
            ));
        }
        for attachment in &self.attachments {
            let media_kind = match attachment.mime_type.split('/').next() {
                Some("image") => MediaKind::Image,
                Some("video") => MediaKind::Video,
                Some("audio") => MediaKind::Audio,
                _ => MediaKind::Document,
            };
            let key = format!("{}#{}", self.message_id, attachment.index);
            messages.push(message(
                key.clone(),
                MessageContent::Media {
                    media_kind,
                    media_id: Some(key),
                    url: None,
                    mime_type: Some(attachment.mime_type.clone()),
                    caption: None,
                    filename: attachment.filename.clone(),
                    voice: false,
                },
            ));
        }
        // The mail's first message carries its Message-ID, so answers and replies find it.
        if let Some(first) = messages.first_mut() {
            first.provider_message_id = self.message_id.clone();
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GMAIL_REPLY: &str = "From: Ana Silva <Ana@Example.org>\r\n\
To: 0192f0c4@in.parley.test\r\n\
Subject: Re: Your stay\r\n\
Message-ID: <CAF=abc123@mail.gmail.com>\r\n\
In-Reply-To: <0192f0c4-m1@mail.example.com>\r\n\
References: <first@mail.example.com>\r\n <0192f0c4-m1@mail.example.com>\r\n\
Date: Thu, 1 Jan 2026 09:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Two nights, arriving Friday =E2=80=94 thanks!\r\n\
\r\n\
On Thu, Jan 1, 2026 at 9:00 AM Lodge <hello@mail.example.com> wrote:\r\n\
> How long will you stay?\r\n\
--b1\r\n\
Content-Type: text/html; charset=\"UTF-8\"\r\n\
\r\n\
<div>Two nights, arriving Friday — thanks!</div><div class=\"gmail_quote\">...</div>\r\n\
--b1--\r\n";

    #[test]
    fn a_gmail_reply_gives_its_ids_sender_and_reply_text() {
        let parsed = parse(GMAIL_REPLY.as_bytes()).unwrap();
        assert_eq!(parsed.message_id, "CAF=abc123@mail.gmail.com");
        assert_eq!(parsed.in_reply_to, ["0192f0c4-m1@mail.example.com"]);
        assert_eq!(
            parsed.references,
            ["first@mail.example.com", "0192f0c4-m1@mail.example.com"]
        );
        assert_eq!(parsed.subject.as_deref(), Some("Re: Your stay"));
        assert_eq!(parsed.from_address, "ana@example.org");
        assert_eq!(parsed.from_name.as_deref(), Some("Ana Silva"));
        assert_eq!(parsed.reply, "Two nights, arriving Friday \u{2014} thanks!");
        assert!(parsed.text.contains("> How long will you stay?"));
        assert!(parsed.html.unwrap().contains("gmail_quote"));
        assert!(!parsed.automatic);
        assert_eq!(parsed.date, Some(1_767_258_000_000));
    }

    #[test]
    fn latin1_text_and_a_base64_attachment_are_read() {
        let raw = b"From: jose@example.es\r\n\
Subject: =?ISO-8859-1?Q?Ma=F1ana?=\r\n\
Message-ID: <m2@example.es>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"m\"\r\n\
\r\n\
--m\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Llegar\xe9 ma\xf1ana.\r\n\
--m\r\n\
Content-Type: image/png; name=\"plan.png\"\r\n\
Content-Disposition: attachment; filename=\"plan.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
iVBORw0KGgo=\r\n\
--m--\r\n";
        let parsed = parse(raw).unwrap();
        assert_eq!(parsed.subject.as_deref(), Some("Ma\u{f1}ana"));
        assert_eq!(parsed.reply, "Llegar\u{e9} ma\u{f1}ana.");
        assert_eq!(
            parsed.attachments,
            [Attachment {
                index: 0,
                filename: Some("plan.png".into()),
                mime_type: "image/png".into(),
                size: 8
            }]
        );
        let messages = parsed.messages("jose@example.es");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].provider_message_id, "m2@example.es");
        assert_eq!(messages[1].provider_message_id, "m2@example.es#0");
        assert!(
            matches!(&messages[1].content, MessageContent::Media { media_kind: MediaKind::Image, filename: Some(name), .. } if name == "plan.png")
        );
    }

    #[test]
    fn an_html_only_reply_loses_its_quote_container() {
        let outlook = "From: ana@example.org\r\nMessage-ID: <h1@example.org>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><div>Friday suits us.</div><div id=\"appendonsend\"></div><hr><div id=\"divRplyFwdMsg\">\
Lodge team</div><div>When do you arrive?</div></body></html>";
        assert_eq!(parse(outlook.as_bytes()).unwrap().reply, "Friday suits us.");
        let gmail = "From: ana@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<div dir=\"ltr\">Yes, thanks</div><br><div class=\"gmail_quote\"><blockquote>Hi there</blockquote></div>";
        assert_eq!(parse(gmail.as_bytes()).unwrap().reply, "Yes, thanks");
    }

    #[test]
    fn auto_replies_are_recognised_and_a_mail_without_sender_is_refused() {
        let auto =
            "From: a@b.c\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway";
        assert!(parse(auto.as_bytes()).unwrap().automatic);
        let no_id = parse(b"From: a@b.c\r\nSubject: x\r\n\r\nhello").unwrap();
        assert!(no_id.message_id.starts_with("sha256:"));
        assert!(parse(b"Subject: x\r\n\r\nhello").is_err());
    }
}
