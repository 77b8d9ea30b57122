//! The Bot API side of the mock: the methods, their checks and Telegram's answers.

use super::{lock, next_message_id, Bot, BotCall, State, Webhook};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::time::Instant;

/// Methods that send a message to a chat; the throttle and the block apply to them.
const SENDS: [&str; 9] = [
    "sendmessage",
    "sendphoto",
    "senddocument",
    "sendvideo",
    "sendaudio",
    "sendvoice",
    "sendsticker",
    "sendlocation",
    "sendvenue",
];

fn ok(result: Value) -> (u16, Value) {
    let mut body = Map::new();
    body.insert("ok".into(), Value::Bool(true));
    body.insert("result".into(), result);
    (200, Value::Object(body))
}

fn fail(code: u16, description: &str) -> (u16, Value) {
    (
        code,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

fn envelope((status, body): (u16, Value)) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(body)
}

fn well_formed(token: &str) -> bool {
    token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && secret.len() >= 30
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// The call's parameters: the query string, then the form or JSON body. Nested objects in a
/// query or form are JSON strings, which are read as JSON.
fn params(request: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, (u16, Value)> {
    let mut params = Map::new();
    let mut add_pairs = |pairs: &[u8]| {
        for (key, value) in url::form_urlencoded::parse(pairs) {
            let value = match serde_json::from_str::<Value>(&value) {
                Ok(nested @ (Value::Object(_) | Value::Array(_))) => nested,
                _ => Value::String(value.into_owned()),
            };
            params.insert(key.into_owned(), value);
        }
    };
    add_pairs(request.query_string().as_bytes());
    let content_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        add_pairs(body);
    } else if content_type.starts_with("application/json") && !body.is_empty() {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => params.extend(object),
            _ => return Err(fail(400, "Bad Request: can't parse JSON object")),
        }
    } else if content_type.starts_with("multipart/form-data") {
        return Err(fail(
            400,
            "Bad Request: the mock takes files by URL or file_id only",
        ));
    }
    Ok(params)
}

fn int(params: &Map<String, Value>, key: &str) -> Option<i64> {
    match params.get(key)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

fn text<'p>(params: &'p Map<String, Value>, key: &str) -> Option<&'p str> {
    params.get(key).and_then(Value::as_str)
}

pub(super) async fn method(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (token, method) = path.into_inner();
    let answer = match params(&request, &body) {
        Ok(params) => answer(&state, &token, &method, &params),
        Err(failure) => failure,
    };
    let (status, reply) = &answer;
    lock(&state.calls).push(BotCall {
        at: Instant::now(),
        token: token.clone(),
        method,
        params: match params(&request, &body) {
            Ok(params) => Value::Object(params),
            Err(_) => Value::Null,
        },
        status: *status,
        result: reply.get("result").cloned().unwrap_or(Value::Null),
    });
    state.changed.notify_waiters();
    envelope(answer)
}

