//! `/api/v1/goals`: goals, their milestones and trackers, and the events Goal steps record.
//! Owners and admins create and edit goals, users read them, the bot identity does neither.
//! Nothing is ever deleted: to retire a goal or a milestone, journeys stop referencing it.

use crate::domain::{Millis, Role};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::goals::{
    EventCursor, GoalChanges, GoalEventQuery, GoalEventRecord, GoalRecord, GoalWindow,
    MilestoneChanges, MilestoneDayCount, NewGoal, NewMilestone,
};
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Longest goal or milestone name, in characters.
const NAME_MAX_CHARS: usize = 255;
/// Longest tracker name, in characters.
const TRACKER_MAX_CHARS: usize = 64;
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/goals", web::post().to(create))
        .route("/goals", web::get().to(list))
        .route("/goals/{id}", web::get().to(read))
        .route("/goals/{id}", web::patch().to(update))
        .route("/goals/{id}/milestones", web::post().to(add_milestone))
        .route(
            "/goals/{id}/milestones/{milestone_id}",
            web::patch().to(update_milestone),
        )
        .route("/goals/{id}/events", web::get().to(events))
        .route("/goals/{id}/stats", web::get().to(stats));
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GoalList {
    data: Vec<GoalRecord>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GoalEventList {
    data: Vec<GoalEventRecord>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GoalStats {
    /// Every milestone of the goal in position order, with zero totals included.
    milestones: Vec<MilestoneStats>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MilestoneStats {
    milestone_id: String,
    name: String,
    total: i64,
    /// Days with at least one event, oldest first.
    per_day: Vec<DayCount>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DayCount {
    /// A UTC date, `2026-11-22`.
    #[schema(value_type = String, format = Date)]
    day: NaiveDate,
    count: i64,
}

/// Filters of `GET /api/v1/goals/{id}/stats`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct StatsParams {
    /// `test` or `live`; both when absent.
    mode: Option<String>,
    /// Events at or after this time (milliseconds since the Unix epoch).
    #[param(value_type = Option<i64>)]
    from: Option<String>,
    /// Events before this time (milliseconds since the Unix epoch).
    #[param(value_type = Option<i64>)]
    to: Option<String>,
}

/// Filters and page of `GET /api/v1/goals/{id}/events`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct EventParams {
    /// Only events of this milestone.
    milestone_id: Option<String>,
    /// `test` or `live`; both when absent.
    mode: Option<String>,
    /// Events at or after this time (milliseconds since the Unix epoch).
    #[param(value_type = Option<i64>)]
    from: Option<String>,
    /// Events before this time (milliseconds since the Unix epoch).
    #[param(value_type = Option<i64>)]
    to: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// At most this many events (default 50, at most 200).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

/// Owners, admins and users read goals; the bot identity does not.
fn require_reader(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller.0.role, Role::Owner | Role::Admin | Role::User) {
        Ok(())
    } else {
        Err(ApiError::forbidden("read goals"))
    }
}

fn require_editor(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller.0.role, Role::Owner | Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::forbidden("create or edit goals"))
    }
}

fn goal_name_taken() -> ApiError {
    ApiError::field(
        Code::GoalNameTaken,
        "name",
        "your organisation already has a goal with this name; choose another",
    )
}

fn milestone_name_taken(field: &str) -> ApiError {
    ApiError::field(
        Code::MilestoneNameTaken,
        field,
        "the goal already has a milestone with this name; choose another",
    )
}

/// Creates a goal, optionally with its first milestones (Owner and Admin).
#[utoipa::path(post, path = "/api/v1/goals", tag = "goals",
    request_body(content = Object, description = "`{\"name\": \"Booking Confirmed\", \"description\"?: \"…\", \"milestones\"?: [{\"name\": \"Deposit paid\", \"trackers\"?: [\"budget\"]}]}`"),
    responses((status = 201, body = GoalRecord), (status = 409, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller)?;
    let new_goal = parse_new_goal(&super::json_body(&body)?)?;
    let goal = state
        .store
        .create_goal(caller.0.org_id, &new_goal, state.clock.now())
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => goal_name_taken(),
            other => ApiError::from_store(other, Code::GoalNotFound),
        })?;
    tracing::info!(goal_id = %goal.id, milestones = goal.milestones.len(), "goal created");
    Ok(HttpResponse::Created().json(goal))
}

