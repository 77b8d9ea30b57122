//! The Graph API of connecting accounts, as the mock plays it: the consent dialog (which
//! redirects the browser back with a code, or with `error=access_denied`), single-use codes
//! bound to their `redirect_uri`, long-lived token exchange, `debug_token` with granular
//! scopes, WhatsApp business accounts and their numbers, number registration with a PIN,
//! business profiles, Pages with their tokens and linked Instagram accounts, and webhook
//! subscriptions (`subscribed_apps`) that can be scripted to come back empty.

use super::{graph_error, lock, State};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// The mock's Meta app.
pub const APP_ID: &str = "4242424242";
pub const APP_SECRET: &str = "mock-app-secret";
/// The business account numbers added with `MockGraph::add_number` belong to.
pub const DEFAULT_WABA: &str = "102290129340398";
/// Seconds a long-lived user token lives (about 60 days).
pub const LONG_LIVED_SECS: i64 = 5_183_944;

/// A WhatsApp business account the mock knows.
#[derive(Clone, Debug)]
pub struct BusinessFixture {
    pub waba_id: String,
    pub name: String,
    pub verified: bool,
    pub numbers: Vec<NumberFixture>,
}

#[derive(Clone, Debug)]
pub struct NumberFixture {
    pub id: String,
    pub display_phone_number: String,
    pub verified_name: String,
    /// The two-step verification PIN already set on the number, if any: registering with
    /// another PIN fails with 133005.
    pub pin: Option<String>,
}

/// A Facebook Page the mock knows, with its token and maybe a linked Instagram account.
#[derive(Clone, Debug)]
pub struct PageFixture {
    pub id: String,
    pub name: String,
    pub verified: bool,
    pub instagram: Option<InstagramFixture>,
}

#[derive(Clone, Debug)]
pub struct InstagramFixture {
    pub id: String,
    pub username: String,
    pub followers_count: i64,
}

/// What the person does in the consent dialog.
#[derive(Clone, Debug, Default)]
pub enum ConsentAnswer {
    /// Grants these business accounts and Pages.
    #[default]
    GrantAll,
    Grant {
        wabas: Vec<String>,
        pages: Vec<String>,
    },
    /// Clicks Cancel.
    Deny,
}

#[derive(Clone, Debug)]
pub(super) struct TokenRecord {
    pub(super) long_lived: bool,
    pub(super) wabas: Vec<String>,
    pub(super) pages: Vec<String>,
    /// Unix seconds; 0 never.
    pub(super) expires_at: i64,
}

#[derive(Default)]
pub(super) struct Accounts {
    pub(super) businesses: Vec<BusinessFixture>,
    pub(super) pages: Vec<PageFixture>,
    pub(super) consent: ConsentAnswer,
    /// code → (token it exchanges for, the redirect URI it was issued for, spent).
    pub(super) codes: HashMap<String, (String, String, bool)>,
    pub(super) tokens: HashMap<String, TokenRecord>,
    /// Page id → its Page token.
    pub(super) page_tokens: HashMap<String, String>,
    /// Nodes (business accounts, Pages) the app is subscribed to.
    pub(super) subscribed: HashSet<String>,
    /// Subscriptions are accepted but read back empty.
    pub(super) empty_subscriptions: bool,
    /// Removing a subscription fails with a temporary error.
    pub(super) fail_unsubscribe: bool,
    /// Numbers registered, with the PIN used.
    pub(super) registered: HashMap<String, String>,
    /// Message templates per business account, as Meta lists them.
    pub(super) templates: HashMap<String, Vec<Value>>,
    /// Every call received, as `METHOD path`.
    pub(super) calls: Vec<String>,
    pub(super) next: u64,
}

impl Accounts {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:06}", self.next)
    }

    fn business_of_number(&self, number_id: &str) -> Option<&BusinessFixture> {
        self.businesses
            .iter()
            .find(|business| business.numbers.iter().any(|number| number.id == number_id))
    }
}

/// A Unix time in seconds for token expiry; the mock keeps real time.
fn now_secs() -> i64 {
    #[expect(
        clippy::disallowed_methods,
        reason = "the mock plays Meta, whose clock is the real one"
    )]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