fn answer(state: &State, token: &str, method: &str, params: &Map<String, Value>) -> (u16, Value) {
    if !well_formed(token) {
        return fail(404, "Not Found");
    }
    let bot = match lock(&state.bots).get(token) {
        Some(bot) if !lock(&state.revoked).contains(token) => bot.clone(),
        _ => return fail(401, "Unauthorized"),
    };
    let method = method.to_ascii_lowercase();
    if SENDS.contains(&method.as_str()) {
        let Some(chat_id) = int(params, "chat_id") else {
            return fail(400, "Bad Request: chat not found");
        };
        if let Some(Some(retry_after)) = lock(&state.throttled).pop_front() {
            let (status, mut body) = fail(
                429,
                &format!("Too Many Requests: retry after {retry_after}"),
            );
            body["parameters"] = json!({"retry_after": retry_after});
            return (status, body);
        }
        if lock(&state.blocked).contains(&chat_id) {
            return fail(403, "Forbidden: bot was blocked by the user");
        }
        return send(state, token, &bot, &method, chat_id, params);
    }
    match method.as_str() {
        "getme" => ok(json!({
            "id": bot.id, "is_bot": true, "first_name": bot.first_name, "username": bot.username,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false
        })),
        "setwebhook" => set_webhook(state, token, params),
        "deletewebhook" => {
            if let Some(bot) = lock(&state.bots).get_mut(token) {
                bot.webhook = None;
            }
            let (status, mut body) = ok(json!(true));
            body["description"] = json!("Webhook was deleted");
            (status, body)
        }
        "getwebhookinfo" => {
            let mut info = json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0});
            if let Some(webhook) = bot.webhook {
                info["url"] = json!(webhook.url);
                info["max_connections"] = json!(40);
                info["allowed_updates"] = json!(webhook.allowed_updates);
                if let Some(error) = webhook.last_error_message {
                    info["last_error_message"] = json!(error);
                    info["last_error_date"] = json!(1_780_000_000);
                }
            }
            ok(info)
        }
        "answercallbackquery" => {
            let id = text(params, "callback_query_id").unwrap_or_default();
            if text(params, "text").is_some_and(|text| text.chars().count() > 200) {
                return fail(400, "Bad Request: MESSAGE_TOO_LONG");
            }
            if lock(&state.open_callbacks).remove(id) {
                ok(json!(true))
            } else {
                fail(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
            }
        }
        "getfile" => {
            let id = text(params, "file_id").unwrap_or_default();
            match lock(&state.files).get(id) {
                Some((path, bytes)) => ok(json!({
                    "file_id": id, "file_unique_id": format!("u{id}"), "file_size": bytes.len(), "file_path": path
                })),
                None => fail(400, "Bad Request: invalid file_id"),
            }
        }
        "setmessagereaction" => ok(json!(true)),
        "sendchataction" => ok(json!(true)),
        "getupdates" if bot.webhook.is_some() => fail(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        ),
        "getupdates" => ok(json!([])),
        _ => fail(404, "Not Found"),
    }
}

fn set_webhook(state: &State, token: &str, params: &Map<String, Value>) -> (u16, Value) {
    let url = text(params, "url").unwrap_or_default().to_owned();
    let mut bots = lock(&state.bots);
    let Some(bot) = bots.get_mut(token) else {
        return fail(401, "Unauthorized");
    };
    if url.is_empty() {
        bot.webhook = None;
        let (status, mut body) = ok(json!(true));
        body["description"] = json!("Webhook was deleted");
        return (status, body);
    }
    let loopback = ["http://127.0.0.1", "http://localhost"]
        .iter()
        .any(|prefix| url.starts_with(prefix));
    if !url.starts_with("https://") && !loopback {
        return fail(
            400,
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        );
    }
    let secret = text(params, "secret_token").map(str::to_owned);
    if let Some(secret) = &secret {
        let allowed = secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !(1..=256).contains(&secret.len()) || !allowed {
            return fail(
                400,
                "Bad Request: bad webhook: secret token contains unallowed characters",
            );
        }
    }
    if let Some(connections) = int(params, "max_connections") {
        if !(1..=100).contains(&connections) {
            return fail(
                400,
                "Bad Request: bad webhook: max_connections must be between 1 and 100",
            );
        }
    }
    let allowed_updates = match params.get("allowed_updates") {
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        // Omitted: the previous setting is kept.
        _ => bot
            .webhook
            .as_ref()
            .map(|webhook| webhook.allowed_updates.clone())
            .unwrap_or_default(),
    };
    bot.webhook = Some(Webhook {
        url,
        secret,
        allowed_updates,
        last_error_message: None,
    });
    let (status, mut body) = ok(json!(true));
    body["description"] = json!("Webhook was set");
    (status, body)
}

