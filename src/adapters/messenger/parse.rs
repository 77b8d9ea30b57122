//! Messenger and Instagram webhooks into [`InboundEvent`]s, grouped by the account (Page or
//! Instagram professional account) each `entry` was sent for.
//!
//! One Meta app has one webhook URL for all its Pages and accounts, so a notification may hold
//! entries for several channels; the caller routes each [`AccountEvents`] by its `account_id`.
//! Nothing here fails on an event kind it does not know: such items are counted in `ignored`.
//! Only a body that is not a webhook of the platform, or a message without the ids every
//! message has, is refused.
//!
//! Dedupe keys (the `provider_message_id` of a message): a message is keyed by its `mid`, and
//! the second and later parts of one message (several attachments, or text beside them) by
//! `{mid}#{n}`. Events that have no id of their own get a key built from what identifies them:
//! postbacks without a `mid` `postback:{sender}:{timestamp}:{payload}`, reactions
//! `reaction:{sender}:{mid}:{action}:{timestamp}`, unsent messages `deleted:{mid}`. A
//! redelivery repeats the same bytes, so it repeats the same key.

use super::Platform;
use crate::adapters::WebhookError;
use crate::domain::{
    DeliveryStatus, InboundEvent, InboundMessage, MediaKind, MessageContent, Millis, StatusUpdate,
};
use serde::Deserialize;
use serde_json::Value;

/// What a notification holds for one Page or Instagram account.
#[derive(Debug, Default, PartialEq)]
pub struct AccountEvents {
    /// `entry[].id`: the Page id on Messenger, the Instagram professional account id on
    /// Instagram. Entries of one account in a batch are merged, in order.
    pub account_id: String,
    pub events: Vec<InboundEvent>,
    /// Items with nothing Parley keeps: echoes of our own sends, read or delivery watermarks
    /// that name no message, edits, referrals, handover and standby items, unknown kinds.
    pub ignored: usize,
}

/// Parses a webhook notification of `platform`.
pub fn parse(platform: Platform, body: &[u8]) -> Result<Vec<AccountEvents>, WebhookError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|error| malformed(&error))?;
    if envelope.object != platform.webhook_object() {
        return Err(WebhookError::MalformedPayload(format!(
            "object is `{}`, expected `{}` for {platform}",
            envelope.object,
            platform.webhook_object()
        )));
    }
    let mut accounts: Vec<AccountEvents> = Vec::new();
    for entry in envelope.entry {
        let account_id = id_text(&entry.id)
            .ok_or_else(|| WebhookError::MalformedPayload("an entry has no `id`".into()))?;
        let position = match accounts
            .iter()
            .position(|account| account.account_id == account_id)
        {
            Some(position) => position,
            None => {
                accounts.push(AccountEvents {
                    account_id: account_id.clone(),
                    ..AccountEvents::default()
                });
                accounts.len() - 1
            }
        };
        let account = &mut accounts[position];
        // Standby items belong to a conversation another app controls (handover protocol);
        // changes are comments and mentions, not direct messages.
        account.ignored += entry.standby.len() + entry.changes.len();
        let entry_time = entry.time.as_ref().and_then(millis);
        for item in entry.messaging {
            let item: Messaging =
                serde_json::from_value(item).map_err(|error| malformed(&error))?;
            let events = parse_item(platform, &account_id, item, entry_time)?;
            if events.is_empty() {
                account.ignored += 1;
            }
            account.events.extend(events);
        }
    }
    Ok(accounts)
}

#[derive(Deserialize)]
struct Envelope {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    time: Option<Value>,
    #[serde(default)]
    messaging: Vec<Value>,
    #[serde(default)]
    standby: Vec<Value>,
    #[serde(default)]
    changes: Vec<Value>,
}

/// One `messaging[]` item. Exactly one of the event keys is normally present; items with
/// none Parley knows (`referral`, `optin`, `message_edit`, handover events …) are ignored.
#[derive(Deserialize)]
struct Messaging {
    #[serde(default)]
    sender: Option<Party>,
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    postback: Option<Postback>,
    #[serde(default)]
    reaction: Option<Reaction>,
    #[serde(default)]
    delivery: Option<Delivery>,
    #[serde(default)]
    read: Option<Read>,
}

