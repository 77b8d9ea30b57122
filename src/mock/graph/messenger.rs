//! The Send API of Messenger and Instagram as the mock plays it: `POST /{v}/me/messages`
//! (the Page token names the Page) and `POST /{v}/{page_id}/messages`, with the Page token
//! checked, the body checked (recipient, `messaging_type`, a message or a sender action, text
//! length, quick replies), scripted failures answered with Messenger's codes, and
//! `{"recipient_id", "message_id"}` on success.

use super::{graph_error, lock, ReceivedSend, Scripted, State};
use actix_web::HttpResponse;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Whether a `…/messages` call is for the Send API (rather than WhatsApp's).
pub(super) fn is_send_api(state: &State, node: &str) -> bool {
    node == "me"
        || lock(&state.accounts)
            .pages
            .iter()
            .any(|page| page.id == node)
}

pub(super) fn send(
    state: &State,
    node: &str,
    bearer: Option<String>,
    body: &Value,
) -> HttpResponse {
    let response = answer(state, node, bearer.as_deref(), body);
    if body.get("sender_action").is_some() && response.status().as_u16() == 200 {
        lock(&state.receipts).push((node.to_owned(), body.clone()));
        state.changed.notify_waiters();
        let recipient = body
            .pointer("/recipient/id")
            .cloned()
            .unwrap_or(Value::Null);
        return HttpResponse::Ok().json(json!({ "recipient_id": recipient }));
    }
    let status = response.status().as_u16();
    let mid = (status == 200).then(|| {
        format!(
            "m_MOCK{:012}",
            state.next_wamid.fetch_add(1, Ordering::Relaxed)
        )
    });
    let recipient = body
        .pointer("/recipient/id")
        .cloned()
        .unwrap_or(Value::Null);
    let response = match &mid {
        Some(_) if body.get("sender_action").is_some() => {
            HttpResponse::Ok().json(json!({"recipient_id": recipient}))
        }
        Some(mid) => HttpResponse::Ok().json(json!({"recipient_id": recipient, "message_id": mid})),
        None => response,
    };
    lock(&state.received).push(ReceivedSend {
        at: Instant::now(),
        phone_number_id: node.to_owned(),
        bearer,
        body: body.clone(),
        status,
        wamid: mid,
    });
    state.changed.notify_waiters();
    response
}

fn answer(state: &State, node: &str, bearer: Option<&str>, body: &Value) -> HttpResponse {
    let token = match super::accounts::usable_token(state, bearer) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    {
        let accounts = lock(&state.accounts);
        let page = accounts
            .page_tokens
            .iter()
            .find(|(_, page_token)| page_token.as_str() == token)
            .map(|(page, _)| page.clone());
        match page {
            None => return graph_error(400, 190, None, "Invalid OAuth access token - Cannot parse access token", None),
            Some(page) if node != "me" && node != page => {
                return graph_error(400, 100, Some(33), &format!("Unsupported post request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."), None)
            }
            Some(_) => {}
        }
    }
    if let Some(scripted) = lock(&state.scripted).pop_front() {
        return match scripted {
            Scripted::ServerError => graph_error(
                500,
                2,
                None,
                "An unexpected error has occurred. Please retry your request later.",
                None,
            ),
            Scripted::RateLimited { retry_after_secs } => {
                let mut response = graph_error(
                    400,
                    613,
                    None,
                    "(#613) Calls to this api have exceeded the rate limit.",
                    None,
                );
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(retry_after_secs),
                );
                response
            }
            Scripted::TokenExpired => super::expired_token(),
            Scripted::OutsideWindow => graph_error(
                400,
                10,
                Some(2_018_278),
                "(#10) This message is sent outside of allowed window.",
                None,
            ),
        };
    }
    let invalid = |message: &str| graph_error(400, 100, None, message, None);
    if body
        .pointer("/recipient/id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return invalid("(#100) The parameter recipient is required");
    }
    if body.get("sender_action").is_some() {
        return HttpResponse::Ok().finish();
    }
    let Some(message) = body.get("message") else {
        return invalid("(#100) Must send either message or sender action");
    };
    match body.get("messaging_type").and_then(Value::as_str) {
        Some("RESPONSE" | "UPDATE") => {}
        Some("MESSAGE_TAG") if body.get("tag").and_then(Value::as_str) == Some("HUMAN_AGENT") => {}
        _ => {
            return invalid(
                "(#100) messaging_type must be RESPONSE, UPDATE or MESSAGE_TAG with a tag",
            )
        }
    }
    if let Some(text) = message.get("text").and_then(Value::as_str) {
        if text.is_empty() || text.chars().count() > 2_000 {
            return invalid(
                "(#100) Length of param message[text] must be less than or equal to 2000",
            );
        }
    } else if message.get("attachment").is_none() {
        return invalid("(#100) Message cannot be empty, must provide valid attachment or text");
    }
    if let Some(replies) = message.get("quick_replies").and_then(Value::as_array) {
        if replies.len() > 13 {
            return invalid("(#100) param message[quick_replies] must have at most 13 items");
        }
    }
    HttpResponse::Ok().finish()
}
