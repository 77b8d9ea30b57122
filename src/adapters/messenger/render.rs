//! Channel-neutral content into the body of a Send API call (`POST /{version}/me/messages` on
//! Messenger, `POST /{version}/{ig_user_id}/messages` on Instagram), plus the messaging window
//! rule that picks the body's `messaging_type`.
//!
//! Every limit Meta documents for these sends is checked here, before the request, so a message
//! the platform would refuse fails at once as [`SendError::Permanent`] with a reason that names
//! the field and the limit.
//!
//! What each content becomes (a message is text or one attachment, never both, and headers and
//! footers do not exist on either platform, so they are dropped):
//!
//! - Text: text (Messenger ≤ 2000 characters, Instagram ≤ 1000 UTF-8 bytes).
//! - Media: images only, as the seed's channel table says ("Image only (others degrade)"). An
//!   image without a caption is an `image` attachment by URL (stickers too); one whose caption
//!   fits a card title (80 characters) is a generic template card with the caption under it.
//!   Video, audio, documents and longer-captioned images go as text: the caption, then the
//!   link (with the file name). Media are sent by link only: another channel's media id means
//!   nothing here.
//! - Location: text with the place's name, its address and a map link.
//! - Choices (reply buttons or quick replies): quick replies under the body (≤ 13, titles
//!   ≤ 20 characters); a header (even an image) is dropped, as the channel table says.
//! - List: numbered text, "1. Title — description", which the journey accepts typed back.
//! - CTA URL: a button template with one `web_url` button on Messenger; text
//!   "body\n\nbutton_text: url" on Instagram, as the channel table asks.
//! - Reaction: the `react` / `unreact` sender action (not a message).
//! - WhatsApp templates, and content only contacts send, are refused.

use super::Platform;
use crate::adapters::SendError;
use crate::domain::{ChoiceItem, ListSection, MediaKind, MessageContent, Millis};
use serde_json::{json, Value};
use std::time::Duration;

/// Messenger's limit on a text message, in characters.
pub const MESSENGER_TEXT_MAX_CHARS: usize = 2_000;
/// Instagram's limit on a text message, in bytes of UTF-8 (not characters).
pub const INSTAGRAM_TEXT_MAX_BYTES: usize = 1_000;
/// Quick replies on one message.
pub const QUICK_REPLIES_MAX: usize = 13;
/// A quick reply's title, in characters (Meta cuts longer ones; Parley refuses them).
pub const QUICK_REPLY_TITLE_MAX_CHARS: usize = 20;
/// The payload of a quick reply or postback button, in characters.
pub const PAYLOAD_MAX_CHARS: usize = 1_000;
/// The text of a button template, in characters.
pub const BUTTON_TEMPLATE_TEXT_MAX_CHARS: usize = 640;
/// Buttons on a button template or on one generic template element.
pub const BUTTONS_MAX: usize = 3;
/// A template button's title, in characters.
pub const BUTTON_TITLE_MAX_CHARS: usize = 20;
/// The title of a generic template element, in characters.
pub const ELEMENT_TITLE_MAX_CHARS: usize = 80;
/// Anything may be sent for this long after the contact's last message.
pub const RESPONSE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// A human agent may answer with the `HUMAN_AGENT` tag for this long after the contact's last
/// message.
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How a message goes out with respect to the messaging window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Within the 24-hour window: `"messaging_type": "RESPONSE"`.
    Response,
    /// A human agent's reply after the 24-hour window and within 7 days:
    /// `"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"`. Needs the Human Agent
    /// permission, and may never carry automated replies.
    HumanAgent,
}

/// What the business shows the contact while it works on an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderAction {
    TypingOn,
    TypingOff,
    MarkSeen,
}

impl SenderAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderAction::TypingOn => "typing_on",
            SenderAction::TypingOff => "typing_off",
            SenderAction::MarkSeen => "mark_seen",
        }
    }
}

