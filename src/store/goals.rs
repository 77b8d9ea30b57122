//! Goals, their ordered milestones with tracker names, and the events Goal steps record.
//!
//! Goals and milestones are never deleted: a journey may still reference one, and its events
//! keep pointing at it. Every read is scoped by organisation, so another organisation's goal is
//! `NotFound`. A goal's name is unique within its organisation and a milestone's within its
//! goal; breaking either is a `StoreError::Conflict` from the unique index.

use super::records::{parsed, parsed_json, to_json};
use super::script::Script;
use super::{Columns, Store, StoreError, StoreResult};
use crate::domain::{Millis, OrgId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

/// Milliseconds in a UTC day: events are counted per `created_at / MILLIS_PER_DAY`.
const MILLIS_PER_DAY: i64 = 86_400_000;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GoalRecord {
    pub id: String,
    #[serde(skip)]
    pub org_id: OrgId,
    pub name: String,
    pub description: Option<String>,
    /// In position order.
    pub milestones: Vec<MilestoneRecord>,
    pub created_at: Millis,
    /// Moves when the goal is renamed or re-described, or one of its milestones changes.
    pub updated_at: Millis,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MilestoneRecord {
    pub id: String,
    pub goal_id: String,
    pub name: String,
    /// 1 for the first milestone of the goal; a new milestone goes after the last.
    pub position: i64,
    /// Names of the values captured when the milestone fires.
    pub trackers: Vec<String>,
    pub created_at: Millis,
}

/// A recorded goal event, with the name of its milestone.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GoalEventRecord {
    pub id: i64,
    pub milestone_id: String,
    pub milestone_name: String,
    /// Tracker values by tracker name.
    pub trackers: BTreeMap<String, String>,
    /// Recorded by a test session rather than a live conversation.
    pub is_test: bool,
    pub journey_id: Option<String>,
    pub journey_version: Option<i64>,
    pub conversation_id: Option<String>,
    pub test_session_id: Option<String>,
    pub created_at: Millis,
}

/// A goal to create. Milestone names must be distinct (a duplicate is a `Conflict`).
pub struct NewGoal {
    pub name: String,
    pub description: Option<String>,
    /// The first milestones, in order.
    pub milestones: Vec<NewMilestone>,
}

pub struct NewMilestone {
    pub name: String,
    pub trackers: Vec<String>,
}

/// What `update_goal` changes; `None` keeps the stored value.
pub struct GoalChanges {
    pub name: Option<String>,
    /// `Some(None)` removes the description.
    pub description: Option<Option<String>>,
}

/// What `update_milestone` changes; `None` keeps the stored value.
pub struct MilestoneChanges {
    pub name: Option<String>,
    /// Replaces the whole list.
    pub trackers: Option<Vec<String>>,
}

/// What a Goal step records.
#[derive(Clone, Debug)]
pub struct NewGoalEvent {
    pub org_id: OrgId,
    pub goal_id: String,
    pub milestone_id: String,
    pub journey_id: Option<String>,
    pub journey_version: Option<i64>,
    pub conversation_id: Option<String>,
    pub test_session_id: Option<String>,
    pub is_test: bool,
    pub trackers: BTreeMap<String, String>,
    pub at: Millis,
}

/// Which events of a goal count: by mode and by time.
#[derive(Clone, Copy, Debug, Default)]
pub struct GoalWindow {
    /// `Some(true)` for test events only, `Some(false)` for live ones only.
    pub is_test: Option<bool>,
    /// Inclusive.
    pub from: Option<Millis>,
    /// Exclusive.
    pub to: Option<Millis>,
}

#[derive(Clone, Debug)]
pub struct GoalEventQuery {
    pub milestone_id: Option<String>,
    pub window: GoalWindow,
    /// Only events after this one in the newest-first order.
    pub after: Option<EventCursor>,
    pub limit: i64,
}

pub struct GoalEventPage {
    /// Newest first.
    pub events: Vec<GoalEventRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<EventCursor>,
}

/// The number of events of one milestone on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MilestoneDayCount {
    pub milestone_id: String,
    pub day: NaiveDate,
    pub count: i64,
}

