//! AI Agents: the personas an organisation's AI Agent steps run as. A name is unique within
//! the organisation, ignoring case; every query is scoped by organisation.

use super::records::parsed;
use super::script::Script;
use super::{Columns, Store, StoreError, StoreResult};
use crate::domain::{Millis, OrgId};
use serde::Serialize;

/// Longest name, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest instructions, in characters.
pub const INSTRUCTIONS_MAX_CHARS: usize = 8_000;
/// Most agents an organisation may keep.
pub const AGENTS_MAX: i64 = 200;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AiAgentRecord {
    pub id: String,
    #[serde(skip)]
    pub org_id: OrgId,
    pub name: String,
    /// Who the agent is and how it behaves; the start of every system prompt it runs with.
    pub instructions: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const AGENT_SELECT: &str =
    "SELECT id, org_id, name, instructions, created_at, updated_at FROM ai_agents";

fn agent_from_row(row: &impl Columns) -> StoreResult<AiAgentRecord> {
    Ok(AiAgentRecord {
        id: row.text("id")?,
        org_id: parsed(row, "org_id")?,
        name: row.text("name")?,
        instructions: row.text("instructions")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// The form of a name its uniqueness is checked on.
fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Store {
    pub async fn count_ai_agents(&self, org_id: OrgId) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM ai_agents WHERE org_id = $1")
            .bind(org_id.to_string())
            .fetch_one(self.reader())
            .await?;
        row.int("n")
    }

    /// Adds an agent; `Conflict` when the organisation has one of that name.
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn create_ai_agent(
        &self,
        org_id: OrgId,
        name: &str,
        instructions: &str,
        now: Millis,
    ) -> StoreResult<AiAgentRecord> {
        let record = AiAgentRecord {
            id: uuid::Uuid::now_v7().to_string(),
            org_id,
            name: name.to_owned(),
            instructions: instructions.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let mut script = Script::new();
        script.push(
            "INSERT INTO ai_agents (id, org_id, name, name_key, instructions, created_at,
                                    updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
            vec![
                record.id.clone().into(),
                org_id.to_string().into(),
                record.name.clone().into(),
                name_key(name).into(),
                record.instructions.clone().into(),
                now.into(),
            ],
        );
        self.write_script(script).await?;
        Ok(record)
    }

    /// Every agent of the organisation, by name.
    pub async fn ai_agents(&self, org_id: OrgId) -> StoreResult<Vec<AiAgentRecord>> {
        let rows = sqlx::query(&format!(
            "{AGENT_SELECT} WHERE org_id = $1 ORDER BY name_key, id"
        ))
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(agent_from_row).collect()
    }

    /// The agent with id `reference`, or else the one named so (ignoring case).
    pub async fn ai_agent(&self, org_id: OrgId, reference: &str) -> StoreResult<AiAgentRecord> {
        let row = sqlx::query(&format!(
            "{AGENT_SELECT} WHERE org_id = $1 AND (id = $2 OR name_key = $3)
              ORDER BY CASE WHEN id = $4 THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(org_id.to_string())
        .bind(reference.trim())
        .bind(name_key(reference))
        .bind(reference.trim())
        .fetch_one(self.reader())
        .await?;
        agent_from_row(&row)
    }

    /// Replaces an agent's name and instructions; `Conflict` when another agent has the name.
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn update_ai_agent(
        &self,
        org_id: OrgId,
        id: &str,
        name: &str,
        instructions: &str,
        now: Millis,
    ) -> StoreResult<AiAgentRecord> {
        let (id, name, instructions) = (id.to_owned(), name.to_owned(), instructions.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "UPDATE ai_agents SET name = $1, name_key = $2, instructions = $3,
                                updated_at = $4
                          WHERE id = $5 AND org_id = $6",
                        vec![
                            name.as_str().into(),
                            name_key(&name).into(),
                            instructions.into(),
                            now.into(),
                            id.as_str().into(),
                            org_id.to_string().into(),
                        ],
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                let row = tx
                    .fetch_one(&format!("{AGENT_SELECT} WHERE id = $1"), vec![id.into()])
                    .await?;
                agent_from_row(&row)
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn delete_ai_agent(&self, org_id: OrgId, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "DELETE FROM ai_agents WHERE id = $1 AND org_id = $2",
                        vec![id.into(), org_id.to_string().into()],
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
        })
        .await
    }
}
