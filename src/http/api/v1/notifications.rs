//! `/api/v1/notifications`: the caller's notifications; mark one or all read.
//!
//! A member only ever sees their own notifications: another member's, or another
//! organisation's, is `notification_not_found`.

use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::notifications::{NotificationCursor, NotificationQuery, NotificationRecord};
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/notifications", web::get().to(list))
        .route("/notifications/read-all", web::post().to(read_all))
        .route("/notifications/{id}/read", web::post().to(read));
}

/// Filters and page of `GET /api/v1/notifications`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// `true`: only unread notifications; `false` (default): all.
    #[param(value_type = Option<bool>)]
    unread: Option<String>,
    /// At most this many (default 50, at most 200).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// Only notifications older than this one (the last id of the previous page).
    before: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationList {
    /// Newest first.
    data: Vec<NotificationRecord>,
    /// Whether older notifications match (page with `before` = the last id).
    has_more: bool,
    /// All of the caller's unread notifications, whatever the filters.
    unread_count: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MarkedRead {
    /// How many notifications were unread and now are read.
    marked: u64,
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    params(ListParams),
    responses((status = 200, body = NotificationList), (status = 401, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn list(
    state: AppState,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let Caller(principal) = caller;
    let mut query = parse_query(&params)?;
    if let Some(raw) = params.before.as_deref() {
        let invalid = || {
            ApiError::field(
                Code::InvalidField,
                "before",
                "`before` must be the id of one of your notifications",
            )
        };
        let id: uuid::Uuid = raw.parse().map_err(|_| invalid())?;
        let before = state
            .store
            .notification(principal.org_id, principal.user_id, id)
            .await
            .map_err(|error| match error {
                StoreError::NotFound => invalid(),
                other => ApiError::from_store(other, Code::NotificationNotFound),
            })?;
        query.before = Some(NotificationCursor {
            created_at: before.created_at,
            id,
        });
    }
    let page = query.limit;
    query.limit += 1;
    let mut data = state
        .store
        .notifications(principal.org_id, principal.user_id, &query)
        .await
        .map_err(|error| ApiError::from_store(error, Code::NotificationNotFound))?;
    let has_more = data.len() as i64 > page;
    data.truncate(usize::try_from(page).unwrap_or(usize::MAX));
    let unread_count = state
        .store
        .unread_notification_count(principal.org_id, principal.user_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::NotificationNotFound))?;
    Ok(HttpResponse::Ok().json(NotificationList {
        data,
        has_more,
        unread_count,
    }))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, body = NotificationRecord), (status = 401, body = crate::http::error::ErrorBody),
              (status = 404, description = "`notification_not_found`", body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Caller(principal) = caller;
    let notification = state
        .store
        .mark_notification_read(
            principal.org_id,
            principal.user_id,
            notification_id(&id)?,
            state.clock.now(),
        )
        .await
        .map_err(|error| ApiError::from_store(error, Code::NotificationNotFound))?;
    Ok(HttpResponse::Ok().json(notification))
}

#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications",
    responses((status = 200, body = MarkedRead), (status = 401, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn read_all(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    let Caller(principal) = caller;
    let marked = state
        .store
        .mark_all_notifications_read(principal.org_id, principal.user_id, state.clock.now())
        .await
        .map_err(|error| ApiError::from_store(error, Code::NotificationNotFound))?;
    Ok(HttpResponse::Ok().json(MarkedRead { marked }))
}

/// A notification id from the path; anything that is not one names no notification.
fn notification_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            Code::NotificationNotFound,
            "you have no notification with this id",
        )
    })
}

/// The filters and page size; `before` is resolved by the handler, which needs the store.
fn parse_query(params: &ListParams) -> Result<NotificationQuery, ApiError> {
    let unread_only = match params.unread.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "unread",
                "`unread` must be `true` or `false`",
            ))
        }
    };
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::field(
                    Code::InvalidField,
                    "limit",
                    format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    Ok(NotificationQuery {
        unread_only,
        before: None,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(unread: Option<&str>, limit: Option<&str>, expected: Result<(bool, i64), &str>) {
        let params = ListParams {
            unread: unread.map(str::to_owned),
            limit: limit.map(str::to_owned),
            before: None,
        };
        let parsed = parse_query(&params)
            .map(|query| (query.unread_only, query.limit))
            .map_err(|error| error.field.unwrap_or_default());
        assert_eq!(parsed, expected.map_err(str::to_owned));
    }

    #[test]
    fn list_filters_parse_or_name_the_field_at_fault() {
        check(None, None, Ok((false, DEFAULT_LIMIT)));
        check(Some("true"), Some("1"), Ok((true, 1)));
        check(Some("false"), Some("200"), Ok((false, 200)));
        check(Some("yes"), None, Err("unread"));
        check(None, Some("0"), Err("limit"));
        check(None, Some("201"), Err("limit"));
        check(None, Some("ten"), Err("limit"));
    }
}
