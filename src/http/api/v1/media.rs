//! `GET /api/v1/conversations/{id}/messages/{message_id}/media`: the photo, video, voice note
//! or document of a message, for the console. WhatsApp media are fetched through Meta's media
//! endpoint with the channel's token on every request (the download link Meta gives lives for
//! minutes) and streamed through; media another channel sent as a public link are redirected
//! to it.
//!
//! `POST /api/v1/conversations/{id}/attachments`: a team member sends the guest a file. On
//! WhatsApp the file is uploaded to Meta's media endpoint and sent by its media id.

use super::conversations::{conversation_id, require_reader};
use crate::actors::ChannelSecrets;
use crate::adapters::SendError;
use crate::domain::{MessageContent, MessageId};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route(
            "/conversations/{id}/messages/{message_id}/media",
            web::get().to(media),
        )
        .route("/conversations/{id}/attachments", web::post().to(attach));
}

fn no_media() -> ApiError {
    ApiError::new(Code::MediaNotFound, "the message has no media to show")
}

/// The media of a message, streamed with its type.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages/{message_id}/media", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), ("message_id" = String, Path, description = "Message id")),
    responses((status = 200, description = "The media's bytes, with its `Content-Type`"), (status = 302, description = "A public link to the media"),
              (status = 404, body = crate::http::error::ErrorBody), (status = 502, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn media(
    state: AppState,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&caller)?;
    let (raw_conversation, raw_message) = path.into_inner();
    let conversation = conversation_id(&raw_conversation)?;
    let message: MessageId = raw_message.parse().map_err(|_| no_media())?;
    let (channel_id, content) = state
        .store
        .message_content(caller.0.org_id, conversation, message)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?
        .ok_or_else(no_media)?;
    let MessageContent::Media {
        media_id,
        url,
        mime_type,
        filename,
        ..
    } = content
    else {
        return Err(no_media());
    };
    let runtime = state
        .channel_or_load(channel_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    if let (Some(runtime), Some(file_id)) = (runtime.as_ref(), media_id.as_deref()) {
        if let ChannelSecrets::Telegram { secrets, .. } = &runtime.secrets {
            let download =
                crate::actors::telegram::download(&state.settings.telegram, secrets, file_id)
                    .await
                    .map_err(|error| media_failure("Telegram", error))?;
            return Ok(stream(download, mime_type, filename));
        }
    }
    if let (Some(runtime), Some(media_id)) = (&runtime, &media_id) {
        if matches!(runtime.secrets, ChannelSecrets::Email { .. }) {
            return email_attachment(&state, runtime, media_id, mime_type, filename).await;
        }
    }
    let whatsapp = runtime.as_ref().and_then(|runtime| match &runtime.secrets {
        ChannelSecrets::Whatsapp { secrets, .. } => Some(secrets.access_token.clone()),
        _ => None,
    });
    let (Some(media_id), Some(token)) = (media_id, whatsapp) else {
        return match url {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Ok(HttpResponse::Found()
                    .insert_header((header::LOCATION, url))
                    .finish())
            }
            _ => Err(no_media()),
        };
    };
    let provider = |error| media_failure("WhatsApp", error);
    let info = state
        .whatsapp_client()
        .media_info(&media_id, &token)
        .await
        .map_err(provider)?;
    let download = state
        .whatsapp_client()
        .download(&info.url, &token)
        .await
        .map_err(provider)?;
    Ok(stream(download, info.mime_type.or(mime_type), filename))
}

/// Why a provider's file could not be fetched, for the console: a refusal means the
/// provider no longer keeps it.
fn media_failure(provider: &str, error: SendError) -> ApiError {
    match error {
        SendError::Permanent { reason } => ApiError::new(
            Code::MediaNotFound,
            format!("{provider} no longer has the file: {reason}"),
        ),
        other => ApiError::from_provider(provider, other),
    }
}

/// Streams a provider's download through, with its type and file name.
fn stream(
    download: reqwest::Response,
    mime_type: Option<String>,
    filename: Option<String>,
) -> HttpResponse {
    let content_type = mime_type
        .or_else(|| {
            download
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if let Some(name) = filename {
        let safe: String = name
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        response.insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{safe}\""),
        ));
    }
    let body = futures::stream::unfold(Some(download), |download| async move {
        let mut download = download?;
        match download.chunk().await {
            Ok(Some(bytes)) => Some((Ok::<_, actix_web::Error>(bytes), Some(download))),
            Ok(None) => None,
            Err(error) => Some((Err(actix_web::error::ErrorBadGateway(error)), None)),
        }
    });
    response.streaming(body)
}

/// How an attachment is described besides its bytes.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct AttachmentQuery {
    /// The name the guest sees on a document.
    filename: Option<String>,
    /// Text shown under an image, video or document.
    caption: Option<String>,
}

/// The longest caption WhatsApp shows under media.
const CAPTION_MAX_CHARS: usize = 1_024;

