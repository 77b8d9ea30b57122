//! The organisation's event log: what agent consoles replay after a reconnect. Each event has
//! a per-organisation sequence number, and an event is readable only once it has one, so that
//! a console that asks for everything after `n` gets exactly what it missed, with no gap and
//! no duplicate: sequence numbers become visible in their order.
//!
//! - **SQLite** has one writer: the transaction that writes the change numbers its events too,
//!   bumping `organizations.event_seq`.
//! - **Postgres** has many writers on many nodes. Numbering in the writing transaction would
//!   hold the organisation's row lock from the bump to the commit, WAL flush included, and every
//!   transaction of the organisation that logs an event would queue for it. So the writing
//!   transaction stores its events unnumbered, and [`Store::sequence_events`] numbers the
//!   committed ones afterwards, in batches: one short transaction takes the row lock, gives the
//!   unnumbered events the next numbers in the order they were written, and commits. The lock
//!   orders those transactions, so numbers become visible in order, and only committed events
//!   are ever numbered, so a rolled-back write leaves no gap. The agent hubs number before they
//!   read.

use super::records::parsed_json;
use super::script::Value;
use super::{Backend, Store, StoreResult};
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

/// Events a script appends to one organisation's log, in order. The transaction writes them
/// after the script's statements, in its backend's way (see the module's documentation). Each
/// event's payload is serialised here, where the script is made, not on the write path.
#[derive(Clone, Debug)]
pub struct LoggedEvents {
    org: String,
    now: Millis,
    /// Kind, conversation and payload of each event.
    rows: Vec<[Value; 3]>,
}

impl LoggedEvents {
    pub fn new(org_id: OrgId, events: Vec<NewEvent>, now: Millis) -> Self {
        Self {
            org: org_id.to_string(),
            now,
            rows: events
                .into_iter()
                .map(|event| {
                    [
                        event.kind.into(),
                        event.conversation_id.map(|id| id.to_string()).into(),
                        event.data.to_string().into(),
                    ]
                })
                .collect(),
        }
    }

    /// The statements that write the events on `backend`.
    pub(super) fn statements(&self, backend: Backend) -> Vec<(&'static str, Vec<Value>)> {
        if self.rows.is_empty() {
            return Vec::new();
        }
        let count = i64::try_from(self.rows.len()).unwrap_or(i64::MAX);
        let mut statements = Vec::new();
        if backend == Backend::Sqlite {
            statements.push((
                "UPDATE organizations SET event_seq = event_seq + $2 WHERE id = $1",
                vec![self.org.as_str().into(), count.into()],
            ));
        }
        // Up to `EVENTS_PER_STATEMENT` rows per statement: the writer runs one statement per
        // turn, not one per event.
        for (chunk_index, chunk) in self.rows.chunks(EVENTS_PER_STATEMENT).enumerate() {
            let mut values: Vec<Value> = vec![self.org.as_str().into(), self.now.into()];
            if backend == Backend::Sqlite {
                values.push(count.into());
            }
            for (index, row) in chunk.iter().enumerate() {
                if backend == Backend::Sqlite {
                    let offset = chunk_index * EVENTS_PER_STATEMENT + index;
                    values.push((i64::try_from(offset).unwrap_or(i64::MAX) + 1).into());
                }
                values.extend(row.iter().cloned());
            }
            statements.push((insert_events_sql(backend, chunk.len()), values));
        }
        statements
    }

    #[cfg(test)]
    pub(super) fn first_kind(&self) -> &str {
        match self.rows.first() {
            Some([Value::Text(Some(kind)), ..]) => kind,
            _ => "",
        }
    }
}

/// Appends `events` to the organisation's log, in order, inside the write of `script`.
pub fn append_events_into(
    script: &mut super::script::Script,
    org_id: OrgId,
    events: Vec<NewEvent>,
    now: Millis,
) {
    if !events.is_empty() {
        script.log(LoggedEvents::new(org_id, events, now));
    }
}

/// Most events one `INSERT` carries.
const EVENTS_PER_STATEMENT: usize = 16;

/// The `INSERT` of `rows` events (1 to [`EVENTS_PER_STATEMENT`]). `$1` is the organisation and
/// `$2` the time. On SQLite `$3` is how many events the turn logs, and each row has its
/// position in the turn (from 1), kind, conversation and payload; the number is the bumped
/// counter less the count plus the position (`VALUES` columns are `column1`…). On Postgres
/// each row has its kind, conversation and payload, and no number.
fn insert_events_sql(backend: Backend, rows: usize) -> &'static str {
    static SQLITE: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (1..=EVENTS_PER_STATEMENT)
            .map(|rows| {
                format!(
                    "INSERT INTO events (org_id, seq, kind, conversation_id, payload, created_at)
                     SELECT $1, o.event_seq - $3 + v.column1, v.column2, v.column3, v.column4, $2
                       FROM organizations o, (VALUES {}) AS v WHERE o.id = $1",
                    placeholders(rows, 4, 4)
                )
            })
            .collect()
    });
    static POSTGRES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (1..=EVENTS_PER_STATEMENT)
            .map(|rows| {
                let values: Vec<String> = (0..rows)
                    .map(|row| {
                        let first = 3 + row * 3;
                        format!("($1, ${first}, ${}, ${}, $2)", first + 1, first + 2)
                    })
                    .collect();
                format!(
                    "INSERT INTO events (org_id, kind, conversation_id, payload, created_at)
                     VALUES {}",
                    values.join(", ")
                )
            })
            .collect()
    });
    let statements = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    &statements[rows.clamp(1, EVENTS_PER_STATEMENT) - 1]
}

