//! Twilio's Messaging API as a local server: accounts with Basic auth (`AccountSid:AuthToken`,
//! 401 / 20003 otherwise), `Messages.json` with Twilio's validation (21211, 21602–21604,
//! 21617) and `201 queued` answers, the account and number lookups, status callbacks posted
//! and signed with `X-Twilio-Signature` after each send (`sent`, `delivered`, and `read` on
//! WhatsApp; `failed` with 63016 for a free-form WhatsApp send outside the contact's 24-hour
//! window), scripted faults (429 / 20429, 500, 401), and an injector that posts a contact's
//! message to Parley signed over Parley's public URL.
//!
//! Callbacks and injected messages are signed over the public URL Parley gave and delivered to
//! wherever `route` says that URL is served, as a reverse proxy would. The signature is
//! computed here independently of Parley's adapter.

#![expect(
    clippy::disallowed_methods,
    reason = "the mock keeps Twilio's own wall-clock dates"
)]

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a contact's WhatsApp window stays open after they write.
const WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// The pause between status callbacks.
const STEP: Duration = Duration::from_millis(20);

/// A failure the mock answers the next send with.
#[derive(Clone, Copy, Debug)]
pub enum TwilioFault {
    /// 429 with code 20429.
    TooManyRequests,
    /// 500.
    ServerError,
}

/// One call to `Messages.json`.
#[derive(Clone, Debug)]
pub struct TwilioSend {
    pub account_sid: String,
    pub params: Vec<(String, String)>,
    pub status: u16,
    pub sid: Option<String>,
}

impl TwilioSend {
    /// The first value of `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name` (`MediaUrl` repeats).
    pub fn params_named(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

struct Account {
    auth_token: String,
    status: String,
    numbers: Vec<String>,
}

#[derive(Default)]
struct State {
    accounts: Mutex<HashMap<String, Account>>,
    faults: Mutex<VecDeque<TwilioFault>>,
    sends: Mutex<Vec<TwilioSend>>,
    /// Message sid → its latest status.
    statuses: Mutex<HashMap<String, String>>,
    /// (sender, contact) → when the contact last wrote on WhatsApp.
    windows: Mutex<HashMap<(String, String), Instant>>,
    /// Public base URL → the address that serves it.
    routes: Mutex<Vec<(String, String)>>,
    /// Media sid → (account, content type, bytes) of files contacts sent.
    media: Mutex<HashMap<String, MediaFile>>,
    /// How many media downloads reached the CDN.
    media_downloads: AtomicU64,
    next_sid: AtomicU64,
}

/// A contact's file: (account, content type, bytes).
type MediaFile = (String, String, Vec<u8>);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `X-Twilio-Signature` for a form post to `url`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(&name);
        data.push_str(&value);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn error(status: u16, code: i64, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({
        "code": code, "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16()
    }))
}

fn authenticate() -> HttpResponse {
    error(401, 20003, "Authenticate")
}

/// Whether the request's Basic auth opens `account_sid`.
fn authorised(state: &State, request: &HttpRequest, account_sid: &str) -> bool {
    let Some((user, password)) = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(user, password)| (user.to_owned(), password.to_owned()))
        })
    else {
        return false;
    };
    lock(&state.accounts)
        .get(account_sid)
        .is_some_and(|account| user == account_sid && password == account.auth_token)
}

fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn now_rfc2822() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

async fn account(
    state: web::Data<State>,
    path: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let sid = path.into_inner();
    let sid = sid.trim_end_matches(".json");
    if !authorised(&state, &request, sid) {
        return authenticate();
    }
    let accounts = lock(&state.accounts);
    let Some(account) = accounts.get(sid) else {
        return authenticate();
    };
    HttpResponse::Ok().json(json!({
        "sid": sid, "friendly_name": "Villa Serena", "status": account.status,
        "type": "Full", "date_created": now_rfc2822()
    }))
}

async fn numbers(
    state: web::Data<State>,
    path: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let sid = path.into_inner();
    if !authorised(&state, &request, &sid) {
        return authenticate();
    }
    let wanted = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(key, _)| key == "PhoneNumber")
        .map(|(_, value)| value.into_owned());
    let accounts = lock(&state.accounts);
    let owned: Vec<Value> = accounts
        .get(&sid)
        .map(|account| account.numbers.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|number| wanted.as_ref().is_none_or(|wanted| wanted == number))
        .map(|number| json!({"phone_number": number, "sid": "PN0123456789abcdef0123456789abcdef"}))
        .collect();
    HttpResponse::Ok().json(json!({"incoming_phone_numbers": owned, "page": 0, "page_size": 50}))
}

