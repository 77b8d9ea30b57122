//! `/api/v1/auth`: console log-in and log-out with email and password, and the caller's user.
//!
//! Log-in answers with a session token (lifetime [`SESSION_LIFETIME`], no sliding) and sets it
//! as the `parley_session` cookie too, so the console served from this origin and its
//! WebSocket authenticate without handling the token. A wrong email, a wrong password, a member
//! without a password and the bot identity all get the same `invalid_credentials` answer after
//! the same argon2 work, so the answer does not tell which emails exist. Failed attempts are
//! limited per email (see [`LoginAttempts`]).

use super::users::{self, UserView};
use crate::crypto::{generate_token, hash_token, verify_password};
use crate::domain::{Millis, Role, UserId};
use crate::http::auth::{origin_is_ours, Caller, Credential, SESSION_COOKIE, SESSION_TOKEN_PREFIX};
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::sessions::{LoginAccount, NewSession};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use dashmap::DashMap;
use serde::Serialize;
use serde_json::Value;
use std::sync::LazyLock;
use std::time::Duration;

/// How long a console session lasts from log-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Failed log-ins allowed per email within [`FAILED_LOGIN_WINDOW`]; the next is refused.
pub const MAX_FAILED_LOGINS: usize = 5;
pub const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// An argon2id hash (the parameters `hash_password` uses) of a password nobody knows: unknown
/// emails and members without a password are verified against it, so they cost the same time
/// as a wrong password.
const DUMMY_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$lbAb7OuUrxdd6sekWuItlA$KIxqf1N6JfUjSid9Hwj4B4c3BbyUO60sDf9HOB6w9Bw";

const INVALID_CREDENTIALS: &str = "the email and password do not match a team member who may log \
     in: check both, or ask an owner or admin for access";

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/auth/login", web::post().to(login))
        .route("/auth/logout", web::post().to(logout))
        .route("/auth/me", web::get().to(me));
}

/// A new console session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginView {
    /// Send as `Authorization: Bearer <token>`; the `parley_session` cookie carries it too.
    token: String,
    expires_at: Millis,
    user: UserView,
}

/// The body of `POST /api/v1/auth/login`, parsed.
struct LoginRequest {
    /// Trimmed and in lower case, as emails are stored.
    email: String,
    password: String,
}

impl TryFrom<&Value> for LoginRequest {
    type Error = ApiError;

    fn try_from(body: &Value) -> Result<Self, ApiError> {
        let object = body
            .as_object()
            .ok_or_else(|| ApiError::new(Code::MalformedJson, "the body must be a JSON object"))?;
        let text = |field: &str| match object.get(field) {
            Some(Value::String(text)) => Ok(text.clone()),
            None | Some(Value::Null) => Err(ApiError::missing(field)),
            Some(_) => Err(ApiError::field(
                Code::InvalidField,
                field,
                format!("`{field}` must be a string"),
            )),
        };
        Ok(Self {
            email: text("email")?.trim().to_lowercase(),
            password: text("password")?,
        })
    }
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content = Object, description = "`{\"email\", \"password\"}`"),
    responses((status = 200, body = LoginView, description = "Also sets the `parley_session` cookie (HttpOnly, SameSite=Strict)"),
              (status = 401, description = "`invalid_credentials`", body = crate::http::error::ErrorBody),
              (status = 403, description = "`forbidden`: another site's page", body = crate::http::error::ErrorBody),
              (status = 422, body = crate::http::error::ErrorBody),
              (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = crate::http::error::ErrorBody)))]
pub(crate) async fn login(
    state: AppState,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    refuse_other_sites(&state, &request)?;
    let login = LoginRequest::try_from(&super::json_body(&body)?)?;
    let now = state.clock.now();
    let account = match authenticate(&state, login, now).await {
        Ok(account) => account,
        Err(refusal) => return Ok(refusal),
    };
    let token = generate_token(SESSION_TOKEN_PREFIX);
    let session = NewSession {
        org_id: account.org_id,
        user_id: account.user_id,
        token_hash: hash_token(&token),
        created_at: now,
        expires_at: now + millis(SESSION_LIFETIME),
    };
    state
        .store
        .create_session(&session)
        .await
        .map_err(|error| ApiError::from_store(error, Code::InvalidCredentials))?;
    let user = state
        .store
        .user(account.org_id, account.user_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::UserNotFound))?;
    tracing::info!(user_id = %account.user_id, "console log-in");
    let cookie = session_cookie(&request, token.clone(), SESSION_LIFETIME);
    Ok(HttpResponse::Ok().cookie(cookie).json(LoginView {
        token,
        expires_at: session.expires_at,
        user: users::view(user),
    }))
}

