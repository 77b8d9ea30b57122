//! An unofficial WhatsApp provider speaking the Evolution API v2 protocol, as a local server:
//! `apikey` auth (the global key, or an instance's own token), instances with their webhook
//! and custom headers, QR codes that rotate on an interval and stop after a limit (then
//! `connection.update` `refused`), sends that need an open connection and answer `201` with
//! a `PENDING` message before posting `messages.update` receipts, and controls for tests: the
//! phone scans, the session closes with a reason code, a contact writes.

#![expect(
    clippy::disallowed_methods,
    reason = "the mock stamps messages with the provider's wall clock"
)]

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A 1×1 PNG, as the provider's rendered QR stands in for.
const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

struct Instance {
    token: String,
    webhook_url: String,
    headers: Vec<(String, String)>,
    /// `close`, `connecting` or `open`.
    state: String,
    qr_count: u32,
    /// Bumped by each pairing attempt, so an old attempt's rotation stops.
    attempt: u64,
    number: Option<String>,
}

/// One send the mock received.
#[derive(Clone, Debug)]
pub struct EvolutionSend {
    pub instance: String,
    pub endpoint: String,
    pub body: Value,
    pub status: u16,
    pub id: Option<String>,
}

struct State {
    api_key: String,
    instances: Mutex<HashMap<String, Instance>>,
    not_on_whatsapp: Mutex<HashSet<String>>,
    sends: Mutex<Vec<EvolutionSend>>,
    routes: Mutex<Vec<(String, String)>>,
    qr_interval: Mutex<Duration>,
    qr_limit: Mutex<u32>,
    /// (instance, message id) → a contact's file: (type, name, bytes).
    media: Mutex<HashMap<(String, String), MediaFile>>,
    next_id: AtomicU64,
}

type MediaFile = (String, Option<String>, Vec<u8>);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[expect(clippy::needless_pass_by_value, reason = "callers pass json! literals")]
fn envelope(status: u16, message: Value) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(code).json(json!({
        "status": status,
        "error": code.canonical_reason().unwrap_or("Error"),
        "response": {"message": message}
    }))
}

