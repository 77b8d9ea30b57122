//! Internal notes on conversations: what team members write to each other about a guest.
//!
//! Notes live in `conversation_notes` and nowhere else: they never become a message or an
//! outbox row, so nothing here can reach the contact. Every query is scoped by organisation
//! and conversation, so another organisation's note (or a note of another conversation) is
//! `NotFound`. A note's author never changes; its body does, and `updated_at` moves with it.

use super::records::parsed;
use super::{Columns, Store, StoreError, StoreResult};
use crate::domain::{ConversationId, Millis, OrgId, UserId};
use serde::Serialize;
use std::fmt;

/// Longest note body, in characters, once trimmed.
pub const NOTE_BODY_MAX_CHARS: usize = 4_000;

/// A note as the API shows it, with its author's name.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NoteRecord {
    pub id: String,
    #[serde(skip)]
    pub org_id: OrgId,
    pub conversation_id: ConversationId,
    /// The team member who wrote the note; only they, an owner or an admin may change it.
    pub author_id: UserId,
    pub author_name: String,
    pub body: String,
    pub created_at: Millis,
    /// Moves when the body is edited.
    pub updated_at: Millis,
}

/// The text of a note: 1 to [`NOTE_BODY_MAX_CHARS`] characters, without surrounding blanks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteBody(String);

/// Why a text is not a note body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteBodyError {
    #[error("the note is empty; write at least one character")]
    Empty,
    #[error("the note has {0} characters; the limit is {NOTE_BODY_MAX_CHARS}")]
    TooLong(usize),
}