/// A page of another site must not log the browser into an account of its choosing.
fn refuse_other_sites(state: &AppState, request: &HttpRequest) -> Result<(), ApiError> {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    if origin_is_ours(origin, request, state.settings.public_url.as_ref()) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::Forbidden,
            "log in from Parley's own pages",
        ))
    }
}

/// The account the email and password name, if it may log in; otherwise the refusal to
/// answer with: `too_many_attempts` while the email is limited, else `invalid_credentials`
/// after the same argon2 work whatever the reason.
async fn authenticate(
    state: &AppState,
    login: LoginRequest,
    now: Millis,
) -> Result<LoginAccount, HttpResponse> {
    let account = state
        .store
        .login_account(&login.email)
        .await
        .map_err(|error| ApiError::from_store(error, Code::InvalidCredentials).error_response())?;
    let attempt = match &account {
        Some(account) => AttemptKey::Account(account.user_id),
        None => AttemptKey::UnknownEmail(login.email),
    };
    if let Err(retry_at) = FAILED_LOGINS.begin(attempt.clone(), now) {
        return Err(too_many_attempts(retry_at - now));
    }
    let stored_hash = account
        .as_ref()
        .and_then(|account| account.password_hash.clone());
    let password = login.password;
    let password_matches = web::block(move || {
        let hash = stored_hash.as_deref().unwrap_or(DUMMY_PASSWORD_HASH);
        verify_password(&password, hash) && stored_hash.is_some()
    })
    .await
    .map_err(|_| ApiError::new(Code::Internal, "an internal error occurred").error_response())?;
    match account {
        Some(account) if password_matches && account.role != Role::Bot => {
            FAILED_LOGINS.succeeded(&attempt);
            Ok(account)
        }
        _ => Err(ApiError::new(Code::InvalidCredentials, INVALID_CREDENTIALS).error_response()),
    }
}

/// Ends the session the request was authenticated with (nothing to end for an API key) and
/// clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "The session is over and the cookie cleared"),
              (status = 401, body = crate::http::error::ErrorBody),
              (status = 403, description = "`forbidden`: a cookie request without this host's `Origin`", body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn logout(
    state: AppState,
    caller: Caller,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(credential) = Credential::presented(&request).filter(Credential::is_session) {
        state
            .store
            .revoke_session(
                caller.0.user_id,
                &hash_token(credential.token()),
                state.clock.now(),
            )
            .await
            .map_err(|error| ApiError::from_store(error, Code::Unauthorized))?;
    }
    let cleared = session_cookie(&request, String::new(), Duration::ZERO);
    Ok(HttpResponse::NoContent().cookie(cleared).finish())
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = UserView), (status = 401, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn me(state: AppState, caller: Caller) -> Result<HttpResponse, ApiError> {
    let user = state
        .store
        .user(caller.0.org_id, caller.0.user_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::UserNotFound))?;
    Ok(HttpResponse::Ok().json(users::view(user)))
}

/// The session cookie: HttpOnly so page scripts cannot read it, SameSite=Strict so other
/// sites' requests do not carry it, and Secure when the request came over https.
fn session_cookie(request: &HttpRequest, token: String, lifetime: Duration) -> Cookie<'static> {
    let secure = request.connection_info().scheme() == "https";
    let max_age = actix_web::cookie::time::Duration::seconds(
        i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
    );
    Cookie::build(SESSION_COOKIE, token)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(max_age)
        .finish()
}

/// 429 `too_many_attempts` with `Retry-After`, in seconds.
fn too_many_attempts(wait: Millis) -> HttpResponse {
    let seconds = (wait.max(0) + 999) / 1000;
    let minutes = (seconds + 59) / 60;
    let mut response = ApiError::new(
        Code::TooManyAttempts,
        format!(
            "too many failed log-ins for this email: try again in {minutes} minute{}",
            if minutes == 1 { "" } else { "s" }
        ),
    )
    .error_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(seconds.max(1)),
    );
    response
}

fn millis(duration: Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}

/// What failed log-ins are counted against: the account an email names or, for an email no
/// account has, the email itself. Counting per account rather than per email text keeps the
/// applications of one process (the test suite runs many, all with `owner@parley.local`)
/// apart; for a real server the two are the same, as emails are unique.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum AttemptKey {
    Account(UserId),
    UnknownEmail(String),
}

