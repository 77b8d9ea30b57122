//! A mock of Meta's Graph API: WhatsApp sends (`POST /{version}/{phone_number_id}/messages`)
//! with token checks, body validation, fresh wamids, and scripted failures (server errors,
//! throttling with `Retry-After`, expired tokens) answered with Meta's error envelopes; and
//! the consent dialog, token exchange and account calls of connecting channels (`accounts`).

pub mod accounts;
pub mod limits;
pub mod media;
mod messenger;
pub mod statuses;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A canned answer for the next send attempt.
#[derive(Clone, Debug)]
pub enum Scripted {
    /// HTTP 500 with Graph code 131000 ("Something went wrong").
    ServerError,
    /// HTTP 429 with code 130429 and `Retry-After` in seconds.
    RateLimited { retry_after_secs: u64 },
    /// HTTP 401 with code 190, subcode 463 (expired session).
    TokenExpired,
    /// HTTP 400 with code 131047: outside the 24-hour window.
    OutsideWindow,
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct ReceivedSend {
    pub at: Instant,
    pub phone_number_id: String,
    pub bearer: Option<String>,
    pub body: Value,
    /// The HTTP status the mock answered with.
    pub status: u16,
    /// The wamid of an accepted send.
    pub wamid: Option<String>,
}

#[derive(Default)]
struct State {
    accounts: Mutex<accounts::Accounts>,
    /// The mock's own address, for the download links it hands out.
    base_url: std::sync::OnceLock<String>,
    media: Mutex<HashMap<String, media::StoredMedia>>,
    /// Download link → (media id, when it was handed out).
    links: Mutex<HashMap<String, (String, Instant)>>,
    link_lifetime: Mutex<Duration>,
    downloads: Mutex<usize>,
    /// Number → where Meta posts its webhooks, for status notifications after sends.
    status_targets: Mutex<HashMap<String, statuses::Target>>,
    /// (number, contact) → when the contact last wrote through `guest_says`.
    windows: Mutex<HashMap<(String, String), Instant>>,
    /// Read receipts (WhatsApp `status: read`) and sender actions (Messenger and Instagram),
    /// by number or Page: they are not messages, so they are kept apart from `received`.
    receipts: Mutex<Vec<(String, Value)>>,
    /// Phone number id → the tokens that may use it (a new token does not void the old one).
    numbers: Mutex<HashMap<String, Vec<String>>>,
    expired_tokens: Mutex<HashSet<String>>,
    scripted: Mutex<VecDeque<Scripted>>,
    limits: Mutex<limits::Limits>,
    received: Mutex<Vec<ReceivedSend>>,
    changed: Notify,
    next_wamid: AtomicU64,
    /// Added to every answer, to play a provider's network latency.
    latency_micros: AtomicU64,
}

pub struct MockGraph {
    url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl MockGraph {
    /// Starts the mock on a free loopback port, inside the current actix system.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(State::default());
        let _ = state.base_url.set(url.clone());
        *lock(&state.link_lifetime) = media::LINK_LIFETIME;
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                // Documents may be 100 MB, and a test checks that larger ones are refused.
                .app_data(web::PayloadConfig::new(110 * 1024 * 1024))
                .route("/lookaside/{link}", web::get().to(media::download))
                .route("/{version}/{node}", web::get().to(get_node))
                .route("/{version}/{node}/{edge}", web::get().to(get_edge))
                .route("/{version}/{node}/{edge}", web::post().to(post_edge))
                .route("/{version}/{node}/{edge}", web::delete().to(delete_edge))
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

    /// Registers a phone number id and a token allowed to send from it (a system user's
    /// token; earlier ones stay valid until expired), as a number of the business account [`accounts::DEFAULT_WABA`].
    pub fn add_number(&self, phone_number_id: &str, access_token: &str) {
        lock(&self.state.numbers)
            .entry(phone_number_id.to_owned())
            .or_default()
            .push(access_token.to_owned());
        let mut accounts = lock(&self.state.accounts);
        let number = accounts::NumberFixture {
            id: phone_number_id.to_owned(),
            display_phone_number: format!("+1 555-{phone_number_id}"),
            verified_name: "Parley Test".into(),
            pin: None,
        };
        match accounts
            .businesses
            .iter_mut()
            .find(|business| business.waba_id == accounts::DEFAULT_WABA)
        {
            Some(business) => business.numbers.push(number),
            None => accounts.businesses.push(accounts::BusinessFixture {
                waba_id: accounts::DEFAULT_WABA.into(),
                name: "Parley Test Business".into(),
                verified: true,
                numbers: vec![number],
            }),
        }
    }

    /// From now on, calls with this token fail with code 190.
    pub fn expire_token(&self, access_token: &str) {
        lock(&self.state.expired_tokens).insert(access_token.to_owned());
    }

    /// Queues answers for the next send attempts, in order; afterwards sends succeed again.
    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        lock(&self.state.scripted).extend(answers);
    }

