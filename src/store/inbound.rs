//! The `inbound` table: every webhook event, written before the webhook is acknowledged and
//! deduplicated on `(channel_id, dedupe_key)`.

use super::records::{parsed, InboundRecord};
use super::script::{Script, Value};
use super::{Columns, Durable, Store, StoreResult, Tx};
use crate::domain::{ChannelId, Millis, OrgId};
use sqlx::Row;

/// Rows per INSERT statement, well under both backends' bound-parameter limits.
const INSERT_CHUNK_ROWS: usize = 500;

pub struct NewInbound {
    pub org_id: OrgId,
    pub channel_id: ChannelId,
    pub dedupe_key: String,
    pub contact_external_id: String,
    /// The parsed `InboundEvent` as JSON.
    pub payload: String,
    pub received_at: Millis,
}

impl Store {
    /// Writes a batch in one statement. Returns, per row, its new id, or `None` when the row
    /// was a duplicate of one already stored (or of an earlier row of the same batch).
    pub async fn insert_inbound_batch(
        &self,
        rows: Vec<NewInbound>,
    ) -> StoreResult<Vec<Option<i64>>> {
        self.write_alone(move |tx| Box::pin(insert_inbound(tx, rows)))
            .await
    }

    /// `insert_inbound_batch`, answered at commit, before the sync (see
    /// `Store::write_committed`): the events may be handed to their conversations at once,
    /// while the provider hears of them only once they are durable.
    pub(crate) async fn insert_inbound_committed(
        &self,
        rows: Vec<NewInbound>,
    ) -> StoreResult<(Vec<Option<i64>>, Durable)> {
        self.write_committed(move |tx| Box::pin(insert_inbound(tx, rows)))
            .await
    }

    /// Unprocessed, unquarantined rows with an id above `after`, oldest first: replayed at
    /// start-up and by the sweeper.
    pub async fn unprocessed_inbound(
        &self,
        after: i64,
        received_before: Millis,
        limit: i64,
    ) -> StoreResult<Vec<InboundRecord>> {
        let rows = sqlx::query(
            "SELECT id, org_id, channel_id, contact_external_id, payload, received_at, attempts
               FROM inbound
              WHERE processed_at IS NULL AND quarantined_at IS NULL AND id > $1 AND received_at <= $2
              ORDER BY id LIMIT $3",
        )
        .bind(after)
        .bind(received_before)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(InboundRecord {
                    id: row.try_get("id")?,
                    org_id: parsed(row, "org_id")?,
                    channel_id: parsed(row, "channel_id")?,
                    contact_external_id: row.try_get("contact_external_id")?,
                    payload: row.try_get("payload")?,
                    received_at: row.try_get("received_at")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Counts a failed attempt at handling a row and quarantines it once it has failed
    /// `quarantine_after` times, so a poison event cannot loop forever. Returns whether the row
    /// is now quarantined.
    pub async fn record_inbound_failure(
        &self,
        id: i64,
        error: &str,
        quarantine_after: i64,
        now: Millis,
    ) -> StoreResult<bool> {
        let error = error.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let row = tx
                    .fetch_optional(
                        "UPDATE inbound SET attempts = attempts + 1, last_error = $1,
                                quarantined_at = CASE WHEN attempts + 1 >= $2 THEN $3 ELSE NULL END
                          WHERE id = $4 RETURNING quarantined_at",
                        vec![error.into(), quarantine_after.into(), now.into(), id.into()],
                    )
                    .await?;
                Ok(match row {
                    Some(row) => row.opt_int("quarantined_at")?.is_some(),
                    None => false,
                })
            })
        })
        .await
    }

    pub async fn count_quarantined_inbound(&self, channel_id: ChannelId) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM inbound WHERE channel_id = $1 AND quarantined_at IS NOT NULL",
        )
        .bind(channel_id.to_string())
        .fetch_one(self.reader())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Deletes processed rows received before `before`. Callers keep at least the longest
    /// provider redelivery horizon (8 days) so a late redelivery is still recognised.
    pub async fn prune_inbound(&self, before: Millis) -> StoreResult<u64> {
        self.write(move |tx| {
            Box::pin(tx.execute(
                "DELETE FROM inbound WHERE processed_at IS NOT NULL AND received_at < $1",
                vec![before.into()],
            ))
        })
        .await
    }

    /// Whether an inbound row was processed (or quarantined) already.
    pub async fn inbound_processed(&self, id: i64) -> StoreResult<bool> {
        let row = sqlx::query("SELECT processed_at, quarantined_at FROM inbound WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        Ok(match row {
            Some(row) => {
                row.try_get::<Option<i64>, _>("processed_at")?.is_some()
                    || row.try_get::<Option<i64>, _>("quarantined_at")?.is_some()
            }
            None => true,
        })
    }

    /// Inbound rows of a channel, for tests and diagnostics.
    pub async fn count_inbound(&self, channel_id: ChannelId) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM inbound WHERE channel_id = $1")
            .bind(channel_id.to_string())
            .fetch_one(self.reader())
            .await?;
        Ok(row.try_get("n")?)
    }
}

/// Marks a row processed, as part of the script that handles it. The caller has checked that
/// the row was not processed yet (`Store::inbound_processed`): a conversation has one writer,
/// so nothing can process the row in between.
pub fn mark_inbound_processed_into(script: &mut Script, id: i64, now: Millis) {
    script.push(
        "UPDATE inbound SET processed_at = $1 WHERE id = $2 AND processed_at IS NULL",
        vec![now.into(), id.into()],
    );
}