fn not_found(id: &str) -> HttpResponse {
    graph_error(
        400,
        100,
        Some(33),
        &format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
        None,
    )
}

fn invalid_token() -> HttpResponse {
    graph_error(
        400,
        190,
        None,
        "Invalid OAuth access token - Cannot parse access token",
        None,
    )
}

fn query(request: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(request.query_string().as_bytes())
        .into_owned()
        .collect()
}

pub(super) fn bearer(request: &HttpRequest) -> Option<String> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| query(request).get("access_token").cloned())
}

/// The request's token, or Meta's answer to a call without one or with an expired one.
fn live_token(state: &State, request: &HttpRequest) -> Result<String, Box<HttpResponse>> {
    let token = bearer(request);
    usable_token(state, token.as_deref()).map(str::to_owned)
}

/// A token that may be used, or Meta's answer to its absence or expiry.
pub(super) fn usable_token<'a>(
    state: &State,
    bearer: Option<&'a str>,
) -> Result<&'a str, Box<HttpResponse>> {
    let Some(token) = bearer else {
        return Err(Box::new(graph_error(
            400,
            104,
            None,
            "An access token is required to request this resource.",
            None,
        )));
    };
    if lock(&state.expired_tokens).contains(token) {
        return Err(Box::new(super::expired_token()));
    }
    Ok(token)
}

/// Who a token may act for.
enum Grant<'a> {
    User(&'a TokenRecord),
    /// A token registered for one number with `MockGraph::add_number` (a system user's).
    Number(String),
    Page,
}

fn grant<'a>(state: &State, accounts: &'a Accounts, token: &str) -> Option<Grant<'a>> {
    if let Some(record) = accounts.tokens.get(token) {
        return Some(Grant::User(record));
    }
    if accounts
        .page_tokens
        .values()
        .any(|page_token| page_token.as_str() == token)
    {
        return Some(Grant::Page);
    }
    lock(&state.numbers)
        .iter()
        .find(|(_, tokens)| tokens.iter().any(|number_token| number_token == token))
        .map(|(number, _)| Grant::Number(number.clone()))
}

/// Whether a token may use a phone number (send, read, register).
pub(super) fn may_use_number(state: &State, number_id: &str, token: &str) -> bool {
    if lock(&state.numbers)
        .get(number_id)
        .is_some_and(|tokens| tokens.iter().any(|known| known == token))
    {
        return true;
    }
    let accounts = lock(&state.accounts);
    match (
        accounts.tokens.get(token),
        accounts.business_of_number(number_id),
    ) {
        (Some(record), Some(business)) => record.wabas.contains(&business.waba_id),
        _ => false,
    }
}

fn may_use_business(state: &State, accounts: &Accounts, waba_id: &str, token: &str) -> bool {
    match grant(state, accounts, token) {
        Some(Grant::User(record)) => record.wabas.iter().any(|waba| waba == waba_id),
        Some(Grant::Number(number)) => accounts
            .business_of_number(&number)
            .is_some_and(|business| business.waba_id == waba_id),
        _ => false,
    }
}

