//! Console sessions: `/api/v1/auth/{login,logout,me}`, the session token as a bearer token and
//! as the `parley_session` cookie, the cookie's CSRF guard, expiry by the injected clock, and
//! the limit on failed log-ins.

use crate::support::{team_member, Options, TestApp};
use parley::store::script::Script;
use reqwest::header::{COOKIE, ORIGIN, RETRY_AFTER, SET_COOKIE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const TWELVE_HOURS: Duration = Duration::from_secs(12 * 60 * 60);

async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        manual_clock: true,
        ..Options::default()
    })
    .await
}

/// Posts a log-in; answers the status, the `Set-Cookie` header (if any) and the body.
async fn log_in(app: &TestApp, email: &str, password: &str) -> (StatusCode, String, Value) {
    let response = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, cookie, response.json().await.unwrap_or(Value::Null))
}

/// Logs the owner in and returns the session token.
async fn owner_token(app: &TestApp) -> String {
    let (status, _, body) = log_in(
        app,
        &app.credentials.owner_email,
        &app.credentials.owner_password,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// An email no account has. Failed log-ins of unknown emails are counted per process, so
/// each test guesses its own.
fn unknown_email() -> String {
    format!("nobody-{}@hotel.test", uuid::Uuid::new_v4())
}

/// A request carrying the session as the browser does: the cookie, no `Authorization`.
fn with_cookie(app: &TestApp, method: Method, path: &str, token: &str) -> RequestBuilder {
    app.http
        .request(method, app.url(path))
        .header(COOKIE, format!("parley_session={token}"))
}

async fn answer(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Gives a team member a password, as an owner will once the console can.
async fn set_password(app: &TestApp, user_id: &str, password: &str) {
    let mut script = Script::new();
    script.push(
        "UPDATE users SET password_hash = $1 WHERE id = $2",
        vec![
            parley::crypto::hash_password(password).into(),
            user_id.into(),
        ],
    );
    app.app.store.write_script(script).await.unwrap();
}

#[actix_web::test]
async fn the_owner_logs_in_and_the_token_works_as_a_bearer_token_and_as_a_cookie() {
    let app = spawn().await;

    let (status, cookie, body) = log_in(
        &app,
        " Owner@Parley.Local ",
        &app.credentials.owner_password,
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("ps_"), "{token}");
    insta::assert_json_snapshot!(body, {
        ".token" => "[token]", ".user.id" => "[id]",
    }, @r###"
    {
      "expires_at": 1780043200000,
      "token": "[token]",
      "user": {
        "created_at": 1780000000000,
        "email": "owner@parley.local",
        "id": "[id]",
        "max_active_conversations": 10,
        "name": "Owner",
        "presence": "offline",
        "role": "owner"
      }
    }
    "###);
    assert_eq!(
        cookie.replace(token, "[token]"),
        "parley_session=[token]; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200",
        "plain http: no Secure"
    );

    let (status, list) = app.get_as("/api/v1/conversations", token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let (status, me) = answer(with_cookie(&app, Method::GET, "/api/v1/auth/me", token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "owner@parley.local");
    assert_eq!(me["id"], body["user"]["id"]);
}

#[actix_web::test]
async fn the_cookie_is_secure_when_the_request_came_over_https() {
    let app = spawn().await;

    let response = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-Proto", "https")
        .json(&json!({
            "email": app.credentials.owner_email,
            "password": app.credentials.owner_password,
        }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[actix_web::test]
async fn me_answers_with_an_api_key_too() {
    let app = TestApp::spawn().await;

    let (status, me) = app.get("/api/v1/auth/me").await;

    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "owner@parley.local");
    assert_eq!(me["role"], "owner");
}

#[actix_web::test]
async fn a_cookie_request_that_changes_something_must_come_from_this_host() {
    let app = spawn().await;
    let token = owner_token(&app).await;
    let read_all = |origin: Option<&str>| {
        let request = with_cookie(&app, Method::POST, "/api/v1/notifications/read-all", &token);
        match origin {
            Some(origin) => request.header(ORIGIN, origin),
            None => request,
        }
    };

    let (status, body) = answer(read_all(None)).await;
    insta::assert_json_snapshot!((status.as_u16(), body), @r###"
    [
      403,
      {
        "error": {
          "code": "forbidden",
          "message": "a request authenticated by the session cookie must come from Parley's own pages: send an `Origin` header naming this host, or use `Authorization`"
        }
      }
    ]
    "###);
    let cases = [
        (
            Some("https://evil.example"),
            StatusCode::FORBIDDEN,
            "another site",
        ),
        (Some("null"), StatusCode::FORBIDDEN, "an opaque origin"),
        (Some(app.address.as_str()), StatusCode::OK, "this very host"),
    ];
    for (origin, expected, case) in cases {
        let (status, body) = answer(read_all(origin)).await;
        assert_eq!(status, expected, "{case}: {body}");
    }
    // A bearer token is never sent by a browser on its own: no Origin needed.
    let (status, body) = app
        .request(Method::POST, "/api/v1/notifications/read-all", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn logging_out_ends_the_session_and_clears_the_cookie() {
    let app = spawn().await;
    let bearer = owner_token(&app).await;
    let cookie = owner_token(&app).await;

    let response = app
        .http
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("parley_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let (status, body) = app.get_as("/api/v1/conversations", &bearer).await;
    insta::assert_json_snapshot!((status.as_u16(), body), @r###"
    [
      401,
      {
        "error": {
          "code": "unauthorized",
          "message": "the session has expired or was logged out: log in again"
        }
      }
    ]
    "###);
    // Only the session used ended: the other one still works, until it logs out by cookie.
    let (status, _) = answer(with_cookie(&app, Method::GET, "/api/v1/auth/me", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = answer(
        with_cookie(&app, Method::POST, "/api/v1/auth/logout", &cookie)
            .header(ORIGIN, app.address.as_str()),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = answer(with_cookie(&app, Method::GET, "/api/v1/auth/me", &cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Logging out with an API key ends nothing: the key still works.
    let (status, _) = app
        .request(Method::POST, "/api/v1/auth/logout", &app.api_key, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get("/api/v1/auth/me").await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn a_session_ends_twelve_hours_after_log_in() {
    let app = spawn().await;
    let clock = app.clock.clone().unwrap();
    let token = owner_token(&app).await;

    clock.advance(TWELVE_HOURS - Duration::from_secs(1));
    let (status, body) = app.get_as("/api/v1/auth/me", &token).await;
    assert_eq!(status, StatusCode::OK, "a second before the end: {body}");

    clock.advance(Duration::from_secs(2));
    let (status, body) = app.get_as("/api/v1/auth/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = answer(with_cookie(&app, Method::GET, "/api/v1/auth/me", &token)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the cookie has expired too"
    );
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn().await;
    let (agent_id, _) = team_member(&app, "agent@hotel.test", "user").await;

    let (status, cookie, wrong_password) =
        log_in(&app, &app.credentials.owner_email, "pw_not-the-password").await;

    insta::assert_json_snapshot!((status.as_u16(), &wrong_password), @r###"
    [
      401,
      {
        "error": {
          "code": "invalid_credentials",
          "message": "the email and password do not match a team member who may log in: check both, or ask an owner or admin for access"
        }
      }
    ]
    "###);
    assert_eq!(cookie, "", "no cookie for a failed log-in");
    let (status, _, unknown_email) =
        log_in(&app, &unknown_email(), &app.credentials.owner_password).await;
    assert_eq!(
        (status, &unknown_email),
        (StatusCode::UNAUTHORIZED, &wrong_password)
    );
    let (status, _, no_password) = log_in(&app, "agent@hotel.test", "").await;
    assert_eq!(
        (status, &no_password),
        (StatusCode::UNAUTHORIZED, &wrong_password),
        "a member who has no password"
    );
    // Once given a password, the same member logs in.
    set_password(&app, &agent_id, "correct horse").await;
    let (status, _, body) = log_in(&app, "agent@hotel.test", "correct horse").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["role"], "user");
}

#[actix_web::test]
async fn the_bot_identity_cannot_log_in_even_with_its_password() {
    let app = spawn().await;
    let (bot_id, _) = team_member(&app, "concierge-bot@hotel.test", "bot").await;
    set_password(&app, &bot_id, "beep boop").await;

    let (status, cookie, body) = log_in(&app, "concierge-bot@hotel.test", "beep boop").await;

    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "invalid_credentials");
    assert_eq!(cookie, "");
}

#[actix_web::test]
async fn the_sixth_failed_log_in_within_fifteen_minutes_is_refused() {
    let app = spawn().await;
    let clock = app.clock.clone().unwrap();
    let owner = app.credentials.owner_email.clone();
    for attempt in 1..=5 {
        let (status, _, body) = log_in(&app, &owner, "pw_guess").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
        clock.advance(Duration::from_secs(60));
    }

    // Even the right password is refused while the limit holds.
    let response = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": owner, "password": app.credentials.owner_password}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.headers()[RETRY_AFTER],
        "600",
        "the first failure ages out in 10 min"
    );
    let body: Value = response.json().await.unwrap();
    insta::assert_json_snapshot!(body, @r###"
    {
      "error": {
        "code": "too_many_attempts",
        "message": "too many failed log-ins for this email: try again in 10 minutes"
      }
    }
    "###);
    // Unknown emails are limited alike, so the limit tells nothing about who exists.
    let nobody = unknown_email();
    for _ in 1..=5 {
        let (status, _, _) = log_in(&app, &nobody, "pw_guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, body) = log_in(&app, &nobody, "pw_guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    clock.advance(Duration::from_secs(10 * 60));
    let (status, _, body) = log_in(&app, &owner, &app.credentials.owner_password).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "once the first failure aged out: {body}"
    );
}

#[actix_web::test]
async fn log_in_refuses_malformed_bodies_and_other_sites_pages() {
    let app = spawn().await;

    let (status, body) = answer(
        app.http
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "owner@parley.local"})),
    )
    .await;
    insta::assert_json_snapshot!((status.as_u16(), body), @r###"
    [
      422,
      {
        "error": {
          "code": "missing_field",
          "field": "password",
          "message": "`password` is required"
        }
      }
    ]
    "###);
    let (status, body) = answer(
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header(ORIGIN, "https://evil.example")
            .json(&json!({
                "email": app.credentials.owner_email,
                "password": app.credentials.owner_password,
            })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = answer(
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header(ORIGIN, app.address.as_str())
            .json(&json!({
                "email": app.credentials.owner_email,
                "password": app.credentials.owner_password,
            })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "from this host's page: {body}");
}

#[actix_web::test]
async fn a_cookie_never_carries_an_api_key() {
    let app = TestApp::spawn().await;

    let (status, body) = answer(with_cookie(
        &app,
        Method::GET,
        "/api/v1/auth/me",
        &app.api_key,
    ))
    .await;

    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[actix_web::test]
async fn a_member_created_with_a_password_logs_in_to_the_console() {
    let app = spawn().await;
    let (status, member) = app
        .post_json(
            "/api/v1/users",
            &serde_json::json!({"email": "ines@hotel.test", "name": "Inês", "role": "user",
                                "password": "sea view 2026"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    assert!(member.get("password").is_none() && member.get("password_hash").is_none());
    let (status, _, body) = log_in(&app, "ines@hotel.test", "sea view 2026").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["name"], "Inês");

    for (body, why) in [
        (
            serde_json::json!({"email": "a@hotel.test", "role": "user", "password": "short"}),
            "too short",
        ),
        (
            serde_json::json!({"email": "b@hotel.test", "role": "user", "password": 12345678}),
            "not a string",
        ),
        (
            serde_json::json!({"email": "c@hotel.test", "role": "bot", "password": "beep boop beep"}),
            "a bot",
        ),
    ] {
        let (status, answer) = app.post_json("/api/v1/users", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {answer}");
        assert_eq!(answer["error"]["field"], "password", "{why}");
    }
    let (_, users) = app.get("/api/v1/users").await;
    assert_eq!(
        users["data"].as_array().unwrap().len(),
        2,
        "nothing half-written: {users}"
    );
}
