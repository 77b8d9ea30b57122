//! WhatsApp's media API as the mock plays it: `GET /{v}/{media_id}` describes a file the
//! contact sent (its download link, type, size and SHA-256), and the link
//! (`/lookaside/{token}`) serves the bytes to a request with a bearer token until it expires
//! (5 minutes, like Meta's), after which the id must be resolved again.

use super::{accounts, graph_error, lock, State};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// How long a download link lives unless a test says otherwise.
pub const LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);

#[derive(Clone)]
pub(super) struct StoredMedia {
    pub(super) phone_number_id: String,
    pub(super) bytes: Vec<u8>,
    pub(super) mime_type: String,
}

/// `GET /{v}/{media_id}`, when the id is a stored file.
pub(super) fn describe(
    state: &State,
    request: &HttpRequest,
    media_id: &str,
) -> Option<HttpResponse> {
    let stored = lock(&state.media).get(media_id).cloned()?;
    let Some(token) = accounts::bearer(request) else {
        return Some(graph_error(
            400,
            104,
            None,
            "An access token is required to request this resource.",
            None,
        ));
    };
    if lock(&state.expired_tokens).contains(&token) {
        return Some(super::expired_token());
    }
    if !accounts::may_use_number(state, &stored.phone_number_id, &token) {
        return Some(graph_error(400, 100, Some(33), &format!("Unsupported get request. Object with ID '{media_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."), None));
    }
    let link = format!(
        "link{}",
        state
            .next_wamid
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    lock(&state.links).insert(link.clone(), (media_id.to_owned(), Instant::now()));
    let base = state.base_url.get().cloned().unwrap_or_default();
    Some(HttpResponse::Ok().json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{base}/lookaside/{link}"),
        "mime_type": stored.mime_type,
        "sha256": hex::encode(Sha256::digest(&stored.bytes)),
        "file_size": stored.bytes.len().to_string(),
        "id": media_id,
    })))
}

/// `GET /lookaside/{token}`: the bytes, to a request with a bearer token, while the link lives.
pub(super) async fn download(
    state: web::Data<State>,
    link: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    if accounts::bearer(&request).is_none() {
        return HttpResponse::Unauthorized().finish();
    }
    let lifetime = *lock(&state.link_lifetime);
    let Some((media_id, issued)) = lock(&state.links).get(link.as_str()).cloned() else {
        return HttpResponse::NotFound().finish();
    };
    if issued.elapsed() > lifetime {
        return HttpResponse::NotFound().finish();
    }
    let Some(stored) = lock(&state.media).get(&media_id).cloned() else {
        return HttpResponse::NotFound().finish();
    };
    *lock(&state.downloads) += 1;
    HttpResponse::Ok()
        .content_type(stored.mime_type)
        .body(stored.bytes)
}

impl super::MockGraph {
    /// Stores a file a contact sent to `phone_number_id`, resolvable as `media_id`.
    pub fn add_media(&self, phone_number_id: &str, media_id: &str, mime_type: &str, bytes: &[u8]) {
        lock(&self.state.media).insert(
            media_id.to_owned(),
            StoredMedia {
                phone_number_id: phone_number_id.to_owned(),
                bytes: bytes.to_vec(),
                mime_type: mime_type.to_owned(),
            },
        );
    }

    /// How long download links live from now on.
    pub fn set_link_lifetime(&self, lifetime: Duration) {
        *lock(&self.state.link_lifetime) = lifetime;
    }

    /// How many downloads were served.
    pub fn downloads(&self) -> usize {
        *lock(&self.state.downloads)
    }
}