/// `($first, …), …`: `rows` tuples of `width` parameters, numbered on from `first`.
fn placeholders(rows: usize, width: usize, first: usize) -> String {
    (0..rows)
        .map(|row| {
            let numbers: Vec<String> = (0..width)
                .map(|column| format!("${}", first + row * width + column))
                .collect();
            format!("({})", numbers.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Most events one numbering transaction numbers; more wait for the next one.
const SEQUENCE_BATCH: i64 = 5_000;

impl Store {
    /// Numbers the organisation's committed events that have no number yet (Postgres; on
    /// SQLite every event is numbered when written). Agent hubs call it before they read the
    /// log; any number of callers on any number of nodes may call it at once.
    pub async fn sequence_events(&self, org_id: OrgId) -> StoreResult<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let org = org_id.to_string();
        loop {
            // Most calls find nothing to do, often because another node's hub has just
            // numbered the events it was told about too: a read, no lock and no commit.
            let waiting =
                sqlx::query("SELECT 1 FROM events WHERE org_id = $1 AND seq IS NULL LIMIT 1")
                    .bind(&org)
                    .fetch_optional(&self.write)
                    .await?;
            if waiting.is_none() {
                return Ok(());
            }
            // One round trip (see the function in migration 0015): the organisation's row
            // lock is never held while this process is busy elsewhere.
            let numbered: i64 = sqlx::query("SELECT parley_number_events($1, $2) AS numbered")
                .bind(&org)
                .bind(SEQUENCE_BATCH)
                .fetch_one(&self.write)
                .await?
                .try_get("numbered")?;
            if numbered < SEQUENCE_BATCH {
                return Ok(());
            }
        }
    }

    /// Numbers the waiting events of every organisation (Postgres), so that the log never
    /// holds more than a moment's worth of unnumbered events, consoles or not.
    pub async fn sequence_all_events(&self) -> StoreResult<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let rows = sqlx::query("SELECT DISTINCT org_id FROM events WHERE seq IS NULL")
            .fetch_all(&self.write)
            .await?;
        for row in rows {
            let org: String = row.try_get("org_id")?;
            let org_id = org
                .parse()
                .map_err(|_| super::StoreError::Corrupt(format!("event org_id {org}")))?;
            self.sequence_events(org_id).await?;
        }
        Ok(())
    }

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
    use crate::store::script::Script;
    use crate::store::Bootstrap;

    #[test]
    fn postgres_writes_events_unnumbered_and_sqlite_numbers_them_in_the_write() {
        let events: Vec<NewEvent> = (0..EVENTS_PER_STATEMENT + 4)
            .map(|n| NewEvent {
                kind: "message.created",
                conversation_id: None,
                data: serde_json::json!({ "n": n }),
            })
            .collect();
        let logged = LoggedEvents::new(OrgId::new(), events, 7);

        let postgres = logged.statements(Backend::Postgres);
        assert_eq!(
            postgres.len(),
            2,
            "one INSERT per {EVENTS_PER_STATEMENT} events"
        );
        for (sql, _) in &postgres {
            assert!(
                sql.starts_with("INSERT INTO events (org_id, kind,"),
                "{sql}"
            );
            assert!(!sql.contains("event_seq"), "{sql}");
        }
        // The organisation and the time, then kind, conversation and payload per event.
        assert_eq!(postgres[0].1.len(), 2 + EVENTS_PER_STATEMENT * 3);
        assert_eq!(postgres[1].1.len(), 2 + 4 * 3);
        assert!(postgres[1].0.contains("$14") && !postgres[1].0.contains("$15"));

        let sqlite = logged.statements(Backend::Sqlite);
        assert_eq!(sqlite.len(), 3);
        assert!(sqlite[0]
            .0
            .starts_with("UPDATE organizations SET event_seq"));
        // The organisation, the time and the count, then the position and three columns.
        assert_eq!(sqlite[1].1.len(), 3 + EVENTS_PER_STATEMENT * 4);
        assert_eq!(sqlite[2].1.len(), 3 + 4 * 4);
        assert!(LoggedEvents::new(OrgId::new(), Vec::new(), 7)
            .statements(Backend::Postgres)
            .is_empty());
    }

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
            append_events_into(&mut script, org_id, events, 1_000);
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