    pub fn set_latency(&self, latency: Duration) {
        self.state.latency_micros.store(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Read receipts and sender actions received, with the number or Page they were for.
    pub fn receipts(&self) -> Vec<(String, Value)> {
        lock(&self.state.receipts).clone()
    }

    /// Waits until at least `count` receipts arrived, or `timeout` passed.
    pub async fn wait_for_receipts(&self, count: usize, timeout: Duration) -> Vec<(String, Value)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            let receipts = self.receipts();
            if receipts.len() >= count {
                return receipts;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.receipts();
            }
        }
    }

    /// Every request received so far, accepted or not.
    pub fn attempts(&self) -> Vec<ReceivedSend> {
        lock(&self.state.received).clone()
    }

    /// The sends the mock accepted (answered 200).
    pub fn accepted(&self) -> Vec<ReceivedSend> {
        lock(&self.state.received)
            .iter()
            .filter(|send| send.status == 200)
            .cloned()
            .collect()
    }

    /// Waits until at least `count` requests arrived, or `timeout` passed; returns them all.
    pub async fn wait_for_attempts(&self, count: usize, timeout: Duration) -> Vec<ReceivedSend> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            let attempts = self.attempts();
            if attempts.len() >= count {
                return attempts;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.attempts();
            }
        }
    }

    /// Waits until at least `count` sends were accepted, or `timeout` passed.
    pub async fn wait_for_accepted(&self, count: usize, timeout: Duration) -> Vec<ReceivedSend> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.accepted();
            }
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn graph_error(
    status: u16,
    code: i64,
    subcode: Option<i64>,
    message: &str,
    details: Option<&str>,
) -> HttpResponse {
    let mut error = json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "MOCKtrace"});
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    if let Some(details) = details {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({"error": error}))
}

fn expired_token() -> HttpResponse {
    let mut response = graph_error(
        401,
        190,
        Some(463),
        "Error validating access token: Session has expired on Friday, 01-May-26 10:00:00 PDT.",
        None,
    );
    response.headers_mut().insert(
        actix_web::http::header::WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static(
            "OAuth \"Facebook Platform\" \"invalid_token\"",
        ),
    );
    response
}

/// The Graph error a send body deserves, if any.
fn validate(body: &Value) -> Option<HttpResponse> {
    let invalid = |details: &str| {
        Some(graph_error(
            400,
            131009,
            None,
            "(#131009) Parameter value is not valid",
            Some(details),
        ))
    };
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return invalid("messaging_product must be whatsapp");
    }
    if body
        .get("to")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Some(graph_error(
            400,
            131008,
            None,
            "(#131008) Required parameter is missing",
            Some("to is required"),
        ));
    }
    let Some(kind) = body.get("type").and_then(Value::as_str) else {
        return Some(graph_error(
            400,
            131008,
            None,
            "(#131008) Required parameter is missing",
            Some("type is required"),
        ));
    };
    let Some(object) = body.get(kind) else {
        return Some(graph_error(
            400,
            131008,
            None,
            "(#131008) Required parameter is missing",
            Some("the message object is missing"),
        ));
    };
    if kind == "text" {
        let length = object
            .get("body")
            .and_then(Value::as_str)
            .map(|text| text.chars().count());
        match length {
            None | Some(0) => return invalid("text.body is required"),
            Some(length) if length > 4_096 => {
                return invalid("Message text length invalid. Max length: 4096")
            }
            Some(_) => {}
        }
    }
    None
}

async fn get_node(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    let (_, node) = path.into_inner();
    if let Some(described) = media::describe(&state, &request, &node) {
        return described;
    }
    if node == "debug_token" {
        accounts::debug_token(&state, &request)
    } else {
        accounts::node(&state, &request, &node)
    }
}