/// Lists the organisation's goals with their milestones, by name.
#[utoipa::path(get, path = "/api/v1/goals", tag = "goals",
    responses((status = 200, body = GoalList), (status = 403, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn list(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let data = state
        .store
        .list_goals(caller.0.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::GoalNotFound))?;
    Ok(HttpResponse::Ok().json(GoalList { data }))
}

/// Reads one goal with its milestones.
#[utoipa::path(get, path = "/api/v1/goals/{id}", tag = "goals",
    params(("id" = String, Path, description = "Goal id")),
    responses((status = 200, body = GoalRecord), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    Ok(HttpResponse::Ok().json(goal(&state, &caller, &id).await?))
}

/// Renames or re-describes a goal (Owner and Admin); `"description": null` removes it.
#[utoipa::path(patch, path = "/api/v1/goals/{id}", tag = "goals",
    params(("id" = String, Path, description = "Goal id")),
    request_body(content = Object, description = "`{\"name\"?: \"…\", \"description\"?: \"…\" or null}`"),
    responses((status = 200, body = GoalRecord), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller)?;
    let changes = parse_goal_changes(&super::json_body(&body)?)?;
    let goal = state
        .store
        .update_goal(caller.0.org_id, &id, &changes, state.clock.now())
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => goal_name_taken(),
            other => ApiError::from_store(other, Code::GoalNotFound),
        })?;
    tracing::info!(goal_id = %goal.id, "goal updated");
    Ok(HttpResponse::Ok().json(goal))
}

/// Appends a milestone to a goal (Owner and Admin).
#[utoipa::path(post, path = "/api/v1/goals/{id}/milestones", tag = "goals",
    params(("id" = String, Path, description = "Goal id")),
    request_body(content = Object, description = "`{\"name\": \"Quote sent\", \"trackers\"?: [\"nights\"]}`"),
    responses((status = 201, body = crate::store::goals::MilestoneRecord), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn add_milestone(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller)?;
    let new_milestone = parse_new_milestone(&super::json_body(&body)?, "")?;
    let milestone = state
        .store
        .add_milestone(caller.0.org_id, &id, &new_milestone, state.clock.now())
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => milestone_name_taken("name"),
            other => ApiError::from_store(other, Code::GoalNotFound),
        })?;
    tracing::info!(goal_id = %milestone.goal_id, milestone_id = %milestone.id, "milestone added");
    Ok(HttpResponse::Created().json(milestone))
}

/// Renames a milestone or replaces its trackers (Owner and Admin).
#[utoipa::path(patch, path = "/api/v1/goals/{id}/milestones/{milestone_id}", tag = "goals",
    params(("id" = String, Path, description = "Goal id"), ("milestone_id" = String, Path, description = "Milestone id")),
    request_body(content = Object, description = "`{\"name\"?: \"…\", \"trackers\"?: [\"…\"]}`"),
    responses((status = 200, body = crate::store::goals::MilestoneRecord), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update_milestone(
    state: AppState,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller)?;
    let (goal_id, milestone_id) = path.into_inner();
    let changes = parse_milestone_changes(&super::json_body(&body)?)?;
    // Reading the goal first tells an unknown goal from an unknown milestone.
    goal(&state, &caller, &goal_id).await?;
    let milestone = state
        .store
        .update_milestone(
            caller.0.org_id,
            &goal_id,
            &milestone_id,
            &changes,
            state.clock.now(),
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => milestone_name_taken("name"),
            other => ApiError::from_store(other, Code::MilestoneNotFound),
        })?;
    tracing::info!(goal_id = %goal_id, milestone_id = %milestone.id, "milestone updated");
    Ok(HttpResponse::Ok().json(milestone))
}