/// `GET /{v}/dialog/oauth`: the person answers as scripted and the browser is sent back.
pub(super) fn dialog(state: &State, request: &HttpRequest) -> HttpResponse {
    let query = query(request);
    let (Some(redirect_uri), Some(consent_state)) = (query.get("redirect_uri"), query.get("state"))
    else {
        return HttpResponse::BadRequest().body("redirect_uri and state are required");
    };
    if query.get("client_id").map(String::as_str) != Some(APP_ID) {
        return HttpResponse::BadRequest().body("unknown client_id");
    }
    let mut accounts = lock(&state.accounts);
    accounts.calls.push("GET dialog/oauth".into());
    let (wabas, pages) = match accounts.consent.clone() {
        ConsentAnswer::Deny => {
            let back = format!(
                "{redirect_uri}?error=access_denied&error_code=200&error_description=Permissions+error&error_reason=user_denied&state={}",
                urlencoding(consent_state)
            );
            return HttpResponse::Found()
                .insert_header((header::LOCATION, back))
                .finish();
        }
        ConsentAnswer::GrantAll => (
            accounts
                .businesses
                .iter()
                .map(|business| business.waba_id.clone())
                .collect(),
            accounts.pages.iter().map(|page| page.id.clone()).collect(),
        ),
        ConsentAnswer::Grant { wabas, pages } => (wabas, pages),
    };
    let code = accounts.fresh("code-");
    let token = accounts.fresh("EAAU-short-");
    accounts.tokens.insert(
        token.clone(),
        TokenRecord {
            long_lived: false,
            wabas,
            pages,
            expires_at: now_secs() + 3_600,
        },
    );
    accounts
        .codes
        .insert(code.clone(), (token, redirect_uri.clone(), false));
    let back = format!(
        "{redirect_uri}?code={code}&state={}#_=_",
        urlencoding(consent_state)
    );
    HttpResponse::Found()
        .insert_header((header::LOCATION, back))
        .finish()
}

fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `GET /{v}/oauth/access_token`: a code for a token, or a token for a long-lived one.
pub(super) fn access_token(state: &State, request: &HttpRequest) -> HttpResponse {
    let query = query(request);
    if query.get("client_id").map(String::as_str) != Some(APP_ID)
        || query.get("client_secret").map(String::as_str) != Some(APP_SECRET)
    {
        return graph_error(400, 1, None, "Error validating client secret.", None);
    }
    let expired = lock(&state.expired_tokens).clone();
    let mut accounts = lock(&state.accounts);
    accounts.calls.push("GET oauth/access_token".into());
    if query.get("grant_type").map(String::as_str) == Some("fb_exchange_token") {
        let Some(old) = query.get("fb_exchange_token") else {
            return graph_error(400, 100, None, "Missing fb_exchange_token", None);
        };
        if expired.contains(old) {
            return super::expired_token();
        }
        let Some(record) = accounts.tokens.get(old).cloned() else {
            return invalid_token();
        };
        let token = accounts.fresh("EAAU-long-");
        accounts.tokens.insert(
            token.clone(),
            TokenRecord {
                long_lived: true,
                expires_at: now_secs() + LONG_LIVED_SECS,
                ..record
            },
        );
        return HttpResponse::Ok().json(
            json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECS}),
        );
    }
    let Some(code) = query.get("code") else {
        return graph_error(400, 100, None, "Missing code parameter", None);
    };
    let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
    match accounts.codes.get_mut(code) {
        None => graph_error(400, 100, Some(36007), "Invalid verification code format.", None),
        Some((_, _, true)) => graph_error(
            400,
            100,
            Some(36009),
            "This authorization code has been used.",
            None,
        ),
        Some((_, issued_for, _)) if *issued_for != redirect_uri => graph_error(
            400,
            100,
            Some(36008),
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
            None,
        ),
        Some((token, _, spent)) => {
            *spent = true;
            HttpResponse::Ok()
                .json(json!({"access_token": token, "token_type": "bearer", "expires_in": 3_600}))
        }
    }
}

/// `GET /{v}/debug_token`.
pub(super) fn debug_token(state: &State, request: &HttpRequest) -> HttpResponse {
    let query = query(request);
    if query.get("access_token").map(String::as_str) != Some(&format!("{APP_ID}|{APP_SECRET}")) {
        return graph_error(
            400,
            190,
            None,
            "Invalid OAuth access token signature.",
            None,
        );
    }
    let input = query.get("input_token").cloned().unwrap_or_default();
    let expired = lock(&state.expired_tokens).contains(&input);
    let accounts = lock(&state.accounts);
    let Some(record) = accounts.tokens.get(&input) else {
        return HttpResponse::Ok().json(json!({"data": {"is_valid": false, "error": {"code": 190, "message": "Invalid OAuth access token."}}}));
    };
    let mut granular = Vec::new();
    if !record.wabas.is_empty() {
        for scope in [
            "whatsapp_business_management",
            "whatsapp_business_messaging",
        ] {
            granular.push(json!({"scope": scope, "target_ids": record.wabas}));
        }
    }
    if !record.pages.is_empty() {
        for scope in [
            "pages_messaging",
            "pages_manage_metadata",
            "pages_show_list",
        ] {
            granular.push(json!({"scope": scope, "target_ids": record.pages}));
        }
    }
    HttpResponse::Ok().json(json!({"data": {
        "app_id": APP_ID, "type": "USER", "application": "Parley",
        "data_access_expires_at": record.expires_at + 30 * 86_400,
        "expires_at": record.expires_at, "is_valid": !expired,
        "issued_at": now_secs(),
        "scopes": granular.iter().map(|scope| scope["scope"].clone()).collect::<Vec<_>>(),
        "granular_scopes": granular,
        "user_id": "122098765432101234"
    }}))
}

