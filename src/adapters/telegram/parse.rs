//! One Telegram `Update` into [`InboundEvent`]s.
//!
//! What is read: `message` (text, photo — its largest size —, document, video, voice, audio,
//! sticker, location, contact, with the caption and the message it replies to) and
//! `callback_query` (a tap on an inline keyboard button, which becomes the guest's answer).
//! `edited_message` is not asked for, and ignored if it comes: a journey has already acted on
//! the original, and an edit taken as a new message would answer whatever the journey asks
//! next. Every other update kind is ignored too; none breaks parsing.
//!
//! Keys (`provider_message_id`): a message is keyed `{chat_id}:{message_id}`, since Telegram
//! numbers messages per chat; the same scheme names Parley's sends, so a reply can point at
//! either. A button tap is keyed `callback:{id}`. A redelivered update repeats its bytes, so it
//! repeats its key, and the `inbound` table drops it.

use crate::adapters::WebhookError;
use crate::domain::{InboundEvent, InboundMessage, MediaKind, MessageContent};
use serde::Deserialize;
use serde_json::{json, Value};

/// What an update holds.
#[derive(Debug, Default, PartialEq)]
pub struct ParsedUpdate {
    pub update_id: i64,
    pub events: Vec<InboundEvent>,
    /// A button tap, which must be answered (`answerCallbackQuery`) so the button stops
    /// spinning, and whose data may need mapping back to the choice's id.
    pub callback: Option<Callback>,
}

/// A tap on an inline keyboard button.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    pub id: String,
    pub chat_id: i64,
    /// The bot's message that carried the keyboard, when Telegram still has it.
    pub message_id: Option<i64>,
    /// The button's `callback_data`.
    pub data: String,
}

/// The key Parley gives message `message_id` of chat `chat_id`, sent or received.
pub fn message_key(chat_id: i64, message_id: i64) -> String {
    message_key_of(&chat_id.to_string(), message_id)
}

/// [`message_key`] for a chat id already written out.
pub fn message_key_of(chat_id: &str, message_id: i64) -> String {
    format!("{chat_id}:{message_id}")
}

/// Parses an update; only a body that is not an update at all is refused.
pub fn parse(body: &[u8]) -> Result<ParsedUpdate, WebhookError> {
    let update: Update = serde_json::from_slice(body)
        .map_err(|error| WebhookError::MalformedPayload(error.to_string()))?;
    let mut parsed = ParsedUpdate {
        update_id: update.update_id,
        ..ParsedUpdate::default()
    };
    if let Some(message) = update.message {
        parsed.events.extend(parse_message(&message));
    } else if let Some(query) = update.callback_query {
        let (event, callback) = parse_callback(&query);
        parsed.events.extend(event);
        parsed.callback = callback;
    }
    Ok(parsed)
}

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    callback_query: Option<CallbackQuery>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