/// A position in the newest-first order of events: `(created_at, id)` of the last event seen.
/// Shown to clients as an opaque string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventCursor {
    pub created_at: Millis,
    pub id: i64,
}

impl fmt::Display for EventCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = format!("{}:{}", self.created_at, self.id);
        f.write_str(&URL_SAFE_NO_PAD.encode(plain))
    }
}

impl FromStr for EventCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || "not a cursor this API returned".to_owned();
        let plain = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let plain = String::from_utf8(plain).map_err(|_| invalid())?;
        let (created_at, id) = plain.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            created_at: created_at.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

const GOAL_COLUMNS: &str = "id, org_id, name, description, created_at, updated_at";
const MILESTONE_COLUMNS: &str = "id, goal_id, name, position, trackers, created_at";

fn goal_from_row(row: &impl Columns, milestones: Vec<MilestoneRecord>) -> StoreResult<GoalRecord> {
    Ok(GoalRecord {
        id: row.text("id")?,
        org_id: parsed(row, "org_id")?,
        name: row.text("name")?,
        description: row.opt_text("description")?,
        milestones,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

fn milestone_from_row(row: &impl Columns) -> StoreResult<MilestoneRecord> {
    Ok(MilestoneRecord {
        id: row.text("id")?,
        goal_id: row.text("goal_id")?,
        name: row.text("name")?,
        position: row.int("position")?,
        trackers: parsed_json(row, "trackers")?,
        created_at: row.int("created_at")?,
    })
}

fn event_from_row(row: &impl Columns) -> StoreResult<GoalEventRecord> {
    Ok(GoalEventRecord {
        id: row.int("id")?,
        milestone_id: row.text("milestone_id")?,
        milestone_name: row.text("milestone_name")?,
        trackers: parsed_json(row, "trackers")?,
        is_test: row.int("is_test")? != 0,
        journey_id: row.opt_text("journey_id")?,
        journey_version: row.opt_int("journey_version")?,
        conversation_id: row.opt_text("conversation_id")?,
        test_session_id: row.opt_text("test_session_id")?,
        created_at: row.int("created_at")?,
    })
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Store {
    /// Creates a goal with its first milestones in one transaction.
    pub async fn create_goal(
        &self,
        org_id: OrgId,
        goal: &NewGoal,
        now: Millis,
    ) -> StoreResult<GoalRecord> {
        let id = new_id();
        let mut script = Script::new();
        script.push(
            "INSERT INTO goals (id, org_id, name, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
            vec![
                id.as_str().into(),
                org_id.to_string().into(),
                goal.name.as_str().into(),
                goal.description.clone().into(),
                now.into(),
            ],
        );
        let mut milestones = Vec::with_capacity(goal.milestones.len());
        for (position, milestone) in (1..).zip(&goal.milestones) {
            let record = MilestoneRecord {
                id: new_id(),
                goal_id: id.clone(),
                name: milestone.name.clone(),
                position,
                trackers: milestone.trackers.clone(),
                created_at: now,
            };
            insert_milestone_into(&mut script, org_id, &record);
            milestones.push(record);
        }
        self.write_script(script).await?;
        Ok(GoalRecord {
            id,
            org_id,
            name: goal.name.clone(),
            description: goal.description.clone(),
            milestones,
            created_at: now,
            updated_at: now,
        })
    }

    /// The organisation's goals with their milestones, by name.
    pub async fn list_goals(&self, org_id: OrgId) -> StoreResult<Vec<GoalRecord>> {
        let goal_rows = sqlx::query(&format!(
            "SELECT {GOAL_COLUMNS} FROM goals WHERE org_id = $1 ORDER BY name, id"
        ))
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        let milestone_rows = sqlx::query(&format!(
            "SELECT {MILESTONE_COLUMNS} FROM goal_milestones WHERE org_id = $1
             ORDER BY goal_id, position"
        ))
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut milestones_by_goal: HashMap<String, Vec<MilestoneRecord>> = HashMap::new();
        for row in &milestone_rows {
            let milestone = milestone_from_row(row)?;
            milestones_by_goal
                .entry(milestone.goal_id.clone())
                .or_default()
                .push(milestone);
        }
        goal_rows
            .iter()
            .map(|row| {
                let milestones = milestones_by_goal
                    .remove(&row.text("id")?)
                    .unwrap_or_default();
                goal_from_row(row, milestones)
            })
            .collect()
    }

    /// A goal of one organisation with its milestones; another organisation's is `NotFound`.
    pub async fn goal(&self, org_id: OrgId, id: &str) -> StoreResult<GoalRecord> {
        let goal_row = sqlx::query(&format!(
            "SELECT {GOAL_COLUMNS} FROM goals WHERE id = $1 AND org_id = $2"
        ))
        .bind(id)
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        let milestone_rows = sqlx::query(&format!(
            "SELECT {MILESTONE_COLUMNS} FROM goal_milestones WHERE goal_id = $1 AND org_id = $2
             ORDER BY position"
        ))
        .bind(id)
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        let milestones = milestone_rows
            .iter()
            .map(milestone_from_row)
            .collect::<StoreResult<_>>()?;
        goal_from_row(&goal_row, milestones)
    }

    /// Renames or re-describes a goal and returns it as stored.
    pub async fn update_goal(
        &self,
        org_id: OrgId,
        id: &str,
        changes: &GoalChanges,
        now: Millis,
    ) -> StoreResult<GoalRecord> {
        let values = vec![
            changes.name.clone().into(),
            i64::from(changes.description.is_some()).into(),
            changes.description.clone().flatten().into(),
            now.into(),
            id.into(),
            org_id.to_string().into(),
        ];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE goals SET name = COALESCE($1, name),
                                      description = CASE WHEN $2 = 1 THEN $3 ELSE description END,
                                      updated_at = $4
                     WHERE id = $5 AND org_id = $6",
                    values,
                ))
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.goal(org_id, id).await
    }

    /// Appends a milestone to a goal (`NotFound` when the organisation has no such goal).
    pub async fn add_milestone(
        &self,
        org_id: OrgId,
        goal_id: &str,
        milestone: &NewMilestone,
        now: Millis,
    ) -> StoreResult<MilestoneRecord> {
        let mut record = MilestoneRecord {
            id: new_id(),
            goal_id: goal_id.to_owned(),
            name: milestone.name.clone(),
            position: 0,
            trackers: milestone.trackers.clone(),
            created_at: now,
        };
        self.write(move |tx| {
            Box::pin(async move {
                // Updating the goal first also locks its row on Postgres, so two milestones
                // added at once cannot both take the same position.
                touch_goal(tx, org_id, &record.goal_id, now).await?;
                let last = tx
                    .fetch_one(
                        "SELECT COALESCE(MAX(position), 0) AS last FROM goal_milestones
                         WHERE goal_id = $1",
                        vec![record.goal_id.as_str().into()],
                    )
                    .await?;
                record.position = last.int("last")? + 1;
                let mut script = Script::new();
                insert_milestone_into(&mut script, org_id, &record);
                tx.run(&script).await?;
                Ok(record)
            })
        })
        .await
    }

    /// Renames a milestone or replaces its trackers (`NotFound` when the goal of the
    /// organisation has no such milestone).
    pub async fn update_milestone(
        &self,
        org_id: OrgId,
        goal_id: &str,
        milestone_id: &str,
        changes: &MilestoneChanges,
        now: Millis,
    ) -> StoreResult<MilestoneRecord> {
        let goal_id = goal_id.to_owned();
        let values = vec![
            changes.name.clone().into(),
            changes.trackers.as_ref().map(to_json).into(),
            milestone_id.into(),
            goal_id.as_str().into(),
            org_id.to_string().into(),
        ];
        self.write(move |tx| {
            Box::pin(async move {
                let row = tx
                    .fetch_optional(
                        "UPDATE goal_milestones
                            SET name = COALESCE($1, name), trackers = COALESCE($2, trackers)
                          WHERE id = $3 AND goal_id = $4 AND org_id = $5
                         RETURNING id, goal_id, name, position, trackers, created_at",
                        values,
                    )
                    .await?
                    .ok_or(StoreError::NotFound)?;
                touch_goal(tx, org_id, &goal_id, now).await?;
                milestone_from_row(&row)
            })
        })
        .await
    }

    /// A goal's events, newest first, one page at a time.
    pub async fn goal_events(
        &self,
        org_id: OrgId,
        goal_id: &str,
        query: &GoalEventQuery,
    ) -> StoreResult<GoalEventPage> {
        let rows = sqlx::query(
            "SELECT e.id, e.milestone_id, m.name AS milestone_name, e.trackers, e.is_test,
                    e.journey_id, e.journey_version, e.conversation_id, e.test_session_id,
                    e.created_at
               FROM goal_events e JOIN goal_milestones m ON m.id = e.milestone_id
              WHERE e.org_id = $1 AND e.goal_id = $2
                AND ($3 IS NULL OR e.milestone_id = $3)
                AND ($4 IS NULL OR e.is_test = $4)
                AND ($5 IS NULL OR e.created_at >= $5)
                AND ($6 IS NULL OR e.created_at < $6)
                AND ($7 IS NULL OR e.created_at < $7 OR (e.created_at = $7 AND e.id < $8))
              ORDER BY e.created_at DESC, e.id DESC
              LIMIT $9",
        )
        .bind(org_id.to_string())
        .bind(goal_id)
        .bind(query.milestone_id.as_deref())
        .bind(query.window.is_test.map(i64::from))
        .bind(query.window.from)
        .bind(query.window.to)
        .bind(query.after.map(|cursor| cursor.created_at))
        .bind(query.after.map(|cursor| cursor.id))
        // One more than asked for tells whether another page follows.
        .bind(query.limit + 1)
        .fetch_all(self.reader())
        .await?;
        let mut events = rows
            .iter()
            .map(event_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let more = usize::try_from(query.limit).is_ok_and(|limit| events.len() > limit);
        let next_cursor = if more {
            events.pop();
            events.last().map(|event| EventCursor {
                created_at: event.created_at,
                id: event.id,
            })
        } else {
            None
        };
        Ok(GoalEventPage {
            events,
            next_cursor,
        })
    }

    /// How many events each milestone of a goal had per UTC day in the window, by milestone
    /// and day. Days without events are left out.
    pub async fn goal_counts_per_day(
        &self,
        org_id: OrgId,
        goal_id: &str,
        window: &GoalWindow,
    ) -> StoreResult<Vec<MilestoneDayCount>> {
        // Integer division truncates the same way on both backends.
        let rows = sqlx::query(&format!(
            "SELECT milestone_id, created_at / {MILLIS_PER_DAY} AS day_number, COUNT(*) AS events
               FROM goal_events
              WHERE org_id = $1 AND goal_id = $2
                AND ($3 IS NULL OR is_test = $3)
                AND ($4 IS NULL OR created_at >= $4)
                AND ($5 IS NULL OR created_at < $5)
              GROUP BY milestone_id, created_at / {MILLIS_PER_DAY}
              ORDER BY milestone_id, day_number"
        ))
        .bind(org_id.to_string())
        .bind(goal_id)
        .bind(window.is_test.map(i64::from))
        .bind(window.from)
        .bind(window.to)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                let day_number = row.int("day_number")?;
                Ok(MilestoneDayCount {
                    milestone_id: row.text("milestone_id")?,
                    day: utc_day(day_number).ok_or_else(|| {
                        StoreError::Corrupt(format!("day {day_number} is out of range"))
                    })?,
                    count: row.int("events")?,
                })
            })
            .collect()
    }
}

/// Records that a journey reached a milestone; the caller commits it with its other writes.
pub fn record_goal_event_into(script: &mut Script, event: &NewGoalEvent) {
    script.push(
        "INSERT INTO goal_events (org_id, goal_id, milestone_id, journey_id, journey_version,
                                  conversation_id, test_session_id, is_test, trackers, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        vec![
            event.org_id.to_string().into(),
            event.goal_id.as_str().into(),
            event.milestone_id.as_str().into(),
            event.journey_id.clone().into(),
            event.journey_version.into(),
            event.conversation_id.clone().into(),
            event.test_session_id.clone().into(),
            i64::from(event.is_test).into(),
            to_json(&event.trackers).into(),
            event.at.into(),
        ],
    );
}

fn insert_milestone_into(script: &mut Script, org_id: OrgId, milestone: &MilestoneRecord) {
    script.push(
        "INSERT INTO goal_milestones (id, goal_id, org_id, name, position, trackers, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            milestone.id.as_str().into(),
            milestone.goal_id.as_str().into(),
            org_id.to_string().into(),
            milestone.name.as_str().into(),
            milestone.position.into(),
            to_json(&milestone.trackers).into(),
            milestone.created_at.into(),
        ],
    );
}