/// Picks the delivery for a message sent at `now_ms` to a contact whose last message arrived at
/// `last_inbound_ms`: a response within 24 hours, a human agent's tagged reply within 7 days,
/// and nothing after that. Both platforms apply the same windows.
///
/// The windows are half-open: at exactly 24 hours the response window has closed, and at
/// exactly 7 days the human agent window has, so a send racing the boundary is refused here
/// rather than by Meta.
pub fn delivery_for(
    now_ms: Millis,
    last_inbound_ms: Option<Millis>,
    by_human: bool,
) -> Result<Delivery, SendError> {
    let Some(last_inbound_ms) = last_inbound_ms else {
        return Err(permanent(
            "the contact has never written; Messenger and Instagram only allow messages to \
             someone who wrote first",
        ));
    };
    let elapsed = now_ms.saturating_sub(last_inbound_ms);
    if elapsed < window_millis(RESPONSE_WINDOW) {
        Ok(Delivery::Response)
    } else if !by_human {
        Err(permanent(
            "the 24-hour messaging window is closed: more than 24 hours have passed since the \
             contact's last message, and after that only a human agent may answer (for 7 days)",
        ))
    } else if elapsed < window_millis(HUMAN_AGENT_WINDOW) {
        Ok(Delivery::HumanAgent)
    } else {
        Err(permanent(
            "the 7-day human agent window is closed: more than 7 days have passed since the \
             contact's last message, so not even a human agent may answer until they write again",
        ))
    }
}

/// The JSON body of a Send API call to `recipient` (a PSID on Messenger, an IGSID on
/// Instagram).
pub fn render(
    platform: Platform,
    recipient: &str,
    content: &MessageContent,
    delivery: Delivery,
) -> Result<Value, SendError> {
    if recipient.trim().is_empty() {
        return Err(permanent("the recipient id is empty"));
    }
    let message = match content {
        MessageContent::Text { body } => text_message(platform, "text", body)?,
        MessageContent::Media {
            media_kind,
            url,
            caption,
            filename,
            ..
        } => render_media(
            platform,
            *media_kind,
            url.as_deref(),
            caption.as_deref(),
            filename.as_deref(),
        )?,
        MessageContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => {
            let text = location_text(*latitude, *longitude, name.as_deref(), address.as_deref());
            text_message(platform, "location as text", &text)?
        }
        MessageContent::Reaction {
            target_provider_message_id,
            emoji,
        } => {
            return render_reaction(
                platform,
                recipient,
                target_provider_message_id,
                emoji.as_deref(),
            )
        }
        MessageContent::Choices { body, choices, .. } => render_choices(platform, body, choices)?,
        MessageContent::List { body, sections, .. } => {
            let text = numbered_list(body, sections)?;
            text_message(platform, "list as text", &text)?
        }
        MessageContent::CtaUrl {
            body,
            button_text,
            url,
            ..
        } => render_cta_url(platform, body, button_text, url)?,
        MessageContent::Template { .. } => {
            return Err(permanent(&format!(
                "a WhatsApp template cannot be sent on {platform}: {platform} has no \
                 pre-approved templates, so outside the messaging window only a human agent \
                 may answer"
            )))
        }
        other => {
            return Err(permanent(&format!(
                "{} content cannot be sent on {platform}",
                content_type(other)
            )))
        }
    };
    let mut body = json!({"recipient": {"id": recipient}});
    match delivery {
        Delivery::Response => body["messaging_type"] = json!("RESPONSE"),
        Delivery::HumanAgent => {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!("HUMAN_AGENT");
        }
    }
    body["message"] = message;
    Ok(body)
}

/// The body of a sender action, which goes alone: `recipient` and `sender_action`, no
/// `message` and no `messaging_type`.
pub fn render_sender_action(recipient: &str, action: SenderAction) -> Value {
    json!({"recipient": {"id": recipient}, "sender_action": action.as_str()})
}

fn render_media(
    platform: Platform,
    media_kind: MediaKind,
    url: Option<&str>,
    caption: Option<&str>,
    filename: Option<&str>,
) -> Result<Value, SendError> {
    let url = url.filter(|url| !url.trim().is_empty()).ok_or_else(|| {
        permanent(&format!(
            "a media message on {platform} needs a link; media ids of other channels cannot \
             be sent"
        ))
    })?;
    check_url("media link", url)?;
    // The seed's rendering table: "Image only (others degrade)" on Messenger and Instagram.
    // Video, audio and documents go as their link, so every guest can open them.
    let attachment_type = match media_kind {
        MediaKind::Image | MediaKind::Sticker => Some("image"),
        MediaKind::Video | MediaKind::Audio | MediaKind::Document => None,
    };
    let caption = caption.filter(|caption| !caption.trim().is_empty());
    match (attachment_type, caption) {
        (Some(attachment_type), None) => Ok(json!({"attachment": {
            "type": attachment_type, "payload": {"url": url},
        }})),
        (Some("image"), Some(caption)) if caption.chars().count() <= ELEMENT_TITLE_MAX_CHARS => {
            Ok(generic_card(json!({"title": caption, "image_url": url})))
        }
        _ => {
            let link = match filename.filter(|name| !name.trim().is_empty()) {
                Some(filename) => format!("{filename}: {url}"),
                None => url.to_owned(),
            };
            let text = match caption {
                Some(caption) => format!("{caption}\n\n{link}"),
                None => link,
            };
            text_message(platform, "media as text", &text)
        }
    }
}

