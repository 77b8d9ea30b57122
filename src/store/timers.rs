//! Durable timers: one row per conversation and kind, fired by the scheduler at most once.

use super::records::{parsed, TimerRecord};
use super::script::Script;
use super::{Store, StoreResult, Tx};
use crate::domain::{ChannelId, ConversationId, Millis, OrgId};
use sqlx::Row;

/// A timer to set (or reset) for a conversation.
#[derive(Clone, Copy)]
pub struct NewTimer<'a> {
    pub org_id: OrgId,
    pub conversation_id: ConversationId,
    pub channel_id: ChannelId,
    pub contact_external_id: &'a str,
    pub kind: &'a str,
    pub due_at: Millis,
    /// The generation of the state that sets the timer.
    pub generation: i64,
}

/// Sets a timer, replacing an earlier timer of the same kind on the conversation.
pub fn set_timer_into(script: &mut Script, timer: &NewTimer<'_>, now: Millis) {
    script.push(
        "INSERT INTO timers (org_id, conversation_id, channel_id, contact_external_id, kind, due_at,
                             generation, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (conversation_id, kind) DO UPDATE
            SET due_at = excluded.due_at, generation = excluded.generation,
                created_at = excluded.created_at, fired_at = NULL",
        vec![
            timer.org_id.to_string().into(),
            timer.conversation_id.to_string().into(),
            timer.channel_id.to_string().into(),
            timer.contact_external_id.into(),
            timer.kind.into(),
            timer.due_at.into(),
            timer.generation.into(),
            now.into(),
        ],
    );
}

/// Marks a timer fired if it is still the one that was due (same id and generation); returns
/// false when it already fired or was reset meanwhile.
pub async fn claim_timer(tx: &mut Tx, timer: &TimerRecord, now: Millis) -> StoreResult<bool> {
    let changed = tx
        .execute(
            "UPDATE timers SET fired_at = $1 WHERE id = $2 AND generation = $3 AND due_at = $4 AND fired_at IS NULL",
            vec![now.into(), timer.id.into(), timer.generation.into(), timer.due_at.into()],
        )
        .await?;
    Ok(changed == 1)
}

/// Removes a conversation's timer of `kind` set with `generation`, if it has not fired.
pub fn cancel_timer_into(
    script: &mut Script,
    conversation_id: ConversationId,
    kind: &str,
    generation: i64,
) {
    script.push(
        "DELETE FROM timers
         WHERE conversation_id = $1 AND kind = $2 AND generation = $3 AND fired_at IS NULL",
        vec![
            conversation_id.to_string().into(),
            kind.into(),
            generation.into(),
        ],
    );
}

impl Store {
    pub async fn due_timers(&self, now: Millis, limit: i64) -> StoreResult<Vec<TimerRecord>> {
        let rows = sqlx::query(
            "SELECT id, org_id, conversation_id, channel_id, contact_external_id, kind, due_at, generation
               FROM timers WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TimerRecord {
                    id: row.try_get("id")?,
                    org_id: parsed(row, "org_id")?,
                    conversation_id: parsed(row, "conversation_id")?,
                    channel_id: parsed(row, "channel_id")?,
                    contact_external_id: row.try_get("contact_external_id")?,
                    kind: row.try_get("kind")?,
                    due_at: row.try_get("due_at")?,
                    generation: row.try_get("generation")?,
                })
            })
            .collect()
    }

    pub async fn next_timer_due(&self) -> StoreResult<Option<Millis>> {
        let row = sqlx::query("SELECT MIN(due_at) AS due FROM timers WHERE fired_at IS NULL")
            .fetch_one(self.reader())
            .await?;
        Ok(row.try_get("due")?)
    }
}