/// `GET /{v}/{node}`: a phone number, a business account or a Page.
pub(super) fn node(state: &State, request: &HttpRequest, node: &str) -> HttpResponse {
    let token = match live_token(state, request) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    if may_use_number(state, node, &token) {
        let accounts = lock(&state.accounts);
        let fixture = accounts
            .business_of_number(node)
            .and_then(|business| business.numbers.iter().find(|number| number.id == node));
        let (display, name) = fixture.map_or_else(
            || (format!("+1 555-{node}"), "Parley Test".to_owned()),
            |number| {
                (
                    number.display_phone_number.clone(),
                    number.verified_name.clone(),
                )
            },
        );
        return HttpResponse::Ok().json(json!({
            "id": node, "display_phone_number": display, "verified_name": name,
            "code_verification_status": "VERIFIED", "quality_rating": "GREEN",
            "throughput": {"level": "STANDARD"}
        }));
    }
    let mut accounts = lock(&state.accounts);
    accounts.calls.push(format!("GET {node}"));
    if let Some(business) = accounts
        .businesses
        .iter()
        .find(|business| business.waba_id == node)
        .cloned()
    {
        if !may_use_business(state, &accounts, node, &token) {
            return not_found(node);
        }
        return HttpResponse::Ok().json(json!({
            "id": business.waba_id, "name": business.name,
            "business_verification_status": if business.verified { "verified" } else { "not_verified" }
        }));
    }
    if let Some(page) = accounts.pages.iter().find(|page| page.id == node) {
        if accounts.page_tokens.get(node) != Some(&token) {
            return not_found(node);
        }
        return HttpResponse::Ok().json(page_json(page, None));
    }
    if lock(&state.numbers).contains_key(node) {
        return invalid_token();
    }
    not_found(node)
}

fn page_json(page: &PageFixture, token: Option<&str>) -> Value {
    let mut value = json!({
        "id": page.id, "name": page.name, "tasks": ["MESSAGING", "MANAGE"],
        "verification_status": if page.verified { "blue_verified" } else { "not_verified" }
    });
    if let Some(token) = token {
        value["access_token"] = token.into();
    }
    if let Some(ig) = &page.instagram {
        value["instagram_business_account"] =
            json!({"id": ig.id, "username": ig.username, "followers_count": ig.followers_count});
    }
    value
}

