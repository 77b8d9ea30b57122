//! Channels: configuration (credentials sealed by the caller), status and soft deletion.

use super::records::{parsed, ChannelRecord};
use super::script::Script;
use super::{Store, StoreError, StoreResult};
use crate::domain::{ChannelId, ChannelKind, ChannelStatus, Millis, OrgId};
use sqlx::any::AnyRow;
use sqlx::Row;

pub struct NewChannel {
    pub id: ChannelId,
    pub org_id: OrgId,
    pub kind: ChannelKind,
    pub name: String,
    pub status: ChannelStatus,
    pub public_config: serde_json::Value,
    pub sealed_secrets: String,
}

const COLUMNS: &str = "id, org_id, kind, name, status, status_reason, active, public_config, \
                       secret_config, created_at, updated_at";

fn channel_from_row(row: &AnyRow) -> StoreResult<ChannelRecord> {
    let public_config: String = row.try_get("public_config")?;
    Ok(ChannelRecord {
        id: parsed(row, "id")?,
        org_id: parsed(row, "org_id")?,
        kind: parsed(row, "kind")?,
        name: row.try_get("name")?,
        status: parsed(row, "status")?,
        status_reason: row.try_get("status_reason")?,
        active: row.try_get::<i64, _>("active")? != 0,
        public_config: serde_json::from_str(&public_config)
            .map_err(|error| StoreError::Corrupt(format!("public_config: {error}")))?,
        sealed_secrets: row.try_get("secret_config")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn insert_channel(&self, channel: &NewChannel, now: Millis) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "INSERT INTO channels (id, org_id, kind, name, status, active, public_config,
                                   secret_config, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $8)",
            vec![
                channel.id.to_string().into(),
                channel.org_id.to_string().into(),
                channel.kind.as_str().into(),
                channel.name.as_str().into(),
                channel.status.as_str().into(),
                channel.public_config.to_string().into(),
                channel.sealed_secrets.as_str().into(),
                now.into(),
            ],
        );
        self.write_script(script).await
    }

    pub async fn list_channels(&self, org_id: OrgId) -> StoreResult<Vec<ChannelRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE org_id = $1 AND deleted_at IS NULL
             ORDER BY created_at, id"
        ))
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    /// A channel of one organisation; another organisation's channel is `NotFound`.
    pub async fn channel(&self, org_id: OrgId, id: ChannelId) -> StoreResult<ChannelRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL"
        ))
        .bind(id.to_string())
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        channel_from_row(&row)
    }

    /// A channel by id alone, for webhook ingress, where the provider (not a tenant) calls.
    pub async fn channel_for_ingress(&self, id: ChannelId) -> StoreResult<ChannelRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id.to_string())
        .fetch_one(self.reader())
        .await?;
        channel_from_row(&row)
    }

    /// Every live channel, for starting channel actors at boot.
    pub async fn all_channels(&self) -> StoreResult<Vec<ChannelRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE deleted_at IS NULL ORDER BY created_at"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    pub async fn delete_channel(
        &self,
        org_id: OrgId,
        id: ChannelId,
        now: Millis,
    ) -> StoreResult<()> {
        let values = vec![now.into(), id.to_string().into(), org_id.to_string().into()];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE channels SET deleted_at = $1, updated_at = $1, status = 'disconnected'
                     WHERE id = $2 AND org_id = $3 AND deleted_at IS NULL",
                    values,
                ))
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn set_channel_status(
        &self,
        id: ChannelId,
        status: ChannelStatus,
        reason: Option<&str>,
        now: Millis,
        events: Script,
    ) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "UPDATE channels SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4",
            vec![
                status.as_str().into(),
                reason.into(),
                now.into(),
                id.to_string().into(),
            ],
        );
        script.append(events);
        self.write_script(script).await
    }
}
