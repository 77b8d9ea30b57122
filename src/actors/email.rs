//! Email channels in the live system: sending one outbox row as a mail threaded into the
//! contact's last mail, and turning a received mail into inbound events of the right
//! conversation.

use super::core::{ChannelRuntime, Core};
use crate::adapters::email::dns::DnsResolver;
use crate::adapters::email::parse::{self, ParsedEmail};
use crate::adapters::email::render::{self, ReplyTarget};
use crate::adapters::email::smtp::{self, Outgoing};
use crate::adapters::email::{EmailPublicConfig, EmailSecrets};
use crate::adapters::{SendError, Sent, WebhookError};
use crate::domain::InboundEvent;
use crate::store::email::NewEmail;
use crate::store::{OutboxRecord, StoreError};
use std::time::{Duration, UNIX_EPOCH};

/// How email channels reach DNS and their relays, and where their inbound mail arrives.
#[derive(Clone, Debug)]
pub struct EmailSettings {
    pub resolver: DnsResolver,
    /// The domain of channels' inbound addresses (`in-<random>@<domain>`).
    pub inbound_domain: String,
    /// Longest wait for a relay's answer.
    pub smtp_timeout: Duration,
}

/// Sends one row as a mail. An answer to the contact's last mail keeps its thread:
/// `In-Reply-To` and `References`, and its subject with `Re:`.
pub(crate) async fn send(
    core: &Core,
    runtime: &ChannelRuntime,
    row: &OutboxRecord,
    public: &EmailPublicConfig,
    secrets: &EmailSecrets,
) -> Result<Sent, SendError> {
    let thread = core
        .store
        .email_thread(row.org_id, row.conversation_id)
        .await
        .map_err(|error| SendError::Retryable {
            reason: format!("the conversation's last mail could not be read: {error}"),
            retry_after: None,
        })?;
    let subject = smtp::reply_subject(thread.as_ref().and_then(|thread| thread.subject.as_deref()));
    let body = render::render(
        &row.content,
        &ReplyTarget {
            address: &public.inbound_address,
            subject: &subject,
        },
    )?;
    let mut attachments = Vec::new();
    if let (
        true,
        crate::domain::MessageContent::Media {
            media_id: Some(file_id),
            filename,
            ..
        },
    ) = (render::content_has_kept_file(&row.content), &row.content)
    {
        let file = core
            .store
            .file(runtime.id, file_id)
            .await
            .map_err(|error| SendError::Retryable {
                reason: format!("the file to attach could not be read: {error}"),
                retry_after: None,
            })?
            .ok_or_else(|| SendError::Permanent {
                reason: "the file to attach is no longer kept".into(),
            })?;
        attachments.push(smtp::OutgoingAttachment {
            filename: filename
                .clone()
                .or(file.filename)
                .unwrap_or_else(|| "file".to_owned()),
            mime_type: file.mime_type,
            bytes: file.bytes,
        });
    }
    let now = u64::try_from(core.clock.now()).unwrap_or_default();
    let outgoing = Outgoing {
        // The outbox message's id makes the Message-ID unguessable and the same on every
        // attempt, so a receiver that got an earlier attempt drops the repeat.
        message_id: format!("{}@{}", row.message_id, public.domain),
        to: row.recipient.clone(),
        subject,
        in_reply_to: thread.as_ref().map(|thread| thread.message_id.clone()),
        references: thread
            .as_ref()
            .map(|thread| smtp::thread_references(&thread.references, &thread.message_id))
            .unwrap_or_default(),
        body,
        attachments,
        date: UNIX_EPOCH + Duration::from_millis(now),
    };
    tracing::debug!(channel_id = %runtime.id, message_id = %row.message_id, "sending a mail");
    smtp::send(public, secrets, &outgoing, core.settings.email.smtp_timeout).await
}

/// Why a received mail was not taken.
#[derive(Debug, thiserror::Error)]
pub enum InboundMailError {
    #[error(transparent)]
    Malformed(#[from] WebhookError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a received mail became.
pub enum InboundMail {
    /// An auto-reply, bounce or bulk mail, kept out of conversations.
    Automatic,
    Events(Vec<InboundEvent>),
}

/// Reads a received mail and stores what answers need of it: the events of the contact
/// whose conversation it belongs to. A reply that names one of the conversation's mails
/// (`In-Reply-To`, then `References` from the latest) goes to that conversation, whoever
/// sent it; any other mail to its sender's conversation.
pub async fn inbound(
    core: &Core,
    runtime: &ChannelRuntime,
    raw: &[u8],
) -> Result<InboundMail, InboundMailError> {
    let mail: ParsedEmail = parse::parse(raw)?;
    if mail.automatic {
        tracing::info!(channel_id = %runtime.id, "ignored an automatic mail");
        return Ok(InboundMail::Automatic);
    }
    let named: Vec<String> = mail
        .in_reply_to
        .iter()
        .chain(mail.references.iter().rev())
        .cloned()
        .collect();
    let contact = match core.store.email_contact(runtime.id, &named).await? {
        Some(contact) => contact,
        None => mail.from_address.clone(),
    };
    core.store
        .record_email(
            &NewEmail {
                org_id: runtime.org_id,
                channel_id: runtime.id,
                message_id: &mail.message_id,
                subject: mail.subject.as_deref(),
                references: &mail.references,
                raw,
            },
            core.clock.now(),
        )
        .await?;
    Ok(InboundMail::Events(
        mail.messages(&contact)
            .into_iter()
            .map(InboundEvent::Message)
            .collect(),
    ))
}