#[derive(Deserialize)]
struct Party {
    #[serde(default)]
    id: Value,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    is_unsupported: bool,
    #[serde(default)]
    quick_reply: Option<QuickReply>,
    #[serde(default)]
    reply_to: Option<ReplyTo>,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

#[derive(Deserialize)]
struct QuickReply {
    #[serde(default)]
    payload: String,
}

#[derive(Deserialize)]
struct ReplyTo {
    #[serde(default)]
    mid: Option<String>,
    /// Instagram: the contact answered a story of the account.
    #[serde(default)]
    story: Option<Story>,
}

#[derive(Deserialize)]
struct Story {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
}

#[derive(Deserialize)]
struct Postback {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Reaction {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    action: Option<String>,
    /// The reaction's name (`love`, `like` …), used when no emoji comes with it.
    #[serde(default)]
    reaction: Option<String>,
    #[serde(default)]
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
    #[serde(default)]
    watermark: Option<Value>,
}

#[derive(Deserialize)]
struct Read {
    /// Instagram names the message read; Messenger only gives a watermark.
    #[serde(default)]
    mid: Option<String>,
}

/// The events of one `messaging[]` item; none when Parley keeps nothing of it.
fn parse_item(
    platform: Platform,
    account_id: &str,
    item: Messaging,
    entry_time: Option<Millis>,
) -> Result<Vec<InboundEvent>, WebhookError> {
    let known = item.message.is_some()
        || item.postback.is_some()
        || item.reaction.is_some()
        || item.delivery.is_some()
        || item.read.is_some();
    // Some kinds Parley does not read (`app_roles`, for one) have no sender at all.
    if !known {
        return Ok(vec![]);
    }
    let contact = item
        .sender
        .as_ref()
        .and_then(|sender| id_text(&sender.id))
        .ok_or_else(|| WebhookError::MalformedPayload("a messaging item has no sender".into()))?;
    let origin = Origin {
        contact,
        timestamp: item.timestamp.as_ref().and_then(millis),
        entry_time,
    };
    if let Some(message) = item.message {
        return parse_message(platform, account_id, &origin, message);
    }
    let events = if let Some(postback) = item.postback {
        vec![parse_postback(&origin, postback)]
    } else if let Some(reaction) = item.reaction {
        parse_reaction(&origin, reaction).into_iter().collect()
    } else if let Some(delivery) = item.delivery {
        // Without `mids` a delivery only says "everything before the watermark", which names
        // no message Parley could update.
        let at = origin
            .timestamp
            .or_else(|| delivery.watermark.as_ref().and_then(millis));
        delivery
            .mids
            .into_iter()
            .map(|mid| origin.status(mid, DeliveryStatus::Delivered, at))
            .collect()
    } else {
        item.read
            .and_then(|read| read.mid)
            .map(|mid| origin.status(mid, DeliveryStatus::Read, origin.timestamp))
            .into_iter()
            .collect()
    };
    Ok(events)
}

/// Who an item comes from, and when.
struct Origin {
    /// The PSID or IGSID of the contact.
    contact: String,
    /// The item's own `timestamp`.
    timestamp: Option<Millis>,
    /// The entry's `time`, when the item has none.
    entry_time: Option<Millis>,
}

impl Origin {
    fn message(
        &self,
        provider_message_id: String,
        content: MessageContent,
        reply_to: Option<String>,
    ) -> InboundEvent {
        InboundEvent::Message(InboundMessage {
            provider_message_id,
            contact_external_id: self.contact.clone(),
            contact_name: None,
            contact_phone: None,
            provider_timestamp: self.timestamp.or(self.entry_time),
            content,
            reply_to_provider_message_id: reply_to,
        })
    }

    fn status(&self, mid: String, status: DeliveryStatus, at: Option<Millis>) -> InboundEvent {
        InboundEvent::Status(StatusUpdate {
            provider_message_id: mid,
            recipient_external_id: self.contact.clone(),
            status,
            provider_timestamp: at,
            failure_reason: None,
        })
    }