/// `GET /{v}/{node}/{edge}` for the account edges.
pub(super) fn get_edge(
    state: &State,
    request: &HttpRequest,
    node: &str,
    edge: &str,
) -> HttpResponse {
    let token = match live_token(state, request) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    if edge == "whatsapp_business_profile" {
        if !may_use_number(state, node, &token) {
            return not_found(node);
        }
        return HttpResponse::Ok().json(json!({"data": [{
            "about": "Rooms with a view", "address": "1 Harbour Road",
            "description": "A small hotel by the sea.", "email": "stay@example.com",
            "messaging_product": "whatsapp", "websites": ["https://hotel.example/"],
            "vertical": "HOTEL"
        }]}));
    }
    let mut accounts = lock(&state.accounts);
    accounts.calls.push(format!("GET {node}/{edge}"));
    match (node, edge) {
        ("me", "accounts") => {
            let Some(record) = accounts.tokens.get(&token).cloned() else {
                return invalid_token();
            };
            let pages: Vec<PageFixture> = accounts
                .pages
                .iter()
                .filter(|page| record.pages.contains(&page.id))
                .cloned()
                .collect();
            let mut data = Vec::new();
            for page in pages {
                let page_token = match accounts.page_tokens.get(&page.id) {
                    Some(existing) => existing.clone(),
                    None => {
                        let fresh = accounts.fresh(&format!("EAAP-{}-", page.id));
                        accounts.page_tokens.insert(page.id.clone(), fresh.clone());
                        fresh
                    }
                };
                data.push(page_json(&page, Some(&page_token)));
            }
            HttpResponse::Ok()
                .json(json!({"data": data, "paging": {"cursors": {"before": "b", "after": "a"}}}))
        }
        (_, "phone_numbers") => {
            if !may_use_business(state, &accounts, node, &token) {
                return not_found(node);
            }
            let numbers: Vec<Value> = accounts
                .businesses
                .iter()
                .filter(|business| business.waba_id == node)
                .flat_map(|business| business.numbers.iter())
                .map(|number| json!({
                    "id": number.id, "display_phone_number": number.display_phone_number,
                    "verified_name": number.verified_name, "code_verification_status": "VERIFIED",
                    "quality_rating": "GREEN"
                }))
                .collect();
            HttpResponse::Ok().json(
                json!({"data": numbers, "paging": {"cursors": {"before": "b", "after": "a"}}}),
            )
        }
        (_, "message_templates") => {
            if !may_use_business(state, &accounts, node, &token) {
                return not_found(node);
            }
            let all = accounts.templates.get(node).cloned().unwrap_or_default();
            let query = query(request);
            let limit = query
                .get("limit")
                .and_then(|limit| limit.parse::<usize>().ok())
                .unwrap_or(25)
                .clamp(1, 100);
            let start = query
                .get("after")
                .and_then(|after| after.parse::<usize>().ok())
                .unwrap_or(0);
            let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
            let end = start + page.len();
            let mut paging =
                json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
            if end < all.len() {
                paging["next"] =
                    format!("https://graph.example/{node}/message_templates?after={end}").into();
            }
            HttpResponse::Ok().json(json!({"data": page, "paging": paging}))
        }
        (_, "subscribed_apps") => {
            if !may_use_node(state, &accounts, node, &token) {
                return not_found(node);
            }
            let data = if accounts.subscribed.contains(node) && !accounts.empty_subscriptions {
                vec![
                    json!({"whatsapp_business_api_data": {"id": APP_ID, "name": "Parley", "link": "https://parley.example"}, "id": APP_ID, "name": "Parley"}),
                ]
            } else {
                Vec::new()
            };
            HttpResponse::Ok().json(json!({ "data": data }))
        }
        _ => not_found(node),
    }
}

fn may_use_node(state: &State, accounts: &Accounts, node: &str, token: &str) -> bool {
    may_use_business(state, accounts, node, token)
        || accounts.page_tokens.get(node).map(String::as_str) == Some(token)
}

/// `POST|DELETE /{v}/{node}/subscribed_apps` and `POST /{v}/{number}/register`.
pub(super) fn change_edge(
    state: &State,
    request: &HttpRequest,
    node: &str,
    edge: &str,
    body: &Value,
) -> HttpResponse {
    let token = match live_token(state, request) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    if edge == "register" {
        if !may_use_number(state, node, &token) {
            return not_found(node);
        }
        let pin = body.get("pin").and_then(Value::as_str).unwrap_or_default();
        if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp")
            || pin.len() != 6
            || !pin.chars().all(|c| c.is_ascii_digit())
        {
            return graph_error(
                400,
                100,
                None,
                "(#100) The parameter pin is required and must be 6 digits.",
                None,
            );
        }
        let mut accounts = lock(&state.accounts);
        accounts.calls.push(format!("POST {node}/register"));
        let set = accounts
            .business_of_number(node)
            .and_then(|business| business.numbers.iter().find(|number| number.id == node))
            .and_then(|number| number.pin.clone());
        if set.is_some_and(|set| set != pin) {
            return graph_error(
                400,
                133005,
                None,
                "(#133005) Two step verification PIN Mismatch",
                None,
            );
        }
        accounts.registered.insert(node.to_owned(), pin.to_owned());
        return HttpResponse::Ok().json(json!({"success": true}));
    }
    let mut accounts = lock(&state.accounts);
    let method = request.method().as_str().to_owned();
    accounts.calls.push(format!("{method} {node}/{edge}"));
    if edge != "subscribed_apps" || !may_use_node(state, &accounts, node, &token) {
        return not_found(node);
    }
    if method == "DELETE" {
        if accounts.fail_unsubscribe {
            return graph_error(503, 2, None, "Service temporarily unavailable", None);
        }
        accounts.subscribed.remove(node);
    } else {
        accounts.subscribed.insert(node.to_owned());
    }
    HttpResponse::Ok().json(json!({"success": true}))
}

