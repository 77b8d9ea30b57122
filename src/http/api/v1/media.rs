//! `GET /api/v1/conversations/{id}/messages/{message_id}/media`: the photo, video, voice note
//! or document of a message, for the console. WhatsApp media are fetched through Meta's media
//! endpoint with the channel's token on every request (the download link Meta gives lives for
//! minutes) and streamed through, as are Telegram files and Twilio media (fetched with the
//! account's Basic auth); web chat files and mail attachments come from what Parley keeps;
//! media another channel sent as a public link are redirected to it.
//!
//! `POST /api/v1/conversations/{id}/attachments`: a team member sends the guest a file. On
//! WhatsApp the file is uploaded to Meta's media endpoint and sent by its media id; on the
//! web chat Parley keeps it for the visitor to fetch; on email it is attached to the mail; on channels whose provider fetches
//! files by link (Telegram, Twilio, Messenger, Instagram, unofficial WhatsApp) Parley keeps
//! it and sends a signed link to it (`/files/…`).

use super::conversations::{conversation_id, require_reader};
use crate::actors::ChannelSecrets;
use crate::adapters::SendError;
use crate::domain::{ChannelKind, MessageContent, MessageId};
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
    if let (Some(runtime), Some(message_id)) = (runtime.as_ref(), media_id.as_deref()) {
        if let ChannelSecrets::Evolution { public, secrets } = &runtime.secrets {
            let provider = state.settings.evolution.as_ref().ok_or_else(|| {
                ApiError::new(
                    Code::ProviderNotConfigured,
                    "no unofficial WhatsApp provider is configured",
                )
            })?;
            let file = provider
                .client
                .media(&public.instance, &secrets.instance_token, message_id)
                .await
                .map_err(|error| media_failure("The WhatsApp provider", error))?;
            let mime_type = file
                .mime_type
                .or(mime_type)
                .unwrap_or_else(|| "application/octet-stream".into());
            return Ok(file_response(
                file.bytes,
                &mime_type,
                file.filename.or(filename).as_deref(),
            ));
        }
    }
    // A file a team member sent by a Parley link is a public link like any other.
    let parley_link = url
        .as_deref()
        .is_some_and(|url| url.starts_with(&state.public_url("/files/")));
    if let (Some(runtime), Some(url), false) = (runtime.as_ref(), url.as_deref(), parley_link) {
        if let ChannelSecrets::Twilio { public, secrets } = &runtime.secrets {
            let download = state
                .settings
                .twilio
                .download(public, secrets, url)
                .await
                .map_err(|error| media_failure("Twilio", error))?;
            return Ok(stream(download, mime_type, filename));
        }
    }
    if let (Some(runtime), Some(media_id)) = (&runtime, &media_id) {
        if matches!(
            runtime.secrets,
            ChannelSecrets::Webchat { .. } | ChannelSecrets::Email { .. }
        ) {
            // A file Parley keeps: the web chat's, or one the team attached to a mail.
            let kept = state
                .store
                .file(runtime.id, media_id)
                .await
                .map_err(|error| ApiError::from_store(error, Code::MediaNotFound))?
                .filter(|file| file.org_id == caller.0.org_id);
            if let Some(file) = kept {
                return Ok(file_response(
                    file.bytes,
                    &file.mime_type,
                    file.filename.as_deref(),
                ));
            }
        }
        match runtime.secrets {
            ChannelSecrets::Email { .. } => {
                return email_attachment(&state, runtime, media_id, mime_type, filename).await
            }
            ChannelSecrets::Webchat { .. } => return Err(no_media()),
            _ => {}
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
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
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
    let destination = match runtime.as_ref().map(|runtime| &runtime.secrets) {
        Some(ChannelSecrets::Whatsapp { public, secrets }) => Destination::Whatsapp {
            phone_number_id: public.phone_number_id.clone(),
            token: secrets.access_token.clone(),
        },
        Some(ChannelSecrets::Webchat { .. } | ChannelSecrets::Email { .. }) => Destination::Kept {
            org_id: conversation.org_id,
            channel_id: conversation.channel_id,
            contact: conversation.contact.external_id.clone(),
            by_link: false,
        },
        // These providers fetch a file from a link: Parley keeps it and signs one.
        Some(_)
            if matches!(
                conversation.channel_kind,
                ChannelKind::Telegram
                    | ChannelKind::TwilioWhatsapp
                    | ChannelKind::WhatsappUnofficial
                    | ChannelKind::Messenger
                    | ChannelKind::Instagram
            ) =>
        {
            if state.settings.public_url.is_none() {
                return Err(ApiError::new(
                    Code::AttachmentsNotSupported,
                    format!(
                        "{} fetches files from a link to Parley: set PARLEY_PUBLIC_URL to the \
                         server's public address first",
                        conversation.channel_kind
                    ),
                ));
            }
            Destination::Kept {
                org_id: conversation.org_id,
                channel_id: conversation.channel_id,
                contact: conversation.contact.external_id.clone(),
                by_link: true,
            }
        }
        _ => {
            return Err(ApiError::new(
                Code::AttachmentsNotSupported,
                format!(
                    "files cannot be sent on {} channels; send a link instead",
                    conversation.channel_kind
                ),
            ))
        }
    };
    let mime_type = upload_type(&request)?;
    let (media_kind, max, provider) = match &destination {
        Destination::Whatsapp { .. } => {
            let Some((kind, max)) = crate::adapters::whatsapp_cloud::upload_limits(&mime_type)
            else {
                return Err(ApiError::new(
                    Code::UnsupportedMediaType,
                    format!(
                        "WhatsApp does not take `{mime_type}` files; it takes JPEG and PNG \
                         images, MP4 and 3GPP video, AAC, MP4, MPEG, AMR and OGG audio, WebP \
                         stickers, and PDF, text and Office documents"
                    ),
                ));
            };
            (kind, max, "WhatsApp")
        }
        Destination::Kept { .. } => (
            kept_file_kind(&mime_type, conversation.channel_kind)?,
            crate::adapters::webchat::FILE_MAX_BYTES,
            "Parley",
        ),
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
    let filename = upload_filename(query.filename.as_deref());
    let file = read_upload(&request, payload, max, || {
        format!(
            "{provider} takes `{mime_type}` files of at most {} MB",
            max / (1024 * 1024)
        )
    })
    .await?;
    let (media_id, url) = match destination {
        Destination::Whatsapp {
            phone_number_id,
            token,
        } => {
            let name = filename.clone().unwrap_or_else(|| "file".to_owned());
            let media_id = state
                .whatsapp_client()
                .upload_media(&phone_number_id, &token, &mime_type, &name, file)
                .await
                .map_err(|error| ApiError::from_provider("WhatsApp", error))?;
            (Some(media_id), None)
        }
        Destination::Kept {
            org_id,
            channel_id,
            contact,
            by_link,
        } => {
            let id = crate::adapters::webchat::upload_id(channel_id, &contact, None);
            let now = state.clock.now();
            state
                .store
                .put_file(
                    &crate::store::files::NewFile {
                        id: &id,
                        org_id,
                        channel_id,
                        contact_external_id: &contact,
                        mime_type: &mime_type,
                        filename: filename.as_deref(),
                        bytes: &file,
                    },
                    now,
                )
                .await
                .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
            if by_link {
                let link = crate::http::files::signed_link(&state, channel_id, &id, now)
                    .ok_or_else(|| {
                        ApiError::new(
                            Code::AttachmentsNotSupported,
                            "set PARLEY_PUBLIC_URL so the provider can fetch the file",
                        )
                    })?;
                (None, Some(link))
            } else {
                (Some(id), None)
            }
        }
    };
    let content = MessageContent::Media {
        media_kind,
        media_id,
        url,
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

/// Where a team member's file goes.
enum Destination {
    /// Uploaded to Meta's media endpoint of the number.
    Whatsapp {
        phone_number_id: String,
        token: String,
    },
    /// Kept by Parley: for the web chat visitor to fetch by its id, for a mail to attach, or
    /// (`by_link`) for the provider to fetch from a signed link.
    Kept {
        org_id: crate::domain::OrgId,
        channel_id: crate::domain::ChannelId,
        contact: String,
        by_link: bool,
    },
}

/// The media kind of a file for the web chat, or why it is refused.
pub(crate) fn webchat_file_kind(mime_type: &str) -> Result<crate::domain::MediaKind, ApiError> {
    crate::adapters::webchat::file_kind(mime_type).ok_or_else(|| {
        ApiError::new(
            Code::UnsupportedMediaType,
            format!(
                "the web chat does not take `{mime_type}` files; it takes JPEG, PNG, GIF and \
                 WebP images, MP4, WebM and QuickTime video, MP3, MP4, AAC, OGG, WAV and WebM \
                 audio, and PDF, text, CSV, ZIP and Office documents"
            ),
        )
    })
}

/// The media kind of a file Parley keeps for a channel: the web chat's table of types, for
/// the visitor's browser, a mail and the providers alike.
fn kept_file_kind(
    mime_type: &str,
    kind: ChannelKind,
) -> Result<crate::domain::MediaKind, ApiError> {
    if kind == ChannelKind::Webchat {
        return webchat_file_kind(mime_type);
    }
    crate::adapters::webchat::file_kind(mime_type).ok_or_else(|| {
        ApiError::new(
            Code::UnsupportedMediaType,
            format!(
                "`{mime_type}` files cannot be sent; send JPEG, PNG, GIF or WebP images, MP4, \
                 WebM or QuickTime video, MP3, MP4, AAC, OGG, WAV or WebM audio, or PDF, text, \
                 CSV, ZIP or Office documents"
            ),
        )
    })
}

/// The name an uploaded file is shown under: no control characters or path separators, at
/// most 255 characters, `None` when nothing is left.
pub(crate) fn upload_filename(raw: Option<&str>) -> Option<String> {
    raw.map(|name| {
        name.chars()
            .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
            .take(255)
            .collect::<String>()
    })
    .filter(|name| !name.trim().is_empty())
}

/// The type an uploaded file declares in its `Content-Type`, lowercase, without parameters.
pub(crate) fn upload_type(request: &actix_web::HttpRequest) -> Result<String, ApiError> {
    request
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
        })
}

/// Reads an uploaded file of at most `max` bytes: a larger one is refused as soon as its
/// declared length, or the bytes received, say so, without reading the rest.
pub(crate) async fn read_upload(
    request: &actix_web::HttpRequest,
    mut payload: web::Payload,
    max: usize,
    too_large: impl Fn() -> String,
) -> Result<bytes::Bytes, ApiError> {
    use futures::StreamExt;
    let refuse = || ApiError::new(Code::AttachmentTooLarge, too_large());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > max) {
        return Err(refuse());
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
            return Err(refuse());
        }
        file.extend_from_slice(&chunk);
    }
    if file.is_empty() {
        return Err(ApiError::missing("body"));
    }
    Ok(file.freeze())
}

/// A file someone else chose the type of, served back from Parley's origin: only media a
/// browser shows without running anything are shown inline; anything else (HTML, scripts,
/// SVG) is a download.
pub(crate) fn file_response(
    bytes: impl Into<bytes::Bytes>,
    mime_type: &str,
    filename: Option<&str>,
) -> HttpResponse {
    let viewable = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
    ]
    .contains(&mime_type)
        || mime_type.starts_with("video/")
        || mime_type.starts_with("audio/");
    let (content_type, disposition) = if viewable {
        (mime_type, "inline")
    } else {
        ("application/octet-stream", "attachment")
    };
    let safe: String = filename
        .unwrap_or("attachment")
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("{disposition}; filename=\"{safe}\""),
        ))
        .body(bytes.into())
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
    Ok(file_response(
        bytes,
        &mime_type.unwrap_or_default(),
        filename.as_deref(),
    ))
}