    /// The item's own time, for the keys of events that have no id. The entry's time is not
    /// used: it may differ on a redelivery.
    fn stamp(&self) -> String {
        self.timestamp
            .map_or_else(|| "-".to_owned(), |at| at.to_string())
    }
}

/// A tap on a postback button (a template button, Get Started, the persistent menu).
fn parse_postback(origin: &Origin, postback: Postback) -> InboundEvent {
    let payload = postback.payload.unwrap_or_default();
    let key = postback
        .mid
        .unwrap_or_else(|| format!("postback:{}:{}:{payload}", origin.contact, origin.stamp()));
    let content = MessageContent::InteractiveReply {
        reply_id: payload,
        title: postback.title.unwrap_or_default(),
        description: None,
    };
    origin.message(key, content, None)
}

/// A reaction to a message, or its removal; `None` when it names no message, since it could
/// not be shown against anything.
fn parse_reaction(origin: &Origin, reaction: Reaction) -> Option<InboundEvent> {
    let target = reaction.mid?;
    let action = reaction.action.unwrap_or_else(|| "react".into());
    let emoji = match action.as_str() {
        "unreact" => None,
        _ => reaction
            .emoji
            .filter(|emoji| !emoji.is_empty())
            .or_else(|| {
                reaction
                    .reaction
                    .as_deref()
                    .and_then(emoji_of)
                    .map(str::to_owned)
            }),
    };
    let key = format!(
        "reaction:{}:{target}:{action}:{}",
        origin.contact,
        origin.stamp()
    );
    let content = MessageContent::Reaction {
        target_provider_message_id: target,
        emoji,
    };
    Some(origin.message(key, content, None))
}

fn parse_message(
    platform: Platform,
    account_id: &str,
    origin: &Origin,
    message: Message,
) -> Result<Vec<InboundEvent>, WebhookError> {
    // Echoes of what the account sent (through Parley or the platform's own inbox) come with
    // `is_echo`; on Instagram they arrive in the `messages` field like any message, so a
    // sender equal to the account is taken as an echo too.
    if message.is_echo || origin.contact == account_id {
        return Ok(vec![]);
    }
    let mid = message.mid.ok_or_else(|| {
        WebhookError::MalformedPayload(format!("a {platform} message has no `mid`"))
    })?;
    let mut reply_to = message.reply_to.and_then(|reply_to| {
        reply_to.mid.or_else(|| {
            // A story is not a message; its id is kept, marked, so the reply still says what
            // it answers. The story's media expires within a day and is not kept.
            let story = reply_to.story?;
            Some(format!("story:{}", story.id.or(story.url)?))
        })
    });
    let (first_key, contents) = if message.is_deleted {
        // The notice carries the id of the message it withdraws, which is already stored
        // under that id, so it gets a key of its own and refers to the original.
        reply_to = Some(mid.clone());
        let detail = "the contact unsent a message".to_owned();
        (
            format!("deleted:{mid}"),
            vec![MessageContent::Unsupported { detail }],
        )
    } else {
        (
            mid.clone(),
            message_contents(
                platform,
                message.text,
                message.quick_reply,
                &message.attachments,
                message.is_unsupported,
            ),
        )
    };
    Ok(contents
        .into_iter()
        .enumerate()
        .map(|(index, content)| {
            let key = match index {
                0 => first_key.clone(),
                part => format!("{mid}#{part}"),
            };
            origin.message(key, content, reply_to.clone())
        })
        .collect())
}

/// What one message says, in order: its text, then each attachment. A message always yields
/// at least one content, so an empty or unreadable message is still seen.
fn message_contents(
    platform: Platform,
    text: Option<String>,
    quick_reply: Option<QuickReply>,
    attachments: &[Attachment],
    is_unsupported: bool,
) -> Vec<MessageContent> {
    if is_unsupported {
        return vec![MessageContent::Unsupported {
            detail: format!("a message {platform} does not pass on to apps"),
        }];
    }
    let text = text.filter(|text| !text.is_empty());
    if let Some(quick_reply) = quick_reply {
        return vec![MessageContent::InteractiveReply {
            reply_id: quick_reply.payload,
            title: text.unwrap_or_default(),
            description: None,
        }];
    }
    let mut contents = Vec::with_capacity(attachments.len() + 1);
    for attachment in attachments {
        if let Some(content) = attachment_content(attachment, text.as_deref()) {
            contents.push(content);
        }
    }
    if let Some(body) = text {
        contents.insert(0, MessageContent::Text { body });
    }
    if contents.is_empty() {
        contents.push(MessageContent::Unsupported {
            detail: "a message without text or attachments".into(),
        });
    }
    contents
}

/// One attachment; `None` for a link preview that repeats a link already in the text.
fn attachment_content(attachment: &Attachment, text: Option<&str>) -> Option<MessageContent> {
    let payload = attachment.payload.as_ref().unwrap_or(&Value::Null);
    let url = payload
        .get("url")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let title = payload
        .get("title")
        .and_then(Value::as_str)
        .or(attachment.title.as_deref())
        .map(str::to_owned);
    let media = |media_kind: MediaKind, caption: Option<String>| MessageContent::Media {
        media_kind,
        media_id: None,
        url: url.clone(),
        mime_type: None,
        caption,
        filename: None,
        voice: false,
    };
    let with_link = |what: &str| match &url {
        Some(url) => format!("{what}: {url}"),
        None => what.to_owned(),
    };
    let content = match attachment.kind.as_str() {
        // Messenger's thumbs-up and other stickers are images with a `sticker_id`.
        "image" if payload.get("sticker_id").is_some() => media(MediaKind::Sticker, None),
        "image" => media(MediaKind::Image, None),
        "sticker" => media(MediaKind::Sticker, None),
        "video" => media(MediaKind::Video, None),
        "audio" => media(MediaKind::Audio, None),
        "file" => media(MediaKind::Document, None),
        "reel" | "ig_reel" => media(MediaKind::Video, title),
        "location" => location(payload, attachment.title.clone()),
        "fallback" => match (url, title) {
            (Some(url), _) if text.is_some_and(|text| text.contains(url.as_str())) => return None,
            (Some(url), Some(title)) => MessageContent::Text {
                body: format!("{title}\n{url}"),
            },
            (Some(url), None) => MessageContent::Text { body: url },
            (None, _) => MessageContent::Unsupported {
                detail: "a shared link the platform did not pass on".into(),
            },
        },
        "share" | "post" | "ig_post" => MessageContent::Unsupported {
            detail: with_link("a shared post"),
        },
        "story_mention" => MessageContent::Unsupported {
            detail: with_link("mentioned the account in their story (it expires after 24 hours)"),
        },
        "template" => MessageContent::Unsupported {
            detail: "a shared template message".into(),
        },
        "" => MessageContent::Unsupported {
            detail: "an attachment without a type".into(),
        },
        other => MessageContent::Unsupported {
            detail: format!("an attachment of type {other}"),
        },
    };
    Some(content)
}

/// Messenger's location attachment: `payload.coordinates.{lat,long}`, with the place's name as
/// the attachment's title.
fn location(payload: &Value, name: Option<String>) -> MessageContent {
    let coordinate = |key: &str| {
        let value = payload.get("coordinates")?.get(key)?;
        value
            .as_f64()
            .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
    };
    match (coordinate("lat"), coordinate("long")) {
        (Some(latitude), Some(longitude)) => MessageContent::Location {
            latitude,
            longitude,
            name,
            address: None,
        },
        _ => MessageContent::Unsupported {
            detail: "a location without coordinates".into(),
        },
    }
}

/// The emoji of a reaction name, for reactions that come without one.
fn emoji_of(reaction: &str) -> Option<&'static str> {
    Some(match reaction {
        "love" => "\u{2764}\u{fe0f}",
        "like" => "\u{1f44d}",
        "dislike" => "\u{1f44e}",
        "smile" => "\u{1f606}",
        "wow" => "\u{1f62e}",
        "sad" => "\u{1f622}",
        "angry" => "\u{1f620}",
        _ => return None,
    })
}

/// Ids are strings on the wire; tolerate numbers.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Timestamps are Unix milliseconds as numbers; the documentation's test payloads use strings.
fn millis(value: &Value) -> Option<Millis> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

fn malformed(error: &serde_json::Error) -> WebhookError {
    WebhookError::MalformedPayload(error.to_string())
}

#[cfg(test)]
mod tests;
