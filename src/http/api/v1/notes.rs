//! `/api/v1/conversations/{id}/notes`: internal notes on a conversation, for staff only and never sent.

use actix_web::web;

pub fn configure(_config: &mut web::ServiceConfig) {}
