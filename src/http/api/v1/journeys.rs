//! `/api/v1/journeys`: bot journeys, their versions and variables, and channel assignment.
//!
//! A journey holds a draft graph. Deploy validates it (every problem at once, each with its
//! step) and snapshots it as an immutable version that new sessions take; running sessions
//! keep the version they started on. The draft stays editable while a version is live, and the
//! changes reach customers only with the next deploy. Undeploy moves the journey back to Draft
//! and ends its running sessions. Owners and admins edit, deploy and assign; users read; the bot
//! identity may only list.

use super::channels::channel_id;
use crate::domain::{ChannelId, Millis, Role, UserId};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::journey::model::{VariableDef, START_STEP_ID};
use crate::journey::values::SYSTEM_VARIABLES;
use crate::journey::{validate, Journey, Position, Step, StepKind};
use crate::store::{JourneyChange, JourneyRecord, NewJourney, StoreError};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Longest journey name, in characters.
pub const NAME_MAX_CHARS: usize = 255;
/// Longest description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 2_000;
/// The `format` of an exported journey.
pub const EXPORT_FORMAT: &str = "parley.journey/v1";

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/journeys", web::get().to(list))
        .route("/journeys", web::post().to(create))
        .route("/journeys/import", web::post().to(import))
        .route("/journeys/{id}", web::get().to(read))
        .route("/journeys/{id}", web::put().to(update))
        .route("/journeys/{id}", web::delete().to(delete))
        .route("/journeys/{id}/deploy", web::post().to(deploy))
        .route("/journeys/{id}/undeploy", web::post().to(undeploy))
        .route("/journeys/{id}/clone", web::post().to(clone))
        .route("/journeys/{id}/export", web::get().to(export))
        .route("/journeys/{id}/versions", web::get().to(versions))
        .route(
            "/journeys/{id}/rollback/{version}",
            web::post().to(rollback),
        )
        .route("/journeys/{id}/variables", web::get().to(list_variables))
        .route("/journeys/{id}/variables", web::post().to(create_variable))
        .route(
            "/journeys/{id}/variables/{name}",
            web::put().to(update_variable),
        )
        .route(
            "/journeys/{id}/variables/{name}",
            web::delete().to(delete_variable),
        )
        .route("/channels/{id}/journey", web::get().to(read_assignment))
        .route("/channels/{id}/journey", web::put().to(assign))
        .route("/channels/{id}/journey", web::delete().to(unassign));
}

/// A journey with its draft graph.
#[derive(Serialize, utoipa::ToSchema)]
pub struct JourneyView {
    #[schema(value_type = String)]
    id: uuid::Uuid,
    name: String,
    description: Option<String>,
    /// `draft` or `live`.
    state: String,
    /// The version new sessions take, while live.
    live_version: Option<i64>,
    /// The newest deployed version (0: never deployed).
    latest_version: i64,
    /// Whether the draft differs from the live version (a deploy would change what customers
    /// get).
    undeployed_changes: bool,
    #[schema(value_type = Vec<Object>)]
    steps: Vec<Step>,
    #[schema(value_type = Vec<Object>)]
    connections: Vec<crate::journey::Connection>,
    #[schema(value_type = Vec<Object>)]
    variables: Vec<VariableDef>,
    #[schema(value_type = Vec<Object>)]
    api_definitions: Vec<crate::journey::model::ApiDefinition>,
    /// Channels the journey is assigned to.
    channels: Vec<ChannelId>,
    created_at: Millis,
    updated_at: Millis,
}

/// A journey in the list, without its graph.
#[derive(Serialize, utoipa::ToSchema)]
pub struct JourneySummary {
    #[schema(value_type = String)]
    id: uuid::Uuid,
    name: String,
    description: Option<String>,
    state: String,
    live_version: Option<i64>,
    step_count: usize,
    created_at: Millis,
    updated_at: Millis,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct JourneyList {
    data: Vec<JourneySummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionView {
    version: i64,
    /// Whether new sessions take this version.
    live: bool,
    deployed_by: Option<String>,
    /// The version this one restored, when it came from a rollback.
    restored_from: Option<i64>,
    created_at: Millis,
    step_count: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionList {
    data: Vec<VersionView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AssignmentView {
    channel_id: ChannelId,
    #[schema(value_type = Option<String>)]
    journey_id: Option<uuid::Uuid>,
    bot_user_id: Option<String>,
    /// Whether the channel answers with the journey now: it is assigned and Live. An
    /// undeployed journey stays assigned but the channel answers with the built-in greeting
    /// until it is deployed again.
    active: bool,
}

/// `GET /journeys?search=`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Keeps journeys whose name contains this, ignoring case.
    search: Option<String>,
}

fn store_error(error: StoreError) -> ApiError {
    ApiError::from_store(error, Code::JourneyNotFound)
}

/// A conflict of concurrent edits or deploys becomes `journey_changed` (retry); anything else
/// maps as usual.
fn changed_or_store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(reason) => ApiError::new(
            Code::JourneyChanged,
            format!("{reason}; read the journey again and retry"),
        ),
        other => store_error(other),
    }
}

fn require_editor(caller: &Caller, action: &str) -> Result<(), ApiError> {
    match caller.0.role {
        Role::Owner | Role::Admin => Ok(()),
        _ => Err(ApiError::forbidden(action)),
    }
}

fn require_reader(caller: &Caller) -> Result<(), ApiError> {
    match caller.0.role {
        Role::Bot => Err(ApiError::forbidden("open journeys")),
        _ => Ok(()),
    }
}

fn journey_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(Code::JourneyNotFound, "Journey not found"))
}