/// The goal's events, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/goals/{id}/events", tag = "goals",
    params(("id" = String, Path, description = "Goal id"), EventParams),
    responses((status = 200, body = GoalEventList), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn events(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    params: web::Query<EventParams>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let query = parse_event_query(&params)?;
    let goal = goal(&state, &caller, &id).await?;
    if let Some(milestone_id) = &query.milestone_id {
        if !goal
            .milestones
            .iter()
            .any(|milestone| &milestone.id == milestone_id)
        {
            return Err(ApiError::field(
                Code::MilestoneNotFound,
                "milestone_id",
                "the goal has no such milestone",
            ));
        }
    }
    let page = state
        .store
        .goal_events(caller.0.org_id, &goal.id, &query)
        .await
        .map_err(|error| ApiError::from_store(error, Code::GoalNotFound))?;
    Ok(HttpResponse::Ok().json(GoalEventList {
        data: page.events,
        next_cursor: page.next_cursor.map(|cursor| cursor.to_string()),
    }))
}

/// How many events each milestone had, in total and per UTC day.
#[utoipa::path(get, path = "/api/v1/goals/{id}/stats", tag = "goals",
    params(("id" = String, Path, description = "Goal id"), StatsParams),
    responses((status = 200, body = GoalStats), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn stats(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    params: web::Query<StatsParams>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let window = parse_window(
        params.mode.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
    )?;
    let goal = goal(&state, &caller, &id).await?;
    let counts = state
        .store
        .goal_counts_per_day(caller.0.org_id, &goal.id, &window)
        .await
        .map_err(|error| ApiError::from_store(error, Code::GoalNotFound))?;
    Ok(HttpResponse::Ok().json(goal_stats(&goal, &counts)))
}

async fn goal(state: &AppState, caller: &Caller, id: &str) -> Result<GoalRecord, ApiError> {
    state
        .store
        .goal(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::GoalNotFound))
}

/// Every milestone of the goal in position order, with its counts (which come by milestone
/// and day).
fn goal_stats(goal: &GoalRecord, counts: &[MilestoneDayCount]) -> GoalStats {
    let milestones = goal
        .milestones
        .iter()
        .map(|milestone| {
            let per_day: Vec<DayCount> = counts
                .iter()
                .filter(|count| count.milestone_id == milestone.id)
                .map(|count| DayCount {
                    day: count.day,
                    count: count.count,
                })
                .collect();
            MilestoneStats {
                milestone_id: milestone.id.clone(),
                name: milestone.name.clone(),
                total: per_day.iter().map(|day| day.count).sum(),
                per_day,
            }
        })
        .collect();
    GoalStats { milestones }
}

fn parse_new_goal(body: &Value) -> Result<NewGoal, ApiError> {
    let object = as_object(body)?;
    let name = name(object.get("name"), "name")?;
    let description = match object.get("description") {
        None | Some(Value::Null) => None,
        Some(value) => Some(description(value)?),
    };
    let milestones = match object.get("milestones") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| parse_new_milestone(item, &format!("milestones[{index}].")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(invalid("milestones", "`milestones` must be an array")),
    };
    let mut names = HashSet::new();
    for (index, milestone) in milestones.iter().enumerate() {
        if !names.insert(milestone.name.as_str()) {
            return Err(milestone_name_taken(&format!("milestones[{index}].name")));
        }
    }
    Ok(NewGoal {
        name,
        description,
        milestones,
    })
}

/// Parses a milestone whose fields are named `{prefix}name` and `{prefix}trackers` in errors.
fn parse_new_milestone(body: &Value, prefix: &str) -> Result<NewMilestone, ApiError> {
    let object = body.as_object().ok_or_else(|| {
        let field = prefix.strip_suffix('.').unwrap_or("body");
        invalid(field, format!("`{field}` must be an object"))
    })?;
    let path = format!("{prefix}trackers");
    Ok(NewMilestone {
        name: name(object.get("name"), &format!("{prefix}name"))?,
        trackers: match object.get("trackers") {
            None | Some(Value::Null) => Vec::new(),
            Some(trackers) => parse_trackers(trackers, &path)?,
        },
    })
}

fn parse_goal_changes(body: &Value) -> Result<GoalChanges, ApiError> {
    let object = as_object(body)?;
    Ok(GoalChanges {
        name: new_name(object)?,
        description: match object.get("description") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(value) => Some(Some(description(value)?)),
        },
    })
}