impl NoteBody {
    /// Trims the text and checks its length in characters (not bytes).
    pub fn parse(raw: &str) -> Result<Self, NoteBodyError> {
        let text = raw.trim();
        let length = text.chars().count();
        if length == 0 {
            Err(NoteBodyError::Empty)
        } else if length > NOTE_BODY_MAX_CHARS {
            Err(NoteBodyError::TooLong(length))
        } else {
            Ok(Self(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NoteBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The note's columns with its author's name; `n` is the note and `u` its author. Team
/// members are never deleted, so the inner join keeps every note.
const NOTE_SELECT: &str =
    "SELECT n.id, n.org_id, n.conversation_id, n.author_id, u.name AS author_name,
        n.body, n.created_at, n.updated_at
   FROM conversation_notes n JOIN users u ON u.id = n.author_id";

fn note_from_row(row: &impl Columns) -> StoreResult<NoteRecord> {
    Ok(NoteRecord {
        id: row.text("id")?,
        org_id: parsed(row, "org_id")?,
        conversation_id: parsed(row, "conversation_id")?,
        author_id: parsed(row, "author_id")?,
        author_name: row.text("author_name")?,
        body: row.text("body")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

impl Store {
    /// Whether the organisation has this conversation: notes answer "no such conversation"
    /// before "no such note".
    #[tracing::instrument(skip_all, fields(conversation_id = %conversation_id))]
    pub async fn has_conversation(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
    ) -> StoreResult<bool> {
        let row = sqlx::query("SELECT id FROM conversations WHERE id = $1 AND org_id = $2")
            .bind(conversation_id.to_string())
            .bind(org_id.to_string())
            .fetch_optional(self.reader())
            .await?;
        Ok(row.is_some())
    }

    /// Writes a note on a conversation of the organisation (`NotFound` when it has no such
    /// conversation) and returns it as stored.
    #[tracing::instrument(skip_all, fields(conversation_id = %conversation_id))]
    pub async fn create_note(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
        author_id: UserId,
        body: &NoteBody,
        now: Millis,
    ) -> StoreResult<NoteRecord> {
        let id = uuid::Uuid::now_v7().to_string();
        let body = body.as_str().to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                // Checked in the same transaction as the insert: the foreign key alone would
                // accept another organisation's conversation.
                tx.fetch_one(
                    "SELECT id FROM conversations WHERE id = $1 AND org_id = $2",
                    vec![
                        conversation_id.to_string().into(),
                        org_id.to_string().into(),
                    ],
                )
                .await?;
                tx.execute(
                    "INSERT INTO conversation_notes
                         (id, org_id, conversation_id, author_id, body, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    vec![
                        id.as_str().into(),
                        org_id.to_string().into(),
                        conversation_id.to_string().into(),
                        author_id.to_string().into(),
                        body.into(),
                        now.into(),
                    ],
                )
                .await?;
                let row = tx
                    .fetch_one(&format!("{NOTE_SELECT} WHERE n.id = $1"), vec![id.into()])
                    .await?;
                note_from_row(&row)
            })
        })
        .await
    }

    /// The notes of a conversation, oldest first (an unknown conversation has none).
    #[tracing::instrument(skip_all, fields(conversation_id = %conversation_id))]
    pub async fn notes(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<NoteRecord>> {
        let rows = sqlx::query(&format!(
            "{NOTE_SELECT} WHERE n.conversation_id = $1 AND n.org_id = $2
             ORDER BY n.created_at, n.id"
        ))
        .bind(conversation_id.to_string())
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(note_from_row).collect()
    }

    /// One note of a conversation of the organisation.
    #[tracing::instrument(skip_all, fields(conversation_id = %conversation_id))]
    pub async fn note(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
        note_id: &str,
    ) -> StoreResult<NoteRecord> {
        let row = sqlx::query(&format!(
            "{NOTE_SELECT} WHERE n.id = $1 AND n.conversation_id = $2 AND n.org_id = $3"
        ))
        .bind(note_id)
        .bind(conversation_id.to_string())
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        note_from_row(&row)
    }

    /// Replaces a note's body and returns the note as stored.
    #[tracing::instrument(skip_all, fields(conversation_id = %conversation_id))]
    pub async fn update_note(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
        note_id: &str,
        body: &NoteBody,
        now: Millis,
    ) -> StoreResult<NoteRecord> {
        let values = vec![
            body.as_str().into(),
            now.into(),
            note_id.into(),
            conversation_id.to_string().into(),
            org_id.to_string().into(),
        ];
        let note_id = note_id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "UPDATE conversation_notes SET body = $1, updated_at = $2
                          WHERE id = $3 AND conversation_id = $4 AND org_id = $5",
                        values,
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                let row = tx
                    .fetch_one(
                        &format!("{NOTE_SELECT} WHERE n.id = $1"),
                        vec![note_id.into()],
                    )
                    .await?;
                note_from_row(&row)
            })
        })
        .await
    }

    /// Deletes a note of a conversation of the organisation (`NotFound` when there is none).
    #[tracing::instrument(skip_all, fields(conversation_id = %conversation_id))]
    pub async fn delete_note(
        &self,
        org_id: OrgId,
        conversation_id: ConversationId,
        note_id: &str,
    ) -> StoreResult<()> {
        let values = vec![
            note_id.into(),
            conversation_id.to_string().into(),
            org_id.to_string().into(),
        ];
        let deleted = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "DELETE FROM conversation_notes
                      WHERE id = $1 AND conversation_id = $2 AND org_id = $3",
                    values,
                ))
            })
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn check(raw: &str, expected: Result<&str, NoteBodyError>) {
        let parsed = NoteBody::parse(raw);
        assert_eq!(
            parsed.as_ref().map(NoteBody::as_str),
            expected.as_ref().map(|text| *text),
            "{raw:?}"
        );
    }

    #[test]
    fn a_body_is_trimmed_and_limited_in_characters() {
        let longest = "é".repeat(NOTE_BODY_MAX_CHARS);
        let too_long = "x".repeat(NOTE_BODY_MAX_CHARS + 1);
        check(
            "  VIP guest, upgrade if possible \n",
            Ok("VIP guest, upgrade if possible"),
        );
        check(&longest, Ok(&longest));
        check(&format!("  {longest}  "), Ok(&longest));
        check("", Err(NoteBodyError::Empty));
        check(" \t\n ", Err(NoteBodyError::Empty));
        check(
            &too_long,
            Err(NoteBodyError::TooLong(NOTE_BODY_MAX_CHARS + 1)),
        );
    }

    proptest! {
        #[test]
        fn every_text_with_one_to_the_limit_characters_parses(
            text in "[^\\s][\\PC]{0,3998}[^\\s]|[^\\s]"
        ) {
            let body = NoteBody::parse(&text);
            prop_assert_eq!(body.map(|body| body.as_str().to_owned()), Ok(text));
        }
    }
}