fn parse_stored(record: &JourneyRecord) -> Result<Journey, ApiError> {
    serde_json::from_str(&record.graph).map_err(|error| {
        tracing::error!(journey = %record.id, %error, "stored journey graph does not parse");
        ApiError::new(Code::Internal, "an internal error occurred")
    })
}

async fn load(state: &AppState, caller: &Caller, id: &str) -> Result<JourneyRecord, ApiError> {
    let id = journey_id(id)?;
    state
        .store
        .journey(caller.0.org_id, id)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => ApiError::new(Code::JourneyNotFound, "Journey not found"),
            other => store_error(other),
        })
}

async fn view(
    state: &AppState,
    caller: &Caller,
    record: JourneyRecord,
) -> Result<JourneyView, ApiError> {
    let journey = parse_stored(&record)?;
    let undeployed_changes = match record.live_version {
        None => true,
        Some(version) => {
            let live = state
                .store
                .journey_version_graph(record.id, version)
                .await
                .map_err(store_error)?;
            // The live version names goals by id; compare it with the draft resolved alike.
            let mut resolved = journey.clone();
            resolve_references(state, caller, &mut resolved).await?;
            serde_json::from_str::<Journey>(&live).ok().as_ref() != Some(&resolved)
        }
    };
    let channels = state
        .store
        .journey_channels(record.org_id, record.id)
        .await
        .map_err(store_error)?;
    Ok(JourneyView {
        id: record.id,
        name: record.name,
        description: record.description,
        state: record.state,
        live_version: record.live_version,
        latest_version: record.latest_version,
        undeployed_changes,
        steps: journey.steps,
        connections: journey.connections,
        variables: journey.variables,
        api_definitions: journey.api_definitions,
        channels,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))
}

fn parse_name(object: &Map<String, Value>, required: bool) -> Result<Option<String>, ApiError> {
    match object.get("name") {
        Some(Value::String(name)) => {
            let name = name.trim();
            if name.is_empty() {
                return Err(ApiError::field(
                    Code::InvalidField,
                    "name",
                    "`name` must not be empty",
                ));
            }
            if name.chars().count() > NAME_MAX_CHARS {
                return Err(ApiError::field(
                    Code::InvalidField,
                    "name",
                    format!("`name` is limited to {NAME_MAX_CHARS} characters"),
                ));
            }
            Ok(Some(name.to_owned()))
        }
        None | Some(Value::Null) if required => Err(ApiError::missing("name")),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            "name",
            "`name` must be a string",
        )),
    }
}

/// `None`: absent (leave as is); `Some(None)`: cleared.
fn parse_description(object: &Map<String, Value>) -> Result<Option<Option<String>>, ApiError> {
    match object.get("description") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) if text.chars().count() > DESCRIPTION_MAX_CHARS => {
            Err(ApiError::field(
                Code::InvalidField,
                "description",
                format!("`description` is limited to {DESCRIPTION_MAX_CHARS} characters"),
            ))
        }
        Some(Value::String(text)) => Ok(Some(
            Some(text.trim().to_owned()).filter(|text| !text.is_empty()),
        )),
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            "description",
            "`description` must be a string",
        )),
    }
}

/// A journey with only its Start step.
fn empty_graph(name: &str) -> Journey {
    Journey {
        name: name.to_owned(),
        steps: vec![Step {
            id: START_STEP_ID.into(),
            name: "Start".into(),
            position: Position::default(),
            kind: StepKind::Start,
        }],
        connections: Vec::new(),
        variables: Vec::new(),
        api_definitions: Vec::new(),
    }
}

/// Reads the graph parts of a body (`steps`, `connections`, `variables`, `api_definitions`)
/// into a journey, naming the exact place of anything that does not parse.
/// `replacing`: the graph replaces a saved draft, so a missing Start step means it was
/// deleted (`cannot_delete_start`); a new journey without one is malformed.
fn parse_graph(
    name: &str,
    object: &Map<String, Value>,
    replacing: bool,
) -> Result<Journey, ApiError> {
    let part = |key: &str| object.get(key).cloned().unwrap_or(Value::Array(Vec::new()));
    let graph = json!({
        "name": name,
        "steps": object.get("steps").cloned().unwrap_or(Value::Null),
        "connections": part("connections"),
        "variables": part("variables"),
        "api_definitions": part("api_definitions"),
    });
    let journey: Journey = serde_path_to_error::deserialize(graph).map_err(|error| {
        let path = step_config_path(object, &error.path().to_string())
            .unwrap_or_else(|| (error.path().to_string(), error.inner().to_string()));
        ApiError::field(
            Code::InvalidJourneyData,
            &path.0,
            format!("Invalid journey data structure at `{}`: {}", path.0, path.1),
        )
    })?;
    check_structure(&journey, replacing)?;
    Ok(journey)
}

