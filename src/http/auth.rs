//! Authentication of API calls, resolved to the caller's organisation, user and role. Every
//! handler that takes a [`Caller`] is scoped by it.
//!
//! A caller presents either `Authorization: Bearer <token>`, where the token is an API key or
//! a console session token (told apart by their prefixes), or, only when there is no
//! `Authorization` header, the console's `parley_session` cookie. Browsers attach cookies to
//! requests other sites make, so a cookie-authenticated request that changes something (any
//! method but GET and HEAD) must come with an `Origin` naming this very host (or the configured
//! public URL), and a
//! cookie-authenticated WebSocket upgrade must not name another one (browsers always send
//! `Origin` on those). Bearer tokens are never sent by a browser on its own, so they need no
//! such check.

use super::error::{ApiError, Code};
use super::AppState;
use crate::crypto::hash_token;
use crate::store::{Principal, StoreError};
use actix_web::http::{header, Method};
use actix_web::{dev::Payload, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;

/// The cookie the console's session token travels in.
pub const SESSION_COOKIE: &str = "parley_session";
/// The prefix of console session tokens (`generate_token`); API keys start with `pk_`.
pub const SESSION_TOKEN_PREFIX: &str = "ps";

/// The authenticated caller of a request.
#[derive(Clone, Copy, Debug)]
pub struct Caller(pub Principal);

/// The credential a request presents, before it is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer <token>`: an API key or a session token.
    Bearer(String),
    /// The `parley_session` cookie.
    Cookie(String),
}

impl Credential {
    /// The request's credential: the `Authorization` header when there is one (a malformed one
    /// is no credential at all, not a reason to look at the cookie), else the session cookie.
    pub fn presented(request: &HttpRequest) -> Option<Self> {
        if let Some(value) = request.headers().get(header::AUTHORIZATION) {
            return value
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(|token| Credential::Bearer(token.trim().to_owned()));
        }
        request
            .cookie(SESSION_COOKIE)
            .map(|cookie| Credential::Cookie(cookie.value().to_owned()))
    }

    pub fn token(&self) -> &str {
        match self {
            Credential::Bearer(token) | Credential::Cookie(token) => token,
        }
    }

    /// Whether the token is a console session's rather than an API key.
    pub fn is_session(&self) -> bool {
        self.token()
            .strip_prefix(SESSION_TOKEN_PREFIX)
            .is_some_and(|rest| rest.starts_with('_'))
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<AppState>().cloned();
        let credential = Credential::presented(request);
        let public_url = state
            .as_ref()
            .and_then(|state| state.settings.public_url.as_ref());
        let cross_site = matches!(credential, Some(Credential::Cookie(_)))
            && !cookie_request_allowed(request, public_url);
        Box::pin(async move {
            let (Some(state), Some(credential)) = (state, credential) else {
                return Err(ApiError::unauthorized());
            };
            if cross_site {
                return Err(ApiError::new(
                    Code::Forbidden,
                    "a request authenticated by the session cookie must come from Parley's own \
                     pages: send an `Origin` header naming this host, or use `Authorization`",
                ));
            }
            resolve(&state, &credential).await.map(Caller)
        })
    }
}

/// Looks the credential up: session tokens in `sessions` (unexpired and not revoked, by the
/// injected clock), everything else in `api_keys`.
async fn resolve(state: &AppState, credential: &Credential) -> Result<Principal, ApiError> {
    let token_hash = hash_token(credential.token());
    let found = if credential.is_session() {
        state
            .store
            .principal_for_session(&token_hash, state.clock.now())
            .await
    } else if matches!(credential, Credential::Bearer(_)) {
        state.store.principal_for_api_key(&token_hash).await
    } else {
        // The cookie only ever carries session tokens.
        Err(StoreError::NotFound)
    };
    match found {
        Ok(principal) => Ok(principal),
        Err(StoreError::NotFound) if credential.is_session() => Err(ApiError::new(
            Code::Unauthorized,
            "the session has expired or was logged out: log in again",
        )),
        Err(StoreError::NotFound) => Err(ApiError::unauthorized()),
        Err(error) => Err(ApiError::from_store(error, Code::Unauthorized)),
    }
}

