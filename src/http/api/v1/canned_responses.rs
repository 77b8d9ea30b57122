//! `/api/v1/canned-responses`: saved replies agents insert with a shortcut such as `/checkin`.

use actix_web::web;

pub fn configure(_config: &mut web::ServiceConfig) {}
