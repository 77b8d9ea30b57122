//! Channel-neutral content into Bot API calls, each a method and its JSON parameters, sent in
//! order. Limits are checked here, before any request, so a message Telegram would refuse
//! fails at once as [`SendError::Permanent`], naming the limit.
//!
//! What each content becomes (Telegram has no headers or footers, so a text header is the
//! message's first paragraph and a footer its last; all text is plain, without `parse_mode`):
//!
//! - Text: `sendMessage`, split into several messages past 4,096 UTF-16 code units (Telegram
//!   counts in those), at a paragraph, line or word break when there is one.
//! - Media: `sendPhoto`, `sendVideo`, `sendAudio` (`sendVoice` for a voice note),
//!   `sendDocument` or `sendSticker` by URL (or by a Telegram `file_id`), with the caption when
//!   it fits 1,024 units; a longer caption follows as text.
//! - Location: `sendVenue` with its name and address, or `sendLocation` without them.
//! - Reply buttons: an inline keyboard with the buttons on one row; quick replies and list
//!   rows: one button per row, "Title — description" (a list's sections and its opener button
//!   have no equivalent, so rows follow in order). A media header is sent first, on its own.
//! - CTA URL: an inline keyboard with one URL button.
//! - Reaction: `setMessageReaction` on the message reacted to.
//! - WhatsApp templates, contact cards and content only guests send are refused.
//!
//! Button payloads travel in `callback_data`, which holds 1–64 bytes: a longer payload (or one
//! that could be mistaken for a mapped key) is replaced by `#` and the base64url SHA-256 of the
//! payload, and [`resolve_callback`] maps it back from the message that carried the keyboard.

use crate::adapters::SendError;
use crate::domain::{ChoiceItem, ChoiceStyle, Header, MediaKind, MessageContent};
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// A message's text, in UTF-16 code units.
pub const TEXT_MAX_UNITS: usize = 4_096;
/// A media caption, in UTF-16 code units.
pub const CAPTION_MAX_UNITS: usize = 1_024;
/// A button's `callback_data`, in bytes.
pub const CALLBACK_DATA_MAX_BYTES: usize = 64;
/// What starts a mapped `callback_data` key.
const MAPPED_PREFIX: char = '#';

/// One Bot API call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The method, e.g. `sendMessage`.
    pub method: &'static str,
    pub body: Value,
}

/// The calls that send `content` to chat `chat_id`, the first one replying to
/// `reply_to` (a `{chat_id}:{message_id}` key) when it is a message of that chat.
pub fn render(
    chat_id: &str,
    content: &MessageContent,
    reply_to: Option<&str>,
) -> Result<Vec<Call>, SendError> {
    let chat = chat_value(chat_id)?;
    let mut calls = match content {
        MessageContent::Text { body } | MessageContent::System { body } => {
            text_calls(&chat, body, None)?
        }
        MessageContent::Media {
            media_kind,
            media_id,
            url,
            caption,
            voice,
            ..
        } => {
            let file = url
                .as_deref()
                .or(media_id.as_deref())
                .filter(|file| !file.is_empty())
                .ok_or_else(|| permanent("the media has neither a URL nor a Telegram file id"))?;
            media_calls(&chat, *media_kind, *voice, file, caption.as_deref())?
        }
        MessageContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => vec![location_call(&chat, *latitude, *longitude, name, address)],
        MessageContent::Choices {
            style,
            header,
            body,
            footer,
            choices,
        } => {
            let rows: Vec<Vec<Value>> = match style {
                ChoiceStyle::Buttons => vec![choices.iter().map(choice_button).collect()],
                ChoiceStyle::QuickReplies => choices
                    .iter()
                    .map(|item| vec![choice_button(item)])
                    .collect(),
            };
            keyboard_calls(&chat, header.as_ref(), body, footer.as_deref(), rows)?
        }
        MessageContent::List {
            header,
            body,
            footer,
            sections,
            ..
        } => {
            let rows = sections
                .iter()
                .flat_map(|section| &section.rows)
                .map(|item| vec![choice_button(item)])
                .collect();
            let header = header.clone().map(|text| Header::Text { text });
            keyboard_calls(&chat, header.as_ref(), body, footer.as_deref(), rows)?
        }
        MessageContent::CtaUrl {
            header,
            body,
            footer,
            button_text,
            url,
        } => {
            let rows = vec![vec![json!({"text": button_text, "url": url})]];
            keyboard_calls(&chat, header.as_ref(), body, footer.as_deref(), rows)?
        }
        MessageContent::Reaction {
            target_provider_message_id,
            emoji,
        } => {
            let message_id = message_of_chat(target_provider_message_id, chat_id)
                .ok_or_else(|| permanent("the reaction names no message of this chat"))?;
            let reaction: Vec<Value> = emoji
                .iter()
                .map(|emoji| json!({"type": "emoji", "emoji": emoji}))
                .collect();
            vec![Call {
                method: "setMessageReaction",
                body: json!({"chat_id": chat, "message_id": message_id, "reaction": reaction}),
            }]
        }
        MessageContent::Template { .. } => {
            return Err(permanent("WhatsApp templates exist only on WhatsApp"))
        }
        MessageContent::Contacts { .. } => {
            return Err(permanent("contact cards are not sent on Telegram"))
        }
        MessageContent::InteractiveReply { .. }
        | MessageContent::TemplateButton { .. }
        | MessageContent::Unsupported { .. } => {
            return Err(permanent("only a guest sends this kind of content"))
        }
    };
    let reply = reply_to.and_then(|key| message_of_chat(key, chat_id));
    if let (Some(message_id), Some(first)) = (reply, calls.first_mut()) {
        if first.method != "setMessageReaction" {
            if let Some(body) = first.body.as_object_mut() {
                body.insert(
                    "reply_parameters".into(),
                    json!({"message_id": message_id, "allow_sending_without_reply": true}),
                );
            }
        }
    }
    Ok(calls)
}

