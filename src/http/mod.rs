//! The web surface: partner REST API (`/api/v1`), provider webhooks (`/webhooks`), web chat
//! (`/webchat`), signed file links (`/files`), health, metrics and the OpenAPI document. Handlers parse, call one thing and
//! map the result; errors become HTTP answers only in [`error`].

pub mod api;
pub mod auth;
pub mod error;
pub(crate) mod files;
mod health;
pub mod oauth;
pub mod openapi;
mod pages;
mod webchat;
mod webhooks;
mod ws;

use crate::actors::Core;
use actix_web::web;
use std::sync::Arc;

/// Shared state of every handler.
pub type AppState = web::Data<Arc<Core>>;

/// Largest webhook body accepted; WhatsApp payloads reach about 3 MB.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/api/v1/openapi.json", web::get().to(openapi::spec))
        .configure(api::v1::configure)
        .configure(webhooks::configure)
        .configure(oauth::configure)
        .configure(webchat::configure)
        .configure(files::configure)
        .configure(ws::configure)
        .route("/", web::get().to(pages::index))
        .route("/console.js", web::get().to(pages::console_js))
        .route("/console.css", web::get().to(pages::console_css));
}