fn parse_milestone_changes(body: &Value) -> Result<MilestoneChanges, ApiError> {
    let object = as_object(body)?;
    Ok(MilestoneChanges {
        name: new_name(object)?,
        trackers: object
            .get("trackers")
            .map(|value| parse_trackers(value, "trackers"))
            .transpose()?,
    })
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::field(Code::InvalidField, field, message)
}

/// A goal or milestone name: a string of 1 to 255 characters once trimmed.
fn name(value: Option<&Value>, field: &str) -> Result<String, ApiError> {
    let text = match value {
        None | Some(Value::Null) => return Err(ApiError::missing(field)),
        Some(Value::String(text)) => text.trim(),
        Some(_) => return Err(invalid(field, format!("`{field}` must be a string"))),
    };
    if text.is_empty() || text.chars().count() > NAME_MAX_CHARS {
        return Err(invalid(
            field,
            format!("`{field}` must have 1 to {NAME_MAX_CHARS} characters"),
        ));
    }
    Ok(text.to_owned())
}

fn description(value: &Value) -> Result<String, ApiError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| invalid("description", "`description` must be a string or null"))
}

/// The new name a patch gives, if it gives one.
fn new_name(object: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match object.get("name") {
        None => Ok(None),
        Some(Value::Null) => Err(invalid(
            "name",
            "`name` cannot be removed; leave it out to keep the name",
        )),
        value => name(value, "name").map(Some),
    }
}

/// Tracker names: distinct strings of 1 to 64 characters once trimmed, each error naming
/// the element (`milestones[1].trackers[0]`).
fn parse_trackers(value: &Value, field: &str) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = value else {
        return Err(invalid(
            field,
            format!("`{field}` must be an array of tracker names"),
        ));
    };
    let mut trackers: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = format!("{field}[{index}]");
        let Some(text) = item.as_str().map(str::trim) else {
            return Err(invalid(&path, format!("`{path}` must be a string")));
        };
        if text.is_empty() || text.chars().count() > TRACKER_MAX_CHARS {
            return Err(invalid(
                &path,
                format!("`{path}` must have 1 to {TRACKER_MAX_CHARS} characters"),
            ));
        }
        if trackers.iter().any(|tracker| tracker == text) {
            return Err(invalid(
                &path,
                format!("`{path}` repeats the tracker `{text}`"),
            ));
        }
        trackers.push(text.to_owned());
    }
    Ok(trackers)
}

