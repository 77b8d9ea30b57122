//! Journeys and journey sessions.

use super::records::parsed;
use super::script::Script;
use super::{Columns, Store, StoreError, StoreResult, Tx};
use crate::domain::{ConversationId, Millis, OrgId};
use sqlx::Row;

/// A stored journey graph, still as JSON: the journey module parses it.
#[derive(Clone, Debug)]
pub struct StoredJourney {
    pub id: uuid::Uuid,
    pub graph: String,
    pub updated_at: Millis,
}

/// A stored session: the journey it runs and the interpreter's state as JSON.
#[derive(Clone, Debug)]
pub struct StoredSession {
    pub journey_id: uuid::Uuid,
    pub state: String,
}

impl Store {
    /// The built-in journey an organisation answers with until it deploys its own.
    pub async fn builtin_journey(&self, org_id: OrgId) -> StoreResult<StoredJourney> {
        let row = sqlx::query(
            "SELECT id, graph, updated_at FROM journeys WHERE org_id = $1 AND builtin = 1",
        )
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        Ok(StoredJourney {
            id: parsed(&row, "id")?,
            graph: row.try_get("graph")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    pub async fn update_builtin_journey(
        &self,
        org_id: OrgId,
        graph: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let values = vec![graph.into(), now.into(), org_id.to_string().into()];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE journeys SET graph = $1, updated_at = $2 WHERE org_id = $3 AND builtin = 1",
                    values,
                ))
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn journey_session(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<StoredSession>> {
        let row = sqlx::query(
            "SELECT journey_id, state FROM journey_sessions WHERE conversation_id = $1",
        )
        .bind(conversation_id.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            Ok(StoredSession {
                journey_id: parsed(&row, "journey_id")?,
                state: row.try_get("state")?,
            })
        })
        .transpose()
    }
}

pub fn save_session_into(
    script: &mut Script,
    org_id: OrgId,
    conversation_id: ConversationId,
    session: &StoredSession,
    generation: i64,
    now: Millis,
) {
    script.push(
        "INSERT INTO journey_sessions (conversation_id, org_id, journey_id, state, generation, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (conversation_id) DO UPDATE
            SET journey_id = excluded.journey_id, state = excluded.state,
                generation = excluded.generation, updated_at = excluded.updated_at",
        vec![
            conversation_id.to_string().into(),
            org_id.to_string().into(),
            session.journey_id.to_string().into(),
            session.state.clone().into(),
            generation.into(),
            now.into(),
        ],
    );
}

/// The session of a conversation, read inside a write transaction.
pub async fn session_in(
    tx: &mut Tx,
    conversation_id: ConversationId,
) -> StoreResult<Option<StoredSession>> {
    let row = tx
        .fetch_optional(
            "SELECT journey_id, state FROM journey_sessions WHERE conversation_id = $1",
            vec![conversation_id.to_string().into()],
        )
        .await?;
    row.map(|row| {
        Ok(StoredSession {
            journey_id: parsed(&row, "journey_id")?,
            state: row.text("state")?,
        })
    })
    .transpose()
}
