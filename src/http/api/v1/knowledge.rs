//! `/api/v1/knowledge`: the documents (FAQ entries, policies) the organisation's AI Agent
//! answers from, and a search over them as the agent sees it.

use crate::ai::knowledge::AGENT_HITS;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::knowledge::{
    DocumentRecord, BODY_MAX_CHARS, DOCUMENTS_MAX, SOURCE_MAX_CHARS, TITLE_MAX_CHARS,
};
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most hits a search returns.
const SEARCH_LIMIT_MAX: usize = 20;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/knowledge", web::post().to(create))
        .route("/knowledge", web::get().to(list))
        .route("/knowledge/search", web::get().to(search))
        .route("/knowledge/{id}", web::get().to(read))
        .route("/knowledge/{id}", web::put().to(update))
        .route("/knowledge/{id}", web::delete().to(delete));
}

fn not_found(error: StoreError) -> ApiError {
    ApiError::from_store(error, Code::DocumentNotFound)
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.role.can_manage_channels() {
        Ok(())
    } else {
        Err(ApiError::forbidden("change the knowledge base"))
    }
}

/// A document as a request gives it: title and body, and its source if it has one.
struct DocumentInput {
    title: String,
    body: String,
    source: Option<String>,
}

/// The `title`, `body` and optional `source` of a request, trimmed and within their limits; a
/// blank or `null` source is none.
fn parse_document(body: &[u8]) -> Result<DocumentInput, ApiError> {
    let body = super::json_body(body)?;
    // A blank source is none.
    let source = match body.get("source") {
        Some(Value::String(text)) if text.trim().is_empty() => None,
        _ => super::text_field(&body, "source", 1, SOURCE_MAX_CHARS)?,
    };
    Ok(DocumentInput {
        title: super::required_text(&body, "title", TITLE_MAX_CHARS)?,
        body: super::required_text(&body, "body", BODY_MAX_CHARS)?,
        source,
    })
}

/// Adds a document (Owner and Admin): `{"title", "body", "source"?}`. Blank lines split a
/// long body into the passages the agent is given; an AI Agent step whose `knowledge` names
/// a source is given passages of that source's documents only.
#[utoipa::path(post, path = "/api/v1/knowledge", tag = "knowledge",
    request_body(content = Object, description = "`{\"title\", \"body\"}`"),
    responses((status = 201, body = DocumentRecord), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn create(
    state: AppState,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let document = parse_document(&body)?;
    let org_id = caller.0.org_id;
    let count = state
        .store
        .count_documents(org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    if count >= DOCUMENTS_MAX {
        return Err(ApiError::new(
            Code::TooManyDocuments,
            format!("the knowledge base holds {DOCUMENTS_MAX} documents at most; delete one first"),
        ));
    }
    let record = state
        .store
        .create_document(
            org_id,
            &document.title,
            &document.body,
            document.source.as_deref(),
            state.clock.now(),
        )
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    state.forget_knowledge(org_id);
    Ok(HttpResponse::Created().json(record))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentList {
    documents: Vec<DocumentRecord>,
}

/// Every document, oldest first.
#[utoipa::path(get, path = "/api/v1/knowledge", tag = "knowledge",
    responses((status = 200, body = DocumentList)), security(("api_key" = [])))]
pub(crate) async fn list(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    let documents = state
        .store
        .documents(caller.0.org_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?;
    Ok(HttpResponse::Ok().json(DocumentList { documents }))
}

/// One document.
#[utoipa::path(get, path = "/api/v1/knowledge/{id}", tag = "knowledge",
    responses((status = 200, body = DocumentRecord), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = state
        .store
        .document(caller.0.org_id, &id)
        .await
        .map_err(not_found)?;
    Ok(HttpResponse::Ok().json(record))
}

/// Replaces a document's title and body (Owner and Admin).
#[utoipa::path(put, path = "/api/v1/knowledge/{id}", tag = "knowledge",
    request_body(content = Object, description = "`{\"title\", \"body\"}`"),
    responses((status = 200, body = DocumentRecord), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn update(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let document = parse_document(&body)?;
    let record = state
        .store
        .update_document(
            caller.0.org_id,
            &id,
            &document.title,
            &document.body,
            document.source.as_deref(),
            state.clock.now(),
        )
        .await
        .map_err(not_found)?;
    state.forget_knowledge(caller.0.org_id);
    Ok(HttpResponse::Ok().json(record))
}

/// Deletes a document (Owner and Admin).
#[utoipa::path(delete, path = "/api/v1/knowledge/{id}", tag = "knowledge",
    responses((status = 204), (status = 404, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn delete(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    state
        .store
        .delete_document(caller.0.org_id, &id)
        .await
        .map_err(not_found)?;
    state.forget_knowledge(caller.0.org_id);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SearchQuery {
    /// What a guest asked.
    q: String,
    /// Hits to return, 1 to 20 (default 3, what the AI Agent is given).
    limit: Option<usize>,
    /// Only documents of this source, as an AI Agent step with this `knowledge` sees them.
    source: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    document_id: String,
    title: String,
    passage: String,
    source: Option<String>,
    /// BM25 score; higher is better.
    score: f32,
    /// The share of the question's terms the passage contains, 0 to 1. The local engine
    /// answers with a passage from 0.6.
    coverage: f32,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    hits: Vec<SearchHit>,
}

/// The passages the AI Agent would be given for a guest's question, best first.
#[utoipa::path(get, path = "/api/v1/knowledge/search", tag = "knowledge", params(SearchQuery),
    responses((status = 200, body = SearchResult), (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn search(
    state: AppState,
    caller: Caller,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(AGENT_HITS);
    if !(1..=SEARCH_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::field(
            Code::InvalidField,
            "limit",
            format!("`limit` must be from 1 to {SEARCH_LIMIT_MAX}"),
        ));
    }
    let hits = state
        .knowledge_search(caller.0.org_id, &query.q, limit, query.source.as_deref())
        .await
        .map_err(|error| ApiError::from_store(error, Code::Internal))?
        .into_iter()
        .map(|hit| SearchHit {
            document_id: hit.passage.document_id,
            title: hit.passage.title,
            passage: hit.passage.text,
            source: hit.passage.source,
            score: hit.score,
            coverage: hit.coverage,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SearchResult { hits }))
}
