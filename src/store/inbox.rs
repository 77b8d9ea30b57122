//! The team side of the inbox: agents' presence and load, for assigning escalations.

use super::{Columns, StoreError, StoreResult, Tx};
use crate::domain::{Millis, OrgId, UserId};

/// Agent presence: only `online` agents take new escalations.
pub const PRESENCES: [&str; 3] = ["online", "away", "offline"];

/// Picks who takes an escalation, inside the write that escalates: `preferred` if online with
/// room, else the online team member with the fewest active conversations below their
/// maximum, the longest idle first on a tie. Marks them assigned now.
pub async fn pick_agent(
    tx: &mut Tx,
    org_id: OrgId,
    preferred: Option<UserId>,
    now: Millis,
) -> StoreResult<Option<(UserId, String)>> {
    let rows = tx
        .fetch_all(
            "SELECT u.id, u.name, u.max_active_conversations,
                    (SELECT COUNT(*) FROM conversations c
                      WHERE c.assigned_user_id = u.id AND c.status = 'agent_assigned') AS active,
                    COALESCE(u.last_assigned_at, 0) AS idle_since
               FROM users u
              WHERE u.org_id = $1 AND u.presence = 'online' AND u.role IN ('owner', 'admin', 'user')",
            vec![org_id.to_string().into()],
        )
        .await?;
    let mut candidates = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: UserId = row
            .text("id")?
            .parse()
            .map_err(|error| StoreError::Corrupt(format!("users.id: {error}")))?;
        let active = row.int("active")?;
        if active >= row.int("max_active_conversations")? {
            continue;
        }
        candidates.push((id, row.text("name")?, active, row.int("idle_since")?));
    }
    let chosen = candidates
        .iter()
        .find(|(id, ..)| Some(*id) == preferred)
        .or_else(|| {
            candidates
                .iter()
                .min_by(|a, b| (a.2, a.3, a.0.to_string()).cmp(&(b.2, b.3, b.0.to_string())))
        })
        .map(|(id, name, ..)| (*id, name.clone()));
    if let Some((id, _)) = &chosen {
        tx.execute(
            "UPDATE users SET last_assigned_at = $2 WHERE id = $1",
            vec![id.to_string().into(), now.into()],
        )
        .await?;
    }
    Ok(chosen)
}
