//! The agent console in a real headless Chromium, driven through ChromeDriver: log in, see a
//! guest's message arrive live, claim the escalation, reply, resolve. A screenshot of the
//! console is kept at `target/console-screenshot.png`.
//!
//! Needs `chromium` and `chromedriver` on the machine (`scripts/test` installs Debian's
//! `chromium` and `chromium-driver` when they are missing).

use crate::support::{TestApp, PATIENCE};
use fantoccini::{Client, ClientBuilder, Locator};
use parley::domain::escalation::TALK_TO_TEAM;
use parley::mock::whatsapp_webhooks;
use reqwest::StatusCode;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const GUEST: &str = "447700900900";

/// A ChromeDriver process, stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn program(name: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .find(|path| std::path::Path::new(path).exists())
        .map(|path| (*path).to_owned())
        .unwrap_or_else(|| name.to_owned())
}

pub(crate) async fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = program("chromedriver", &["/usr/bin/chromedriver"]);
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("{binary} must be installed (scripts/test installs chromium-driver): {error}")
        });
    let driver = Driver { child, port };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    driver
}

pub(crate) async fn browser(driver: &Driver) -> Client {
    // Two crypto back ends are compiled in (one per HTTP client crate): pick one for this
    // process. Only plain HTTP to ChromeDriver is used.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromium = program(
        "chromium",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,900"]
        }),
    );
    ClientBuilder::rustls()
        .expect("a TLS connector")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

pub(crate) fn testid(id: &str) -> String {
    format!("[data-testid='{id}']")
}

/// Waits until the element is there and answers it.
pub(crate) async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no `{css}` in time: {error}"))
}

/// Clicks the element matching `css`. The console re-renders on every live event, so an
/// element found a moment ago may be replaced before the click lands: find it again then.
pub(crate) async fn click(client: &Client, css: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match find(client, css).await.click().await {
            Ok(_) => return,
            Err(fantoccini::error::CmdError::Standard(error))
                if error.error == fantoccini::error::ErrorStatus::StaleElementReference
                    && tokio::time::Instant::now() < deadline => {}
            Err(error) => panic!("could not click `{css}`: {error}"),
        }
    }
}

/// Waits until some element matching `css` has text containing `text`.
pub(crate) async fn wait_for_text(client: &Client, css: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        for element in client.find_all(Locator::Css(css)).await.unwrap_or_default() {
            if element.text().await.unwrap_or_default().contains(text) {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no `{css}` with text {text:?} in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens the console and signs in with the owner's credentials.
pub(crate) async fn log_in_as_owner(client: &Client, app: &TestApp) {
    client.goto(&format!("{}/", app.address)).await.unwrap();
    find(client, &testid("login-email"))
        .await
        .send_keys(&app.credentials.owner_email)
        .await
        .unwrap();
    find(client, &testid("login-password"))
        .await
        .send_keys(&app.credentials.owner_password)
        .await
        .unwrap();
    click(client, &testid("login-submit")).await;
}

#[actix_web::test]
async fn an_agent_logs_in_sees_the_guest_live_claims_replies_and_resolves() {
    let app = TestApp::spawn().await;
    let channel = app.create_whatsapp_channel().await;
    let driver = start_driver().await;
    let client = browser(&driver).await;
    let outcome = async {
        log_in_as_owner(&client, &app).await;
        find(&client, &testid("presence")).await;

        // The guest writes while the console is open: the conversation appears live.
        app.customer_says(
            &channel,
            GUEST,
            "wamid.b1",
            "Is a room free on Friday? I need a human",
        )
        .await;
        wait_for_text(&client, &testid("conversation-row"), "Sheena Nelson").await;
        click(&client, &testid("conversation-row")).await;
        wait_for_text(&client, &testid("message"), "Is a room free on Friday?").await;

        // The guest asks for the team; nobody is online, so it waits for an agent.
        let tap = whatsapp_webhooks::interactive_reply(
            &channel.phone_number_id,
            GUEST,
            "wamid.b2",
            "list_reply",
            TALK_TO_TEAM,
            "Talk to our team",
            1_780_000_000,
        );
        assert_eq!(app.post_webhook(&channel, &tap).await.0, StatusCode::OK);
        wait_for_text(&client, &testid("status-badge"), "awaiting").await;

        click(&client, &testid("action-claim")).await;
        wait_for_text(&client, &testid("status-badge"), "assigned").await;
        let composer = find(&client, &testid("composer")).await;
        composer
            .send_keys("Yes, we have a sea-view room for you.")
            .await
            .unwrap();
        click(&client, &testid("send")).await;
        wait_for_text(&client, &testid("message"), "sea-view room").await;
        let sends = app.graph.wait_for_accepted(4, PATIENCE).await;
        assert!(
            sends
                .iter()
                .any(|send| send.body["text"]["body"] == "Yes, we have a sea-view room for you."),
            "the reply reached the guest: {sends:#?}"
        );

        click(&client, &testid("action-resolve")).await;
        wait_for_text(&client, &testid("status-badge"), "resolved").await;

        let png = client.screenshot().await.unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("console-screenshot.png");
        std::fs::write(&path, png).unwrap();
    }
    .await;
    let _ = client.close().await;
    outcome
}