fn key_of(request: &HttpRequest) -> Option<String> {
    request
        .headers()
        .get("apikey")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Checks the key for `instance`: the global key, or the instance's own token. Answers the
/// refusal: 401 for a bad key, 404 for an unknown instance.
fn check(state: &State, request: &HttpRequest, instance: &str) -> Result<(), Box<HttpResponse>> {
    let key = key_of(request);
    let instances = lock(&state.instances);
    let known = instances.get(instance);
    let allowed = key.as_deref() == Some(state.api_key.as_str())
        || known.is_some_and(|found| key.as_deref() == Some(found.token.as_str()));
    if !allowed {
        return Err(Box::new(envelope(401, json!("Unauthorized"))));
    }
    if known.is_none() {
        return Err(Box::new(envelope(
            404,
            json!([format!("The \"{instance}\" instance does not exist")]),
        )));
    }
    Ok(())
}

impl State {
    fn qr(&self, instance: &str) -> Value {
        let instances = lock(&self.instances);
        let found = instances.get(instance);
        let count = found.map_or(0, |found| found.qr_count);
        json!({
            "pairingCode": found.and_then(|found| found.number.as_ref()).map(|_| "WZYEH1YY"),
            "code": format!("2@{instance}-{count},mockqr=="),
            "base64": PNG,
            "count": count
        })
    }
}

/// Posts an event of `instance` to its webhook with its headers.
async fn emit(state: &State, instance: &str, event: &str, data: Value) {
    let Some((url, headers)) = lock(&state.instances)
        .get(instance)
        .map(|found| (found.webhook_url.clone(), found.headers.clone()))
    else {
        return;
    };
    let target = lock(&state.routes)
        .iter()
        .find_map(|(public, actual)| {
            url.strip_prefix(public.as_str())
                .map(|rest| format!("{actual}{rest}"))
        })
        .unwrap_or_else(|| url.clone());
    let body = json!({
        "event": event, "instance": instance, "data": data, "destination": url,
        "date_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "sender": null, "server_url": "http://evolution.mock", "apikey": null
    });
    let mut request = reqwest::Client::new().post(target).json(&body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let _ = request.send().await;
}

/// Starts a pairing attempt: QR codes every interval until the limit, then `refused`.
fn start_pairing(state: &Arc<State>, instance: &str) {
    let attempt = {
        let mut instances = lock(&state.instances);
        let Some(found) = instances.get_mut(instance) else {
            return;
        };
        found.state = "connecting".into();
        found.qr_count = 1;
        found.attempt += 1;
        found.attempt
    };
    let state = Arc::clone(state);
    let instance = instance.to_owned();
    tokio::spawn(async move {
        loop {
            let interval = *lock(&state.qr_interval);
            tokio::time::sleep(interval).await;
            let next = {
                let mut instances = lock(&state.instances);
                let Some(found) = instances.get_mut(&instance) else {
                    return;
                };
                if found.attempt != attempt || found.state != "connecting" {
                    return;
                }
                if found.qr_count >= *lock(&state.qr_limit) {
                    found.state = "close".into();
                    None
                } else {
                    found.qr_count += 1;
                    Some(())
                }
            };
            match next {
                Some(()) => {
                    let qr = state.qr(&instance);
                    let mut data = json!({"qrcode": qr});
                    data["qrcode"]["instance"] = json!(instance);
                    emit(&state, &instance, "qrcode.updated", data).await;
                }
                None => {
                    emit(&state, &instance, "qrcode.updated",
                        json!({"message": "QR code limit reached, please login again", "statusCode": 500})).await;
                    emit(
                        &state,
                        &instance,
                        "connection.update",
                        json!({"instance": instance, "state": "refused", "statusReason": 428,
                               "wuid": null, "profileName": null, "profilePictureUrl": null}),
                    )
                    .await;
                    return;
                }
            }
        }
    });
}

async fn create(
    state: web::Data<State>,
    request: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    if key_of(&request).as_deref() != Some(state.api_key.as_str()) {
        return envelope(401, json!("Unauthorized"));
    }
    let Some(name) = body
        .get("instanceName")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return envelope(400, json!(["instanceName is required"]));
    };
    if lock(&state.instances).contains_key(&name) {
        return envelope(
            403,
            json!([format!("This name \"{name}\" is already in use.")]),
        );
    }
    let token = format!(
        "{:08X}-MOCK-{:04X}",
        state.next_id.fetch_add(1, Ordering::Relaxed) + 0xB6D7_11FC,
        name.len()
    );
    let webhook = body.get("webhook").cloned().unwrap_or(Value::Null);
    let headers = webhook
        .get("headers")
        .and_then(Value::as_object)
        .map(|headers| {
            headers
                .iter()
                .filter_map(|(name, value)| {
                    value.as_str().map(|value| (name.clone(), value.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    lock(&state.instances).insert(
        name.clone(),
        Instance {
            token: token.clone(),
            webhook_url: webhook
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            headers,
            state: "close".into(),
            qr_count: 0,
            attempt: 0,
            number: body
                .get("number")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
    );
    let qrcode = body.get("qrcode").and_then(Value::as_bool) == Some(true);
    let state = state.into_inner();
    if qrcode {
        start_pairing(&state, &name);
    }
    let mut answer = json!({
        "instance": {"instanceName": name, "instanceId": format!("mock-{token}"), "integration": "WHATSAPP-BAILEYS",
                     "status": if qrcode { "connecting" } else { "close" }},
        "hash": token,
        "webhook": {"webhookUrl": webhook.get("url"), "webhookHeaders": webhook.get("headers"), "webhookByEvents": false, "webhookBase64": webhook.get("base64")},
        "settings": {"rejectCall": false, "groupsIgnore": false, "alwaysOnline": false, "readMessages": false}
    });
    if qrcode {
        answer["qrcode"] = state.qr(&name);
    }
    HttpResponse::Created().json(answer)
}

async fn connect(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let name = path.into_inner();
    if let Err(refused) = check(&state, &request, &name) {
        return *refused;
    }
    let current = lock(&state.instances)
        .get(&name)
        .map(|found| found.state.clone())
        .unwrap_or_default();
    let state = state.into_inner();
    match current.as_str() {
        "open" => {
            HttpResponse::Ok().json(json!({"instance": {"instanceName": name, "state": "open"}}))
        }
        "connecting" => HttpResponse::Ok().json(state.qr(&name)),
        _ => {
            start_pairing(&state, &name);
            HttpResponse::Ok().json(state.qr(&name))
        }
    }
}

async fn connection_state(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let name = path.into_inner();
    if let Err(refused) = check(&state, &request, &name) {
        return *refused;
    }
    let current = lock(&state.instances)
        .get(&name)
        .map(|found| found.state.clone())
        .unwrap_or_default();
    HttpResponse::Ok().json(json!({"instance": {"instanceName": name, "state": current}}))
}

async fn logout(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let name = path.into_inner();
    if let Err(refused) = check(&state, &request, &name) {
        return *refused;
    }
    let mut instances = lock(&state.instances);
    let Some(found) = instances.get_mut(&name) else {
        return envelope(
            404,
            json!([format!("The \"{name}\" instance does not exist")]),
        );
    };
    if found.state != "open" {
        return envelope(400, json!(["The instance is not connected"]));
    }
    found.state = "close".into();
    HttpResponse::Ok().json(json!({"status": "SUCCESS", "error": false, "response": {"message": "Instance logged out"}}))
}

async fn delete(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let name = path.into_inner();
    if let Err(refused) = check(&state, &request, &name) {
        return *refused;
    }
    lock(&state.instances).remove(&name);
    HttpResponse::Ok().json(
        json!({"status": "SUCCESS", "error": false, "response": {"message": "Instance deleted"}}),
    )
}

/// `POST /chat/getBase64FromMediaMessage/{name}`: the decrypted file of a media message the
/// instance received, as base64.
async fn media_base64(
    state: web::Data<State>,
    path: web::Path<String>,
    request: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let instance = path.into_inner();
    if let Err(refusal) = check(&state, &request, &instance) {
        return *refusal;
    }
    let Some(id) = body.pointer("/message/key/id").and_then(Value::as_str) else {
        return envelope(400, json!(["message.key.id is required"]));
    };
    let media = lock(&state.media);
    let Some((mimetype, file_name, bytes)) = media.get(&(instance.clone(), id.to_owned())) else {
        return envelope(400, json!([format!("Message {id} not found")]));
    };
    use base64::Engine;
    let media_type = match mimetype.split('/').next() {
        Some("image") => "imageMessage",
        Some("video") => "videoMessage",
        Some("audio") => "audioMessage",
        _ => "documentMessage",
    };
    HttpResponse::Created().json(json!({
        "mediaType": media_type,
        "fileName": file_name,
        "size": {"fileLength": bytes.len().to_string()},
        "mimetype": mimetype,
        "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
    }))
}

async fn send(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> HttpResponse {
    let (endpoint, name) = path.into_inner();
    let body = body.into_inner();
    let answer = send_answer(&state, &request, &endpoint, &name, &body);
    let status = answer.0.status().as_u16();
    lock(&state.sends).push(EvolutionSend {
        instance: name.clone(),
        endpoint: endpoint.clone(),
        body: body.clone(),
        status,
        id: answer.1.clone(),
    });
    if let Some(id) = answer.1 {
        let number = body
            .get("number")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let jid = if number.contains('@') {
            number
        } else {
            format!("{number}@s.whatsapp.net")
        };
        let state = state.into_inner();
        tokio::spawn(async move {
            for status in ["SERVER_ACK", "DELIVERY_ACK", "READ"] {
                tokio::time::sleep(Duration::from_millis(20)).await;
                emit(&state, &name, "messages.update",
                    json!({"keyId": id, "remoteJid": jid, "fromMe": true, "participant": null, "status": status})).await;
            }
        });
    }
    answer.0
}

fn send_answer(
    state: &State,
    request: &HttpRequest,
    endpoint: &str,
    name: &str,
    body: &Value,
) -> (HttpResponse, Option<String>) {
    if let Err(refused) = check(state, request, name) {
        return (*refused, None);
    }
    if !matches!(
        endpoint,
        "sendText" | "sendMedia" | "sendLocation" | "sendReaction"
    ) {
        return (
            envelope(
                404,
                json!([format!("Cannot POST /message/{endpoint}/{name}")]),
            ),
            None,
        );
    }
    let open = lock(&state.instances)
        .get(name)
        .is_some_and(|found| found.state == "open");
    if !open {
        return (envelope(400, json!(["Connection Closed"])), None);
    }
    if endpoint == "sendText"
        && body
            .get("text")
            .and_then(Value::as_str)
            .is_none_or(|text| text.trim().is_empty())
    {
        return (envelope(400, json!(["Text is required"])), None);
    }
    let number = body
        .get("number")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if endpoint != "sendReaction" && lock(&state.not_on_whatsapp).contains(number) {
        return (
            envelope(
                400,
                json!([{"jid": format!("{number}@s.whatsapp.net"), "exists": false, "number": number}]),
            ),
            None,
        );
    }
    let id = format!("3EB0{:016X}", state.next_id.fetch_add(1, Ordering::Relaxed));
    let jid = if number.contains('@') {
        number.to_owned()
    } else {
        format!("{number}@s.whatsapp.net")
    };
    let answer = HttpResponse::Created().json(json!({
        "key": {"remoteJid": jid, "fromMe": true, "id": id},
        "pushName": "", "status": "PENDING", "message": body,
        "messageType": match endpoint { "sendMedia" => "imageMessage", "sendLocation" => "locationMessage", "sendReaction" => "reactionMessage", _ => "conversation" },
        "messageTimestamp": chrono::Utc::now().timestamp()
    }));
    (answer, Some(id))
}

pub struct MockEvolution {
    url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl MockEvolution {
    /// Starts the provider on a free loopback port with `api_key` as its global key.
    pub fn start(api_key: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(State {
            api_key: api_key.to_owned(),
            instances: Mutex::default(),
            not_on_whatsapp: Mutex::default(),
            sends: Mutex::default(),
            routes: Mutex::default(),
            qr_interval: Mutex::new(Duration::from_secs(45)),
            qr_limit: Mutex::new(30),
            media: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        });
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/instance/create", web::post().to(create))
                .route("/instance/connect/{name}", web::get().to(connect))
                .route(
                    "/instance/connectionState/{name}",
                    web::get().to(connection_state),
                )
                .route("/instance/logout/{name}", web::delete().to(logout))
                .route("/instance/delete/{name}", web::delete().to(delete))
                .route("/message/{endpoint}/{name}", web::post().to(send))
                .route(
                    "/chat/getBase64FromMediaMessage/{name}",
                    web::post().to(media_base64),
                )
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

    /// Webhooks to `public` (Parley's public base URL) reach `actual`.
    pub fn route(&self, public: &str, actual: &str) {
        lock(&self.state.routes).push((
            public.trim_end_matches('/').to_owned(),
            actual.trim_end_matches('/').to_owned(),
        ));
    }

    /// How often a new QR code is shown, and after how many the provider gives up.
    pub fn set_qr_rotation(&self, interval: Duration, limit: u32) {
        *lock(&self.state.qr_interval) = interval;
        *lock(&self.state.qr_limit) = limit;
    }

    /// The instances' names.
    pub fn instances(&self) -> Vec<String> {
        lock(&self.state.instances).keys().cloned().collect()
    }

    /// The instance's connection state.
    pub fn state_of(&self, instance: &str) -> Option<String> {
        lock(&self.state.instances)
            .get(instance)
            .map(|found| found.state.clone())
    }

    /// The phone scans the QR code: the number `digits` connects.
    pub async fn scan(&self, instance: &str, digits: &str, profile_name: &str) {
        if let Some(found) = lock(&self.state.instances).get_mut(instance) {
            found.state = "open".into();
        }
        emit(&self.state, instance, "connection.update", json!({
            "instance": instance, "wuid": format!("{digits}@s.whatsapp.net"), "profileName": profile_name,
            "profilePictureUrl": null, "state": "open", "statusReason": 200
        })).await;
    }

    /// The session closes with the engine's reason code (401 logged out, 408 offline, 440
    /// replaced elsewhere …).
    pub async fn disconnect(&self, instance: &str, code: i64) {
        if let Some(found) = lock(&self.state.instances).get_mut(instance) {
            found.state = "close".into();
        }
        emit(
            &self.state,
            instance,
            "connection.update",
            json!({"instance": instance, "state": "close", "statusReason": code}),
        )
        .await;
    }

    /// The session comes back by itself (after a passing disconnect).
    pub async fn reopen(&self, instance: &str) {
        if let Some(found) = lock(&self.state.instances).get_mut(instance) {
            found.state = "open".into();
        }
        emit(
            &self.state,
            instance,
            "connection.update",
            json!({"instance": instance, "state": "open", "statusReason": 200}),
        )
        .await;
    }

    /// Posts a `messages.upsert` with `data` (the message object) to the instance's webhook.
    pub async fn upsert(&self, instance: &str, data: Value) {
        emit(&self.state, instance, "messages.upsert", data).await;
    }

    /// Posts any event, with headers that may differ from the instance's (a forged secret).
    pub async fn post_raw(&self, instance: &str, headers: &[(&str, &str)], body: &Value) -> u16 {
        let url = lock(&self.state.instances)
            .get(instance)
            .map(|found| found.webhook_url.clone())
            .unwrap_or_default();
        let target = lock(&self.state.routes)
            .iter()
            .find_map(|(public, actual)| {
                url.strip_prefix(public.as_str())
                    .map(|rest| format!("{actual}{rest}"))
            })
            .unwrap_or(url);
        let mut request = reqwest::Client::new().post(target).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .send()
            .await
            .map(|response| response.status().as_u16())
            .unwrap_or(0)
    }

    /// Numbers (digits) the provider reports as not on WhatsApp.
    pub fn not_on_whatsapp(&self, digits: &str) {
        lock(&self.state.not_on_whatsapp).insert(digits.to_owned());
    }

    pub fn sends(&self) -> Vec<EvolutionSend> {
        lock(&self.state.sends).clone()
    }

    /// The instance received a media message `message_id` carrying this file; the provider
    /// can decrypt it on request.
    pub fn add_media(
        &self,
        instance: &str,
        message_id: &str,
        mimetype: &str,
        file_name: Option<&str>,
        bytes: &[u8],
    ) {
        lock(&self.state.media).insert(
            (instance.to_owned(), message_id.to_owned()),
            (
                mimetype.to_owned(),
                file_name.map(str::to_owned),
                bytes.to_vec(),
            ),
        );
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}
