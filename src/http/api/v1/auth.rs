//! `/api/v1/auth`: console log-in and log-out with email and password.

use actix_web::web;

pub fn configure(_config: &mut web::ServiceConfig) {}
