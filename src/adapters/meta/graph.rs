//! The Graph calls of connecting and keeping a channel connected. Failures are classified by
//! the Graph error's `code` (never by HTTP status alone): dead credentials, an object that
//! does not exist for the token, a temporary failure, or a refusal.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// The webhook fields a Page subscribes the app to.
pub const PAGE_FIELDS: &str =
    "messages,messaging_postbacks,message_deliveries,message_reads,message_echoes,message_reactions";

/// Why a Graph call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphFailure {
    /// The token is expired, revoked or lacks a permission (codes 190, 102, 0, 10, 200–299).
    #[error("Meta refused the credentials: {0}")]
    Credentials(String),
    /// The object does not exist for this token (code 100).
    #[error("Meta does not know the object: {0}")]
    NotFound(String),
    /// Meta could not be reached or answered with a temporary error.
    #[error("Meta is unavailable: {0}")]
    Unavailable(String),
    /// Any other refusal.
    #[error("Meta refused the request: {0}")]
    Rejected(String),
}

/// An access token and how long it lives.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Token {
    pub access_token: String,
    /// Seconds; absent for tokens that do not expire (system users).
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// What `debug_token` says of a token.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct TokenInfo {
    #[serde(default)]
    pub is_valid: bool,
    /// Unix seconds; 0 when the token does not expire.
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub granular_scopes: Vec<GranularScope>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct GranularScope {
    pub scope: String,
    #[serde(default)]
    pub target_ids: Vec<String>,
}

impl TokenInfo {
    /// The ids a scope was granted on (the WhatsApp business accounts or Pages picked).
    pub fn targets(&self, scope: &str) -> Vec<String> {
        self.granular_scopes
            .iter()
            .filter(|granted| granted.scope == scope)
            .flat_map(|granted| granted.target_ids.iter().cloned())
            .collect()
    }
}

/// A WhatsApp business account.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct BusinessAccount {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `verified` once Meta verified the business.
    #[serde(default)]
    pub business_verification_status: Option<String>,
}

/// A phone number of a WhatsApp business account.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PhoneNumber {
    pub id: String,
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub verified_name: Option<String>,
    #[serde(default)]
    pub code_verification_status: Option<String>,
    #[serde(default)]
    pub quality_rating: Option<String>,
}

/// A Facebook Page the person manages, with its token and linked Instagram account.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Page {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub tasks: Vec<String>,
    #[serde(default)]
    pub verification_status: Option<String>,
    #[serde(default)]
    pub instagram_business_account: Option<InstagramAccount>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct InstagramAccount {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub followers_count: Option<i64>,
}

#[derive(Deserialize)]
struct Paged<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

#[derive(Deserialize)]
struct DebugEnvelope {
    data: TokenInfo,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
}

/// Meta's Graph API for one app.
#[derive(Clone, Debug)]
pub struct MetaGraph {
    http: reqwest::Client,
    graph_url: Url,
    version: String,
    app_id: String,
    app_secret: String,
}

impl MetaGraph {
    pub fn new(
        http: reqwest::Client,
        graph_url: Url,
        version: String,
        app_id: String,
        app_secret: String,
    ) -> Self {
        Self {
            http,
            graph_url,
            version,
            app_id,
            app_secret,
        }
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn app_secret(&self) -> &str {
        &self.app_secret
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.graph_url.as_str().trim_end_matches('/'),
            self.version,
            path.trim_start_matches('/')
        )
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, GraphFailure> {
        let mut request = self.http.request(method, self.url(path)).query(query);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| GraphFailure::Unavailable(format!("no answer: {error}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| GraphFailure::Unavailable(format!("answer cut off: {error}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|error| {
                GraphFailure::Unavailable(format!("an answer that does not parse: {error}"))
            });
        }
        Err(classify(status.as_u16(), &bytes))
    }

    /// Exchanges a consent code for a user token; `redirect_uri` must be the dialog's.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Token, GraphFailure> {
        self.call(
            Method::GET,
            "oauth/access_token",
            None,
            &[
                ("client_id", &self.app_id),
                ("client_secret", &self.app_secret),
                ("redirect_uri", redirect_uri),
                ("code", code),
            ],
            None,
        )
        .await
    }

    /// Exchanges a user token for a long-lived one (about 60 days); also how a long-lived
    /// token is renewed before it expires.
    pub async fn long_lived(&self, token: &str) -> Result<Token, GraphFailure> {
        self.call(
            Method::GET,
            "oauth/access_token",
            None,
            &[
                ("grant_type", "fb_exchange_token"),
                ("client_id", &self.app_id),
                ("client_secret", &self.app_secret),
                ("fb_exchange_token", token),
            ],
            None,
        )
        .await
    }