/// Marks a goal as changed; `NotFound` when the organisation has no such goal.
async fn touch_goal(tx: &mut super::Tx, org_id: OrgId, id: &str, now: Millis) -> StoreResult<()> {
    let changed = tx
        .execute(
            "UPDATE goals SET updated_at = $1 WHERE id = $2 AND org_id = $3",
            vec![now.into(), id.into(), org_id.to_string().into()],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The UTC date of a day number (days since 1970-01-01).
fn utc_day(day_number: i64) -> Option<NaiveDate> {
    let millis = day_number.checked_mul(MILLIS_PER_DAY)?;
    chrono::DateTime::from_timestamp_millis(millis).map(|time| time.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Bootstrap;

    async fn store_with_org() -> (Store, OrgId, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("goals.db").display()
        );
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let org_id = OrgId::new();
        let bootstrap = Bootstrap {
            org_id,
            org_name: "Hotel".into(),
            owner_id: crate::domain::UserId::new(),
            owner_email: "owner@hotel.test".into(),
            owner_password_hash: "x".into(),
            api_key_hash: "y".into(),
            greeting_journey: "{}".into(),
        };
        store.create_organization(&bootstrap, 0).await.unwrap();
        (store, org_id, dir)
    }

    fn milestone(name: &str, trackers: &[&str]) -> NewMilestone {
        NewMilestone {
            name: name.into(),
            trackers: trackers
                .iter()
                .map(|tracker| (*tracker).to_owned())
                .collect(),
        }
    }

    fn event(org_id: OrgId, goal: &GoalRecord, milestone: usize, at: Millis) -> NewGoalEvent {
        NewGoalEvent {
            org_id,
            goal_id: goal.id.clone(),
            milestone_id: goal.milestones[milestone].id.clone(),
            journey_id: None,
            journey_version: None,
            conversation_id: None,
            test_session_id: None,
            is_test: false,
            trackers: BTreeMap::from([("nights".to_owned(), "3".to_owned())]),
            at,
        }
    }

    #[track_caller]
    fn check_cursor(text: &str, expected: Option<EventCursor>) {
        assert_eq!(text.parse::<EventCursor>().ok(), expected, "{text}");
    }

    #[test]
    fn cursors_round_trip_and_nothing_else_parses() {
        let cursor = EventCursor {
            created_at: 1_780_000_000_000,
            id: 42,
        };
        check_cursor(&cursor.to_string(), Some(cursor));
        check_cursor("", None);
        check_cursor("not base64!", None);
        check_cursor(&URL_SAFE_NO_PAD.encode("12"), None);
        check_cursor(&URL_SAFE_NO_PAD.encode("12:x"), None);
    }

    #[test]
    fn day_numbers_are_utc_dates() {
        assert_eq!(utc_day(0), NaiveDate::from_ymd_opt(1970, 1, 1));
        assert_eq!(
            utc_day(1_780_000_000_000 / MILLIS_PER_DAY),
            NaiveDate::from_ymd_opt(2026, 5, 28)
        );
    }

    #[tokio::test]
    async fn milestones_keep_their_order_and_names_stay_unique() {
        let (store, org_id, _dir) = store_with_org().await;
        let new_goal = NewGoal {
            name: "Booking Confirmed".into(),
            description: None,
            milestones: vec![
                milestone("Dates confirmed", &["nights"]),
                milestone("Quote sent", &[]),
            ],
        };
        let created = store.create_goal(org_id, &new_goal, 10).await.unwrap();
        let added = store
            .add_milestone(
                org_id,
                &created.id,
                &milestone("Deposit paid", &["budget"]),
                20,
            )
            .await
            .unwrap();
        assert_eq!(added.position, 3);

        let goal = store.goal(org_id, &created.id).await.unwrap();
        let names: Vec<_> = goal
            .milestones
            .iter()
            .map(|m| (m.name.as_str(), m.position))
            .collect();
        assert_eq!(
            names,
            [
                ("Dates confirmed", 1),
                ("Quote sent", 2),
                ("Deposit paid", 3)
            ]
        );
        assert_eq!((goal.created_at, goal.updated_at), (10, 20));

        let duplicate_goal = store.create_goal(org_id, &new_goal, 30).await;
        assert!(
            matches!(duplicate_goal, Err(StoreError::Conflict(_))),
            "{duplicate_goal:?}"
        );
        let duplicate_milestone = store
            .add_milestone(org_id, &created.id, &milestone("Quote sent", &[]), 30)
            .await;
        assert!(matches!(duplicate_milestone, Err(StoreError::Conflict(_))));
        let other_org = store.goal(OrgId::new(), &created.id).await;
        assert!(matches!(other_org, Err(StoreError::NotFound)));
    }

    #[tokio::test]
    async fn events_page_newest_first_and_count_per_utc_day() {
        let (store, org_id, _dir) = store_with_org().await;
        let new_goal = NewGoal {
            name: "Qualified Enquiry".into(),
            description: Some("A lead worth a call".into()),
            milestones: vec![milestone("Budget known", &["budget"])],
        };
        let goal = store.create_goal(org_id, &new_goal, 0).await.unwrap();
        let day = MILLIS_PER_DAY;
        let mut script = Script::new();
        // Two events share a time, so only the id orders them.
        for at in [day, day + 5, day + 5, 2 * day + 1, 2 * day + 2] {
            record_goal_event_into(&mut script, &event(org_id, &goal, 0, at));
        }
        store.write_script(script).await.unwrap();

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let query = GoalEventQuery {
                milestone_id: None,
                window: GoalWindow::default(),
                after,
                limit: 2,
            };
            let page = store.goal_events(org_id, &goal.id, &query).await.unwrap();
            seen.extend(page.events.iter().map(|event| (event.created_at, event.id)));
            match page.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        let mut expected = seen.clone();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        expected.dedup();
        assert_eq!(seen, expected, "newest first, without duplicates");
        assert_eq!(seen.len(), 5);

        let counts = store
            .goal_counts_per_day(org_id, &goal.id, &GoalWindow::default())
            .await
            .unwrap();
        let per_day: Vec<_> = counts
            .iter()
            .map(|count| (count.day, count.count))
            .collect();
        assert_eq!(
            per_day,
            [(utc_day(1).unwrap(), 3), (utc_day(2).unwrap(), 2)]
        );
    }
}