async fn get_edge(
    state: web::Data<State>,
    path: web::Path<(String, String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    let (_, node, edge) = path.into_inner();
    match (node.as_str(), edge.as_str()) {
        ("dialog", "oauth") => accounts::dialog(&state, &request),
        ("oauth", "access_token") => accounts::access_token(&state, &request),
        _ => accounts::get_edge(&state, &request, &node, &edge),
    }
}

async fn post_edge(
    state: web::Data<State>,
    path: web::Path<(String, String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (version, node, edge) = path.into_inner();
    if edge == "messages" && messenger::is_send_api(&state, &node) {
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        return messenger::send(&state, &node, accounts::bearer(&request), &parsed);
    }
    if edge == "messages" {
        return send(state, version, node, request, body).await;
    }
    if edge == "media" {
        return media::upload(&state, &request, &node, &body);
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    accounts::change_edge(&state, &request, &node, &edge, &parsed)
}

async fn delete_edge(
    state: web::Data<State>,
    path: web::Path<(String, String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    let (_, node, edge) = path.into_inner();
    accounts::change_edge(&state, &request, &node, &edge, &Value::Null)
}

async fn send(
    state: web::Data<State>,
    _version: String,
    phone_number_id: String,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let latency = state.latency_micros.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_micros(latency)).await;
    }
    let bearer = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| {
            url::form_urlencoded::parse(request.query_string().as_bytes())
                .find(|(key, _)| key == "access_token")
                .map(|(_, value)| value.into_owned())
        });
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if parsed.get("status").and_then(Value::as_str) == Some("read") {
        return read_receipt(&state, &phone_number_id, bearer.as_deref(), &parsed);
    }
    let response = answer(&state, &phone_number_id, bearer.as_deref(), &parsed);
    let status = response.status().as_u16();
    let wamid = (status == 200).then(|| {
        format!(
            "wamid.MOCK{:012}",
            state.next_wamid.fetch_add(1, Ordering::Relaxed)
        )
    });
    let response = match &wamid {
        Some(wamid) => HttpResponse::Ok().json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": parsed.get("to").cloned().unwrap_or(Value::Null), "wa_id": parsed.get("to").cloned().unwrap_or(Value::Null)}],
            "messages": [{"id": wamid}]
        })),
        None => response,
    };
    if let Some(wamid) = &wamid {
        statuses::after_send(
            &state.clone().into_inner(),
            &phone_number_id,
            &parsed,
            wamid,
        );
    }
    lock(&state.received).push(ReceivedSend {
        at: Instant::now(),
        phone_number_id,
        bearer,
        body: parsed,
        status,
        wamid,
    });
    state.changed.notify_waiters();
    response
}

/// `{"messaging_product": "whatsapp", "status": "read", "message_id"}`: a read receipt.
fn read_receipt(
    state: &State,
    phone_number_id: &str,
    bearer: Option<&str>,
    body: &Value,
) -> HttpResponse {
    let token = match accounts::usable_token(state, bearer) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    if !accounts::may_use_number(state, phone_number_id, token) {
        return graph_error(
            400,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
            None,
        );
    }
    if body
        .get("message_id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return graph_error(
            400,
            100,
            None,
            "(#100) The parameter message_id is required.",
            None,
        );
    }
    lock(&state.receipts).push((phone_number_id.to_owned(), body.clone()));
    state.changed.notify_waiters();
    HttpResponse::Ok().json(json!({"success": true}))
}

/// The mock's decision for one request; a 200 here is replaced by the success body.
fn answer(
    state: &State,
    phone_number_id: &str,
    bearer: Option<&str>,
    body: &Value,
) -> HttpResponse {
    let token = match accounts::usable_token(state, bearer) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    let known = lock(&state.numbers).contains_key(phone_number_id)
        || lock(&state.accounts).businesses.iter().any(|business| {
            business
                .numbers
                .iter()
                .any(|number| number.id == phone_number_id)
        });
    match known.then(|| accounts::may_use_number(state, phone_number_id, token)) {
        None => {
            return graph_error(
                400,
                100,
                Some(33),
                &format!("Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
                None,
            )
        }
        Some(false) => {
            return graph_error(401, 190, None, "Invalid OAuth access token - Cannot parse access token", None)
        }
        Some(true) => {}
    }
    if let Some(scripted) = lock(&state.scripted).pop_front() {
        return match scripted {
            Scripted::ServerError => graph_error(500, 131000, None, "Something went wrong", Some("An unknown error occurred")),
            Scripted::RateLimited { retry_after_secs } => {
                let mut response = graph_error(
                    429,
                    130429,
                    Some(2494055),
                    "(#130429) Rate limit hit",
                    Some("Cloud API message throughput has been reached."),
                );
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(retry_after_secs),
                );
                response
            }
            Scripted::TokenExpired => expired_token(),
            Scripted::OutsideWindow => graph_error(
                400,
                131047,
                None,
                "(#131047) Re-engagement message",
                Some("Message failed to send because more than 24 hours have passed since the customer last replied to this number."),
            ),
        };
    }
    if let Some(response) = validate(body) {
        return response;
    }
    if let Some(response) = accounts::check_template(state, phone_number_id, body) {
        return response;
    }
    let to = body.get("to").and_then(Value::as_str).unwrap_or_default();
    if let Some(response) = limits::check(state, phone_number_id, to) {
        return response;
    }
    HttpResponse::Ok().finish()
}