/// A step's kind and config are flattened into it, which hides where inside the config a
/// problem is: for an error at `steps[i]`, the kind and config are read again on their own to
/// name the exact place (`steps[1].config.choices[0].title`).
fn step_config_path(object: &Map<String, Value>, path: &str) -> Option<(String, String)> {
    let index: usize = path
        .strip_prefix("steps[")?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    let step = object.get("steps")?.get(index)?;
    let kind = step.get("kind")?.as_str()?;
    let config = step.get("config").cloned().unwrap_or(Value::Null);
    let error = config_error(kind, config)?;
    let inner = error.path().to_string();
    let place = if inner == "." {
        format!("steps[{index}].config")
    } else {
        format!("steps[{index}].config.{inner}")
    };
    Some((place, error.inner().to_string()))
}

/// Why a step's config does not parse as the config of its kind, with the path inside it.
fn config_error(
    kind: &str,
    config: Value,
) -> Option<serde_path_to_error::Error<serde_json::Error>> {
    use crate::journey::model::*;
    fn check<T: serde::de::DeserializeOwned>(
        config: Value,
    ) -> Option<serde_path_to_error::Error<serde_json::Error>> {
        serde_path_to_error::deserialize::<_, T>(config).err()
    }
    match kind {
        "text" => check::<TextConfig>(config),
        "image" | "video" | "audio" | "document" => check::<MediaConfig>(config),
        "location" => check::<LocationConfig>(config),
        "cta_url" => check::<CtaUrlConfig>(config),
        "template" => check::<TemplateConfig>(config),
        "reply" | "quick_reply" => check::<ChoicesConfig>(config),
        "list" => check::<ListConfig>(config),
        "prompt" => check::<PromptConfig>(config),
        "prompt_date" => check::<PromptDateConfig>(config),
        "condition" => check::<ConditionConfig>(config),
        "delay" => check::<DelayConfig>(config),
        "wait_for_events" => check::<WaitConfig>(config),
        "api" => check::<ApiConfig>(config),
        "ai_agent" => check::<AiAgentConfig>(config),
        "agent_transfer" => check::<TransferConfig>(config),
        "goal" => check::<GoalConfig>(config),
        _ => None,
    }
}

/// What every saved draft must satisfy (deploy checks the rest): one Start step, step ids
/// unique and non-empty, variables named uniquely and not after system variables.
fn check_structure(journey: &Journey, replacing: bool) -> Result<(), ApiError> {
    let starts = journey
        .steps
        .iter()
        .filter(|step| matches!(step.kind, StepKind::Start))
        .count();
    if starts == 0 && replacing {
        return Err(ApiError::field(
            Code::CannotDeleteStart,
            "steps",
            "Cannot delete the Start step: every journey keeps exactly one",
        ));
    }
    if starts == 0 {
        return Err(ApiError::field(
            Code::InvalidJourneyData,
            "steps",
            "Invalid journey data structure: a journey needs a Start step",
        ));
    }
    if starts > 1 {
        return Err(ApiError::field(
            Code::InvalidJourneyData,
            "steps",
            "Invalid journey data structure: a journey has exactly one Start step",
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for (index, step) in journey.steps.iter().enumerate() {
        if step.id.trim().is_empty() || !ids.insert(step.id.as_str()) {
            return Err(ApiError::field(
                Code::InvalidJourneyData,
                &format!("steps[{index}].id"),
                format!(
                    "Invalid journey data structure: step ids must be unique and non-empty (`{}`)",
                    step.id
                ),
            ));
        }
    }
    let mut names = std::collections::HashSet::new();
    for (index, variable) in journey.variables.iter().enumerate() {
        check_variable_name(&variable.name, &format!("variables[{index}].name"))?;
        if !names.insert(variable.name.as_str()) {
            return Err(ApiError::field(
                Code::VariableNameTaken,
                &format!("variables[{index}].name"),
                format!(
                    "Variable name already exists in journey: `{}`",
                    variable.name
                ),
            ));
        }
    }
    Ok(())
}

fn check_variable_name(name: &str, field: &str) -> Result<(), ApiError> {
    if SYSTEM_VARIABLES.contains(&name) {
        return Err(ApiError::field(
            Code::SystemVariableReadOnly,
            field,
            format!("System variables cannot be modified: `{name}` is a system variable"),
        ));
    }
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64;
    if !valid {
        return Err(ApiError::field(
            Code::InvalidField,
            field,
            "variable names start with a letter or `_` and hold letters, digits and `_` (64 at most)",
        ));
    }
    Ok(())
}

fn graph_json(journey: &Journey) -> String {
    serde_json::to_string(journey).expect("journeys serialise")
}

fn name_taken(name: &str) -> ApiError {
    ApiError::field(
        Code::JourneyNameTaken,
        "name",
        format!("Journey name already exists in organisation: `{name}`"),
    )
}

/// Creates a draft from a parsed graph and answers 201 with it.
async fn insert(
    state: &AppState,
    caller: &Caller,
    name: String,
    description: Option<String>,
    journey: Journey,
) -> Result<HttpResponse, ApiError> {
    let id = uuid::Uuid::now_v7();
    let now = state.clock.now();
    let new = NewJourney {
        id,
        org_id: caller.0.org_id,
        name: name.clone(),
        description,
        graph: graph_json(&journey),
    };
    match state.store.create_journey(new, now).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(name_taken(&name)),
        Err(error) => return Err(store_error(error)),
    }
    let record = state
        .store
        .journey(caller.0.org_id, id)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Created().json(view(state, caller, record).await?))
}

#[utoipa::path(get, path = "/api/v1/journeys", tag = "journeys", params(ListQuery),
    responses((status = 200, body = JourneyList)), security(("api_key" = [])))]