pub(crate) fn location_text(
    latitude: f64,
    longitude: f64,
    name: Option<&str>,
    address: Option<&str>,
) -> String {
    let mut lines: Vec<String> = [name, address]
        .into_iter()
        .flatten()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if lines.is_empty() {
        lines.push("Location".into());
    }
    lines.push(format!("https://maps.google.com/?q={latitude},{longitude}"));
    lines.join("\n")
}

/// Reactions are sender actions on both platforms: `react` with the message and the
/// reaction, `unreact` with the message only.
///
/// ⚠ Unconfirmed: the Instagram shape and its `"reaction": "love"` come from Meta's
/// documentation as quoted in the reference, not from a live capture; Instagram is taken to
/// accept only `love` (❤️), while Messenger takes any emoji as the reaction.
fn render_reaction(
    platform: Platform,
    recipient: &str,
    target: &str,
    emoji: Option<&str>,
) -> Result<Value, SendError> {
    if target.trim().is_empty() {
        return Err(permanent("the reaction names no message to react to"));
    }
    let Some(emoji) = emoji.filter(|emoji| !emoji.is_empty()) else {
        return Ok(json!({
            "recipient": {"id": recipient},
            "sender_action": "unreact",
            "payload": {"message_id": target},
        }));
    };
    let reaction = match platform {
        Platform::Messenger => emoji,
        Platform::Instagram if matches!(emoji, "\u{2764}\u{fe0f}" | "\u{2764}") => "love",
        Platform::Instagram => {
            return Err(permanent(&format!(
                "Instagram reactions can only be \u{2764}\u{fe0f} (love), not {emoji}"
            )))
        }
    };
    Ok(json!({
        "recipient": {"id": recipient},
        "sender_action": "react",
        "payload": {"message_id": target, "reaction": reaction},
    }))
}

/// Choices as quick replies under the body, whatever their style: the seed's channel table
/// gives reply buttons and quick replies both as quick replies, and drops headers.
fn render_choices(
    platform: Platform,
    body: &str,
    choices: &[ChoiceItem],
) -> Result<Value, SendError> {
    if choices.is_empty() {
        return Err(permanent(&format!(
            "the message has no choices; {platform} needs 1 to {QUICK_REPLIES_MAX} quick replies"
        )));
    }
    check_count(platform, "quick replies", choices.len(), QUICK_REPLIES_MAX)?;
    let mut quick_replies = Vec::with_capacity(choices.len());
    for (index, choice) in choices.iter().enumerate() {
        let name = format!("quick reply {}", index + 1);
        check_required(
            platform,
            &format!("{name} title"),
            &choice.title,
            QUICK_REPLY_TITLE_MAX_CHARS,
        )?;
        check_required(
            platform,
            &format!("{name} payload"),
            &choice.id,
            PAYLOAD_MAX_CHARS,
        )?;
        quick_replies.push(json!({
            "content_type": "text", "title": choice.title, "payload": choice.id,
        }));
    }
    let mut message = text_message(platform, "body", body)?;
    message["quick_replies"] = Value::Array(quick_replies);
    Ok(message)
}

fn render_cta_url(
    platform: Platform,
    body: &str,
    button_text: &str,
    url: &str,
) -> Result<Value, SendError> {
    check_url("button url", url)?;
    match platform {
        Platform::Messenger => {
            check_required(platform, "body", body, BUTTON_TEMPLATE_TEXT_MAX_CHARS)?;
            check_required(platform, "button text", button_text, BUTTON_TITLE_MAX_CHARS)?;
            Ok(json!({"attachment": {"type": "template", "payload": {
                "template_type": "button",
                "text": body,
                "buttons": [{"type": "web_url", "url": url, "title": button_text}],
            }}}))
        }
        Platform::Instagram => {
            let text = match button_text.trim() {
                "" => format!("{body}\n\n{url}"),
                label => format!("{body}\n\n{label}: {url}"),
            };
            text_message(platform, "text", &text)
        }
    }
}

