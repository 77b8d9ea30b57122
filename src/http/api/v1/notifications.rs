//! `/api/v1/notifications`: the caller's notifications; mark one or all read.

use actix_web::web;

pub fn configure(_config: &mut web::ServiceConfig) {}
