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
    // The events go in statements of up to `EVENTS_PER_STATEMENT` rows: the writer runs one
    // statement per turn, not one per event.
    for (chunk_index, chunk) in events.chunks(EVENTS_PER_STATEMENT).enumerate() {
        let mut values: Vec<super::script::Value> =
            vec![org.clone().into(), count.into(), now.into()];
        for (index, event) in chunk.iter().enumerate() {
            let offset = chunk_index * EVENTS_PER_STATEMENT + index;
            values.push((i64::try_from(offset).unwrap_or(i64::MAX) + 1).into());
            values.push(event.kind.into());
            values.push(event.conversation_id.map(|id| id.to_string()).into());
            values.push(event.data.to_string().into());
        }
        script.push_last(insert_events_sql(chunk.len()), values);
    }
}

/// Most events one `INSERT` carries.
const EVENTS_PER_STATEMENT: usize = 16;

/// The `INSERT` of `rows` events (1 to [`EVENTS_PER_STATEMENT`]): `$1` the organisation,
/// `$2` how many events the turn logs, `$3` the time, then for each row its position in the
/// turn (from 1), kind, conversation and payload. `VALUES` columns are `column1`… on SQLite
/// and Postgres alike.
fn insert_events_sql(rows: usize) -> &'static str {
    static STATEMENTS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (1..=EVENTS_PER_STATEMENT)
            .map(|rows| {
                let values: Vec<String> = (0..rows)
                    .map(|row| {
                        let first = 4 + row * 4;
                        format!("(${first}, ${}, ${}, ${})", first + 1, first + 2, first + 3)
                    })
                    .collect();
                format!(
                    "INSERT INTO events (org_id, seq, kind, conversation_id, payload, created_at)
                     SELECT $1, o.event_seq - $2 + v.column1, v.column2, v.column3, v.column4, $3
                       FROM organizations o, (VALUES {}) AS v WHERE o.id = $1",
                    values.join(", ")
                )
            })
            .collect()
    });
    &STATEMENTS[rows.clamp(1, EVENTS_PER_STATEMENT) - 1]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Bootstrap;

    #[actix_web::test]
    async fn a_turns_events_get_consecutive_numbers_in_order_however_many_there_are() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("events.db").display()
        );
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let org_id = OrgId::new();
        store
            .create_organization(
                &Bootstrap {
                    org_id,
                    org_name: "Hotel".into(),
                    owner_id: crate::domain::UserId::new(),
                    owner_email: "owner@hotel.test".into(),
                    owner_password_hash: "x".into(),
                    api_key_hash: "y".into(),
                    greeting_journey: "{}".into(),
                },
                0,
            )
            .await
            .unwrap();
        let conversation = ConversationId::new();
        // One event, then more than one statement's worth, then three.
        for (turn, count) in [1_usize, EVENTS_PER_STATEMENT * 2 + 3, 3]
            .into_iter()
            .enumerate()
        {
            let events: Vec<NewEvent> = (0..count)
                .map(|n| NewEvent {
                    kind: "message.created",
                    conversation_id: (n % 2 == 0).then_some(conversation),
                    data: serde_json::json!({"turn": turn, "n": n}),
                })
                .collect();
            let mut script = Script::new();
            append_events_into(&mut script, org_id, &events, 1_000);
            store.write_script(script).await.unwrap();
        }
        let logged = store.events_after(org_id, 0, 1_000).await.unwrap();
        let total = 1 + EVENTS_PER_STATEMENT * 2 + 3 + 3;
        assert_eq!(logged.len(), total);
        assert_eq!(store.last_event_seq(org_id).await.unwrap(), total as i64);
        let mut expected = Vec::new();
        for (turn, count) in [1_usize, EVENTS_PER_STATEMENT * 2 + 3, 3]
            .into_iter()
            .enumerate()
        {
            for n in 0..count {
                expected.push(serde_json::json!({"turn": turn, "n": n}));
            }
        }
        assert_eq!(
            logged.iter().map(|event| event.seq).collect::<Vec<_>>(),
            (1..=total as i64).collect::<Vec<_>>()
        );
        assert_eq!(
            logged
                .into_iter()
                .map(|event| event.data)
                .collect::<Vec<_>>(),
            expected
        );
    }
}