pub(crate) async fn list(
    state: AppState,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let records = state
        .store
        .list_journeys(caller.0.org_id, query.search.as_deref())
        .await
        .map_err(store_error)?;
    let data = records
        .into_iter()
        .map(|record| {
            let step_count = parse_stored(&record)?.steps.len();
            Ok(JourneySummary {
                id: record.id,
                name: record.name,
                description: record.description,
                state: record.state,
                live_version: record.live_version,
                step_count,
                created_at: record.created_at,
                updated_at: record.updated_at,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(JourneyList { data }))
}

#[utoipa::path(post, path = "/api/v1/journeys", tag = "journeys",
    request_body(content = Object, description = "`{\"name\", \"description\"?, \"steps\"?, \"connections\"?, \"variables\"?, \"api_definitions\"?}`; without `steps` the journey starts with its Start step only"),
    responses((status = 201, body = JourneyView), (status = 409, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "create journeys")?;
    let body = super::json_body(&body)?;
    let object = object(&body)?;
    let name = parse_name(object, true)?.unwrap_or_default();
    let description = parse_description(object)?.flatten();
    let journey = match object.get("steps") {
        None | Some(Value::Null) => empty_graph(&name),
        Some(_) => parse_graph(&name, object, false)?,
    };
    insert(&state, &caller, name, description, journey).await
}

#[utoipa::path(get, path = "/api/v1/journeys/{id}", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    responses((status = 200, body = JourneyView), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let record = load(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &caller, record).await?))
}

#[utoipa::path(put, path = "/api/v1/journeys/{id}", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    request_body(content = Object, description = "The whole draft: `{\"name\"?, \"description\"?, \"steps\", \"connections\", \"variables\"?, \"api_definitions\"?}`"),
    responses((status = 200, body = JourneyView), (status = 404, body = crate::http::error::ErrorBody),
              (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "edit journeys")?;
    let record = load(&state, &caller, &id).await?;
    let body = super::json_body(&body)?;
    let object = object(&body)?;
    let name = parse_name(object, false)?;
    let description = parse_description(object)?;
    let current = parse_stored(&record)?;
    let graph_name = name.clone().unwrap_or_else(|| record.name.clone());
    let graph = match object.get("steps") {
        None | Some(Value::Null) => {
            let mut renamed = current.clone();
            renamed.name = graph_name;
            renamed
        }
        Some(_) => {
            let journey = parse_graph(&graph_name, object, true)?;
            // The Start step cannot be deleted, only kept (its id stays).
            let start = current
                .start()
                .map(|step| step.id.clone())
                .unwrap_or_else(|| START_STEP_ID.into());
            if !matches!(
                journey.step(&start).map(|step| &step.kind),
                Some(StepKind::Start)
            ) {
                return Err(ApiError::field(
                    Code::CannotDeleteStart,
                    "steps",
                    format!("Cannot delete the Start step (`{start}`)"),
                ));
            }
            journey
        }
    };
    let change = JourneyChange {
        name: name.clone(),
        description,
        graph: (graph != current || name.is_some()).then(|| graph_json(&graph)),
    };
    match state
        .store
        .update_journey(caller.0.org_id, record.id, change, state.clock.now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(name_taken(&name.unwrap_or_default())),
        Err(error) => return Err(store_error(error)),
    }
    let record = load(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &caller, record).await?))
}