impl User {
    /// "First Last", or the username when the names are blank.
    fn display_name(&self) -> Option<String> {
        let full = [Some(self.first_name.as_str()), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if full.is_empty() {
            self.username.clone().filter(|name| !name.is_empty())
        } else {
            Some(full)
        }
    }
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    #[serde(default)]
    from: Option<User>,
    chat: Chat,
    #[serde(default)]
    date: i64,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    photo: Vec<File>,
    #[serde(default)]
    document: Option<File>,
    #[serde(default)]
    video: Option<File>,
    #[serde(default)]
    voice: Option<File>,
    #[serde(default)]
    audio: Option<File>,
    #[serde(default)]
    sticker: Option<File>,
    #[serde(default)]
    location: Option<Location>,
    #[serde(default)]
    contact: Option<Value>,
    #[serde(default)]
    reply_to_message: Option<Box<Quoted>>,
    #[serde(default)]
    reply_markup: Option<Value>,
}

/// The message a message replies to; only its id matters.
#[derive(Deserialize)]
struct Quoted {
    message_id: i64,
}

#[derive(Deserialize)]
struct File {
    file_id: String,
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

#[derive(Deserialize)]
struct CallbackQuery {
    id: String,
    from: User,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    data: Option<String>,
}

fn parse_message(message: &Message) -> Option<InboundEvent> {
    // Parley's own bot never writes to itself, but a bot in a group might.
    if message.from.as_ref().is_some_and(|from| from.is_bot) {
        return None;
    }
    let chat_id = message.chat.id;
    let contact_phone = own_phone(message);
    let reply_to = message
        .reply_to_message
        .as_ref()
        .map(|quoted| message_key(chat_id, quoted.message_id));
    let content = content(message);
    Some(InboundEvent::Message(InboundMessage {
        provider_message_id: message_key(chat_id, message.message_id),
        contact_external_id: chat_id.to_string(),
        contact_name: message.from.as_ref().and_then(User::display_name),
        contact_phone,
        provider_timestamp: (message.date > 0).then(|| message.date.saturating_mul(1_000)),
        content,
        reply_to_provider_message_id: reply_to,
    }))
}

/// The guest's phone number, when they shared their own contact card.
fn own_phone(message: &Message) -> Option<String> {
    let contact = message.contact.as_ref()?;
    let from = message.from.as_ref()?;
    (contact.get("user_id").and_then(Value::as_i64) == Some(from.id))
        .then(|| contact.get("phone_number")?.as_str().map(str::to_owned))
        .flatten()
}

fn content(message: &Message) -> MessageContent {
    let caption = message
        .caption
        .clone()
        .filter(|caption| !caption.is_empty());
    let media = |kind: MediaKind, file: &File, voice: bool| MessageContent::Media {
        media_kind: kind,
        media_id: Some(file.file_id.clone()),
        url: None,
        mime_type: file.mime_type.clone(),
        caption: caption.clone(),
        filename: file.file_name.clone(),
        voice,
    };
    if let Some(text) = &message.text {
        return MessageContent::Text { body: text.clone() };
    }
    // Telegram lists a photo's sizes smallest first.
    if let Some(largest) = message.photo.last() {
        return media(MediaKind::Image, largest, false);
    }
    if let Some(file) = &message.video {
        return media(MediaKind::Video, file, false);
    }
    if let Some(file) = &message.voice {
        return media(MediaKind::Audio, file, true);
    }
    if let Some(file) = &message.audio {
        return media(MediaKind::Audio, file, false);
    }
    if let Some(file) = &message.sticker {
        return media(MediaKind::Sticker, file, false);
    }
    if let Some(file) = &message.document {
        return media(MediaKind::Document, file, false);
    }
    if let Some(location) = &message.location {
        return MessageContent::Location {
            latitude: location.latitude,
            longitude: location.longitude,
            name: None,
            address: None,
        };
    }
    if let Some(contact) = &message.contact {
        return MessageContent::Contacts {
            contacts: json!([contact]),
        };
    }
    MessageContent::Unsupported {
        detail: "a Telegram message Parley does not read (a poll, a game, a service message …)"
            .into(),
    }
}

fn parse_callback(query: &CallbackQuery) -> (Option<InboundEvent>, Option<Callback>) {
    let data = query.data.clone().unwrap_or_default();
    // An old message may come back "inaccessible" (`date` 0), still with its chat.
    let chat_id = query
        .message
        .as_ref()
        .map_or(query.from.id, |message| message.chat.id);
    let message_id = query.message.as_ref().map(|message| message.message_id);
    let callback = Callback {
        id: query.id.clone(),
        chat_id,
        message_id,
        data: data.clone(),
    };
    if data.is_empty() {
        // A game button or a button without data: answered, nothing to keep.
        return (None, Some(callback));
    }
    let title = query
        .message
        .as_ref()
        .and_then(|message| button_text(message.reply_markup.as_ref()?, &data))
        .unwrap_or_default();
    let event = InboundEvent::Message(InboundMessage {
        provider_message_id: format!("callback:{}", query.id),
        contact_external_id: chat_id.to_string(),
        contact_name: query.from.display_name(),
        contact_phone: None,
        provider_timestamp: None,
        content: MessageContent::InteractiveReply {
            reply_id: data,
            title,
            description: None,
        },
        reply_to_provider_message_id: message_id.map(|id| message_key(chat_id, id)),
    });
    (Some(event), Some(callback))
}

/// The text of the keyboard button whose `callback_data` is `data`.
fn button_text(markup: &Value, data: &str) -> Option<String> {
    markup
        .get("inline_keyboard")?
        .as_array()?
        .iter()
        .filter_map(Value::as_array)
        .flatten()
        .find(|button| button.get("callback_data").and_then(Value::as_str) == Some(data))?
        .get("text")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
