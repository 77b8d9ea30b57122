//! Builds Messenger and Instagram webhook notifications the way Meta sends them: the
//! `entry[].messaging[]` envelope as compact JSON with non-ASCII characters and `/` escaped,
//! signed with the app secret.

use crate::adapters::whatsapp_cloud::verify::{escape_non_ascii, sign};
use serde_json::{json, Value};

/// `page` for Messenger, `instagram` for Instagram.
pub fn envelope(object: &str, account_id: &str, messaging: &Value, time: i64) -> Vec<u8> {
    let body = json!({
        "object": object,
        "entry": [{"id": account_id, "time": time, "messaging": [messaging]}]
    });
    escape_non_ascii(&body.to_string()).into_bytes()
}

/// A text message from `sender` (a PSID or IGSID) to the Page or Instagram account.
pub fn text_message(
    object: &str,
    account_id: &str,
    sender: &str,
    mid: &str,
    text: &str,
    timestamp_ms: i64,
) -> Vec<u8> {
    envelope(
        object,
        account_id,
        &json!({
            "sender": {"id": sender}, "recipient": {"id": account_id}, "timestamp": timestamp_ms,
            "message": {"mid": mid, "text": text}
        }),
        timestamp_ms,
    )
}

/// Messenger's delivery receipt for messages the Page sent.
pub fn delivery(account_id: &str, sender: &str, mids: &[&str], watermark: i64) -> Vec<u8> {
    envelope(
        "page",
        account_id,
        &json!({
            "sender": {"id": sender}, "recipient": {"id": account_id}, "timestamp": watermark,
            "delivery": {"mids": mids, "watermark": watermark}
        }),
        watermark,
    )
}

/// The `X-Hub-Signature-256` header value for a body.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    sign(app_secret, body)
}