#[utoipa::path(delete, path = "/api/v1/journeys/{id}", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    responses((status = 204), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "delete journeys")?;
    let id = journey_id(&id)?;
    state
        .store
        .delete_journey(caller.0.org_id, id)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => ApiError::new(Code::JourneyNotFound, "Journey not found"),
            other => store_error(other),
        })?;
    state.forget_journeys();
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/journeys/{id}/deploy", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    responses((status = 200, body = JourneyView),
              (status = 422, description = "`journey_invalid` (or `no_other_steps`) with every problem in `problems`", body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn deploy(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "deploy journeys")?;
    let record = load(&state, &caller, &id).await?;
    let mut journey = parse_stored(&record)?;
    let mut problems = validate(&journey);
    problems.extend(resolve_references(&state, &caller, &mut journey).await?);
    if !problems.is_empty() {
        let only_empty = problems
            .iter()
            .all(|problem| problem.code == "no_other_steps");
        let (code, message) = if only_empty {
            (
                Code::NoOtherSteps,
                "Cannot deploy journey with no other steps".to_owned(),
            )
        } else {
            (
                Code::JourneyInvalid,
                format!(
                    "the journey cannot be deployed: {} problem(s), listed in `problems`",
                    problems.len()
                ),
            )
        };
        let problems = serde_json::to_value(&problems).expect("problems serialise");
        return Err(ApiError::new(code, message).with_problems(problems));
    }
    state
        .store
        .deploy_journey(
            caller.0.org_id,
            record.id,
            record.graph.clone(),
            graph_json(&journey),
            caller.0.user_id,
            state.clock.now(),
        )
        .await
        .map_err(changed_or_store_error)?;
    state.forget_journeys();
    let record = load(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &caller, record).await?))
}

/// What the organisation's other records a journey names (goals, AI agents), resolved to
/// ids as the deployed version records them; a name that resolves to nothing is a problem.
async fn resolve_references(
    state: &AppState,
    caller: &Caller,
    journey: &mut Journey,
) -> Result<Vec<crate::journey::ValidationProblem>, ApiError> {
    let mut problems = resolve_goals(state, caller, journey).await?;
    problems.extend(resolve_ai_agents(state, caller, journey).await?);
    Ok(problems)
}

/// AI Agent steps name an AI agent (a persona) by id or by name; the deployed version records
/// the id, so renaming the agent does not break the journey. A knowledge source they name must
/// be the source of at least one document.
async fn resolve_ai_agents(
    state: &AppState,
    caller: &Caller,
    journey: &mut Journey,
) -> Result<Vec<crate::journey::ValidationProblem>, ApiError> {
    let mut problems = Vec::new();
    for step in &mut journey.steps {
        let StepKind::AiAgent(config) = &mut step.kind else {
            continue;
        };
        if let Some(source) = config.knowledge.as_deref().map(str::trim) {
            let exists = source.is_empty()
                || state
                    .store
                    .knowledge_source_exists(caller.0.org_id, source)
                    .await
                    .map_err(store_error)?;
            if !exists {
                problems.push(crate::journey::ValidationProblem {
                    code: "knowledge_source_not_found",
                    step_id: Some(step.id.clone()),
                    field: Some("knowledge".into()),
                    message: format!("no document of the knowledge base has the source `{source}`"),
                });
            }
        }
        let Some(reference) = config.agent.clone().filter(|name| !name.trim().is_empty()) else {
            continue;
        };
        match state.store.ai_agent(caller.0.org_id, &reference).await {
            Ok(agent) => config.agent = Some(agent.id),
            Err(StoreError::NotFound) => problems.push(crate::journey::ValidationProblem {
                code: "ai_agent_not_found",
                step_id: Some(step.id.clone()),
                field: Some("agent".into()),
                message: format!(
                    "there is no AI agent `{reference}` (by id or name) in this organisation"
                ),
            }),
            Err(error) => return Err(store_error(error)),
        }
    }
    Ok(problems)
}

/// Goal steps name a goal of the organisation and one of its milestones, by id or by name (so
/// a journey file can travel between organisations). The deployed version records them by id;
/// a reference to nothing is a problem, or its events would be recorded against nothing.
async fn resolve_goals(
    state: &AppState,
    caller: &Caller,
    journey: &mut Journey,
) -> Result<Vec<crate::journey::ValidationProblem>, ApiError> {
    let mut problems = Vec::new();
    if !journey
        .steps
        .iter()
        .any(|step| matches!(step.kind, StepKind::Goal(_)))
    {
        return Ok(problems);
    }
    let goals = state
        .store
        .list_goals(caller.0.org_id)
        .await
        .map_err(store_error)?;
    for step in &mut journey.steps {
        let StepKind::Goal(config) = &mut step.kind else {
            continue;
        };
        if config.goal_id.trim().is_empty() {
            continue; // reported by validation already
        }
        let goal = goals
            .iter()
            .find(|goal| goal.id == config.goal_id)
            .or_else(|| goals.iter().find(|goal| goal.name == config.goal_id));
        let Some(goal) = goal else {
            problems.push(crate::journey::ValidationProblem {
                code: "goal_not_found",
                step_id: Some(step.id.clone()),
                field: Some("goal_id".into()),
                message: format!(
                    "there is no goal `{}` (by id or name) in this organisation",
                    config.goal_id
                ),
            });
            continue;
        };
        let milestone = goal
            .milestones
            .iter()
            .find(|milestone| milestone.id == config.milestone_id)
            .or_else(|| {
                goal.milestones
                    .iter()
                    .find(|milestone| milestone.name == config.milestone_id)
            });
        match milestone {
            Some(milestone) => {
                config.goal_id = goal.id.clone();
                config.milestone_id = milestone.id.clone();
            }
            None => problems.push(crate::journey::ValidationProblem {
                code: "milestone_not_found",
                step_id: Some(step.id.clone()),
                field: Some("milestone_id".into()),
                message: format!(
                    "the goal `{}` has no milestone `{}` (by id or name)",
                    goal.name, config.milestone_id
                ),
            }),
        }
    }
    Ok(problems)
}