impl super::MockGraph {
    /// Adds a WhatsApp business account with its numbers.
    pub fn add_business(&self, business: BusinessFixture) {
        lock(&self.state.accounts).businesses.push(business);
    }

    /// Adds a Facebook Page (and its Instagram account); its Page token is
    /// `page_token(page_id)` once a consent listed it, or `set_page_token`.
    pub fn add_page(&self, page: PageFixture) {
        lock(&self.state.accounts).pages.push(page);
    }

    /// Gives a Page a known token, as a Page admin copying it by hand would have.
    pub fn set_page_token(&self, page_id: &str, token: &str) {
        lock(&self.state.accounts)
            .page_tokens
            .insert(page_id.to_owned(), token.to_owned());
    }

    pub fn page_token(&self, page_id: &str) -> Option<String> {
        lock(&self.state.accounts).page_tokens.get(page_id).cloned()
    }

    /// What the person does in the next consent dialogs.
    pub fn answer_consent(&self, answer: ConsentAnswer) {
        lock(&self.state.accounts).consent = answer;
    }

    /// Adds a message template to a business account, as Meta lists it: `{"name",
    /// "language", "status", "category", "components": [...]}` (an id is added).
    pub fn add_template(&self, waba_id: &str, template: Value) {
        let mut accounts = lock(&self.state.accounts);
        let mut template = template;
        if template.get("id").is_none() {
            template["id"] = accounts.fresh("tmpl-").into();
        }
        accounts
            .templates
            .entry(waba_id.to_owned())
            .or_default()
            .push(template);
    }

    /// Subscriptions are accepted but read back empty (or normally again).
    pub fn empty_subscriptions(&self, empty: bool) {
        lock(&self.state.accounts).empty_subscriptions = empty;
    }

    /// Removing a subscription fails with a temporary error (or works again).
    pub fn fail_unsubscribe(&self, fail: bool) {
        lock(&self.state.accounts).fail_unsubscribe = fail;
    }

    /// Whether the app is subscribed to a business account's or Page's webhooks.
    pub fn is_subscribed(&self, node: &str) -> bool {
        lock(&self.state.accounts).subscribed.contains(node)
    }

    /// The PIN a number was registered with.
    pub fn registered_pin(&self, number_id: &str) -> Option<String> {
        lock(&self.state.accounts)
            .registered
            .get(number_id)
            .cloned()
    }

    /// Every account call so far, as `METHOD node/edge`.
    pub fn account_calls(&self) -> Vec<String> {
        lock(&self.state.accounts).calls.clone()
    }

    /// The user tokens issued so far that are long-lived.
    pub fn long_lived_tokens(&self) -> Vec<String> {
        lock(&self.state.accounts)
            .tokens
            .iter()
            .filter(|(_, record)| record.long_lived)
            .map(|(token, _)| token.clone())
            .collect()
    }

    /// The Graph URL a server under test should use for dialogs too.
    pub fn dialog_url(&self) -> &str {
        self.url()
    }
}

