//! The Messages API client: form posts with Basic auth to
//! `{base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, and the account and number
//! lookups that check a channel's credentials. Errors are classified by Twilio's `code`:
//! 20003 (authentication) means the credentials are dead, 20429 and 5xx are worth retrying,
//! anything else is final for that message.

use super::{Flavor, TwilioPublicConfig, TwilioSecrets};
use crate::adapters::{SendError, Sent};
use serde::Deserialize;
use url::Url;

#[derive(Clone, Debug)]
pub struct TwilioClient {
    http: reqwest::Client,
    base_url: Url,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct TwilioError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

/// The account Twilio reports for a channel's credentials.
#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// `active`, `suspended` or `closed`.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Deserialize)]
struct NumberPage {
    #[serde(default)]
    incoming_phone_numbers: Vec<serde_json::Value>,
}

fn classify(answer: &crate::adapters::Answer) -> SendError {
    let error: Option<TwilioError> = serde_json::from_slice(&answer.body).ok();
    let code = error.as_ref().and_then(|error| error.code);
    let message = error
        .as_ref()
        .map(|error| error.message.clone())
        .filter(|message| !message.is_empty())
        .unwrap_or_else(|| format!("HTTP {}", answer.status));
    let reason = match code {
        Some(code) => format!("{code}: {message}"),
        None => message,
    };
    match (answer.status, code) {
        (401, _) | (_, Some(20003)) => SendError::CredentialsRejected { reason },
        (429, _) | (_, Some(20429)) | (500..=599, _) => SendError::Retryable {
            reason,
            retry_after: answer.retry_after,
        },
        _ => SendError::Permanent { reason },
    }
}

impl TwilioClient {
    pub fn new(http: reqwest::Client, base_url: Url) -> Self {
        Self { http, base_url }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.as_str().trim_end_matches('/'))
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &TwilioSecrets,
        account_sid: &str,
    ) -> Result<crate::adapters::Answer, SendError> {
        let (user, password) = secrets.basic_auth(account_sid);
        crate::adapters::answer_of(request.basic_auth(user, Some(password))).await
    }

    /// Sends one message: `params` from `render`, to `to` (a contact id), with status
    /// callbacks to `status_callback` when Parley has a public address.
    pub async fn send(
        &self,
        flavor: Flavor,
        public: &TwilioPublicConfig,
        secrets: &TwilioSecrets,
        to: &str,
        params: Vec<(String, String)>,
        status_callback: Option<String>,
    ) -> Result<Sent, SendError> {
        let mut form = vec![("To".to_owned(), flavor.address(to))];
        match (&public.messaging_service_sid, &public.from) {
            (Some(service), _) => form.push(("MessagingServiceSid".to_owned(), service.clone())),
            (None, Some(from)) => form.push(("From".to_owned(), flavor.address(from))),
            (None, None) => {
                return Err(SendError::Permanent {
                    reason: "the channel has neither a number nor a Messaging Service to send from"
                        .into(),
                })
            }
        }
        form.extend(params);
        if let Some(callback) = status_callback {
            form.push(("StatusCallback".to_owned(), callback));
        }
        let url = self.url(&format!(
            "/2010-04-01/Accounts/{}/Messages.json",
            public.account_sid
        ));
        let answer = self
            .call(
                self.http.post(url).form(&form),
                secrets,
                &public.account_sid,
            )
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(classify(&answer));
        }
        let created: Created =
            serde_json::from_slice(&answer.body).map_err(|error| SendError::Retryable {
                reason: format!("Twilio's answer has no message sid: {error}"),
                retry_after: None,
            })?;
        Ok(Sent {
            provider_message_id: created.sid,
        })
    }

    /// A contact's media file (`MediaUrl{N}` of an inbound message). Twilio's media URLs may
    /// ask for the account's Basic auth, and redirect to a short-lived CDN link; the
    /// credentials go only to Twilio's own address, never to another host.
    pub async fn download(
        &self,
        public: &TwilioPublicConfig,
        secrets: &TwilioSecrets,
        url: &str,
    ) -> Result<reqwest::Response, SendError> {
        let target = Url::parse(url).map_err(|error| SendError::Permanent {
            reason: format!("the media address is not a URL: {error}"),
        })?;
        if !matches!(target.scheme(), "https" | "http") {
            return Err(SendError::Permanent {
                reason: "the media address is not a web address".into(),
            });
        }
        let mut request = self.http.get(target.clone());
        if target.origin() == self.base_url.origin() {
            let (user, password) = secrets.basic_auth(&public.account_sid);
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|error| SendError::Retryable {
            reason: format!("Twilio's media host could not be reached: {error}"),
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        Err(match status.as_u16() {
            401 | 403 => SendError::CredentialsRejected {
                reason: format!(
                    "Twilio refused the account's credentials for the media ({status})"
                ),
            },
            429 | 500..=599 => SendError::Retryable {
                reason: format!("Twilio's media host answered {status}"),
                retry_after: None,
            },
            _ => SendError::Permanent {
                reason: format!("Twilio's media host answered {status}"),
            },
        })
    }

    /// The account the credentials open.
    pub async fn account(
        &self,
        public: &TwilioPublicConfig,
        secrets: &TwilioSecrets,
    ) -> Result<Account, SendError> {
        let url = self.url(&format!("/2010-04-01/Accounts/{}.json", public.account_sid));
        let answer = self
            .call(self.http.get(url), secrets, &public.account_sid)
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(classify(&answer));
        }
        serde_json::from_slice(&answer.body).map_err(|error| SendError::Retryable {
            reason: format!("Twilio's answer is not an account: {error}"),
            retry_after: None,
        })
    }

    /// Whether the account owns the number `from` (SMS numbers).
    pub async fn owns_number(
        &self,
        public: &TwilioPublicConfig,
        secrets: &TwilioSecrets,
        from: &str,
    ) -> Result<bool, SendError> {
        let mut url = Url::parse(&self.url(&format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json",
            public.account_sid
        )))
        .map_err(|error| SendError::Permanent {
            reason: format!("the Twilio address is not a URL: {error}"),
        })?;
        url.query_pairs_mut().append_pair("PhoneNumber", from);
        let answer = self
            .call(self.http.get(url), secrets, &public.account_sid)
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(classify(&answer));
        }
        let page: NumberPage =
            serde_json::from_slice(&answer.body).map_err(|error| SendError::Retryable {
                reason: format!("Twilio's answer is not a number list: {error}"),
                retry_after: None,
            })?;
        Ok(!page.incoming_phone_numbers.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> crate::adapters::Answer {
        crate::adapters::Answer {
            status,
            retry_after: None,
            body: bytes::Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn twilio_errors_are_classified_by_code() {
        let auth = answer(
            401,
            r#"{"code":20003,"message":"Authenticate","status":401}"#,
        );
        assert!(matches!(
            classify(&auth),
            SendError::CredentialsRejected { .. }
        ));
        let busy = answer(
            429,
            r#"{"code":20429,"message":"Too Many Requests","status":429}"#,
        );
        assert!(matches!(classify(&busy), SendError::Retryable { .. }));
        let invalid = answer(
            400,
            r#"{"code":21211,"message":"The 'To' number +55119 is not a valid phone number.","status":400}"#,
        );
        assert_eq!(
            classify(&invalid),
            SendError::Permanent {
                reason: "21211: The 'To' number +55119 is not a valid phone number.".into()
            }
        );
        assert!(matches!(
            classify(&answer(503, "")),
            SendError::Retryable { .. }
        ));
    }
}
