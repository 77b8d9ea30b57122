//! A mock of Telegram's Bot API: `ANY /bot<TOKEN>/<method>` (the method case-insensitive) with
//! parameters in the query string, a form body (nested objects as JSON strings) or a JSON
//! body, answered with Telegram's envelope (`{"ok": true, "result"}` or `{"ok": false,
//! "error_code", "description", "parameters"?}`); and `GET /file/bot<TOKEN>/<path>` for
//! downloads.
//!
//! Tokens: a malformed one is 404 `Not Found`, an unknown or revoked one 401 `Unauthorized`.
//! Methods: getMe, setWebhook (an HTTPS URL, or plain HTTP on loopback; the secret's alphabet
//! and length; `max_connections` 1–100), getWebhookInfo, deleteWebhook, sendMessage (text of
//! 1–4096 UTF-16 units, `callback_data` of 1–64 bytes, one action per button), sendPhoto,
//! sendDocument, sendVideo, sendAudio, sendVoice, sendSticker (caption ≤ 1024), sendLocation,
//! sendVenue, setMessageReaction, sendChatAction, answerCallbackQuery (only for a tap it
//! delivered and not yet answered), getFile. Every call is logged for assertions.
//!
//! Test controls: bots are added with [`MockTelegram::add_bot`]; a guest writes or taps a
//! button through the registered webhook, with the registered secret header
//! ([`MockTelegram::guest_sends`], [`MockTelegram::press`], [`MockTelegram::inject`]); faults
//! are scripted: throttled sends (429 with `retry_after`), revoked tokens (401) and chats that
//! blocked the bot (403). A public webhook URL reaches a local server through
//! [`MockTelegram::route`], as DNS and a proxy would.

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

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

/// One call the mock received.
#[derive(Clone, Debug)]
pub struct BotCall {
    pub at: Instant,
    pub token: String,
    /// The method as called (Telegram ignores its case).
    pub method: String,
    pub params: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The `result` of a successful call.
    pub result: Value,
}

impl BotCall {
    pub fn is(&self, method: &str) -> bool {
        self.method.eq_ignore_ascii_case(method)
    }
}

/// What a webhook delivery came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub update_id: i64,
    /// Parley's HTTP status, or 0 when it could not be reached.
    pub status: u16,
    /// Parley's answer (`Null` when it had no JSON body).
    pub body: Value,
}

#[derive(Clone, Debug)]
struct Webhook {
    url: String,
    secret: Option<String>,
    allowed_updates: Vec<String>,
    last_error_message: Option<String>,
}

#[derive(Clone, Debug)]
struct Bot {
    id: i64,
    username: String,
    first_name: String,
    webhook: Option<Webhook>,
}

#[derive(Default)]
struct State {
    base_url: std::sync::OnceLock<String>,
    /// Token → bot.
    bots: Mutex<HashMap<String, Bot>>,
    revoked: Mutex<HashSet<String>>,
    blocked: Mutex<HashSet<i64>>,
    /// `retry_after` of the next throttled sends, in seconds.
    throttled: Mutex<VecDeque<u64>>,
    calls: Mutex<Vec<BotCall>>,
    /// (token, chat, message id) → the message, for taps on its keyboard.
    messages: Mutex<HashMap<(String, i64, i64), Value>>,
    /// Chat → its last message id (bots and guests share a chat's numbering).
    message_ids: Mutex<HashMap<i64, i64>>,
    /// Button taps delivered and not yet answered.
    open_callbacks: Mutex<HashSet<String>>,
    /// file_id → (file_path, bytes).
    files: Mutex<HashMap<String, (String, Vec<u8>)>>,
    /// (public prefix, local prefix) of webhook URLs.
    routes: Mutex<Vec<(String, String)>>,
    next_update_id: AtomicI64,
    next_bot_id: AtomicI64,
    next_callback: AtomicI64,
    changed: Notify,
}

