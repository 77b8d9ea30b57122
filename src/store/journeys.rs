//! Journeys (the draft graph and its deployed versions), channel assignment, journey
//! sessions and campaign variables.
//!
//! A journey row holds the draft graph. Deploying snapshots it as an immutable version; new
//! sessions take the live version and keep the version they started with, so a redeploy never
//! strands a running session. Undeploying raises `sessions_from_version` above every existing
//! version, which ends the sessions that ran on them.

use super::records::{opt_parsed, parsed};
use super::script::Script;
use super::{Columns, Store, StoreError, StoreResult, Tx};
use crate::domain::{ChannelId, ConversationId, Millis, OrgId, UserId};
use sqlx::Row;

/// A stored journey graph, still as JSON: the journey module parses it.
#[derive(Clone, Debug)]
pub struct StoredJourney {
    pub id: uuid::Uuid,
    pub graph: String,
    pub updated_at: Millis,
}

/// A stored session: the journey (and version) it runs and the interpreter's state as JSON.
#[derive(Clone, Debug)]
pub struct StoredSession {
    pub journey_id: uuid::Uuid,
    /// `None` for the built-in greeting, which has no versions.
    pub version: Option<i64>,
    pub state: String,
}

/// A journey as partners manage it.
#[derive(Clone, Debug)]
pub struct JourneyRecord {
    pub id: uuid::Uuid,
    pub org_id: OrgId,
    pub name: String,
    pub description: Option<String>,
    /// `draft` or `live`.
    pub state: String,
    pub graph: String,
    pub live_version: Option<i64>,
    pub latest_version: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Clone, Debug)]
pub struct JourneyVersionRecord {
    pub version: i64,
    pub graph: String,
    pub deployed_by: Option<String>,
    pub restored_from: Option<i64>,
    pub created_at: Millis,
}

/// The journey a channel answers with: its assigned live journey at its live version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelJourney {
    pub journey_id: uuid::Uuid,
    pub version: i64,
    /// Sessions of this journey on a version below this were ended by an undeploy.
    pub sessions_from_version: i64,
    pub bot_user_id: Option<UserId>,
}

const JOURNEY_COLUMNS: &str = "id, org_id, name, description, state, graph, live_version, \
                               latest_version, created_at, updated_at";