fn parse_event_query(params: &EventParams) -> Result<GoalEventQuery, ApiError> {
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                invalid(
                    "limit",
                    format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let after = params
        .cursor
        .as_deref()
        .map(str::parse::<EventCursor>)
        .transpose()
        .map_err(|_| {
            invalid(
                "cursor",
                "`cursor` must be the `next_cursor` of an earlier page",
            )
        })?;
    Ok(GoalEventQuery {
        milestone_id: params.milestone_id.clone(),
        window: parse_window(
            params.mode.as_deref(),
            params.from.as_deref(),
            params.to.as_deref(),
        )?,
        after,
        limit,
    })
}

fn parse_window(
    mode: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<GoalWindow, ApiError> {
    let is_test = match mode {
        None => None,
        Some("test") => Some(true),
        Some("live") => Some(false),
        Some(_) => return Err(invalid("mode", "`mode` must be `test` or `live`")),
    };
    let from = millis(from, "from")?;
    let to = millis(to, "to")?;
    if let (Some(from), Some(to)) = (from, to) {
        if to <= from {
            return Err(invalid("to", "`to` must be later than `from`"));
        }
    }
    Ok(GoalWindow { is_test, from, to })
}

fn millis(raw: Option<&str>, field: &str) -> Result<Option<Millis>, ApiError> {
    raw.map(|raw| {
        raw.parse().map_err(|_| {
            invalid(
                field,
                format!("`{field}` must be milliseconds since the Unix epoch"),
            )
        })
    })
    .transpose()
}

#[cfg(test)]
#[expect(
    clippy::needless_pass_by_value,
    reason = "case helpers take json! literals by value"
)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check_error(body: Value, code: Code, field: &str) {
        let error = parse_new_goal(&body)
            .err()
            .expect("the body should be refused");
        assert_eq!(
            (error.code, error.field.as_deref()),
            (code, Some(field)),
            "{body}: {}",
            error.message
        );
    }

    #[test]
    fn a_goal_with_milestones_and_trackers_parses_trimmed() {
        let goal = parse_new_goal(&json!({
            "name": " Booking Confirmed ",
            "milestones": [{"name": "Dates confirmed", "trackers": [" nights ", "party_size"]}, {"name": "Quote sent"}]
        }))
        .ok()
        .unwrap();
        assert_eq!(goal.name, "Booking Confirmed");
        assert_eq!(goal.description, None);
        assert_eq!(goal.milestones[0].trackers, ["nights", "party_size"]);
        assert!(goal.milestones[1].trackers.is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        let long_tracker = "t".repeat(TRACKER_MAX_CHARS + 1);
        let cases = [
            (json!({}), Code::MissingField, "name"),
            (json!({"name": "  "}), Code::InvalidField, "name"),
            (
                json!({"name": "n".repeat(NAME_MAX_CHARS + 1)}),
                Code::InvalidField,
                "name",
            ),
            (json!({"name": 7}), Code::InvalidField, "name"),
            (
                json!({"name": "g", "description": 7}),
                Code::InvalidField,
                "description",
            ),
            (
                json!({"name": "g", "milestones": {}}),
                Code::InvalidField,
                "milestones",
            ),
            (
                json!({"name": "g", "milestones": ["x"]}),
                Code::InvalidField,
                "milestones[0]",
            ),
            (
                json!({"name": "g", "milestones": [{"name": "a"}, {}]}),
                Code::MissingField,
                "milestones[1].name",
            ),
            (
                json!({"name": "g", "milestones": [{"name": "a", "trackers": "budget"}]}),
                Code::InvalidField,
                "milestones[0].trackers",
            ),
            (
                json!({"name": "g", "milestones": [{"name": "a"}, {"name": "b", "trackers": [""]}]}),
                Code::InvalidField,
                "milestones[1].trackers[0]",
            ),
            (
                json!({"name": "g", "milestones": [{"name": "a", "trackers": [long_tracker]}]}),
                Code::InvalidField,
                "milestones[0].trackers[0]",
            ),
            (
                json!({"name": "g", "milestones": [{"name": "a", "trackers": ["x", "x"]}]}),
                Code::InvalidField,
                "milestones[0].trackers[1]",
            ),
            (
                json!({"name": "g", "milestones": [{"name": "a"}, {"name": " a"}]}),
                Code::MilestoneNameTaken,
                "milestones[1].name",
            ),
        ];
        for (body, code, field) in cases {
            check_error(body, code, field);
        }
    }

    #[test]
    fn a_patch_keeps_absent_fields_and_null_removes_the_description() {
        let changes = parse_goal_changes(&json!({"description": null}))
            .ok()
            .unwrap();
        assert_eq!((changes.name, changes.description), (None, Some(None)));
        let changes = parse_milestone_changes(&json!({"trackers": []}))
            .ok()
            .unwrap();
        assert_eq!((changes.name, changes.trackers), (None, Some(vec![])));
        let error = parse_goal_changes(&json!({"name": null})).err().unwrap();
        assert_eq!(error.field.as_deref(), Some("name"));
    }

    #[test]
    fn bad_filters_are_named() {
        let cases = [
            (Some("both"), None, None, "mode"),
            (None, Some("yesterday"), None, "from"),
            (None, Some("10"), Some("10"), "to"),
        ];
        for (mode, from, to, field) in cases {
            let error = parse_window(mode, from, to).err().unwrap();
            assert_eq!(error.field.as_deref(), Some(field), "{}", error.message);
        }
        assert_eq!(
            parse_window(Some("test"), Some("1"), None)
                .ok()
                .unwrap()
                .is_test,
            Some(true)
        );
    }
}
