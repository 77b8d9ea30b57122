//! `GET /files/{channel_id}/{file_id}?expires=&sig=`: a file a team member sent a contact on a
//! channel whose provider fetches files by link (Telegram, Twilio, Messenger, Instagram, the
//! unofficial WhatsApp provider). The link is signed and expires, so it opens that one file
//! for a while and nothing else; the console reaches it the same way.

use crate::actors::Core;
use crate::domain::{ChannelId, Millis};
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

/// The purpose the link-signing key is derived for.
const LINK_KEY_PURPOSE: &str = "file-link";
/// How long a file link opens: long enough for a provider's retries and for the console.
const LINK_LIFETIME_MS: Millis = 30 * 24 * 60 * 60 * 1_000;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config.route("/files/{channel_id}/{file_id}", web::get().to(serve));
}

/// What a link signs: the file, its channel and when the link stops opening.
fn signed_part(channel_id: ChannelId, file_id: &str, expires: Millis) -> String {
    format!("{channel_id}:{file_id}:{expires}")
}

/// The public link a provider fetches the file from, or `None` when Parley has no public
/// address (`PARLEY_PUBLIC_URL`) for a provider to reach.
pub(crate) fn signed_link(
    core: &Core,
    channel_id: ChannelId,
    file_id: &str,
    now: Millis,
) -> Option<String> {
    core.settings.public_url.as_ref()?;
    let expires = now.saturating_add(LINK_LIFETIME_MS);
    let key = core.master_key.derive(LINK_KEY_PURPOSE);
    let sig = hex::encode(crate::crypto::hmac_sha256(
        &key,
        signed_part(channel_id, file_id, expires).as_bytes(),
    ));
    Some(core.public_url(&format!(
        "/files/{channel_id}/{file_id}?expires={expires}&sig={sig}"
    )))
}

#[derive(Deserialize)]
struct LinkParams {
    expires: Option<Millis>,
    sig: Option<String>,
}

async fn serve(
    state: AppState,
    path: web::Path<(String, String)>,
    params: web::Query<LinkParams>,
) -> Result<HttpResponse, ApiError> {
    let (raw_channel, file_id) = path.into_inner();
    let no_file = || ApiError::new(Code::MediaNotFound, "no such file");
    let channel_id: ChannelId = raw_channel.parse().map_err(|_| no_file())?;
    let (Some(expires), Some(sig)) = (params.expires, params.sig.as_deref()) else {
        return Err(ApiError::new(
            Code::MissingSignature,
            "a file link carries `expires` and `sig`",
        ));
    };
    let given = hex::decode(sig).unwrap_or_default();
    let key = state.master_key.derive(LINK_KEY_PURPOSE);
    if !crate::crypto::verify_hmac_sha256(
        &key,
        signed_part(channel_id, &file_id, expires).as_bytes(),
        &given,
    ) {
        return Err(ApiError::new(
            Code::InvalidSignature,
            "the file link's signature does not match",
        ));
    }
    if expires < state.clock.now() {
        return Err(ApiError::new(
            Code::MediaNotFound,
            "the file link has expired",
        ));
    }
    let file = state
        .store
        .file(channel_id, &file_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::MediaNotFound))?
        .ok_or_else(no_file)?;
    Ok(crate::http::api::v1::media::file_response(
        file.bytes,
        &file.mime_type,
        file.filename.as_deref(),
    ))
}