/// Marks a row processed inside the transaction that handles it. Returns false when it was
/// already processed or quarantined: the event must then not be handled again.
pub async fn claim_inbound(tx: &mut Tx, id: i64, now: Millis) -> StoreResult<bool> {
    let changed = tx
        .execute(
            "UPDATE inbound SET processed_at = $1 WHERE id = $2 AND processed_at IS NULL AND quarantined_at IS NULL",
            vec![now.into(), id.into()],
        )
        .await?;
    Ok(changed == 1)
}

/// Gives a claimed row back, inside the transaction that claimed it: the event will be offered
/// again later.
pub async fn unclaim_inbound(tx: &mut Tx, id: i64) -> StoreResult<()> {
    tx.execute(
        "UPDATE inbound SET processed_at = NULL WHERE id = $1",
        vec![id.into()],
    )
    .await?;
    Ok(())
}

/// Inserts the rows, chunk by chunk, in key order, so that two transactions inserting some of
/// the same keys (a webhook redelivered to two nodes) take their locks in the same order and
/// cannot deadlock. Returns, per row in the order given, its new id, or `None` for a duplicate.
async fn insert_inbound(tx: &mut Tx, rows: Vec<NewInbound>) -> StoreResult<Vec<Option<i64>>> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        (rows[a].channel_id.as_uuid(), &rows[a].dedupe_key)
            .cmp(&(rows[b].channel_id.as_uuid(), &rows[b].dedupe_key))
    });
    let mut slots: Vec<Option<NewInbound>> = rows.into_iter().map(Some).collect();
    let sorted: Vec<NewInbound> = order
        .iter()
        .map(|&index| slots[index].take().expect("each row is taken once"))
        .collect();
    let ids = insert_sorted(tx, sorted).await?;
    let mut by_position = vec![None; ids.len()];
    for (id, &index) in ids.into_iter().zip(&order) {
        by_position[index] = id;
    }
    Ok(by_position)
}

async fn insert_sorted(tx: &mut Tx, rows: Vec<NewInbound>) -> StoreResult<Vec<Option<i64>>> {
    let mut ids: Vec<Option<i64>> = vec![None; rows.len()];
    for chunk_start in (0..rows.len()).step_by(INSERT_CHUNK_ROWS) {
        let chunk = &rows[chunk_start..rows.len().min(chunk_start + INSERT_CHUNK_ROWS)];
        let placeholders: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = i * 6;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO inbound (org_id, channel_id, dedupe_key, contact_external_id, payload, received_at)
             VALUES {} ON CONFLICT (channel_id, dedupe_key) DO NOTHING
             RETURNING id, channel_id, dedupe_key",
            placeholders.join(", ")
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 6);
        for row in chunk {
            values.extend([
                row.org_id.to_string().into(),
                row.channel_id.to_string().into(),
                row.dedupe_key.as_str().into(),
                row.contact_external_id.as_str().into(),
                row.payload.as_str().into(),
                row.received_at.into(),
            ]);
        }
        let inserted = tx.fetch_all(&sql, values).await?;
        // The first row of the chunk with an inserted key gets its id; a later row
        // with the same key in the same batch is a duplicate.
        let mut by_key: std::collections::HashMap<(String, String), i64> = inserted
            .iter()
            .map(|row| {
                Ok((
                    (row.text("channel_id")?, row.text("dedupe_key")?),
                    row.int("id")?,
                ))
            })
            .collect::<StoreResult<_>>()?;
        for (offset, row) in chunk.iter().enumerate() {
            ids[chunk_start + offset] =
                by_key.remove(&(row.channel_id.to_string(), row.dedupe_key.clone()));
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(channel_id: ChannelId, key: &str) -> NewInbound {
        NewInbound {
            org_id: OrgId::new(),
            channel_id,
            dedupe_key: key.to_owned(),
            contact_external_id: "447700900001".into(),
            payload: "{}".into(),
            received_at: 1,
        }
    }

    #[tokio::test]
    async fn rows_inserted_in_key_order_are_answered_in_the_order_given() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let (first, second) = (ChannelId::new(), ChannelId::new());
        store
            .insert_inbound_batch(vec![row(first, "wamid.B")])
            .await
            .unwrap();
        // Out of key order, with a key stored before and one repeated within the batch.
        let ids = store
            .insert_inbound_batch(vec![
                row(second, "wamid.Z"),
                row(first, "wamid.B"),
                row(first, "wamid.A"),
                row(second, "wamid.Z"),
                row(first, "wamid.C"),
            ])
            .await
            .unwrap();
        assert!(
            ids[0].is_some() && ids[2].is_some() && ids[4].is_some(),
            "{ids:?}"
        );
        assert_eq!((ids[1], ids[3]), (None, None), "duplicates: {ids:?}");
        // Each id is the row of the key given at its position.
        for (index, key) in [(0, "wamid.Z"), (2, "wamid.A"), (4, "wamid.C")] {
            let stored: String = sqlx::query_scalar("SELECT dedupe_key FROM inbound WHERE id = $1")
                .bind(ids[index].unwrap())
                .fetch_one(store.reader())
                .await
                .unwrap();
            assert_eq!(stored, key);
        }
    }
}
