//! What Meta does after it accepted a WhatsApp send, for numbers whose webhook the test
//! registered (`deliver_statuses_to`): it posts signed `sent`, `delivered` and `read` status
//! notifications; and a free-form message to a contact who has not written in 24 hours is
//! accepted all the same and then reported `failed` with error 131047, as Meta usually does.
//! Templates are exempt from the window. The window opens when the contact writes through
//! `guest_says`.

use super::{lock, State};
use crate::mock::whatsapp_webhooks;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The customer-service window.
pub const WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// The pause between one status and the next.
const STEP: Duration = Duration::from_millis(20);

#[derive(Clone)]
pub(super) struct Target {
    url: String,
    app_secret: String,
}

/// After an accepted send: the statuses Meta would post, if the number has a webhook.
pub(super) fn after_send(state: &Arc<State>, phone_number_id: &str, body: &Value, wamid: &str) {
    let Some(target) = lock(&state.status_targets).get(phone_number_id).cloned() else {
        return;
    };
    let to = body
        .get("to")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let template = body.get("type").and_then(Value::as_str) == Some("template");
    let open = lock(&state.windows)
        .get(&(phone_number_id.to_owned(), to.clone()))
        .is_some_and(|wrote| wrote.elapsed() < WINDOW);
    let statuses: Vec<Value> = if template || open {
        ["sent", "delivered", "read"]
            .iter()
            .map(|status| status_json(wamid, &to, status, None))
            .collect()
    } else {
        vec![status_json(
            wamid,
            &to,
            "failed",
            Some(json!([{
                "code": 131047, "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
            }])),
        )]
    };
    let phone = phone_number_id.to_owned();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        for status in statuses {
            tokio::time::sleep(STEP).await;
            let body = whatsapp_webhooks::statuses(&phone, &json!([status]));
            let signature = whatsapp_webhooks::signature(&target.app_secret, &body);
            let _ = http
                .post(&target.url)
                .header("X-Hub-Signature-256", signature)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await;
        }
    });
}

fn status_json(wamid: &str, to: &str, status: &str, errors: Option<Value>) -> Value {
    let mut value = json!({
        "id": wamid, "status": status, "timestamp": "1780000000", "recipient_id": to,
        "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "service"}},
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"}
    });
    if let Some(errors) = errors {
        value["errors"] = errors;
    }
    value
}

impl super::MockGraph {
    /// Where Meta posts the number's webhooks, and the app secret it signs them with: from
    /// now on accepted sends are followed by status notifications.
    pub fn deliver_statuses_to(&self, phone_number_id: &str, url: &str, app_secret: &str) {
        lock(&self.state.status_targets).insert(
            phone_number_id.to_owned(),
            Target {
                url: url.to_owned(),
                app_secret: app_secret.to_owned(),
            },
        );
    }

    /// A contact writes to the number: the notification is posted to the number's webhook
    /// and the contact's 24-hour window opens. Returns the HTTP status of the answer.
    pub async fn guest_says(
        &self,
        phone_number_id: &str,
        from: &str,
        wamid: &str,
        text: &str,
    ) -> u16 {
        let target = lock(&self.state.status_targets)
            .get(phone_number_id)
            .cloned()
            .expect("deliver_statuses_to names the number's webhook first");
        lock(&self.state.windows).insert(
            (phone_number_id.to_owned(), from.to_owned()),
            Instant::now(),
        );
        let body = whatsapp_webhooks::text_message(
            phone_number_id,
            from,
            "Guest",
            wamid,
            text,
            1_780_000_000,
        );
        let signature = whatsapp_webhooks::signature(&target.app_secret, &body);
        reqwest::Client::new()
            .post(&target.url)
            .header("X-Hub-Signature-256", signature)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .map_or(0, |response| response.status().as_u16())
    }

    /// The contact's window closes, as if their last message were more than 24 hours old.
    pub fn close_window(&self, phone_number_id: &str, contact: &str) {
        lock(&self.state.windows).remove(&(phone_number_id.to_owned(), contact.to_owned()));
    }
}