/// Whether a request carrying the session cookie may be answered: safe methods may come from
/// anywhere, except WebSocket upgrades from another site's page; anything else must come from
/// one of our origins (see [`origin_is_ours`]).
fn cookie_request_allowed(request: &HttpRequest, public_url: Option<&url::Url>) -> bool {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .map(|value| value.to_str().unwrap_or_default());
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        let upgrade = request
            .headers()
            .get(header::UPGRADE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
        return !upgrade || origin.is_none_or(|origin| origin_is_ours(origin, request, public_url));
    }
    origin.is_some_and(|origin| origin_is_ours(origin, request, public_url))
}

/// Whether an `Origin` (`scheme://host[:port]`, or `null`) is one of Parley's own: it names the
/// host the request was sent to, or it is the origin of the configured public URL (behind a
/// proxy that rewrites `Host`).
pub(crate) fn origin_is_ours(
    origin: &str,
    request: &HttpRequest,
    public_url: Option<&url::Url>,
) -> bool {
    let same_host = origin.split_once("://").is_some_and(|(_, authority)| {
        authority.eq_ignore_ascii_case(request.connection_info().host())
    });
    same_host
        || public_url
            .is_some_and(|url| origin.eq_ignore_ascii_case(&url.origin().ascii_serialization()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[track_caller]
    fn check(request: TestRequest, expected: bool) {
        let request = request
            .insert_header((header::HOST, "parley.example:8080"))
            .to_http_request();
        let public_url = url::Url::parse("https://inbox.hotel.example/parley/").unwrap();
        assert_eq!(
            cookie_request_allowed(&request, Some(&public_url)),
            expected
        );
    }

    #[test]
    fn cookie_requests_that_change_things_must_name_this_host_in_origin() {
        let post = TestRequest::post;
        check(TestRequest::get(), true);
        check(TestRequest::default().method(Method::HEAD), true);
        check(
            TestRequest::get().insert_header((header::ORIGIN, "https://evil.example")),
            true,
        );
        check(post(), false);
        check(
            post().insert_header((header::ORIGIN, "http://parley.example:8080")),
            true,
        );
        check(
            post().insert_header((header::ORIGIN, "https://PARLEY.example:8080")),
            true,
        );
        check(
            post().insert_header((header::ORIGIN, "http://parley.example")),
            false,
        );
        check(
            post().insert_header((header::ORIGIN, "http://parley.example:8080.evil.example")),
            false,
        );
        check(post().insert_header((header::ORIGIN, "null")), false);
        check(
            post().insert_header((header::ORIGIN, "https://inbox.hotel.example")),
            true,
        );
        check(
            post().insert_header((header::ORIGIN, "http://inbox.hotel.example")),
            false,
        );
        check(
            TestRequest::delete().insert_header((header::ORIGIN, "https://evil.example")),
            false,
        );
    }

    #[test]
    fn cookie_websocket_upgrades_are_refused_only_from_another_site() {
        let upgrade = || TestRequest::get().insert_header((header::UPGRADE, "websocket"));
        check(upgrade(), true);
        check(
            upgrade().insert_header((header::ORIGIN, "http://parley.example:8080")),
            true,
        );
        check(
            upgrade().insert_header((header::ORIGIN, "https://evil.example")),
            false,
        );
    }

    #[test]
    fn the_authorization_header_wins_over_the_cookie() {
        let request = TestRequest::get()
            .insert_header((header::AUTHORIZATION, "Bearer pk_key "))
            .insert_header((header::COOKIE, "parley_session=ps_cookie"))
            .to_http_request();
        assert_eq!(
            Credential::presented(&request),
            Some(Credential::Bearer("pk_key".into()))
        );
        let malformed = TestRequest::get()
            .insert_header((header::AUTHORIZATION, "Basic dXNlcg=="))
            .insert_header((header::COOKIE, "parley_session=ps_cookie"))
            .to_http_request();
        assert_eq!(Credential::presented(&malformed), None);
        let cookie = TestRequest::get()
            .insert_header((header::COOKIE, "other=1; parley_session=ps_cookie"))
            .to_http_request();
        assert_eq!(
            Credential::presented(&cookie),
            Some(Credential::Cookie("ps_cookie".into()))
        );
    }

    #[test]
    fn session_tokens_are_told_from_api_keys_by_their_prefix() {
        for (token, expected) in [
            ("ps_abc", true),
            ("pk_abc", false),
            ("psx_abc", false),
            ("ps", false),
            ("", false),
        ] {
            assert_eq!(
                Credential::Bearer(token.into()).is_session(),
                expected,
                "{token}"
            );
        }
    }
}