async fn message_status(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    let (account_sid, sid) = path.into_inner();
    if !authorised(&state, &request, &account_sid) {
        return authenticate();
    }
    let sid = sid.trim_end_matches(".json");
    match lock(&state.statuses).get(sid) {
        Some(status) => HttpResponse::Ok().json(json!({"sid": sid, "status": status})),
        None => error(404, 20404, &format!("The requested resource /2010-04-01/Accounts/{account_sid}/Messages/{sid}.json was not found")),
    }
}

/// `GET /2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}`: with the account's Basic auth,
/// a redirect to the file's short-lived CDN address, as Twilio does when "HTTP Basic auth
/// for media" is on.
async fn media(
    state: web::Data<State>,
    path: web::Path<(String, String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    let (account_sid, _message, media_sid) = path.into_inner();
    if !authorised(&state, &request, &account_sid) {
        return authenticate();
    }
    let known = lock(&state.media)
        .get(&media_sid)
        .is_some_and(|(owner, _, _)| *owner == account_sid);
    if !known {
        return error(404, 20404, "The requested resource was not found");
    }
    HttpResponse::TemporaryRedirect()
        .insert_header(("Location", format!("/cdn/{media_sid}")))
        .finish()
}

/// The CDN behind the media URLs: the bytes, with their type.
async fn cdn(state: web::Data<State>, path: web::Path<String>) -> HttpResponse {
    let media_sid = path.into_inner();
    match lock(&state.media).get(&media_sid) {
        Some((_, content_type, bytes)) => {
            state.media_downloads.fetch_add(1, Ordering::Relaxed);
            HttpResponse::Ok()
                .content_type(content_type.as_str())
                .body(bytes.clone())
        }
        None => HttpResponse::NotFound().finish(),
    }
}

async fn create_message(
    state: web::Data<State>,
    path: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let account_sid = path.into_inner();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let response = validate_send(&state, &request, &account_sid, &params);
    let status = response.status().as_u16();
    let sid = (status == 201).then(|| {
        format!(
            "SM{:032x}",
            state.next_sid.fetch_add(1, Ordering::Relaxed) + 0x1000
        )
    });
    lock(&state.sends).push(TwilioSend {
        account_sid: account_sid.clone(),
        params: params.clone(),
        status,
        sid: sid.clone(),
    });
    let Some(sid) = sid else {
        return response;
    };
    let field = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let to = field("To").unwrap_or_default();
    let from = field("From").unwrap_or_default();
    lock(&state.statuses).insert(sid.clone(), "queued".into());
    if let Some(callback) = field("StatusCallback") {
        let whatsapp = to.starts_with("whatsapp:");
        let free_form = field("ContentSid").is_none();
        let open = lock(&state.windows)
            .get(&(from.clone(), to.clone()))
            .is_some_and(|wrote| wrote.elapsed() < WINDOW);
        let statuses: Vec<(&str, Option<&str>)> = match (whatsapp, free_form && !open) {
            (true, true) => vec![("failed", Some("63016"))],
            (true, false) => vec![("sent", None), ("delivered", None), ("read", None)],
            (false, _) => vec![("sent", None), ("delivered", None)],
        };
        let auth_token = lock(&state.accounts)
            .get(&account_sid)
            .map(|account| account.auth_token.clone())
            .unwrap_or_default();
        let state = state.into_inner();
        let (to, from, account_sid, sid) =
            (to.clone(), from.clone(), account_sid.clone(), sid.clone());
        tokio::spawn(async move {
            for (status, code) in statuses {
                tokio::time::sleep(STEP).await;
                lock(&state.statuses).insert(sid.clone(), status.to_owned());
                let mut form = vec![
                    ("MessageSid".to_owned(), sid.clone()),
                    ("SmsSid".to_owned(), sid.clone()),
                    ("MessageStatus".to_owned(), status.to_owned()),
                    ("SmsStatus".to_owned(), status.to_owned()),
                    ("AccountSid".to_owned(), account_sid.clone()),
                    ("From".to_owned(), from.clone()),
                    ("To".to_owned(), to.clone()),
                    ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
                ];
                if to.starts_with("whatsapp:") {
                    form.push(("ChannelPrefix".to_owned(), "whatsapp".to_owned()));
                }
                if let Some(code) = code {
                    form.push(("ErrorCode".to_owned(), code.to_owned()));
                }
                post_signed(&state, &callback, &auth_token, &form, None).await;
            }
        });
    }
    let field_json = |name: &str| field(name).map_or(Value::Null, Value::String);
    HttpResponse::Created().json(json!({
        "account_sid": account_sid, "api_version": "2010-04-01",
        "body": field_json("Body"), "date_created": now_rfc2822(), "date_sent": null,
        "date_updated": now_rfc2822(), "direction": "outbound-api", "error_code": null,
        "error_message": null, "from": field_json("From"),
        "messaging_service_sid": field_json("MessagingServiceSid"),
        "num_media": params.iter().filter(|(key, _)| key == "MediaUrl").count().to_string(),
        "num_segments": "1", "price": null, "price_unit": null, "sid": sid,
        "status": if field("MessagingServiceSid").is_some() { "accepted" } else { "queued" },
        "to": to,
        "uri": format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json")
    }))
}

/// Twilio's answer to a send, when it is not `201`; `201` itself otherwise.
fn validate_send(
    state: &State,
    request: &HttpRequest,
    account_sid: &str,
    params: &[(String, String)],
) -> HttpResponse {
    if !authorised(state, request, account_sid) {
        return authenticate();
    }
    if let Some(fault) = lock(&state.faults).pop_front() {
        return match fault {
            TwilioFault::TooManyRequests => error(429, 20429, "Too Many Requests"),
            TwilioFault::ServerError => error(500, 20500, "Internal Server Error"),
        };
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    };
    let Some(to) = field("To") else {
        return error(400, 21604, "A 'To' phone number is required.");
    };
    match (field("From"), field("MessagingServiceSid")) {
        (None, None) => return error(400, 21603, "A 'From' phone number is required."),
        (Some(_), Some(_)) => {
            return error(
                400,
                21603,
                "Use either 'From' or 'MessagingServiceSid', not both.",
            )
        }
        _ => {}
    }
    let number = to.strip_prefix("whatsapp:").unwrap_or(to);
    if !is_e164(number) {
        return error(
            400,
            21211,
            &format!("The 'To' number {number} is not a valid phone number."),
        );
    }
    let body = field("Body");
    if field("ContentSid").is_some() && (body.is_some() || field("MediaUrl").is_some()) {
        return error(
            400,
            21619,
            "A ContentSid is sent without a Body or MediaUrl.",
        );
    }
    if body.is_none() && field("MediaUrl").is_none() && field("ContentSid").is_none() {
        return error(400, 21602, "Message body is required.");
    }
    if body.is_some_and(|body| body.chars().count() > 1_600) {
        return error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    HttpResponse::Created().finish()
}

/// Posts a signed form to `url` (or where `route` says it is served), signed with `signature`
/// when given instead of the right one. Answers the HTTP status, 0 when nothing answered.
async fn post_signed(
    state: &State,
    url: &str,
    auth_token: &str,
    form: &[(String, String)],
    signature: Option<&str>,
) -> u16 {
    let signature = signature
        .map(str::to_owned)
        .unwrap_or_else(|| sign(auth_token, url, form));
    let target = lock(&state.routes)
        .iter()
        .find_map(|(public, actual)| {
            url.strip_prefix(public.as_str())
                .map(|rest| format!("{actual}{rest}"))
        })
        .unwrap_or_else(|| url.to_owned());
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    reqwest::Client::new()
        .post(target)
        .header("X-Twilio-Signature", signature)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

pub struct MockTwilio {
    url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl MockTwilio {
    /// Starts the mock on a free loopback port, inside the current actix system.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(State::default());
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/2010-04-01/Accounts/{sid}/Messages.json",
                    web::post().to(create_message),
                )
                .route(
                    "/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}",
                    web::get().to(media),
                )
                .route("/cdn/{media}", web::get().to(cdn))
                .route(
                    "/2010-04-01/Accounts/{sid}/Messages/{message}",
                    web::get().to(message_status),
                )
                .route(
                    "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
                    web::get().to(numbers),
                )
                .route("/2010-04-01/Accounts/{sid}", web::get().to(account))
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

    /// An account that opens with `auth_token` and owns `numbers`.
    pub fn add_account(&self, account_sid: &str, auth_token: &str, numbers: &[&str]) {
        lock(&self.state.accounts).insert(
            account_sid.to_owned(),
            Account {
                auth_token: auth_token.to_owned(),
                status: "active".into(),
                numbers: numbers.iter().map(|number| (*number).to_owned()).collect(),
            },
        );
    }

    /// The account's owner changes its auth token: the old one stops working.
    pub fn rotate_auth_token(&self, account_sid: &str, auth_token: &str) {
        if let Some(account) = lock(&self.state.accounts).get_mut(account_sid) {
            account.auth_token = auth_token.to_owned();
        }
    }

    /// Sets the account's status (`active`, `suspended`, `closed`).
    pub fn set_account_status(&self, account_sid: &str, status: &str) {
        if let Some(account) = lock(&self.state.accounts).get_mut(account_sid) {
            account.status = status.to_owned();
        }
    }

    /// The next sends fail with these faults, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = TwilioFault>) {
        lock(&self.state.faults).extend(faults);
    }

    /// Requests to `public` (Parley's public base URL) reach `actual`.
    pub fn route(&self, public: &str, actual: &str) {
        lock(&self.state.routes).push((
            public.trim_end_matches('/').to_owned(),
            actual.trim_end_matches('/').to_owned(),
        ));
    }

    /// Every call to `Messages.json`, refused ones too.
    pub fn sends(&self) -> Vec<TwilioSend> {
        lock(&self.state.sends).clone()
    }

    /// Waits until `count` sends were accepted, and answers them.
    pub async fn wait_for_accepted(&self, count: usize, timeout: Duration) -> Vec<TwilioSend> {
        let deadline = Instant::now() + timeout;
        loop {
            let accepted: Vec<TwilioSend> = self
                .sends()
                .into_iter()
                .filter(|send| send.status == 201)
                .collect();
            if accepted.len() >= count || Instant::now() >= deadline {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A contact writes: `params` (Twilio's inbound fields; `MessageSid` is added when
    /// missing) are posted to `webhook_url`, signed with `auth_token` (or carrying
    /// `bad_signature`). A WhatsApp contact's window opens. Answers the HTTP status.
    pub async fn inbound(
        &self,
        webhook_url: &str,
        auth_token: &str,
        params: &[(&str, &str)],
        bad_signature: Option<&str>,
    ) -> u16 {
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        if !form.iter().any(|(name, _)| name == "MessageSid") {
            let sid = format!(
                "SM{:032x}",
                self.state.next_sid.fetch_add(1, Ordering::Relaxed) + 0x9000_0000
            );
            form.push(("MessageSid".into(), sid.clone()));
            form.push(("SmsMessageSid".into(), sid));
        }
        let field = |name: &str| {
            form.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        if let (Some(from), Some(to)) = (field("From"), field("To")) {
            if from.starts_with("whatsapp:") {
                lock(&self.state.windows).insert((to, from), Instant::now());
            }
        }
        form.push(("ApiVersion".into(), "2010-04-01".into()));
        form.push(("SmsStatus".into(), "received".into()));
        post_signed(&self.state, webhook_url, auth_token, &form, bad_signature).await
    }

    /// A file a contact sends: answers its `MediaUrl`, which opens with the account's Basic
    /// auth only.
    pub fn add_media(&self, account_sid: &str, content_type: &str, bytes: &[u8]) -> String {
        let n = self.state.next_sid.fetch_add(1, Ordering::Relaxed) + 0x5000_0000;
        let media_sid = format!("ME{n:032x}");
        lock(&self.state.media).insert(
            media_sid.clone(),
            (
                account_sid.to_owned(),
                content_type.to_owned(),
                bytes.to_vec(),
            ),
        );
        format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages/MM{n:032x}/Media/{media_sid}",
            self.url
        )
    }

    /// How many media files were fetched from the CDN.
    pub fn media_downloads(&self) -> u64 {
        self.state.media_downloads.load(Ordering::Relaxed)
    }

    /// The contact's WhatsApp window closes, as if they wrote more than 24 hours ago.
    pub fn close_window(&self, sender: &str, contact: &str) {
        lock(&self.state.windows).remove(&(sender.to_owned(), contact.to_owned()));
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}