pub struct MockTelegram {
    url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MockTelegram {
    /// Starts the mock on a free loopback port, inside the current actix system.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(State {
            next_update_id: AtomicI64::new(815_520_000),
            next_bot_id: AtomicI64::new(7_000_000_001),
            ..State::default()
        });
        let _ = state.base_url.set(url.clone());
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/file/bot{token}/{path:.*}", web::get().to(download))
                .route("/bot{token}/{method}", web::to(method))
        })
        .listen(listener)?
        .workers(1)
        .disable_signals()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(Self { url, state, handle })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Registers a bot and answers its token.
    pub fn add_bot(&self, username: &str) -> String {
        let id = self.state.next_bot_id.fetch_add(1, Ordering::Relaxed);
        let token = format!("{id}:AAE{}", uuid::Uuid::new_v4().simple());
        lock(&self.state.bots).insert(
            token.clone(),
            Bot {
                id,
                username: username.to_owned(),
                first_name: "Casa Azul".into(),
                webhook: None,
            },
        );
        token
    }

    /// The bot's id, the number before `:` in its token.
    pub fn bot_id(token: &str) -> i64 {
        token
            .split_once(':')
            .and_then(|(id, _)| id.parse().ok())
            .unwrap_or_default()
    }

    /// BotFather revoked the token: every call with it is 401 from now on.
    pub fn revoke(&self, token: &str) {
        lock(&self.state.revoked).insert(token.to_owned());
    }

    /// The guest of `chat_id` blocked the bots: sends to them are 403.
    pub fn block(&self, chat_id: i64) {
        lock(&self.state.blocked).insert(chat_id);
    }

    /// The next `count` sends are throttled with 429 and `retry_after` seconds.
    pub fn throttle(&self, count: usize, retry_after_secs: u64) {
        lock(&self.state.throttled).extend(std::iter::repeat_n(retry_after_secs, count));
    }

    /// Webhook URLs starting with `public` are posted to `local` instead.
    pub fn route(&self, public: &str, local: &str) {
        lock(&self.state.routes).push((public.to_owned(), local.to_owned()));
    }

    /// A file a guest sent, downloadable through getFile; answers its `file_id`.
    pub fn add_file(&self, file_path: &str, bytes: &[u8]) -> String {
        let file_id = format!("file-{}", file_path.replace('/', "-"));
        lock(&self.state.files).insert(file_id.clone(), (file_path.to_owned(), bytes.to_vec()));
        file_id
    }

    /// The bot's webhook: (url, secret, allowed updates), if set.
    pub fn webhook(&self, token: &str) -> Option<(String, Option<String>, Vec<String>)> {
        let bots = lock(&self.state.bots);
        let webhook = bots.get(token)?.webhook.clone()?;
        Some((webhook.url, webhook.secret, webhook.allowed_updates))
    }

    pub fn calls(&self) -> Vec<BotCall> {
        lock(&self.state.calls).clone()
    }

    /// Successful calls of `method` (any case) with `token`.
    pub fn accepted(&self, token: &str, method: &str) -> Vec<BotCall> {
        lock(&self.state.calls)
            .iter()
            .filter(|call| call.token == token && call.is(method) && call.status == 200)
            .cloned()
            .collect()
    }

    /// Waits until the calls satisfy `done`, or panics after `timeout` with what came.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[BotCall]) -> bool,
    ) -> Vec<BotCall> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            let calls = self.calls();
            if done(&calls) {
                return calls;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the mock Bot API never saw what was awaited; calls: {calls:#?}"
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }

    /// Waits for `count` accepted calls of `method` with `token`.
    pub async fn wait_for(&self, token: &str, method: &str, count: usize) -> Vec<BotCall> {
        self.wait_until(Duration::from_secs(15), |calls| {
            calls
                .iter()
                .filter(|call| call.token == token && call.is(method) && call.status == 200)
                .count()
                >= count
        })
        .await;
        self.accepted(token, method)
    }

    /// Posts an update with `payload` (`{"message": …}`, `{"callback_query": …}` …) to the bot's
    /// webhook with its secret, under a fresh `update_id`.
    pub async fn inject(&self, token: &str, payload: Value) -> Delivery {
        let update_id = self.state.next_update_id.fetch_add(1, Ordering::Relaxed);
        let mut update = json!({"update_id": update_id});
        if let (Some(update), Some(payload)) = (update.as_object_mut(), payload.as_object()) {
            update.extend(payload.clone());
        }
        self.deliver(token, &update).await
    }

    /// Posts `update` as it is (a redelivery repeats its `update_id`).
    pub async fn deliver(&self, token: &str, update: &Value) -> Delivery {
        let update_id = update["update_id"].as_i64().unwrap_or_default();
        let webhook = lock(&self.state.bots)
            .get(token)
            .and_then(|bot| bot.webhook.clone());
        let Some(webhook) = webhook else {
            return Delivery {
                update_id,
                status: 0,
                body: Value::Null,
            };
        };
        let mut url = webhook.url.clone();
        for (public, local) in lock(&self.state.routes).iter() {
            if let Some(rest) = url.strip_prefix(public.as_str()) {
                url = format!("{local}{rest}");
                break;
            }
        }
        let mut request = reqwest::Client::new().post(url).json(update);
        if let Some(secret) = &webhook.secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        let (status, body) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        };
        if !(200..300).contains(&status) {
            if let Some(webhook) = lock(&self.state.bots)
                .get_mut(token)
                .and_then(|bot| bot.webhook.as_mut())
            {
                webhook.last_error_message =
                    Some(format!("Wrong response from the webhook: {status}"));
            }
        }
        Delivery {
            update_id,
            status,
            body,
        }
    }

    /// A guest of chat `chat_id` (a private chat: the chat is the guest) sends a message with
    /// `fields` (`{"text": …}`, `{"photo": […]}` …); answers the delivery and the message id.
    pub async fn guest_sends(
        &self,
        token: &str,
        chat_id: i64,
        first_name: &str,
        fields: Value,
    ) -> (Delivery, i64) {
        let message_id = next_message_id(&self.state, chat_id);
        let mut message = json!({
            "message_id": message_id,
            "from": {"id": chat_id, "is_bot": false, "first_name": first_name, "language_code": "en"},
            "chat": {"id": chat_id, "type": "private", "first_name": first_name},
            "date": 1_780_000_000,
        });
        if let (Some(message), Some(fields)) = (message.as_object_mut(), fields.as_object()) {
            message.extend(fields.clone());
        }
        (
            self.inject(token, json!({"message": message})).await,
            message_id,
        )
    }

    /// The guest taps the button with `callback_data` `data` under the bot's message
    /// `message_id`; answers the delivery and the tap's id (which the bot must answer).
    pub async fn press(
        &self,
        token: &str,
        chat_id: i64,
        message_id: i64,
        data: &str,
    ) -> (Delivery, String) {
        let message = lock(&self.state.messages)
            .get(&(token.to_owned(), chat_id, message_id))
            .cloned()
            .unwrap_or_else(|| json!({"message_id": message_id, "chat": {"id": chat_id, "type": "private"}, "date": 0}));
        let id = format!(
            "{}{}",
            chat_id,
            self.state.next_callback.fetch_add(1, Ordering::Relaxed)
        );
        lock(&self.state.open_callbacks).insert(id.clone());
        let delivery = self
            .inject(
                token,
                json!({"callback_query": {
                    "id": id,
                    "from": {"id": chat_id, "is_bot": false, "first_name": "Guest"},
                    "message": message,
                    "chat_instance": "-872173601234",
                    "data": data,
                }}),
            )
            .await;
        (delivery, id)
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

fn next_message_id(state: &State, chat_id: i64) -> i64 {
    let mut ids = lock(&state.message_ids);
    let next = ids.entry(chat_id).or_insert(0);
    *next += 1;
    *next
}

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

async fn method(
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
        if let Some(retry_after) = lock(&state.throttled).pop_front() {
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
async fn download(state: web::Data<State>, path: web::Path<(String, String)>) -> HttpResponse {
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