    /// What Meta says of a token: validity, expiry, and the accounts each scope reaches.
    pub async fn debug_token(&self, token: &str) -> Result<TokenInfo, GraphFailure> {
        let app_token = format!("{}|{}", self.app_id, self.app_secret);
        let envelope: DebugEnvelope = self
            .call(
                Method::GET,
                "debug_token",
                None,
                &[("input_token", token), ("access_token", &app_token)],
                None,
            )
            .await?;
        Ok(envelope.data)
    }

    pub async fn business_account(
        &self,
        waba_id: &str,
        token: &str,
    ) -> Result<BusinessAccount, GraphFailure> {
        self.call(
            Method::GET,
            waba_id,
            Some(token),
            &[("fields", "id,name,business_verification_status")],
            None,
        )
        .await
    }

    pub async fn phone_numbers(
        &self,
        waba_id: &str,
        token: &str,
    ) -> Result<Vec<PhoneNumber>, GraphFailure> {
        let paged: Paged<PhoneNumber> = self
            .call(
                Method::GET,
                &format!("{waba_id}/phone_numbers"),
                Some(token),
                &[(
                    "fields",
                    "id,display_phone_number,verified_name,code_verification_status,quality_rating",
                )],
                None,
            )
            .await?;
        Ok(paged.data)
    }

    pub async fn phone_number(
        &self,
        phone_number_id: &str,
        token: &str,
    ) -> Result<PhoneNumber, GraphFailure> {
        self.call(
            Method::GET,
            phone_number_id,
            Some(token),
            &[(
                "fields",
                "id,display_phone_number,verified_name,code_verification_status,quality_rating",
            )],
            None,
        )
        .await
    }

    /// Subscribes the app to a WhatsApp business account's webhooks.
    pub async fn subscribe_business_account(
        &self,
        waba_id: &str,
        token: &str,
    ) -> Result<(), GraphFailure> {
        self.success(
            Method::POST,
            &format!("{waba_id}/subscribed_apps"),
            token,
            &[],
        )
        .await
    }

    /// The apps subscribed to a business account's or Page's webhooks.
    pub async fn subscriptions(
        &self,
        node_id: &str,
        token: &str,
    ) -> Result<Vec<Value>, GraphFailure> {
        let paged: Paged<Value> = self
            .call(
                Method::GET,
                &format!("{node_id}/subscribed_apps"),
                Some(token),
                &[],
                None,
            )
            .await?;
        Ok(paged.data)
    }

    /// Removes the app's webhook subscription from a business account or Page.
    pub async fn unsubscribe(&self, node_id: &str, token: &str) -> Result<(), GraphFailure> {
        self.success(
            Method::DELETE,
            &format!("{node_id}/subscribed_apps"),
            token,
            &[],
        )
        .await
    }

    /// Registers a number for the Cloud API with its two-step verification PIN.
    pub async fn register_number(
        &self,
        phone_number_id: &str,
        token: &str,
        pin: &str,
    ) -> Result<(), GraphFailure> {
        let body = serde_json::json!({"messaging_product": "whatsapp", "pin": pin});
        let answer: Value = self
            .call(
                Method::POST,
                &format!("{phone_number_id}/register"),
                Some(token),
                &[],
                Some(&body),
            )
            .await?;
        expect_success(&answer)
    }

    /// The number's business profile (about, address, description, email, websites …).
    pub async fn business_profile(
        &self,
        phone_number_id: &str,
        token: &str,
    ) -> Result<Value, GraphFailure> {
        let paged: Paged<Value> = self
            .call(
                Method::GET,
                &format!("{phone_number_id}/whatsapp_business_profile"),
                Some(token),
                &[(
                    "fields",
                    "about,address,description,email,profile_picture_url,websites,vertical",
                )],
                None,
            )
            .await?;
        Ok(paged.data.into_iter().next().unwrap_or(Value::Null))
    }

    /// Every message template of a WhatsApp business account, following the pages.
    pub async fn message_templates(
        &self,
        waba_id: &str,
        token: &str,
    ) -> Result<Vec<Value>, GraphFailure> {
        const PAGES_MAX: usize = 50;
        let mut templates = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..PAGES_MAX {
            let mut query = vec![
                ("fields", "id,name,language,status,category,components"),
                ("limit", "100"),
            ];
            if let Some(cursor) = after.as_deref() {
                query.push(("after", cursor));
            }
            let page: Value = self
                .call(
                    Method::GET,
                    &format!("{waba_id}/message_templates"),
                    Some(token),
                    &query,
                    None,
                )
                .await?;
            if let Some(data) = page.get("data").and_then(Value::as_array) {
                templates.extend(data.iter().cloned());
            }
            let more = page.pointer("/paging/next").is_some();
            after = page
                .pointer("/paging/cursors/after")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if !more || after.is_none() {
                break;
            }
        }
        Ok(templates)
    }

