//! `/webchat/{channel_id}`: the visitor WebSocket; `/webchat/{channel_id}/files`, the files a
//! visitor uploads and fetches; the embeddable widget; and `/webchat/demo`, a page to talk to
//! the bot from a browser with no provider account.

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
        .route("/webchat/{channel_id}/widget.js", web::get().to(widget))
        .route("/webchat/{channel_id}/frame", web::get().to(frame))
        .route("/webchat/{channel_id}/files", web::post().to(upload))
        .route("/webchat/{channel_id}/files/{file_id}", web::get().to(file))
        .route("/webchat/{channel_id}", web::get().to(connect));
}

#[derive(Deserialize)]
struct ConnectParams {
    /// The visitor token from an earlier `ready` frame; continues that conversation.
    token: Option<String>,
    /// An identified visitor: the business's id for them, HMAC-SHA256 of it with the
    /// channel's identity secret (lowercase hex), and their name.
    user_id: Option<String>,
    user_hash: Option<String>,
    name: Option<String>,
}

/// The longest user id an identified visitor may have.
const USER_ID_MAX_CHARS: usize = 128;

/// The visitor id of an identified visitor, if `user_hash` signs `user_id`.
fn identified(
    secret: Option<&str>,
    user_id: &str,
    user_hash: Option<&str>,
) -> Result<String, ApiError> {
    let Some(secret) = secret else {
        return Err(ApiError::new(
            Code::Forbidden,
            "this web chat has no identity secret yet: create one with POST /api/v1/channels/{id}/identity-secret",
        ));
    };
    if user_id.trim().is_empty()
        || user_id.chars().count() > USER_ID_MAX_CHARS
        || user_id.chars().any(char::is_control)
    {
        return Err(ApiError::field(
            Code::InvalidField,
            "user_id",
            format!("`user_id` is 1 to {USER_ID_MAX_CHARS} printable characters"),
        ));
    }
    let given = user_hash
        .and_then(|hash| hex::decode(hash.trim()).ok())
        .ok_or_else(|| {
            ApiError::new(
                Code::MissingSignature,
                "an identified visitor needs `user_hash`",
            )
        })?;
    if !crate::crypto::verify_hmac_sha256(secret.as_bytes(), user_id.as_bytes(), &given) {
        return Err(ApiError::new(
            Code::InvalidSignature,
            "`user_hash` is not HMAC-SHA256 of `user_id` with the channel's identity secret",
        ));
    }
    Ok(format!("user.{user_id}"))
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
    let (runtime, config) = webchat_channel(&state, &channel_id).await?;
    let id = runtime.id;
    if !runtime.receives() {
        return Err(ApiError::new(Code::ChannelInactive, "the web chat is switched off").into());
    }
    if !origin_allowed(&request, &config.allowed_origins) {
        return Err(ApiError::new(Code::Forbidden, "this origin may not open the web chat").into());
    }
    let key = state.master_key.derive(VISITOR_KEY_PURPOSE);
    let resumed = params
        .token
        .as_deref()
        .and_then(|token| verify_visitor(&key, id, token));
    let visitor_id = match params.user_id.as_deref() {
        Some(user_id) => {
            let identified = identified(
                config.identity_secret.as_deref(),
                user_id,
                params.user_hash.as_deref(),
            )?;
            // A token of someone else in this browser does not carry over to this user.
            resumed
                .filter(|resumed| *resumed == identified)
                .unwrap_or(identified)
        }
        None => resumed.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
    };
    let name = params
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| name.chars().take(255).collect::<String>())
        .filter(|_| params.user_id.is_some());
    let token = sign_visitor(&key, id, &visitor_id);
    let session = WebchatSession::new(
        state.get_ref().clone(),
        runtime.org_id,
        id,
        visitor_id,
        token,
        name,
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
const WIDGET_SCRIPT: &str = include_str!("webchat_widget.js");

/// The web chat channel a request names, with its allowed origins and identity secret.
async fn webchat_channel(
    state: &AppState,
    raw: &str,
) -> Result<(std::sync::Arc<crate::actors::ChannelRuntime>, WebchatConfig), ApiError> {
    let not_found = || ApiError::new(Code::ChannelNotFound, "no such web chat channel");
    let id: ChannelId = raw.parse().map_err(|_| not_found())?;
    let runtime = state
        .channel_or_load(id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?
        .ok_or_else(not_found)?;
    let config = match &runtime.secrets {
        ChannelSecrets::Webchat {
            allowed_origins,
            identity_secret,
        } => WebchatConfig {
            allowed_origins: allowed_origins.clone(),
            identity_secret: identity_secret.clone(),
        },
        _ => return Err(not_found()),
    };
    Ok((runtime, config))
}

/// What a web chat channel's requests are checked against.
struct WebchatConfig {
    allowed_origins: Vec<String>,
    identity_secret: Option<String>,
}

/// `GET /webchat/{channel_id}/widget.js`: the script a website embeds with one line. It adds
/// a launcher button and opens the chat in a frame served by Parley.
async fn widget(
    state: AppState,
    request: HttpRequest,
    channel_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webchat_channel(&state, &channel_id).await?.0.id;
    let origin = match &state.settings.public_url {
        Some(base) => base.as_str().trim_end_matches('/').to_owned(),
        None => {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    let script = WIDGET_SCRIPT
        .replace("{{origin}}", &origin)
        .replace("{{channel_id}}", &id.to_string());
    Ok(HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(script))
}

/// `GET /webchat/{channel_id}/frame`: the chat inside the widget. Only the channel's allowed
/// origins may frame it (`frame-ancestors`), so the visitor socket, which trusts Parley's own
/// pages, serves only the sites the business named.
async fn frame(state: AppState, channel_id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (
        runtime,
        WebchatConfig {
            allowed_origins: allowed,
            ..
        },
    ) = webchat_channel(&state, &channel_id).await?;
    let id = runtime.id;
    let ancestors = if allowed.iter().any(|origin| origin == "*") {
        "*".to_owned()
    } else {
        std::iter::once("'self'")
            .chain(
                allowed
                    .iter()
                    .map(String::as_str)
                    .filter(|origin| {
                        origin.starts_with("https://") || origin.starts_with("http://")
                    })
                    .filter(|origin| !origin.contains([' ', ';', ','])),
            )
            .collect::<Vec<_>>()
            .join(" ")
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            format!("frame-ancestors {ancestors}"),
        ))
        .body(DEMO_PAGE.replace("{{channel_id}}", &id.to_string())))
}

#[derive(Deserialize)]
struct UploadParams {
    /// The visitor token of the `ready` frame.
    token: Option<String>,
    filename: Option<String>,
    caption: Option<String>,
    /// The page's id for the upload: a resend with the same id is stored once.
    client_id: Option<String>,
}

/// The longest `client_id` a page may give an upload.
const CLIENT_ID_MAX_CHARS: usize = 64;

/// The visitor a request's token names on this channel.
fn visitor_of(
    state: &AppState,
    channel_id: ChannelId,
    token: Option<&str>,
) -> Result<String, ApiError> {
    let key = state.master_key.derive(VISITOR_KEY_PURPOSE);
    token
        .and_then(|token| verify_visitor(&key, channel_id, token))
        .ok_or_else(|| {
            ApiError::new(
                Code::Unauthorized,
                "`token` must be the visitor token of the web chat's `ready` frame",
            )
        })
}

/// `POST /webchat/{channel_id}/files?token=&filename=&caption=&client_id=`: a visitor sends a
/// file. The body is the file with its `Content-Type`. It is kept by Parley and stored as the
/// visitor's message, which the bot and the team see like any other.
async fn upload(
    state: AppState,
    request: HttpRequest,
    payload: web::Payload,
    channel_id: web::Path<String>,
    params: web::Query<UploadParams>,
) -> Result<HttpResponse, ApiError> {
    use crate::http::api::v1::media::{read_upload, upload_type, webchat_file_kind};
    let (runtime, config) = webchat_channel(&state, &channel_id).await?;
    let id = runtime.id;
    if !origin_allowed(&request, &config.allowed_origins) {
        return Err(ApiError::new(
            Code::Forbidden,
            "this origin may not use the web chat",
        ));
    }
    let visitor_id = visitor_of(&state, id, params.token.as_deref())?;
    if !runtime.receives() {
        return Err(ApiError::new(
            Code::ChannelInactive,
            "the web chat is switched off; the file was not stored",
        ));
    }
    let client_id = params
        .client_id
        .as_deref()
        .map(str::trim)
        .filter(|client_id| !client_id.is_empty());
    if client_id.is_some_and(|client_id| client_id.chars().count() > CLIENT_ID_MAX_CHARS) {
        return Err(ApiError::field(
            Code::InvalidField,
            "client_id",
            format!("`client_id` has at most {CLIENT_ID_MAX_CHARS} characters"),
        ));
    }
    let caption = params
        .caption
        .as_deref()
        .map(str::trim)
        .filter(|caption| !caption.is_empty());
    if caption.is_some_and(|caption| {
        caption.chars().count() > crate::adapters::webchat::MESSAGE_MAX_CHARS
    }) {
        return Err(ApiError::field(
            Code::InvalidField,
            "caption",
            "a caption is limited to 10,000 characters",
        ));
    }
    let filename = crate::http::api::v1::media::upload_filename(params.filename.as_deref());
    let mime_type = upload_type(&request)?;
    let media_kind = webchat_file_kind(&mime_type)?;
    let max = crate::adapters::webchat::FILE_MAX_BYTES;
    let bytes = read_upload(&request, payload, max, || {
        format!(
            "files on the web chat are limited to {} MB",
            max / (1024 * 1024)
        )
    })
    .await?;
    let file_id = crate::adapters::webchat::upload_id(id, &visitor_id, client_id);
    let now = state.clock.now();
    state
        .store
        .put_file(
            &crate::store::files::NewFile {
                id: &file_id,
                org_id: runtime.org_id,
                channel_id: id,
                contact_external_id: &visitor_id,
                mime_type: &mime_type,
                filename: filename.as_deref(),
                bytes: &bytes,
            },
            now,
        )
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    let content = crate::domain::MessageContent::Media {
        media_kind,
        media_id: Some(file_id.clone()),
        url: None,
        mime_type: Some(mime_type),
        caption: caption.map(str::to_owned),
        filename,
        voice: false,
    };
    let client_id = client_id.map_or_else(|| format!("file-{file_id}"), str::to_owned);
    let event = crate::actors::webchat::visitor_event(
        &state,
        &visitor_id,
        None,
        Some(&client_id),
        content.clone(),
    );
    state
        .ingress()
        .submit(runtime.org_id, id, vec![event], now)
        .await
        .map_err(|_| {
            ApiError::new(
                Code::Unavailable,
                "the file could not be stored; send it again",
            )
        })?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "file_id": file_id,
        "url": format!("/webchat/{id}/files/{file_id}"),
        "content": content,
    })))
}

#[derive(Deserialize)]
struct FileParams {
    token: Option<String>,
}

/// `GET /webchat/{channel_id}/files/{file_id}?token=`: a file of the visitor's conversation,
/// for that visitor only.
async fn file(
    state: AppState,
    path: web::Path<(String, String)>,
    params: web::Query<FileParams>,
) -> Result<HttpResponse, ApiError> {
    let (raw_channel, file_id) = path.into_inner();
    let no_file = || ApiError::new(Code::MediaNotFound, "no such file");
    let id: ChannelId = raw_channel.parse().map_err(|_| no_file())?;
    let visitor_id = visitor_of(&state, id, params.token.as_deref())?;
    let file = state
        .store
        .file(id, &file_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::MediaNotFound))?
        .filter(|file| file.contact_external_id == visitor_id)
        .ok_or_else(no_file)?;
    Ok(crate::http::api::v1::media::file_response(
        file.bytes,
        &file.mime_type,
        file.filename.as_deref(),
    ))
}