/// A list as text: the body, each section's title and its rows numbered across sections, and
/// how to answer.
pub(crate) fn numbered_list(body: &str, sections: &[ListSection]) -> Result<String, SendError> {
    if sections.iter().all(|section| section.rows.is_empty()) {
        return Err(permanent("the list has no rows; it needs at least 1"));
    }
    let mut text = body.trim_end().to_owned();
    let mut number = 0;
    for section in sections {
        text.push('\n');
        if let Some(title) = section
            .title
            .as_deref()
            .filter(|title| !title.trim().is_empty())
        {
            text.push_str(&format!("\n{title}"));
        }
        for row in &section.rows {
            number += 1;
            if row.title.trim().is_empty() {
                return Err(permanent(&format!("the list row {number} title is empty")));
            }
            text.push_str(&format!("\n{number}. {}", row.title));
            if let Some(description) = row.description.as_deref().filter(|text| !text.is_empty()) {
                text.push_str(&format!(" — {description}"));
            }
        }
    }
    text.push_str("\n\nReply with the number of your choice.");
    Ok(text.trim_start().to_owned())
}

fn generic_card(element: Value) -> Value {
    let mut card = json!({"attachment": {"type": "template", "payload": {
        "template_type": "generic",
    }}});
    card["attachment"]["payload"]["elements"] = Value::Array(vec![element]);
    card
}

/// `{"text": text}`, within the platform's text limit.
fn text_message(platform: Platform, field: &str, text: &str) -> Result<Value, SendError> {
    check_text(platform, field, text)?;
    Ok(json!({ "text": text }))
}

/// Messenger counts a text in characters, Instagram in bytes of UTF-8.
fn check_text(platform: Platform, field: &str, text: &str) -> Result<(), SendError> {
    match platform {
        Platform::Messenger => check_required(platform, field, text, MESSENGER_TEXT_MAX_CHARS),
        Platform::Instagram if text.trim().is_empty() => Err(permanent(&format!(
            "the {field} is empty; Instagram needs 1 to {INSTAGRAM_TEXT_MAX_BYTES} bytes"
        ))),
        Platform::Instagram if text.len() > INSTAGRAM_TEXT_MAX_BYTES => Err(permanent(&format!(
            "the {field} has {} bytes in UTF-8; Instagram allows {INSTAGRAM_TEXT_MAX_BYTES}",
            text.len()
        ))),
        Platform::Instagram => Ok(()),
    }
}

/// A text the platform needs at least one character of, and at most `limit`.
fn check_required(
    platform: Platform,
    field: &str,
    text: &str,
    limit: usize,
) -> Result<(), SendError> {
    if text.trim().is_empty() {
        return Err(permanent(&format!(
            "the {field} is empty; {platform} needs 1 to {limit} characters"
        )));
    }
    let length = text.chars().count();
    if length > limit {
        return Err(permanent(&format!(
            "the {field} has {length} characters; {platform} allows {limit}"
        )));
    }
    Ok(())
}

fn check_count(
    platform: Platform,
    items: &str,
    count: usize,
    limit: usize,
) -> Result<(), SendError> {
    if count > limit {
        return Err(permanent(&format!(
            "the message has {count} {items}; {platform} allows 1 to {limit}"
        )));
    }
    Ok(())
}

fn check_url(field: &str, url: &str) -> Result<(), SendError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(permanent(&format!(
            "the {field} must start with https:// or http://"
        )));
    }
    Ok(())
}

/// The `type` tag of a content, as stored.
fn content_type(content: &MessageContent) -> String {
    serde_json::to_value(content)
        .ok()
        .and_then(|value| value.get("type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "this".into())
}

fn window_millis(window: Duration) -> Millis {
    Millis::try_from(window.as_millis()).expect("a window of days fits in i64 milliseconds")
}

fn permanent(reason: &str) -> SendError {
    SendError::Permanent {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests;
