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

mod api;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

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
    /// What the next sends meet: `Some(retry_after)` in seconds is a 429, `None` goes through.
    throttled: Mutex<VecDeque<Option<u64>>>,
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
                .route("/file/bot{token}/{path:.*}", web::get().to(api::download))
                .route("/bot{token}/{method}", web::to(api::method))
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
        self.throttle_after(0, count, retry_after_secs);
    }

    /// After `passing` more sends go through, the `count` that follow are throttled.
    pub fn throttle_after(&self, passing: usize, count: usize, retry_after_secs: u64) {
        let mut throttled = lock(&self.state.throttled);
        throttled.extend(std::iter::repeat_n(None, passing));
        throttled.extend(std::iter::repeat_n(Some(retry_after_secs), count));
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
