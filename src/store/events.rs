//! The organisation's event log: what agent consoles replay after a reconnect. Each event has
//! a per-organisation sequence number, allocated in the transaction that writes the change it
//! describes, so sequence order is commit order: a console that asks for everything after
//! `n` gets exactly what it missed, with no gap and no duplicate.

use super::records::parsed_json;
use super::script::Script;
use super::{Store, StoreResult};
use crate::domain::{ConversationId, Millis, OrgId};
use serde::Serialize;
use sqlx::Row;

/// An event to append: its kind (`message.created`, …), the conversation it concerns, and its
/// data as the console receives it.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub kind: &'static str,
    pub conversation_id: Option<ConversationId>,
    pub data: serde_json::Value,
}

/// A logged event.
#[derive(Clone, Debug, Serialize)]
pub struct EventRecord {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: serde_json::Value,
    pub created_at: Millis,
}

/// Appends `events` to the organisation's log, in order, inside the write of `script`.
pub fn append_events_into(script: &mut Script, org_id: OrgId, events: &[NewEvent], now: Millis) {
    if events.is_empty() {
        return;
    }
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let org = org_id.to_string();
    // Bumping the counter takes the organisation's row lock on Postgres, which orders
    // concurrent writers: sequence numbers then follow commit order. The lock is held until
    // the commit, so these statements run last in their script.
    script.push_last(
        "UPDATE organizations SET event_seq = event_seq + $2 WHERE id = $1",
        vec![org.clone().into(), count.into()],
    );
    for (index, event) in events.iter().enumerate() {
        let offset = i64::try_from(index).unwrap_or(i64::MAX);
        script.push_last(
            "INSERT INTO events (org_id, seq, kind, conversation_id, payload, created_at)
             SELECT $1, event_seq - $2 + $3, $4, $5, $6, $7 FROM organizations WHERE id = $1",
            vec![
                org.clone().into(),
                count.into(),
                (offset + 1).into(),
                event.kind.into(),
                event.conversation_id.map(|id| id.to_string()).into(),
                event.data.to_string().into(),
                now.into(),
            ],
        );
    }
}

impl Store {
    /// Events of the organisation after `after`, oldest first, at most `limit`, once they
    /// are durable (a console must never see an event a power cut could take back: its
    /// sequence number would be given to another).
    pub async fn events_after(
        &self,
        org_id: OrgId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<EventRecord>> {
        let rows = sqlx::query(
            "SELECT seq, kind, payload, created_at FROM events
              WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(org_id.to_string())
        .bind(after)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        self.durable().await;
        rows.iter()
            .map(|row| {
                Ok(EventRecord {
                    seq: row.try_get("seq")?,
                    kind: row.try_get("kind")?,
                    data: parsed_json(row, "payload")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// The organisation's latest durable sequence number (0 before its first event).
    pub async fn last_event_seq(&self, org_id: OrgId) -> StoreResult<i64> {
        let row = sqlx::query("SELECT event_seq FROM organizations WHERE id = $1")
            .bind(org_id.to_string())
            .fetch_one(self.reader())
            .await?;
        self.durable().await;
        Ok(row.try_get("event_seq")?)
    }

    /// The oldest sequence number still in the organisation's log, if any.
    pub async fn first_event_seq(&self, org_id: OrgId) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT MIN(seq) AS first FROM events WHERE org_id = $1")
            .bind(org_id.to_string())
            .fetch_one(self.reader())
            .await?;
        Ok(row.try_get("first")?)
    }

    /// Forgets events older than `before`; a console further behind reloads instead.
    /// Answers how many were removed.
    pub async fn prune_events(&self, before: Millis) -> StoreResult<u64> {
        self.write(move |tx| {
            Box::pin(tx.execute(
                "DELETE FROM events WHERE created_at < $1",
                vec![before.into()],
            ))
        })
        .await
    }
}
