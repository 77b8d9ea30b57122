//! Email channels: the mails received (subject, References and the original, for threading
//! answers and showing the original), the conversation a Message-ID belongs to, and the
//! tokens of signed inbound webhooks already seen.

use super::script::Script;
use super::{Columns, Store, StoreResult};
use crate::domain::{ChannelId, ConversationId, Millis, OrgId};
use base64::Engine;
use sqlx::Row as _;

/// A mail received, as stored.
pub struct NewEmail<'a> {
    pub org_id: OrgId,
    pub channel_id: ChannelId,
    pub message_id: &'a str,
    pub subject: Option<&'a str>,
    pub references: &'a [String],
    pub raw: &'a [u8],
}

/// What an answer needs of the mail it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailThread {
    pub message_id: String,
    pub subject: Option<String>,
    pub references: Vec<String>,
}

/// Tokens of signed webhooks are remembered this long: a post signed earlier is stale.
const TOKEN_MEMORY_MS: Millis = 24 * 60 * 60 * 1_000;

impl Store {
    /// Stores a mail received; one already stored is left as it is.
    pub async fn record_email(&self, email: &NewEmail<'_>, now: Millis) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "INSERT INTO email_messages (channel_id, message_id, org_id, subject, references_ids, raw, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (channel_id, message_id) DO NOTHING",
            vec![
                email.channel_id.to_string().into(),
                email.message_id.into(),
                email.org_id.to_string().into(),
                email.subject.into(),
                email.references.join(" ").into(),
                base64::engine::general_purpose::STANDARD.encode(email.raw).into(),
                now.into(),
            ],
        );
        self.write_script(script).await
    }

    /// The contact of the conversation a mail with one of these ids (Parley's own, or the
    /// contact's) belongs to, trying the ids in order.
    pub async fn email_contact(
        &self,
        channel_id: ChannelId,
        message_ids: &[String],
    ) -> StoreResult<Option<String>> {
        for message_id in message_ids {
            let row = sqlx::query(
                "SELECT ct.external_id FROM messages m
                   JOIN conversations c ON c.id = m.conversation_id
                   JOIN contacts ct ON ct.id = c.contact_id
                  WHERE m.channel_id = $1 AND m.provider_message_id = $2
                  LIMIT 1",
            )
            .bind(channel_id.to_string())
            .bind(message_id)
            .fetch_optional(self.reader())
            .await?;
            if let Some(row) = row {
                return Ok(Some(row.try_get("external_id")?));
            }
        }
        Ok(None)
    }

    /// The latest mail the contact sent in a conversation: what Parley's answer threads to.
    pub async fn email_thread(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<EmailThread>> {
        let row = sqlx::query(
            "SELECT e.message_id, e.subject, e.references_ids FROM messages m
               JOIN email_messages e
                 ON e.channel_id = m.channel_id AND e.message_id = m.provider_message_id
              WHERE m.conversation_id = $1 AND m.org_id = $2 AND m.direction = 'inbound'
              ORDER BY m.received_at DESC, m.id DESC LIMIT 1",
        )
        .bind(conversation_id.to_string())
        .bind(org_id.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            let references: String = row.text("references_ids")?;
            Ok(EmailThread {
                message_id: row.text("message_id")?,
                subject: row.opt_text("subject")?,
                references: references.split_whitespace().map(str::to_owned).collect(),
            })
        })
        .transpose()
    }

    /// The original of a mail received, as it arrived.
    pub async fn email_original(
        &self,
        org_id: OrgId,
        channel_id: ChannelId,
        message_id: &str,
    ) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT raw FROM email_messages WHERE channel_id = $1 AND message_id = $2 AND org_id = $3",
        )
        .bind(channel_id.to_string())
        .bind(message_id)
        .bind(org_id.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            let raw: String = row.text("raw")?;
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|error| super::StoreError::Corrupt(format!("email_messages.raw: {error}")))
        })
        .transpose()
    }

    /// Records a signed webhook's token: `false` when it was seen before (a replay). Tokens
    /// older than a day are forgotten in the same write.
    pub async fn claim_webhook_token(
        &self,
        channel_id: ChannelId,
        token: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        let (channel, token) = (channel_id.to_string(), token.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "DELETE FROM email_webhook_tokens WHERE seen_at < $1",
                    vec![now.saturating_sub(TOKEN_MEMORY_MS).into()],
                )
                .await?;
                let claimed = tx
                    .fetch_optional(
                        "INSERT INTO email_webhook_tokens (channel_id, token, seen_at) VALUES ($1, $2, $3)
                         ON CONFLICT (channel_id, token) DO NOTHING RETURNING token",
                        vec![channel.into(), token.into(), now.into()],
                    )
                    .await?;
                Ok(claimed.is_some())
            })
        })
        .await
    }
}
