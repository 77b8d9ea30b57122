//! `/api/v1/conversations/{id}/insights`: sentiment and summary of a conversation.

use actix_web::web;

pub fn configure(_config: &mut web::ServiceConfig) {}