#[utoipa::path(post, path = "/api/v1/journeys/{id}/undeploy", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    responses((status = 200, body = JourneyView), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn undeploy(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "undeploy journeys")?;
    let record = load(&state, &caller, &id).await?;
    state
        .store
        .undeploy_journey(caller.0.org_id, record.id, state.clock.now())
        .await
        .map_err(store_error)?;
    state.forget_journeys();
    let record = load(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &caller, record).await?))
}

#[utoipa::path(post, path = "/api/v1/journeys/{id}/clone", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    request_body(content = Object, description = "Optional `{\"name\"}`; by default `<name> (copy)`"),
    responses((status = 201, body = JourneyView), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn clone(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "create journeys")?;
    let record = load(&state, &caller, &id).await?;
    let requested = if body.is_empty() {
        None
    } else {
        parse_name(object(&super::json_body(&body)?)?, false)?
    };
    let mut journey = parse_stored(&record)?;
    let name = match requested {
        Some(name) => name,
        None => {
            let taken: std::collections::HashSet<String> = state
                .store
                .list_journeys(caller.0.org_id, None)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(|journey| journey.name)
                .collect();
            copy_name(&record.name, &taken)
        }
    };
    journey.name = name.clone();
    insert(&state, &caller, name, record.description, journey).await
}

/// `<name> (copy)`, or `(copy 2)`, `(copy 3)` … when taken, within the name limit.
fn copy_name(name: &str, taken: &std::collections::HashSet<String>) -> String {
    (1..)
        .map(|n| {
            let suffix = if n == 1 {
                " (copy)".to_owned()
            } else {
                format!(" (copy {n})")
            };
            let room = NAME_MAX_CHARS.saturating_sub(suffix.chars().count());
            let base: String = name.chars().take(room).collect();
            format!("{base}{suffix}")
        })
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| name.to_owned())
}

#[utoipa::path(get, path = "/api/v1/journeys/{id}/export", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    responses((status = 200, description = "`{\"format\": \"parley.journey/v1\", \"name\", \"description\", \"steps\", \"connections\", \"variables\", \"api_definitions\"}`")),
    security(("api_key" = [])))]
pub(crate) async fn export(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let record = load(&state, &caller, &id).await?;
    let journey = parse_stored(&record)?;
    Ok(HttpResponse::Ok().json(json!({
        "format": EXPORT_FORMAT,
        "name": record.name,
        "description": record.description,
        "steps": journey.steps,
        "connections": journey.connections,
        "variables": journey.variables,
        "api_definitions": journey.api_definitions,
    })))
}

#[utoipa::path(post, path = "/api/v1/journeys/import", tag = "journeys",
    request_body(content = Object, description = "An export (`format` `parley.journey/v1`); `name` may be changed before importing"),
    responses((status = 201, body = JourneyView), (status = 409, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn import(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "create journeys")?;
    let body = super::json_body(&body)?;
    let object = object(&body)?;
    match object.get("format") {
        Some(Value::String(format)) if format == EXPORT_FORMAT => {}
        None | Some(Value::Null) => return Err(ApiError::missing("format")),
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "format",
                format!("`format` must be `{EXPORT_FORMAT}`"),
            ))
        }
    }
    let name = parse_name(object, true)?.unwrap_or_default();
    let description = parse_description(object)?.flatten();
    if object.get("steps").is_none_or(Value::is_null) {
        return Err(ApiError::missing("steps"));
    }
    let journey = parse_graph(&name, object, false)?;
    insert(&state, &caller, name, description, journey).await
}

#[utoipa::path(get, path = "/api/v1/journeys/{id}/versions", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    responses((status = 200, body = VersionList), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn versions(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let record = load(&state, &caller, &id).await?;
    let versions = state
        .store
        .journey_versions(caller.0.org_id, record.id)
        .await
        .map_err(store_error)?;
    let data = versions
        .into_iter()
        .map(|version| VersionView {
            live: record.live_version == Some(version.version),
            step_count: serde_json::from_str::<Journey>(&version.graph)
                .map(|journey| journey.steps.len())
                .unwrap_or_default(),
            version: version.version,
            deployed_by: version.deployed_by,
            restored_from: version.restored_from,
            created_at: version.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(VersionList { data }))
}

