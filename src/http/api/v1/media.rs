//! `GET /api/v1/conversations/{id}/messages/{message_id}/media`: the photo, video, voice note
//! or document of a message, for the console. WhatsApp media are fetched through Meta's media
//! endpoint with the channel's token on every request (the download link Meta gives lives for
//! minutes) and streamed through; media another channel sent as a public link are redirected
//! to it.

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
    config.route(
        "/conversations/{id}/messages/{message_id}/media",
        web::get().to(media),
    );
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
    let provider = |error: SendError| match error {
        SendError::Permanent { reason } => ApiError::new(
            Code::MediaNotFound,
            format!("WhatsApp no longer has the media: {reason}"),
        ),
        SendError::CredentialsRejected { reason } => ApiError::new(
            Code::ProviderRejectedCredentials,
            format!("Meta refused the channel's token; reconnect the channel: {reason}"),
        ),
        SendError::Retryable { reason, .. } => ApiError::new(
            Code::ProviderUnavailable,
            format!("the media could not be fetched; try again: {reason}"),
        ),
    };
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
    let content_type = info
        .mime_type
        .or(mime_type)
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
    Ok(response.streaming(body))
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