    /// The Pages the person manages, each with its token and linked Instagram account.
    pub async fn pages(&self, user_token: &str) -> Result<Vec<Page>, GraphFailure> {
        let paged: Paged<Page> = self
            .call(
                Method::GET,
                "me/accounts",
                Some(user_token),
                &[(
                    "fields",
                    "id,name,access_token,tasks,verification_status,instagram_business_account{id,username,followers_count}",
                )],
                None,
            )
            .await?;
        Ok(paged.data)
    }

    /// One Page, read with its own token.
    pub async fn page(&self, page_id: &str, page_token: &str) -> Result<Page, GraphFailure> {
        self.call(
            Method::GET,
            page_id,
            Some(page_token),
            &[(
                "fields",
                "id,name,verification_status,instagram_business_account{id,username,followers_count}",
            )],
            None,
        )
        .await
    }

    /// Subscribes the app to a Page's messaging webhooks.
    pub async fn subscribe_page(
        &self,
        page_id: &str,
        page_token: &str,
    ) -> Result<(), GraphFailure> {
        self.success(
            Method::POST,
            &format!("{page_id}/subscribed_apps"),
            page_token,
            &[("subscribed_fields", PAGE_FIELDS)],
        )
        .await
    }

    async fn success(
        &self,
        method: Method,
        path: &str,
        token: &str,
        query: &[(&str, &str)],
    ) -> Result<(), GraphFailure> {
        let answer: Value = self.call(method, path, Some(token), query, None).await?;
        expect_success(&answer)
    }
}

fn expect_success(answer: &Value) -> Result<(), GraphFailure> {
    if answer.get("success").and_then(Value::as_bool) == Some(true) {
        Ok(())
    } else {
        Err(GraphFailure::Rejected(format!(
            "the answer does not report success: {answer}"
        )))
    }
}

/// Maps a failed Graph answer to what went wrong.
pub fn classify(status: u16, body: &[u8]) -> GraphFailure {
    let Ok(ErrorEnvelope { error }) = serde_json::from_slice::<ErrorEnvelope>(body) else {
        let reason = format!("HTTP {status} without a Graph error");
        return if status >= 500 || status == 429 {
            GraphFailure::Unavailable(reason)
        } else {
            GraphFailure::Rejected(reason)
        };
    };
    let subcode = error
        .error_subcode
        .map(|subcode| format!("/{subcode}"))
        .unwrap_or_default();
    let reason = format!("{}{subcode}: {}", error.code, error.message);
    match error.code {
        0 | 102 | 190 | 10 | 200..=299 => GraphFailure::Credentials(reason),
        100 => GraphFailure::NotFound(reason),
        1 | 2 | 4 | 17 | 32 | 613 | 80007 | 130429 | 131000 | 133016 => {
            GraphFailure::Unavailable(reason)
        }
        _ if status >= 500 => GraphFailure::Unavailable(reason),
        _ => GraphFailure::Rejected(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: i64, subcode: Option<i64>) -> Vec<u8> {
        let mut error = serde_json::json!({"message": "m", "type": "OAuthException", "code": code});
        if let Some(subcode) = subcode {
            error["error_subcode"] = subcode.into();
        }
        serde_json::json!({ "error": error })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn failures_are_classified_by_graph_code() {
        assert!(matches!(
            classify(401, &error(190, Some(463))),
            GraphFailure::Credentials(reason) if reason == "190/463: m"
        ));
        assert!(matches!(
            classify(400, &error(102, None)),
            GraphFailure::Credentials(_)
        ));
        assert!(matches!(
            classify(403, &error(200, None)),
            GraphFailure::Credentials(_)
        ));
        assert!(matches!(
            classify(400, &error(100, Some(33))),
            GraphFailure::NotFound(_)
        ));
        assert!(matches!(
            classify(400, &error(613, None)),
            GraphFailure::Unavailable(_)
        ));
        assert!(matches!(
            classify(400, &error(133005, None)),
            GraphFailure::Rejected(_)
        ));
        assert!(matches!(
            classify(502, b"<html>"),
            GraphFailure::Unavailable(_)
        ));
        assert!(matches!(classify(404, b""), GraphFailure::Rejected(_)));
    }

    #[test]
    fn granted_targets_are_read_per_scope() {
        let info: TokenInfo = serde_json::from_value(serde_json::json!({
            "is_valid": true, "expires_at": 0,
            "granular_scopes": [
                {"scope": "whatsapp_business_management", "target_ids": ["1", "2"]},
                {"scope": "pages_messaging", "target_ids": ["9"]},
                {"scope": "business_management"}
            ]
        }))
        .unwrap();
        assert_eq!(info.targets("whatsapp_business_management"), ["1", "2"]);
        assert_eq!(info.targets("pages_messaging"), ["9"]);
        assert!(info.targets("instagram_manage_messages").is_empty());
    }
}