#[utoipa::path(post, path = "/api/v1/journeys/{id}/rollback/{version}", tag = "journeys",
    params(("id" = String, Path, description = "Journey id"), ("version" = i64, Path, description = "The version to restore")),
    responses((status = 200, body = JourneyView), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn rollback(
    state: AppState,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "deploy journeys")?;
    let (id, version) = path.into_inner();
    let record = load(&state, &caller, &id).await?;
    let not_found = || {
        ApiError::new(
            Code::VersionNotFound,
            format!("version {version} not found"),
        )
    };
    let number: i64 = version.parse().map_err(|_| not_found())?;
    state
        .store
        .rollback_journey(
            caller.0.org_id,
            record.id,
            number,
            caller.0.user_id,
            state.clock.now(),
        )
        .await
        .map_err(|error| match error {
            StoreError::NotFound => not_found(),
            other => changed_or_store_error(other),
        })?;
    state.forget_journeys();
    let record = load(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &caller, record).await?))
}

#[utoipa::path(get, path = "/api/v1/journeys/{id}/variables", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    responses((status = 200, description = "`{\"system\": [names], \"data\": [variables]}`")),
    security(("api_key" = [])))]
pub(crate) async fn list_variables(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let record = load(&state, &caller, &id).await?;
    let journey = parse_stored(&record)?;
    Ok(HttpResponse::Ok().json(json!({
        "system": SYSTEM_VARIABLES,
        "data": journey.variables,
    })))
}

fn parse_variable(body: &Value) -> Result<VariableDef, ApiError> {
    let variable: VariableDef =
        serde_path_to_error::deserialize(body.clone()).map_err(|error| {
            let path = error.path().to_string();
            ApiError::field(
                Code::InvalidField,
                &path,
                format!("invalid variable at `{path}`: {}", error.inner()),
            )
        })?;
    check_variable_name(&variable.name, "name")?;
    Ok(variable)
}

/// How often a variable change is tried against a draft that others keep changing.
const VARIABLE_ATTEMPTS: usize = 8;

/// Applies `change` to the draft's variables and stores the draft, on the condition that
/// nobody changed it meanwhile (else it reads the draft again and applies `change` anew), so
/// concurrent variable writes are all kept.
async fn change_variables(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: impl Fn(&mut Vec<VariableDef>) -> Result<(), ApiError>,
) -> Result<Vec<VariableDef>, ApiError> {
    for _ in 0..VARIABLE_ATTEMPTS {
        let record = load(state, caller, id).await?;
        let mut journey = parse_stored(&record)?;
        change(&mut journey.variables)?;
        let replaced = state
            .store
            .replace_journey_graph(
                caller.0.org_id,
                record.id,
                record.graph,
                graph_json(&journey),
                state.clock.now(),
            )
            .await
            .map_err(store_error)?;
        if replaced {
            return Ok(journey.variables);
        }
    }
    Err(ApiError::new(
        Code::JourneyChanged,
        "the journey kept changing while the variable was saved; try again",
    ))
}

fn variable_taken(name: &str) -> ApiError {
    ApiError::field(
        Code::VariableNameTaken,
        "name",
        format!("Variable name already exists in journey: `{name}`"),
    )
}

fn variable_not_found(name: &str) -> ApiError {
    ApiError::new(
        Code::VariableNotFound,
        format!("Variable not found: `{name}`"),
    )
}

