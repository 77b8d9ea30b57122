//! The latest AI insight (sentiment and summary) of a conversation.
//!
//! One row per conversation in `conversation_insights`, replaced each time an insight is
//! generated; a newer row is never overwritten by an older one. Every read and write is scoped
//! by organisation: another organisation's conversation is `NotFound`, the same as one that
//! does not exist. [`refresh_insight`] reads the messages, runs the local engine
//! (`ai::insights`) and saves the result.

use super::records::parsed;
use super::script::Script;
use super::{Columns, MessageRecord, Store, StoreError, StoreResult};
use crate::ai::insights::{self, SentimentLabel, Speaker};
use crate::domain::{ConversationId, Millis, OrgId, SenderKind};
use serde::Serialize;

/// How many of a conversation's latest messages an insight reads.
pub const INSIGHT_MESSAGE_LIMIT: i64 = 500;

/// A conversation's sentiment and summary, as generated at `generated_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InsightRecord {
    pub conversation_id: ConversationId,
    /// The guest's mood, from their messages only.
    pub sentiment: SentimentLabel,
    /// From -1000 (most negative) to 1000 (most positive); within ±150 is neutral.
    pub sentiment_score: i64,
    /// At most three sentences and 300 characters from the conversation, in its order, each
    /// speaker's run prefixed `Guest:` or `Agent:`; empty when there is nothing to summarise.
    pub summary: String,
    /// How many messages with text (the guest's, the team's and the bot's) it was drawn from.
    pub message_count: i64,
    pub generated_at: Millis,
}

/// Generates the insight of a conversation of the organisation from its latest messages,
/// saves it and returns it. A conversation without guest text gets a neutral sentiment at 0;
/// one with nothing worth keeping gets an empty summary. `NotFound` when the organisation
/// has no such conversation.
#[tracing::instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn refresh_insight(
    store: &Store,
    ai: &dyn crate::ai::Ai,
    org_id: OrgId,
    conversation_id: ConversationId,
    now: Millis,
) -> StoreResult<InsightRecord> {
    let messages = store
        .messages(org_id, conversation_id, INSIGHT_MESSAGE_LIMIT)
        .await?;
    let mut record = insight_of(conversation_id, &messages, now);
    // An organisation's LLM reads the conversation instead, when it has one and it answers.
    let transcript: Vec<(Speaker, String)> = transcript_of(&messages)
        .into_iter()
        .map(|(speaker, text)| (speaker, text.to_owned()))
        .collect();
    if !transcript.is_empty() {
        match ai.insight(&transcript).await {
            Ok(Some(model)) => {
                record.sentiment_score = model.sentiment_score;
                record.sentiment = SentimentLabel::of_score(model.sentiment_score);
                record.summary = model.summary;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(error = %error, "no insight from the AI provider; the local one is kept");
            }
        }
    }
    store.save_insight(org_id, &record).await?;
    Ok(record)
}

/// The lines of a conversation with text, oldest first, by who wrote them; system lines
/// are left out.
fn transcript_of(messages: &[MessageRecord]) -> Vec<(Speaker, &str)> {
    messages
        .iter()
        .filter_map(|message| {
            let speaker = match message.sender_kind {
                SenderKind::Contact => Speaker::Guest,
                SenderKind::Bot | SenderKind::Agent => Speaker::Agent,
                SenderKind::System => return None,
            };
            Some((speaker, message.content.text_for_matching()?))
        })
        .collect()
}

/// The insight of `messages` (oldest first): sentiment over the guest's texts, the summary
/// over everyone's. System lines and messages without text are left out.
fn insight_of(
    conversation_id: ConversationId,
    messages: &[MessageRecord],
    now: Millis,
) -> InsightRecord {
    let lines = transcript_of(messages);
    let guest_texts: Vec<&str> = lines
        .iter()
        .filter(|(speaker, _)| *speaker == Speaker::Guest)
        .map(|(_, text)| *text)
        .collect();
    let sentiment = insights::sentiment(&guest_texts);
    InsightRecord {
        conversation_id,
        sentiment: sentiment.label,
        sentiment_score: sentiment.score,
        summary: insights::summarise(&lines),
        message_count: lines.len() as i64,
        generated_at: now,
    }
}

