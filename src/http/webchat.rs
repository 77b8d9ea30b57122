//! `/webchat/{channel_id}`: the visitor WebSocket, and `/webchat/demo`, a page to talk to the
//! bot from a browser with no provider account.

use crate::actors::webchat::WebchatSession;
use crate::actors::ChannelSecrets;
use crate::adapters::webchat::{sign_visitor, verify_visitor};
use crate::domain::{ChannelId, ChannelKind};
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// The purpose the visitor-token key is derived for.
const VISITOR_KEY_PURPOSE: &str = "webchat-visitor-token";

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/webchat/demo", web::get().to(demo))
        .route("/webchat/{channel_id}", web::get().to(connect));
}

#[derive(Deserialize)]
struct ConnectParams {
    /// The visitor token from an earlier `ready` frame; continues that conversation.
    token: Option<String>,
}

/// Whether a browser page on `origin` may open the channel's socket: pages served by Parley
/// itself, and origins the channel allows.
pub(super) fn origin_allowed(request: &HttpRequest, allowed: &[String]) -> bool {
    let Some(origin) = request
        .headers()
        .get("Origin")
        .and_then(|value| value.to_str().ok())
    else {
        // Not a browser: origin checks protect browsers' cookies and tokens, nothing else.
        return true;
    };
    let host = request.connection_info().host().to_owned();
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(origin);
    origin_host == host || allowed.iter().any(|entry| entry == "*" || entry == origin)
}

async fn connect(
    state: AppState,
    request: HttpRequest,
    stream: web::Payload,
    channel_id: web::Path<String>,
    params: web::Query<ConnectParams>,
) -> Result<HttpResponse, actix_web::Error> {
    let not_found = || ApiError::new(Code::ChannelNotFound, "no such web chat channel");
    let id: ChannelId = channel_id.parse().map_err(|_| not_found())?;
    let runtime = state
        .channel_or_load(id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?
        .ok_or_else(not_found)?;
    let ChannelSecrets::Webchat { allowed_origins } = &runtime.secrets else {
        return Err(not_found().into());
    };
    if !runtime.receives() {
        return Err(ApiError::new(Code::ChannelInactive, "the web chat is switched off").into());
    }
    if !origin_allowed(&request, allowed_origins) {
        return Err(ApiError::new(Code::Forbidden, "this origin may not open the web chat").into());
    }
    let key = state.master_key.derive(VISITOR_KEY_PURPOSE);
    let visitor_id = params
        .token
        .as_deref()
        .and_then(|token| verify_visitor(&key, id, token))
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let token = sign_visitor(&key, id, &visitor_id);
    let session = WebchatSession::new(
        state.get_ref().clone(),
        runtime.org_id,
        id,
        visitor_id,
        token,
    );
    actix_web_actors::ws::start(session, &request, stream)
}

#[derive(Deserialize)]
struct DemoParams {
    channel: Option<String>,
}

async fn demo(state: AppState, params: web::Query<DemoParams>) -> Result<HttpResponse, ApiError> {
    let channel_id = match params.channel.as_deref() {
        Some(raw) => raw
            .parse::<ChannelId>()
            .map_err(|_| ApiError::new(Code::ChannelNotFound, "no such web chat channel"))?,
        None => state
            .store
            .all_channels()
            .await
            .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?
            .into_iter()
            .find(|channel| channel.kind == ChannelKind::Webchat)
            .map(|channel| channel.id)
            .ok_or_else(|| ApiError::new(Code::ChannelNotFound, "add a web chat channel first"))?,
    };
    let page = DEMO_PAGE.replace("{{channel_id}}", &channel_id.to_string());
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page))
}

const DEMO_PAGE: &str = include_str!("webchat_demo.html");
