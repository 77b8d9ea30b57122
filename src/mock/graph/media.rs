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

/// One part of a `multipart/form-data` body.
struct Part {
    name: String,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// Splits a `multipart/form-data` body into its parts, as Meta's upload endpoint reads it.
fn form_parts(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|param| param.strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    let start = find(rest, delimiter.as_bytes())?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, format!("\r\n{delimiter}").as_bytes())?;
        let (part, after) = rest.split_at(end);
        rest = &after[2 + delimiter.len()..];
        let split = find(part, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&part[..split]).ok()?;
        let mut name = None;
        let mut content_type = None;
        for line in headers.split("\r\n") {
            let (header, value) = line.split_once(':')?;
            match header.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    name = value
                        .split(';')
                        .map(str::trim)
                        .find_map(|param| param.strip_prefix("name="))
                        .map(|name| name.trim_matches('"').to_owned());
                }
                "content-type" => content_type = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        parts.push(Part {
            name: name?,
            content_type,
            bytes: part[split + 4..].to_vec(),
        });
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// `POST /{v}/{phone-number-id}/media`: a multipart upload of `file`, its `type` and
/// `messaging_product=whatsapp`. The type and size are checked against WhatsApp's table.
pub(super) fn upload(
    state: &State,
    request: &HttpRequest,
    phone_number_id: &str,
    body: &[u8],
) -> HttpResponse {
    let token = match accounts::usable_token(state, accounts::bearer(request).as_deref()) {
        Ok(token) => token.to_owned(),
        Err(refused) => return *refused,
    };
    if !accounts::may_use_number(state, phone_number_id, &token) {
        return graph_error(400, 100, Some(33), &format!("Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."), None);
    }
    let content_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let Some(parts) = form_parts(content_type, body) else {
        return graph_error(
            400,
            100,
            None,
            "(#100) The request must be multipart/form-data",
            None,
        );
    };
    let field = |name: &str| parts.iter().find(|part| part.name == name);
    if field("messaging_product").map(|part| part.bytes.as_slice()) != Some(b"whatsapp") {
        return graph_error(
            400,
            100,
            None,
            "(#100) The parameter messaging_product is required.",
            None,
        );
    }
    let Some(file) = field("file") else {
        return graph_error(
            400,
            100,
            None,
            "(#100) The parameter file is required.",
            None,
        );
    };
    let mime_type = field("type")
        .and_then(|part| std::str::from_utf8(&part.bytes).ok())
        .or(file.content_type.as_deref())
        .unwrap_or_default()
        .to_owned();
    match crate::adapters::whatsapp_cloud::upload_limits(&mime_type) {
        Some((_, max)) if file.bytes.len() <= max => {}
        Some((_, max)) => {
            return graph_error(
                400,
                131053,
                None,
                "Media upload error",
                Some(&format!(
                    "The file is {} bytes; {mime_type} files may have at most {max}.",
                    file.bytes.len()
                )),
            )
        }
        None => {
            return graph_error(
                400,
                131053,
                None,
                "Media upload error",
                Some(&format!("Unsupported file type {mime_type}.")),
            )
        }
    }
    let media_id = format!(
        "{}",
        9_000_000_000_u64
            + state
                .next_wamid
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    lock(&state.media).insert(
        media_id.clone(),
        StoredMedia {
            phone_number_id: phone_number_id.to_owned(),
            bytes: file.bytes.clone(),
            mime_type,
        },
    );
    HttpResponse::Ok().json(json!({ "id": media_id }))
}

impl super::MockGraph {
    /// The bytes and type of a stored media id (an upload or a contact's file).
    pub fn media_file(&self, media_id: &str) -> Option<(String, Vec<u8>)> {
        lock(&self.state.media)
            .get(media_id)
            .map(|stored| (stored.mime_type.clone(), stored.bytes.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::form_parts;

    #[test]
    fn a_multipart_form_splits_into_its_named_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n\r\n--XyZ--\r\n";
        let parts = form_parts("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "messaging_product");
        assert_eq!(parts[0].bytes, b"whatsapp");
        assert_eq!(parts[1].name, "file");
        assert_eq!(parts[1].content_type.as_deref(), Some("application/pdf"));
        assert_eq!(parts[1].bytes, b"%PDF\r\n");
        assert!(form_parts("multipart/form-data", body).is_none());
    }
}
