//! The agent console: the page served at `/` and its script and style sheet, embedded in the
//! binary so the console works without a build step or network access.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::HttpResponse;

/// The console's HTML shell.
pub(super) async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", include_str!("index.html"))
}

/// The console's script: one module object per panel, no framework.
pub(super) async fn console_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", include_str!("console.js"))
}

/// The console's style sheet.
pub(super) async fn console_css() -> HttpResponse {
    asset("text/css; charset=utf-8", include_str!("console.css"))
}

/// Answers an embedded file; `no-cache` so a browser revalidates after an upgrade instead of
/// running yesterday's script against today's API.
fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the browser tests drive; each must stay on the page or in the script that builds it.
    const TEST_IDS: [&str; 14] = [
        "login-email",
        "login-password",
        "login-submit",
        "conversation-row",
        "thread",
        "message",
        "action-claim",
        "action-take-over",
        "action-resolve",
        "action-hand-back",
        "composer",
        "send",
        "status-badge",
        "presence",
    ];

    #[test]
    fn the_page_loads_the_embedded_script_and_style_sheet() {
        let page = include_str!("index.html");
        assert!(page.contains(r#"<script src="/console.js" defer></script>"#));
        assert!(page.contains(r#"<link rel="stylesheet" href="/console.css">"#));
    }

    #[test]
    fn every_test_id_the_browser_tests_use_is_present() {
        let page = include_str!("index.html");
        let script = include_str!("console.js");
        for id in TEST_IDS {
            let in_page = page.contains(&format!(r#"data-testid="{id}""#));
            // The script names the ids it renders as string literals.
            let in_script = script.contains(&format!("'{id}'"));
            assert!(in_page || in_script, "data-testid `{id}` is missing");
        }
    }

    #[actix_web::test]
    async fn assets_are_revalidated_on_every_load() {
        for (response, content_type) in [
            (index().await, "text/html; charset=utf-8"),
            (console_js().await, "text/javascript; charset=utf-8"),
            (console_css().await, "text/css; charset=utf-8"),
        ] {
            assert_eq!(response.status(), actix_web::http::StatusCode::OK);
            let headers = response.headers();
            assert_eq!(
                headers.get("content-type").map(|v| v.to_str().ok()),
                Some(Some(content_type))
            );
            assert_eq!(
                headers.get("cache-control").map(|v| v.to_str().ok()),
                Some(Some("no-cache"))
            );
        }
    }
}