fn journey_from_row(row: &impl Columns) -> StoreResult<JourneyRecord> {
    Ok(JourneyRecord {
        id: parsed(row, "id")?,
        org_id: parsed(row, "org_id")?,
        name: row.text("name")?,
        description: row.opt_text("description")?,
        state: row.text("state")?,
        graph: row.text("graph")?,
        live_version: row.opt_int("live_version")?,
        latest_version: row.int("latest_version")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// A journey to create.
pub struct NewJourney {
    pub id: uuid::Uuid,
    pub org_id: OrgId,
    pub name: String,
    pub description: Option<String>,
    pub graph: String,
}

/// A rename, re-description or new draft graph; `None` leaves a part as it is.
#[derive(Default)]
pub struct JourneyChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub graph: Option<String>,
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

    /// The organisation's own journeys (not the built-in greeting), by name; `search` keeps
    /// those whose name contains it, ignoring case.
    pub async fn list_journeys(
        &self,
        org_id: OrgId,
        search: Option<&str>,
    ) -> StoreResult<Vec<JourneyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOURNEY_COLUMNS} FROM journeys WHERE org_id = $1 AND builtin = 0
             ORDER BY name, id"
        ))
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        // Matched here rather than in SQL: SQLite's LOWER() folds ASCII letters only.
        let search = search
            .map(str::trim)
            .filter(|search| !search.is_empty())
            .map(str::to_lowercase);
        let mut journeys = Vec::with_capacity(rows.len());
        for row in &rows {
            let journey = journey_from_row(row)?;
            if search
                .as_deref()
                .is_none_or(|search| journey.name.to_lowercase().contains(search))
            {
                journeys.push(journey);
            }
        }
        Ok(journeys)
    }

    /// One of the organisation's journeys; another organisation's is `NotFound`.
    pub async fn journey(&self, org_id: OrgId, id: uuid::Uuid) -> StoreResult<JourneyRecord> {
        let row = sqlx::query(&format!(
            "SELECT {JOURNEY_COLUMNS} FROM journeys WHERE id = $1 AND org_id = $2 AND builtin = 0"
        ))
        .bind(id.to_string())
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        journey_from_row(&row)
    }

    /// Creates a draft journey; a name the organisation already uses is `Conflict`.
    pub async fn create_journey(&self, journey: NewJourney, now: Millis) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "INSERT INTO journeys (id, org_id, name, description, state, builtin, graph,
                                   latest_version, sessions_from_version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'draft', 0, $5, 0, 0, $6, $6)",
            vec![
                journey.id.to_string().into(),
                journey.org_id.to_string().into(),
                journey.name.into(),
                journey.description.into(),
                journey.graph.into(),
                now.into(),
            ],
        );
        self.write_script(script).await
    }

    /// Changes a journey's name, description or draft graph.
    pub async fn update_journey(
        &self,
        org_id: OrgId,
        id: uuid::Uuid,
        change: JourneyChange,
        now: Millis,
    ) -> StoreResult<()> {
        use super::script::Value;
        // One statement with a COALESCE per column keeps the columns not being changed.
        let (name, graph) = (change.name, change.graph);
        let (set_description, description) = match change.description {
            Some(description) => (1_i64, description),
            None => (0, None),
        };
        let values: Vec<Value> = vec![
            id.to_string().into(),
            org_id.to_string().into(),
            now.into(),
            name.into(),
            set_description.into(),
            description.into(),
            graph.into(),
        ];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE journeys
                        SET name = COALESCE($4, name),
                            description = CASE WHEN $5 = 1 THEN $6 ELSE description END,
                            graph = COALESCE($7, graph),
                            updated_at = $3
                      WHERE id = $1 AND org_id = $2 AND builtin = 0",
                    values,
                ))
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Replaces the draft graph only if it is still `expected`: `false` when someone changed it
    /// meanwhile (the caller reads it again and retries).
    pub async fn replace_journey_graph(
        &self,
        org_id: OrgId,
        id: uuid::Uuid,
        expected: String,
        graph: String,
        now: Millis,
    ) -> StoreResult<bool> {
        let values = vec![
            id.to_string().into(),
            org_id.to_string().into(),
            expected.into(),
            graph.into(),
            now.into(),
        ];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE journeys SET graph = $4, updated_at = $5
                     WHERE id = $1 AND org_id = $2 AND builtin = 0 AND graph = $3",
                    values,
                ))
            })
            .await?;
        Ok(changed == 1)
    }

    /// Deletes a journey with its versions and sessions, and unassigns it from channels.
    pub async fn delete_journey(&self, org_id: OrgId, id: uuid::Uuid) -> StoreResult<()> {
        let (org, id) = (org_id.to_string(), id.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let scope = || vec![id.clone().into(), org.clone().into()];
                tx.execute(
                    "UPDATE channels SET journey_id = NULL, bot_user_id = NULL
                     WHERE journey_id = $1 AND org_id = $2",
                    scope(),
                )
                .await?;
                tx.execute(
                    "DELETE FROM journey_sessions WHERE journey_id = $1 AND org_id = $2",
                    scope(),
                )
                .await?;
                tx.execute(
                    "DELETE FROM journey_versions WHERE journey_id = $1 AND org_id = $2",
                    scope(),
                )
                .await?;
                let deleted = tx
                    .execute(
                        "DELETE FROM journeys WHERE id = $1 AND org_id = $2 AND builtin = 0",
                        scope(),
                    )
                    .await?;
                if deleted == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
        })
        .await
    }

    /// Snapshots `graph` (what the caller made of the draft `draft` it validated) as the next
    /// version and makes it live. If the draft changed since the caller read it, nothing
    /// happens: `Conflict` with [`DRAFT_CHANGED`]. Deploys racing for a version number are
    /// retried.
    pub async fn deploy_journey(
        &self,
        org_id: OrgId,
        id: uuid::Uuid,
        draft: String,
        graph: String,
        deployed_by: UserId,
        now: Millis,
    ) -> StoreResult<i64> {
        for _ in 1..VERSION_ATTEMPTS {
            match self
                .deploy_journey_once(org_id, id, (draft.clone(), graph.clone()), deployed_by, now)
                .await
            {
                Err(StoreError::Conflict(reason)) if reason == VERSION_RACE => continue,
                other => return other,
            }
        }
        self.deploy_journey_once(org_id, id, (draft, graph), deployed_by, now)
            .await
    }

    async fn deploy_journey_once(
        &self,
        org_id: OrgId,
        id: uuid::Uuid,
        (draft, graph): (String, String),
        deployed_by: UserId,
        now: Millis,
    ) -> StoreResult<i64> {
        let (org, id, by) = (org_id.to_string(), id.to_string(), deployed_by.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let row = tx
                    .fetch_one(
                        "SELECT graph, latest_version FROM journeys
                         WHERE id = $1 AND org_id = $2 AND builtin = 0",
                        vec![id.clone().into(), org.clone().into()],
                    )
                    .await?;
                if row.text("graph")? != draft {
                    return Err(StoreError::Conflict(DRAFT_CHANGED.into()));
                }
                let version = row.int("latest_version")? + 1;
                publish(tx, &org, &id, version, &graph, &by, None, now).await?;
                Ok(version)
            })
        })
        .await
    }

    /// Makes an earlier version live again, as a new version with its graph (which also
    /// becomes the draft). Rollbacks racing with deploys for a version number are retried.
    pub async fn rollback_journey(
        &self,
        org_id: OrgId,
        id: uuid::Uuid,
        to_version: i64,
        deployed_by: UserId,
        now: Millis,
    ) -> StoreResult<i64> {
        for _ in 1..VERSION_ATTEMPTS {
            match self
                .rollback_journey_once(org_id, id, to_version, deployed_by, now)
                .await
            {
                Err(StoreError::Conflict(reason)) if reason == VERSION_RACE => continue,
                other => return other,
            }
        }
        self.rollback_journey_once(org_id, id, to_version, deployed_by, now)
            .await
    }

    async fn rollback_journey_once(
        &self,
        org_id: OrgId,
        id: uuid::Uuid,
        to_version: i64,
        deployed_by: UserId,
        now: Millis,
    ) -> StoreResult<i64> {
        let (org, id, by) = (org_id.to_string(), id.to_string(), deployed_by.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let latest = tx
                    .fetch_one(
                        "SELECT latest_version FROM journeys
                         WHERE id = $1 AND org_id = $2 AND builtin = 0",
                        vec![id.clone().into(), org.clone().into()],
                    )
                    .await?
                    .int("latest_version")?;
                let graph = tx
                    .fetch_one(
                        "SELECT graph FROM journey_versions WHERE journey_id = $1 AND version = $2",
                        vec![id.clone().into(), to_version.into()],
                    )
                    .await?
                    .text("graph")?;
                let version = latest + 1;
                publish(tx, &org, &id, version, &graph, &by, Some(to_version), now).await?;
                tx.execute(
                    "UPDATE journeys SET graph = $3 WHERE id = $1 AND org_id = $2",
                    vec![id.clone().into(), org.clone().into(), graph.into()],
                )
                .await?;
                Ok(version)
            })
        })
        .await
    }

    /// Moves a journey back to Draft and ends every session running on it.
    pub async fn undeploy_journey(
        &self,
        org_id: OrgId,
        id: uuid::Uuid,
        now: Millis,
    ) -> StoreResult<()> {
        let (org, id) = (org_id.to_string(), id.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "UPDATE journeys SET state = 'draft', live_version = NULL,
                                sessions_from_version = latest_version + 1, updated_at = $3
                         WHERE id = $1 AND org_id = $2 AND builtin = 0",
                        vec![id.clone().into(), org.clone().into(), now.into()],
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                tx.execute(
                    "DELETE FROM journey_sessions WHERE journey_id = $1 AND org_id = $2",
                    vec![id.clone().into(), org.clone().into()],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// A journey's deployed versions, newest first.
    pub async fn journey_versions(
        &self,
        org_id: OrgId,
        id: uuid::Uuid,
    ) -> StoreResult<Vec<JourneyVersionRecord>> {
        let rows = sqlx::query(
            "SELECT version, graph, deployed_by, restored_from, created_at FROM journey_versions
             WHERE journey_id = $1 AND org_id = $2 ORDER BY version DESC",
        )
        .bind(id.to_string())
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JourneyVersionRecord {
                    version: row.int("version")?,
                    graph: row.text("graph")?,
                    deployed_by: row.opt_text("deployed_by")?,
                    restored_from: row.opt_int("restored_from")?,
                    created_at: row.int("created_at")?,
                })
            })
            .collect()
    }

    /// The graph of one deployed version; versions never change, so callers may cache it.
    pub async fn journey_version_graph(
        &self,
        journey_id: uuid::Uuid,
        version: i64,
    ) -> StoreResult<String> {
        let row = sqlx::query(
            "SELECT graph FROM journey_versions WHERE journey_id = $1 AND version = $2",
        )
        .bind(journey_id.to_string())
        .bind(version)
        .fetch_one(self.reader())
        .await?;
        row.text("graph")
    }

    /// Assigns a live journey to a channel, spoken by a bot user; `None` clears it.
    pub async fn assign_channel_journey(
        &self,
        org_id: OrgId,
        channel_id: ChannelId,
        assignment: Option<(uuid::Uuid, UserId)>,
        now: Millis,
    ) -> StoreResult<()> {
        let (org, channel) = (org_id.to_string(), channel_id.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                if let Some((journey_id, _)) = assignment {
                    // Checked in the same transaction as the assignment, so an undeploy
                    // cannot slip in between.
                    let state = tx
                        .fetch_one(
                            "SELECT state FROM journeys WHERE id = $1 AND org_id = $2 AND builtin = 0",
                            vec![journey_id.to_string().into(), org.clone().into()],
                        )
                        .await?
                        .text("state")?;
                    if state != "live" {
                        return Err(StoreError::Conflict("the journey is not live".into()));
                    }
                }
                let (journey, bot) = match assignment {
                    Some((journey, bot)) => (Some(journey.to_string()), Some(bot.to_string())),
                    None => (None, None),
                };
                let changed = tx
                    .execute(
                        "UPDATE channels SET journey_id = $3, bot_user_id = $4, updated_at = $5
                         WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL",
                        vec![
                            channel.clone().into(),
                            org.clone().into(),
                            journey.into(),
                            bot.into(),
                            now.into(),
                        ],
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

    /// The journey a channel answers with, if a live one is assigned.
    pub async fn channel_journey(
        &self,
        channel_id: ChannelId,
    ) -> StoreResult<Option<ChannelJourney>> {
        let row = sqlx::query(
            "SELECT j.id, j.live_version, j.sessions_from_version, c.bot_user_id
             FROM channels c JOIN journeys j ON j.id = c.journey_id
             WHERE c.id = $1 AND j.state = 'live' AND j.live_version IS NOT NULL",
        )
        .bind(channel_id.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            Ok(ChannelJourney {
                journey_id: parsed(&row, "id")?,
                version: row.int("live_version")?,
                sessions_from_version: row.int("sessions_from_version")?,
                bot_user_id: opt_parsed(&row, "bot_user_id")?,
            })
        })
        .transpose()
    }

    /// The journey (live or not) and bot identity assigned to a channel.
    pub async fn channel_assignment(
        &self,
        org_id: OrgId,
        channel_id: ChannelId,
    ) -> StoreResult<Option<(uuid::Uuid, Option<String>)>> {
        let row = sqlx::query(
            "SELECT journey_id, bot_user_id FROM channels WHERE id = $1 AND org_id = $2",
        )
        .bind(channel_id.to_string())
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        let Some(journey) = row.opt_text("journey_id")? else {
            return Ok(None);
        };
        let journey = journey
            .parse()
            .map_err(|error| StoreError::Corrupt(format!("journey_id: {error}")))?;
        Ok(Some((journey, row.opt_text("bot_user_id")?)))
    }

    /// Channels a journey is assigned to.
    pub async fn journey_channels(
        &self,
        org_id: OrgId,
        journey_id: uuid::Uuid,
    ) -> StoreResult<Vec<ChannelId>> {
        let rows = sqlx::query(
            "SELECT id FROM channels WHERE journey_id = $1 AND org_id = $2 AND deleted_at IS NULL
             ORDER BY id",
        )
        .bind(journey_id.to_string())
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|row| parsed(row, "id")).collect()
    }

    /// Where a journey stands for a running session: `None` if it is gone.
    pub async fn journey_session_floor(&self, journey_id: uuid::Uuid) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT sessions_from_version FROM journeys WHERE id = $1")
            .bind(journey_id.to_string())
            .fetch_optional(self.reader())
            .await?;
        row.map(|row| row.int("sessions_from_version")).transpose()
    }

    pub async fn journey_session(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<StoredSession>> {
        let row = sqlx::query(
            "SELECT journey_id, version, state FROM journey_sessions WHERE conversation_id = $1",
        )
        .bind(conversation_id.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| session_from_row(&row)).transpose()
    }

    /// The organisation's campaign variables.
    pub async fn campaign_variables(
        &self,
        org_id: OrgId,
    ) -> StoreResult<std::collections::BTreeMap<String, serde_json::Value>> {
        let rows = sqlx::query("SELECT name, value FROM campaign_variables WHERE org_id = $1")
            .bind(org_id.to_string())
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|row| {
                let value = row.text("value")?;
                let value = serde_json::from_str(&value)
                    .map_err(|error| StoreError::Corrupt(format!("campaign variable: {error}")))?;
                Ok((row.text("name")?, value))
            })
            .collect()
    }
}