/// The `callback_data` of a choice: its id when it fits, else a key derived from it.
pub fn callback_data(id: &str) -> String {
    if !id.is_empty() && id.len() <= CALLBACK_DATA_MAX_BYTES && !id.starts_with(MAPPED_PREFIX) {
        return id.to_owned();
    }
    let digest = Sha256::digest(id.as_bytes());
    format!(
        "{MAPPED_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// The choice id a tapped button's `callback_data` stands for, given the content of the
/// message that carried the keyboard; `None` when no choice of it has this data.
pub fn resolve_callback(data: &str, content: &MessageContent) -> Option<String> {
    let items: Vec<&ChoiceItem> = match content {
        MessageContent::Choices { choices, .. } => choices.iter().collect(),
        MessageContent::List { sections, .. } => {
            sections.iter().flat_map(|section| &section.rows).collect()
        }
        _ => return None,
    };
    items
        .into_iter()
        .find(|item| callback_data(&item.id) == data)
        .map(|item| item.id.clone())
}

/// Splits `text` into parts of at most `max_units` UTF-16 code units, cutting after the last
/// paragraph break, else line break, else space that fits, else between characters.
pub fn split_text(text: &str, max_units: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while utf16_len(rest) > max_units {
        // The longest prefix that fits, on a character boundary.
        let mut fits = 0;
        let mut units = 0;
        for (index, character) in rest.char_indices() {
            units += character.len_utf16();
            if units > max_units {
                break;
            }
            fits = index + character.len_utf8();
        }
        let window = &rest[..fits];
        let cut = ["\n\n", "\n", " "]
            .iter()
            .find_map(|separator| {
                window
                    .rfind(separator)
                    .filter(|at| *at > 0)
                    .map(|at| at + separator.len())
            })
            .unwrap_or(fits);
        let (part, tail) = rest.split_at(cut);
        let part = part.trim_end();
        if !part.is_empty() {
            parts.push(part.to_owned());
        }
        rest = tail.trim_start_matches(['\n', ' ']);
    }
    if !rest.trim().is_empty() || parts.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

fn permanent(reason: &str) -> SendError {
    SendError::Permanent {
        reason: reason.to_owned(),
    }
}

/// A chat id as Telegram takes it: a number, or `@channelusername`.
fn chat_value(chat_id: &str) -> Result<Value, SendError> {
    if let Ok(id) = chat_id.trim().parse::<i64>() {
        return Ok(json!(id));
    }
    if chat_id.starts_with('@') && chat_id.len() > 1 {
        return Ok(json!(chat_id));
    }
    Err(permanent("the recipient is not a Telegram chat id"))
}

/// The message id of a `{chat_id}:{message_id}` key, when it belongs to `chat_id`.
fn message_of_chat(key: &str, chat_id: &str) -> Option<i64> {
    let (chat, message) = key.rsplit_once(':')?;
    (chat == chat_id).then(|| message.parse().ok()).flatten()
}

/// A choice's button: its title, and its description after a dash (a button has one line).
fn choice_button(item: &ChoiceItem) -> Value {
    let text = match item
        .description
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    {
        Some(description) => format!("{} — {description}", item.title),
        None => item.title.clone(),
    };
    json!({"text": text, "callback_data": callback_data(&item.id)})
}

fn text_calls(chat: &Value, text: &str, keyboard: Option<&Value>) -> Result<Vec<Call>, SendError> {
    if text.trim().is_empty() {
        return Err(permanent("the message text is empty"));
    }
    let parts = split_text(text, TEXT_MAX_UNITS);
    let last = parts.len() - 1;
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| {
            let mut body = Map::new();
            body.insert("chat_id".into(), chat.clone());
            body.insert("text".into(), json!(part));
            if index == last {
                if let Some(keyboard) = keyboard {
                    body.insert("reply_markup".into(), keyboard.clone());
                }
            }
            Call {
                method: "sendMessage",
                body: Value::Object(body),
            }
        })
        .collect())
}

fn media_calls(
    chat: &Value,
    kind: MediaKind,
    voice: bool,
    file: &str,
    caption: Option<&str>,
) -> Result<Vec<Call>, SendError> {
    let (method, field) = match kind {
        MediaKind::Image => ("sendPhoto", "photo"),
        MediaKind::Video => ("sendVideo", "video"),
        MediaKind::Audio if voice => ("sendVoice", "voice"),
        MediaKind::Audio => ("sendAudio", "audio"),
        MediaKind::Document => ("sendDocument", "document"),
        MediaKind::Sticker => ("sendSticker", "sticker"),
    };
    let caption = caption.filter(|caption| !caption.trim().is_empty());
    let mut body = json!({"chat_id": chat, field: file});
    let fits = caption.is_some_and(|caption| utf16_len(caption) <= CAPTION_MAX_UNITS);
    if let (true, Some(caption)) = (fits && kind != MediaKind::Sticker, caption) {
        body["caption"] = json!(caption);
    }
    let mut calls = vec![Call { method, body }];
    if let (false, Some(caption)) = (fits && kind != MediaKind::Sticker, caption) {
        calls.extend(text_calls(chat, caption, None)?);
    }
    Ok(calls)
}

fn location_call(
    chat: &Value,
    latitude: f64,
    longitude: f64,
    name: &Option<String>,
    address: &Option<String>,
) -> Call {
    let present = |text: &Option<String>| text.clone().filter(|text| !text.trim().is_empty());
    match (present(name), present(address)) {
        (Some(title), Some(address)) => Call {
            method: "sendVenue",
            body: json!({"chat_id": chat, "latitude": latitude, "longitude": longitude,
                         "title": title, "address": address}),
        },
        // A venue needs both a title and an address; otherwise the pin goes alone.
        _ => Call {
            method: "sendLocation",
            body: json!({"chat_id": chat, "latitude": latitude, "longitude": longitude}),
        },
    }
}

/// A body with a keyboard under it; a media header goes first, a text header and the footer
/// frame the body.
fn keyboard_calls(
    chat: &Value,
    header: Option<&Header>,
    body: &str,
    footer: Option<&str>,
    rows: Vec<Vec<Value>>,
) -> Result<Vec<Call>, SendError> {
    let mut calls = Vec::new();
    let mut paragraphs = Vec::new();
    match header {
        Some(Header::Text { text }) if !text.trim().is_empty() => paragraphs.push(text.as_str()),
        Some(Header::Image { url }) => {
            calls.extend(media_calls(chat, MediaKind::Image, false, url, None)?)
        }
        Some(Header::Video { url }) => {
            calls.extend(media_calls(chat, MediaKind::Video, false, url, None)?)
        }
        Some(Header::Document { url }) => {
            calls.extend(media_calls(chat, MediaKind::Document, false, url, None)?)
        }
        _ => {}
    }
    paragraphs.push(body);
    if let Some(footer) = footer.filter(|footer| !footer.trim().is_empty()) {
        paragraphs.push(footer);
    }
    let rows: Vec<Vec<Value>> = rows.into_iter().filter(|row| !row.is_empty()).collect();
    let keyboard = (!rows.is_empty()).then(|| json!({"inline_keyboard": rows}));
    calls.extend(text_calls(
        chat,
        &paragraphs.join("\n\n"),
        keyboard.as_ref(),
    )?);
    Ok(calls)
}

#[cfg(test)]
mod tests;