/// Stores `record` as the conversation's insight, unless a newer one is already stored.
pub fn save_insight_into(script: &mut Script, org_id: OrgId, record: &InsightRecord) {
    script.push(
        "INSERT INTO conversation_insights
             (conversation_id, org_id, sentiment, sentiment_score, summary, message_count,
              generated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (conversation_id) DO UPDATE
            SET sentiment = excluded.sentiment, sentiment_score = excluded.sentiment_score,
                summary = excluded.summary, message_count = excluded.message_count,
                generated_at = excluded.generated_at
          WHERE conversation_insights.generated_at <= excluded.generated_at",
        vec![
            record.conversation_id.to_string().into(),
            org_id.to_string().into(),
            record.sentiment.as_str().into(),
            record.sentiment_score.into(),
            record.summary.clone().into(),
            record.message_count.into(),
            record.generated_at.into(),
        ],
    );
}

impl Store {
    /// The stored insight of a conversation of the organisation: `None` when none was
    /// generated yet, `NotFound` when the organisation has no such conversation.
    #[tracing::instrument(skip_all, fields(conversation_id = %conversation_id))]
    pub async fn insight(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<InsightRecord>> {
        // One read tells "no such conversation" from "no insight yet".
        let row = sqlx::query(
            "SELECT c.id AS conversation_id, i.sentiment, i.sentiment_score, i.summary,
                    i.message_count, i.generated_at
               FROM conversations c
               LEFT JOIN conversation_insights i
                 ON i.conversation_id = c.id AND i.org_id = c.org_id
              WHERE c.id = $1 AND c.org_id = $2",
        )
        .bind(conversation_id.to_string())
        .bind(org_id.to_string())
        .fetch_optional(self.reader())
        .await?
        .ok_or(StoreError::NotFound)?;
        if row.opt_text("sentiment")?.is_none() {
            return Ok(None);
        }
        Ok(Some(InsightRecord {
            conversation_id: parsed(&row, "conversation_id")?,
            sentiment: parsed(&row, "sentiment")?,
            sentiment_score: row.int("sentiment_score")?,
            summary: row.text("summary")?,
            message_count: row.int("message_count")?,
            generated_at: row.int("generated_at")?,
        }))
    }

    /// Saves `record` as the insight of its conversation, which must be one of the
    /// organisation's (`NotFound` otherwise); a newer stored insight is kept.
    #[tracing::instrument(skip_all, fields(conversation_id = %record.conversation_id))]
    pub async fn save_insight(&self, org_id: OrgId, record: &InsightRecord) -> StoreResult<()> {
        let conversation_id = record.conversation_id;
        let mut script = Script::new();
        save_insight_into(&mut script, org_id, record);
        self.write(move |tx| {
            Box::pin(async move {
                // Checked in the same transaction as the upsert, so an insight never outlives
                // a conversation deleted meanwhile nor lands in another organisation.
                tx.fetch_optional(
                    "SELECT id FROM conversations WHERE id = $1 AND org_id = $2",
                    vec![
                        conversation_id.to_string().into(),
                        org_id.to_string().into(),
                    ],
                )
                .await?
                .ok_or(StoreError::NotFound)?;
                tx.run(&script).await
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChannelId, DeliveryStatus, Direction, MessageContent, MessageId};

    fn message(sender_kind: SenderKind, content: MessageContent) -> MessageRecord {
        MessageRecord {
            id: MessageId::new(),
            conversation_id: ConversationId::new(),
            channel_id: ChannelId::new(),
            direction: if sender_kind == SenderKind::Contact {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            sender_kind,
            sender_id: None,
            sender_name: None,
            content,
            journey_step: None,
            provider_message_id: None,
            reply_to_provider_message_id: None,
            delivery_status: DeliveryStatus::Sent,
            failure_reason: None,
            provider_timestamp: None,
            received_at: 1,
        }
    }

    fn text(sender_kind: SenderKind, body: &str) -> MessageRecord {
        message(sender_kind, MessageContent::Text { body: body.into() })
    }

    #[test]
    fn sentiment_reads_the_guest_only_and_the_summary_everyone_but_the_system() {
        let conversation_id = ConversationId::new();
        let messages = [
            text(
                SenderKind::Contact,
                "The shower is broken and the room is dirty",
            ),
            text(
                SenderKind::System,
                "Handed to the team: room 12 is terrible",
            ),
            text(
                SenderKind::Agent,
                "So sorry! Great news: we moved you to room 214, perfect and amazing.",
            ),
        ];
        let record = insight_of(conversation_id, &messages, 42);
        assert_eq!(
            record,
            InsightRecord {
                conversation_id,
                sentiment: SentimentLabel::Negative,
                sentiment_score: record.sentiment_score,
                summary: "Guest: The shower is broken and the room is dirty. \
                          Agent: Great news: we moved you to room 214, perfect and amazing."
                    .into(),
                message_count: 2,
                generated_at: 42,
            }
        );
        assert!(record.sentiment_score <= -insights::NEUTRAL_BAND);
    }

    #[test]
    fn a_conversation_without_guest_text_is_neutral_and_unsummarised() {
        let messages = [
            message(
                SenderKind::Contact,
                MessageContent::Unsupported {
                    detail: "sticker".into(),
                },
            ),
            text(SenderKind::Bot, "Hello! Thanks for your message."),
        ];
        let record = insight_of(ConversationId::new(), &messages, 7);
        assert_eq!(
            (
                record.sentiment,
                record.sentiment_score,
                record.summary.as_str()
            ),
            (SentimentLabel::Neutral, 0, "")
        );
        assert_eq!(record.message_count, 1);
    }
}