/// Most keys tracked before those without a recent failure are forgotten.
const MAX_TRACKED_KEYS: usize = 10_000;

static FAILED_LOGINS: LazyLock<LoginAttempts> = LazyLock::new(LoginAttempts::default);

/// Failed log-in times per key, in memory: a restart forgets them, which at most grants
/// another [`MAX_FAILED_LOGINS`] guesses.
#[derive(Default)]
struct LoginAttempts {
    failures: DashMap<AttemptKey, Vec<Millis>>,
}

impl LoginAttempts {
    /// Starts an attempt, counting it as failed until [`Self::succeeded`] says otherwise, so
    /// that concurrent guesses are counted too. `Err` carries the time the key may try again
    /// when it already has [`MAX_FAILED_LOGINS`] failures within the window.
    fn begin(&self, key: AttemptKey, now: Millis) -> Result<(), Millis> {
        let window = millis(FAILED_LOGIN_WINDOW);
        let recent = |at: &Millis| *at > now - window;
        if self.failures.len() > MAX_TRACKED_KEYS {
            self.failures.retain(|_, times| times.iter().any(recent));
        }
        let mut times = self.failures.entry(key).or_default();
        times.retain(recent);
        if times.len() >= MAX_FAILED_LOGINS {
            return Err(times.first().map_or(now, |oldest| oldest + window));
        }
        times.push(now);
        Ok(())
    }

    fn succeeded(&self, key: &AttemptKey) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Millis = 60_000;

    #[track_caller]
    fn check(attempts: &LoginAttempts, at: Millis, expected: Result<(), Millis>) {
        let key = AttemptKey::UnknownEmail("guest@example.com".into());
        assert_eq!(attempts.begin(key, at), expected);
    }

    #[test]
    fn the_sixth_failure_within_fifteen_minutes_is_refused_until_the_oldest_ages_out() {
        let attempts = LoginAttempts::default();
        for minute in 0..5 {
            check(&attempts, minute * MINUTE, Ok(()));
        }
        check(&attempts, 5 * MINUTE, Err(15 * MINUTE));
        check(&attempts, 15 * MINUTE - 1, Err(15 * MINUTE));
        check(&attempts, 15 * MINUTE, Ok(()));
        check(&attempts, 15 * MINUTE + 1, Err(16 * MINUTE));
    }

    #[test]
    fn a_success_forgets_the_failures_of_its_key_only() {
        let attempts = LoginAttempts::default();
        let owner = AttemptKey::Account(UserId::new());
        for _ in 0..5 {
            check(&attempts, 0, Ok(()));
            assert_eq!(attempts.begin(owner.clone(), 0), Ok(()));
        }
        attempts.succeeded(&owner);
        assert_eq!(attempts.begin(owner, 0), Ok(()));
        check(&attempts, 0, Err(15 * MINUTE));
    }

    #[test]
    fn the_dummy_hash_uses_the_parameters_of_real_password_hashes() {
        use argon2::password_hash::PasswordHash;
        let real = crate::crypto::hash_password("correct horse");
        let real = PasswordHash::new(&real).unwrap();
        let dummy = PasswordHash::new(DUMMY_PASSWORD_HASH).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(
            dummy.hash.map(|hash| hash.len()),
            real.hash.map(|hash| hash.len())
        );
        assert!(!verify_password("", DUMMY_PASSWORD_HASH));
    }

    #[test]
    fn log_in_bodies_need_an_email_and_a_password() {
        let parsed = LoginRequest::try_from(&serde_json::json!({
            "email": "  Owner@Parley.Local ", "password": " secret "
        }))
        .unwrap();
        assert_eq!(
            (parsed.email.as_str(), parsed.password.as_str()),
            ("owner@parley.local", " secret ")
        );
        for (body, code, field) in [
            (serde_json::json!([]), Code::MalformedJson, None),
            (
                serde_json::json!({"password": "x"}),
                Code::MissingField,
                Some("email"),
            ),
            (
                serde_json::json!({"email": "a@b.c", "password": 1}),
                Code::InvalidField,
                Some("password"),
            ),
        ] {
            let Err(error) = LoginRequest::try_from(&body) else {
                panic!("{body} parsed");
            };
            assert_eq!(
                (error.code, error.field.as_deref()),
                (code, field),
                "{body}"
            );
        }
    }
}