/// Sends the guest a file as a team member's reply. The body is the file itself, with its
/// `Content-Type`; `filename` and `caption` come in the query. Like a text reply, it takes the
/// conversation over from the bot.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/attachments", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"),
           ("filename" = Option<String>, Query, description = "The file's name, shown on documents"),
           ("caption" = Option<String>, Query, description = "Text under the media (at most 1,024 characters)")),
    request_body(content = Vec<u8>, description = "The file's bytes, with its `Content-Type`", content_type = "application/octet-stream"),
    responses((status = 201, body = crate::store::MessageRecord), (status = 403, body = crate::http::error::ErrorBody),
              (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody),
              (status = 413, body = crate::http::error::ErrorBody), (status = 415, body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody), (status = 502, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn attach(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<AttachmentQuery>,
    request: actix_web::HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    use futures::StreamExt;
    let actor = super::conversations::actor(&state, &caller).await?;
    let conversation = state
        .store
        .conversation(caller.0.org_id, conversation_id(&id)?)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    // Refused replies are refused before anything is uploaded.
    let from = crate::domain::handover::Handling {
        status: conversation.status,
        assignee: conversation.assigned_user_id,
        archived: conversation.archived_at.is_some(),
        ai_enabled: conversation.ai_enabled,
    };
    if let Err(refused) =
        crate::domain::handover::apply(&from, &crate::domain::handover::Action::Reply, &actor)
    {
        let code = match refused.code() {
            "not_your_conversation" => Code::NotYourConversation,
            "forbidden" => Code::Forbidden,
            _ => Code::InvalidTransition,
        };
        return Err(ApiError::new(code, refused.to_string()));
    }
    let runtime = state
        .channel_or_load(conversation.channel_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    let Some((phone_number_id, token)) =
        runtime.as_ref().and_then(|runtime| match &runtime.secrets {
            ChannelSecrets::Whatsapp { public, secrets } => {
                Some((public.phone_number_id.clone(), secrets.access_token.clone()))
            }
            _ => None,
        })
    else {
        return Err(ApiError::new(
            Code::AttachmentsNotSupported,
            format!(
                "files cannot be sent on {} channels; send a link instead",
                conversation.channel_kind
            ),
        ));
    };
    let mime_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                Code::UnsupportedMediaType,
                "send the file as the body with its Content-Type",
            )
        })?;
    let Some((media_kind, max)) = crate::adapters::whatsapp_cloud::upload_limits(&mime_type) else {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!(
                "WhatsApp does not take `{mime_type}` files; it takes JPEG and PNG images, MP4 \
                 and 3GPP video, AAC, MP4, MPEG, AMR and OGG audio, WebP stickers, and PDF, \
                 text and Office documents"
            ),
        ));
    };
    let caption = match query.caption.as_deref().map(str::trim) {
        Some(caption) if caption.chars().count() > CAPTION_MAX_CHARS => {
            return Err(ApiError::field(
                Code::InvalidField,
                "caption",
                format!("a caption has at most {CAPTION_MAX_CHARS} characters"),
            ))
        }
        Some("") | None => None,
        Some(caption) => Some(caption.to_owned()),
    };
    let filename = query
        .filename
        .as_deref()
        .map(|name| {
            name.chars()
                .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
                .collect::<String>()
        })
        .filter(|name| !name.trim().is_empty());
    let too_large = || {
        ApiError::new(
            Code::AttachmentTooLarge,
            format!(
                "WhatsApp takes `{mime_type}` files of at most {} MB",
                max / (1024 * 1024)
            ),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > max) {
        return Err(too_large());
    }
    let mut file = bytes::BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::new(
                Code::InvalidField,
                format!("the upload was cut off: {error}"),
            )
        })?;
        if file.len() + chunk.len() > max {
            return Err(too_large());
        }
        file.extend_from_slice(&chunk);
    }
    if file.is_empty() {
        return Err(ApiError::missing("body"));
    }
    let name = filename.clone().unwrap_or_else(|| "file".to_owned());
    let media_id = state
        .whatsapp_client()
        .upload_media(&phone_number_id, &token, &mime_type, &name, file.freeze())
        .await
        .map_err(|error| ApiError::from_provider("WhatsApp", error))?;
    let content = MessageContent::Media {
        media_kind,
        media_id: Some(media_id),
        url: None,
        mime_type: Some(mime_type),
        caption: caption.filter(|_| {
            !matches!(
                media_kind,
                crate::domain::MediaKind::Audio | crate::domain::MediaKind::Sticker
            )
        }),
        filename,
        voice: false,
    };
    let performed = super::conversations::perform(
        &state,
        &caller,
        &id,
        crate::domain::handover::Action::Reply,
        Some(content),
    )
    .await?;
    Ok(match performed {
        super::conversations::Performed::Message(message) => HttpResponse::Created().json(message),
        super::conversations::Performed::Conversation(conversation) => {
            HttpResponse::Ok().json(conversation)
        }
        super::conversations::Performed::Deleted => HttpResponse::NoContent().finish(),
    })
}

/// An attachment of a received mail, read from the original Parley keeps.
async fn email_attachment(
    state: &AppState,
    runtime: &crate::actors::ChannelRuntime,
    media_id: &str,
    mime_type: Option<String>,
    filename: Option<String>,
) -> Result<HttpResponse, ApiError> {
    use crate::adapters::email::parse;
    let (message_id, index) = parse::attachment_key(media_id).ok_or_else(no_media)?;
    let raw = state
        .store
        .email_original(runtime.org_id, runtime.id, message_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::MediaNotFound))?
        .ok_or_else(no_media)?;
    let bytes = parse::attachment(&raw, index).ok_or_else(no_media)?;
    // The sender chose the type: only media a browser shows without running anything are
    // shown inline; anything else (HTML, scripts, SVG) is a download.
    let mime_type = mime_type.unwrap_or_default();
    let viewable = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
    ]
    .contains(&mime_type.as_str())
        || mime_type.starts_with("video/")
        || mime_type.starts_with("audio/");
    let (content_type, disposition) = if viewable {
        (mime_type.as_str(), "inline")
    } else {
        ("application/octet-stream", "attachment")
    };
    let safe: String = filename
        .unwrap_or_else(|| "attachment".into())
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("{disposition}; filename=\"{safe}\""),
        ))
        .body(bytes))
}