#[utoipa::path(post, path = "/api/v1/journeys/{id}/variables", tag = "journeys",
    params(("id" = String, Path, description = "Journey id")),
    request_body(content = Object, description = "`{\"name\", \"scope\": \"local|campaign\", \"type\": \"string|number|date|json\", \"default\"?}`"),
    responses((status = 201), (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create_variable(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "edit journeys")?;
    let variable = parse_variable(&super::json_body(&body)?)?;
    let created = variable.clone();
    change_variables(&state, &caller, &id, move |variables| {
        if variables
            .iter()
            .any(|existing| existing.name == variable.name)
        {
            return Err(variable_taken(&variable.name));
        }
        variables.push(variable.clone());
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(put, path = "/api/v1/journeys/{id}/variables/{name}", tag = "journeys",
    params(("id" = String, Path, description = "Journey id"), ("name" = String, Path, description = "Variable name")),
    request_body(content = Object, description = "The whole variable; a different `name` renames it"),
    responses((status = 200), (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update_variable(
    state: AppState,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "edit journeys")?;
    let (id, name) = path.into_inner();
    if SYSTEM_VARIABLES.contains(&name.as_str()) {
        return Err(ApiError::field(
            Code::SystemVariableReadOnly,
            "name",
            format!("System variables cannot be modified: `{name}` is a system variable"),
        ));
    }
    let variable = parse_variable(&super::json_body(&body)?)?;
    let updated = variable.clone();
    change_variables(&state, &caller, &id, move |variables| {
        let Some(index) = variables.iter().position(|existing| existing.name == name) else {
            return Err(variable_not_found(&name));
        };
        if variable.name != name && variables.iter().any(|other| other.name == variable.name) {
            return Err(variable_taken(&variable.name));
        }
        variables[index] = variable.clone();
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(updated))
}

#[utoipa::path(delete, path = "/api/v1/journeys/{id}/variables/{name}", tag = "journeys",
    params(("id" = String, Path, description = "Journey id"), ("name" = String, Path, description = "Variable name")),
    responses((status = 204), (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete_variable(
    state: AppState,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "edit journeys")?;
    let (id, name) = path.into_inner();
    if SYSTEM_VARIABLES.contains(&name.as_str()) {
        return Err(ApiError::field(
            Code::SystemVariableReadOnly,
            "name",
            format!("System variables cannot be modified: `{name}` is a system variable"),
        ));
    }
    change_variables(&state, &caller, &id, move |variables| {
        let before = variables.len();
        variables.retain(|existing| existing.name != name);
        if variables.len() == before {
            return Err(variable_not_found(&name));
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/channels/{id}/journey", tag = "journeys",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, body = AssignmentView), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read_assignment(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let channel = channel_id(&id)?;
    let record = state
        .store
        .channel(caller.0.org_id, channel)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    let assignment = state
        .store
        .channel_assignment(caller.0.org_id, record.id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    let active = match &assignment {
        Some((journey, _)) => match state.store.journey(caller.0.org_id, *journey).await {
            Ok(journey) => journey.state == "live",
            Err(StoreError::NotFound) => false,
            Err(error) => return Err(store_error(error)),
        },
        None => false,
    };
    Ok(HttpResponse::Ok().json(AssignmentView {
        channel_id: record.id,
        journey_id: assignment.as_ref().map(|(journey, _)| *journey),
        bot_user_id: assignment.and_then(|(_, bot)| bot),
        active,
    }))
}

#[utoipa::path(put, path = "/api/v1/channels/{id}/journey", tag = "journeys",
    params(("id" = String, Path, description = "Channel id")),
    request_body(content = Object, description = "`{\"journey_id\", \"bot_user_id\"}`: a Live journey, spoken by a user with the Bot role"),
    responses((status = 200, body = AssignmentView), (status = 404, body = crate::http::error::ErrorBody),
              (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn assign(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "assign journeys")?;
    let channel = channel_id(&id)?;
    state
        .store
        .channel(caller.0.org_id, channel)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    let body = super::json_body(&body)?;
    let object = object(&body)?;
    let text = |key: &str| match object.get(key) {
        Some(Value::String(value)) => Ok(value.trim().to_owned()),
        None | Some(Value::Null) => Err(ApiError::missing(key)),
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            key,
            format!("`{key}` must be a string"),
        )),
    };
    let journey = load(&state, &caller, &text("journey_id")?).await?;
    let bot_raw = text("bot_user_id")?;
    let user_not_found = || {
        ApiError::field(
            Code::UserNotFound,
            "bot_user_id",
            "no such user in your organisation",
        )
    };
    let bot: UserId = bot_raw.parse().map_err(|_| user_not_found())?;
    let user = state
        .store
        .user(caller.0.org_id, bot)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => user_not_found(),
            other => store_error(other),
        })?;
    if user.role != Role::Bot {
        return Err(ApiError::field(
            Code::NotABotUser,
            "bot_user_id",
            format!(
                "a journey speaks as a user with the Bot role; this user is {}",
                user.role
            ),
        ));
    }
    let journey_not_live = || {
        ApiError::field(
            Code::JourneyNotLive,
            "journey_id",
            "only a Live journey can be assigned: deploy it first",
        )
    };
    if journey.state != "live" {
        return Err(journey_not_live());
    }
    state
        .store
        .assign_channel_journey(
            caller.0.org_id,
            channel,
            Some((journey.id, bot)),
            state.clock.now(),
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => journey_not_live(),
            other => ApiError::from_store(other, Code::ChannelNotFound),
        })?;
    state.forget_journeys();
    Ok(HttpResponse::Ok().json(AssignmentView {
        channel_id: channel,
        journey_id: Some(journey.id),
        bot_user_id: Some(bot.to_string()),
        active: true,
    }))
}

#[utoipa::path(delete, path = "/api/v1/channels/{id}/journey", tag = "journeys",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 204), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn unassign(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_editor(&caller, "assign journeys")?;
    let channel = channel_id(&id)?;
    state
        .store
        .assign_channel_journey(caller.0.org_id, channel, None, state.clock.now())
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    state.forget_journeys();
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_named_after_the_first_free_suffix() {
        let mut taken = std::collections::HashSet::new();
        assert_eq!(copy_name("Welcome", &taken), "Welcome (copy)");
        taken.insert("Welcome (copy)".to_owned());
        taken.insert("Welcome (copy 2)".to_owned());
        assert_eq!(copy_name("Welcome", &taken), "Welcome (copy 3)");
        let long = "x".repeat(NAME_MAX_CHARS);
        assert_eq!(
            copy_name(&long, &std::collections::HashSet::new())
                .chars()
                .count(),
            NAME_MAX_CHARS
        );
    }

    #[test]
    fn variable_names_are_checked() {
        assert!(check_variable_name("party_size", "name").is_ok());
        assert_eq!(
            check_variable_name("contact_name", "name").map_err(|e| e.code),
            Err(Code::SystemVariableReadOnly)
        );
        for bad in ["", "1st", "with space", "dash-ed"] {
            assert_eq!(
                check_variable_name(bad, "name").map_err(|e| e.code),
                Err(Code::InvalidField),
                "{bad}"
            );
        }
    }
}