/// Makes `version` (the one after the latest) live and inserts it with `graph`. The journey
/// row is updated first, on the condition that its latest version is still the one before:
/// of two deploys at once, the second waits for the first's row lock, then finds the
/// condition false and fails with `Conflict` instead of reusing the version number.
#[allow(clippy::too_many_arguments)]
async fn publish(
    tx: &mut Tx,
    org: &str,
    id: &str,
    version: i64,
    graph: &str,
    by: &str,
    restored_from: Option<i64>,
    now: Millis,
) -> StoreResult<()> {
    let claimed = tx
        .execute(
            "UPDATE journeys SET state = 'live', live_version = $3, latest_version = $3,
                                 updated_at = $4
             WHERE id = $1 AND org_id = $2 AND latest_version = $5",
            vec![
                id.into(),
                org.into(),
                version.into(),
                now.into(),
                (version - 1).into(),
            ],
        )
        .await?;
    if claimed != 1 {
        return Err(StoreError::Conflict(VERSION_RACE.into()));
    }
    tx.execute(
        "INSERT INTO journey_versions (journey_id, version, org_id, graph, deployed_by,
                                       restored_from, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            id.into(),
            version.into(),
            org.into(),
            graph.into(),
            by.into(),
            restored_from.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// How often a deploy or rollback tries for a version number before giving up.
const VERSION_ATTEMPTS: usize = 5;
/// The conflict of two deploys that picked the same version number; the loser retries.
pub const VERSION_RACE: &str = "another deploy of this journey took the version number";
/// The conflict of a deploy whose draft changed after it was validated.
pub const DRAFT_CHANGED: &str = "the journey changed while it was being deployed";

fn session_from_row(row: &impl Columns) -> StoreResult<StoredSession> {
    Ok(StoredSession {
        journey_id: parsed(row, "journey_id")?,
        version: row.opt_int("version")?,
        state: row.text("state")?,
    })
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
        "INSERT INTO journey_sessions (conversation_id, org_id, journey_id, version, state,
                                       generation, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (conversation_id) DO UPDATE
            SET journey_id = excluded.journey_id, version = excluded.version,
                state = excluded.state, generation = excluded.generation,
                updated_at = excluded.updated_at",
        vec![
            conversation_id.to_string().into(),
            org_id.to_string().into(),
            session.journey_id.to_string().into(),
            session.version.into(),
            session.state.clone().into(),
            generation.into(),
            now.into(),
        ],
    );
}

/// Ends a conversation's journey session: its next message starts a new run.
pub fn end_session_into(script: &mut Script, conversation_id: ConversationId) {
    script.push(
        "DELETE FROM journey_sessions WHERE conversation_id = $1",
        vec![conversation_id.to_string().into()],
    );
}

/// Stores an organisation-wide variable.
pub fn set_campaign_variable_into(
    script: &mut Script,
    org_id: OrgId,
    name: &str,
    value: &serde_json::Value,
    now: Millis,
) {
    script.push(
        "INSERT INTO campaign_variables (org_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id, name) DO UPDATE
            SET value = excluded.value, updated_at = excluded.updated_at",
        vec![
            org_id.to_string().into(),
            name.into(),
            value.to_string().into(),
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
            "SELECT journey_id, version, state FROM journey_sessions WHERE conversation_id = $1",
            vec![conversation_id.to_string().into()],
        )
        .await?;
    row.map(|row| session_from_row(&row)).transpose()
}