/// The Graph error a template send deserves, if any: the template must exist for the
/// number's business account in that language (132001), get as many body parameters as its
/// body has placeholders (132000), named ones by their names, a header parameter of the
/// header's format (132012), and a suffix for each dynamic URL button (132000).
pub(super) fn check_template(state: &State, number_id: &str, body: &Value) -> Option<HttpResponse> {
    use crate::store::templates::{placeholders, Slot};
    let template = body.get("template")?;
    let name = template
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let language = template
        .pointer("/language/code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let accounts = lock(&state.accounts);
    let business = accounts.business_of_number(number_id)?;
    let known = accounts.templates.get(&business.waba_id)?;
    let Some(found) = known.iter().find(|candidate| {
        candidate.get("name").and_then(Value::as_str) == Some(name)
            && candidate.get("language").and_then(Value::as_str) == Some(language)
    }) else {
        return Some(graph_error(
            404,
            132001,
            None,
            "(#132001) Template name does not exist in the translation",
            Some(&format!(
                "template name ({name}) does not exist in {language}"
            )),
        ));
    };
    let mismatch = |details: String| {
        Some(graph_error(
            400,
            132000,
            None,
            "(#132000) Number of parameters does not match the expected number of params",
            Some(&details),
        ))
    };
    let format_mismatch = |details: String| {
        Some(graph_error(
            400,
            132012,
            None,
            "(#132012) Parameter format does not match format in the created template",
            Some(&details),
        ))
    };
    let given_components: Vec<&Value> = template
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let parameters_of = |kind: &str, index: Option<&str>| -> Vec<&Value> {
        given_components
            .iter()
            .filter(|component| component.get("type").and_then(Value::as_str) == Some(kind))
            .filter(|component| {
                index.is_none_or(|index| {
                    component.get("index").and_then(Value::as_str) == Some(index)
                        && component.get("sub_type").and_then(Value::as_str) == Some("url")
                })
            })
            .filter_map(|component| component.get("parameters").and_then(Value::as_array))
            .flatten()
            .collect()
    };
    let needed = placeholders(found.get("components").unwrap_or(&Value::Null));
    let body_names: Vec<&str> = needed
        .iter()
        .filter_map(|placeholder| match &placeholder.slot {
            Slot::Body(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let given_body = parameters_of("body", None);
    if given_body.len() != body_names.len() {
        return mismatch(format!("body: number of localizable_params ({}) does not match the expected number of params ({})", given_body.len(), body_names.len()));
    }
    for (expected, given) in body_names.iter().zip(&given_body) {
        let named = !expected.chars().all(|c| c.is_ascii_digit());
        let given_name = given.get("parameter_name").and_then(Value::as_str);
        if named && given_name != Some(expected) {
            return mismatch(format!(
                "body: the parameter named {expected} is missing (got {given_name:?})"
            ));
        }
    }
    let given_header = parameters_of("header", None);
    let header_slot = needed
        .iter()
        .find_map(|placeholder| match &placeholder.slot {
            Slot::HeaderText(_) => Some("text"),
            Slot::HeaderMedia(kind) => Some(kind.as_str()),
            _ => None,
        });
    match (header_slot, given_header.as_slice()) {
        (None, []) => {}
        (None, _) => return mismatch("header: the template's header takes no parameters".into()),
        (Some(format), [parameter]) => {
            let kind = parameter
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind != format {
                return format_mismatch(format!(
                    "header: expected a {format} parameter, got {kind}"
                ));
            }
            if format != "text"
                && parameter
                    .pointer(&format!("/{format}/link"))
                    .or_else(|| parameter.pointer(&format!("/{format}/id")))
                    .is_none()
            {
                return format_mismatch(format!("header: the {format} needs a link or an id"));
            }
        }
        (Some(_), given) => {
            return mismatch(format!(
                "header: number of params ({}) does not match the expected number of params (1)",
                given.len()
            ))
        }
    }
    for placeholder in &needed {
        if let Slot::UrlButton(index) = placeholder.slot {
            let index = index.to_string();
            if parameters_of("button", Some(&index)).len() != 1 {
                return mismatch(format!(
                    "button at index {index}: the URL button needs its one parameter"
                ));
            }
        }
    }
    None
}