/// Checks a send and answers the `Message` it made.
fn send(
    state: &State,
    token: &str,
    bot: &Bot,
    method: &str,
    chat_id: i64,
    params: &Map<String, Value>,
) -> (u16, Value) {
    let units = |text: &str| text.encode_utf16().count();
    let mut message = Map::new();
    match method {
        "sendmessage" => {
            let body = text(params, "text").unwrap_or_default();
            if body.trim().is_empty() {
                return fail(400, "Bad Request: message text is empty");
            }
            if units(body) > 4_096 {
                return fail(400, "Bad Request: message is too long");
            }
            message.insert("text".into(), json!(body));
        }
        "sendlocation" | "sendvenue" => {
            let (Some(latitude), Some(longitude)) = (
                params.get("latitude").and_then(number),
                params.get("longitude").and_then(number),
            ) else {
                return fail(400, "Bad Request: wrong latitude or longitude");
            };
            if method == "sendvenue"
                && (text(params, "title").is_none() || text(params, "address").is_none())
            {
                return fail(
                    400,
                    "Bad Request: venue title and address must be non-empty",
                );
            }
            message.insert(
                "location".into(),
                json!({"latitude": latitude, "longitude": longitude}),
            );
        }
        _ => {
            let field = method.trim_start_matches("send");
            let Some(file) = text(params, field).filter(|file| !file.is_empty()) else {
                return fail(
                    400,
                    &format!("Bad Request: there is no {field} in the request"),
                );
            };
            if let Some(caption) = text(params, "caption") {
                if units(caption) > 1_024 {
                    return fail(400, "Bad Request: message caption is too long");
                }
                message.insert("caption".into(), json!(caption));
            }
            message.insert(
                field.into(),
                json!({"file_id": file, "file_unique_id": "u"}),
            );
        }
    }
    if let Some(markup) = params.get("reply_markup") {
        if let Some(problem) = keyboard_problem(markup) {
            return fail(400, problem);
        }
        message.insert("reply_markup".into(), markup.clone());
    }
    let message_id = next_message_id(state, chat_id);
    message.insert("message_id".into(), json!(message_id));
    message.insert(
        "from".into(),
        json!({"id": bot.id, "is_bot": true, "first_name": bot.first_name, "username": bot.username}),
    );
    message.insert("chat".into(), json!({"id": chat_id, "type": "private"}));
    message.insert("date".into(), json!(1_780_000_000));
    let message = Value::Object(message);
    lock(&state.messages).insert((token.to_owned(), chat_id, message_id), message.clone());
    ok(message)
}

fn number(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

/// Why Telegram would refuse an inline keyboard, if it would.
fn keyboard_problem(markup: &Value) -> Option<&'static str> {
    let rows = markup.get("inline_keyboard")?;
    let Some(rows) = rows.as_array() else {
        return Some("Bad Request: field \"inline_keyboard\" must be an Array");
    };
    for button in rows.iter().filter_map(Value::as_array).flatten() {
        if button
            .get("text")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Some("Bad Request: BUTTON_TEXT_EMPTY");
        }
        let actions = [
            "url",
            "callback_data",
            "web_app",
            "login_url",
            "copy_text",
            "pay",
        ]
        .iter()
        .filter(|action| button.get(**action).is_some())
        .count();
        if actions != 1 {
            return Some("Bad Request: can't parse inline keyboard button: exactly one of the optional fields must be used");
        }
        if let Some(data) = button.get("callback_data") {
            let length = data.as_str().map_or(0, str::len);
            if !(1..=64).contains(&length) {
                return Some("Bad Request: BUTTON_DATA_INVALID");
            }
        }
    }
    None
}

/// `GET /file/bot<TOKEN>/<path>`: a file's bytes, for the token of a known bot.
pub(super) async fn download(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (token, file_path) = path.into_inner();
    let known = lock(&state.bots).contains_key(&token) && !lock(&state.revoked).contains(&token);
    if !known {
        return envelope(fail(401, "Unauthorized"));
    }
    let bytes = lock(&state.files)
        .values()
        .find(|(path, _)| *path == file_path)
        .map(|(_, bytes)| bytes.clone());
    match bytes {
        Some(bytes) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(bytes),
        None => envelope(fail(404, "Not Found")),
    }
}
