//! The console's Channels panel in a real headless Chromium: an owner adds a WhatsApp number
//! paired by QR code, watches the code refresh as the provider rotates it, and sees the card
//! turn connected when the phone scans it, then explain a logout.

use crate::console::{browser, click, find, log_in_as_owner, start_driver, testid, wait_for_text};
use crate::support::{Options, TestApp, PATIENCE};
use parley::mock::evolution::MockEvolution;
use std::time::Duration;

const PUBLIC: &str = "https://parley.example";
const PROVIDER_KEY: &str = "global-provider-key";

/// The number shown as "Code N" under the QR code.
async fn shown_code_count(client: &fantoccini::Client) -> Option<u32> {
    let element = client
        .find(fantoccini::Locator::Css(&testid("pairing-count")))
        .await
        .ok()?;
    let text = element.text().await.ok()?;
    text.strip_prefix("Code ")?
        .split_whitespace()
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

/// Waits until the card of the channel named `name` shows `text`.
async fn wait_for_card(client: &fantoccini::Client, name: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        for card in client
            .find_all(fantoccini::Locator::Css(&testid("channel-card")))
            .await
            .unwrap_or_default()
        {
            let shown = card.text().await.unwrap_or_default();
            if shown.contains(name) && shown.contains(text) {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the card of {name} never showed {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn an_owner_pairs_a_number_by_qr_code_from_the_console() {
    let evolution = MockEvolution::start(PROVIDER_KEY).unwrap();
    // Codes rotate every 400 ms here (the provider's default is 45 s).
    evolution.set_qr_rotation(Duration::from_millis(400), 200);
    let app = TestApp::spawn_with(Options {
        public_url: Some(PUBLIC.into()),
        evolution: Some((evolution.url().into(), PROVIDER_KEY.into())),
        ..Options::default()
    })
    .await;
    evolution.route(PUBLIC, &app.address);
    let driver = start_driver().await;
    let client = browser(&driver).await;
    let outcome = async {
        log_in_as_owner(&client, &app).await;
        // Owners and admins see the Channels button once signed in.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !find(&client, &testid("open-channels"))
            .await
            .is_displayed()
            .await
            .unwrap_or(false)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no Channels button for the owner"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        click(&client, &testid("open-channels")).await;
        // The web chat the first run created is listed, with its embed line.
        wait_for_text(&client, &testid("channel-card"), "Web chat").await;
        wait_for_text(&client, &testid("channel-card"), "widget.js").await;

        click(&client, &testid("add-unofficial")).await;
        find(&client, &testid("unofficial-name"))
            .await
            .send_keys("Reception phone")
            .await
            .unwrap();
        find(&client, &testid("unofficial-phone"))
            .await
            .send_keys("+351 912 000 000")
            .await
            .unwrap();
        click(&client, &testid("unofficial-submit")).await;
        wait_for_card(&client, "Reception phone", "Waiting for setup").await;
        let qr = find(&client, &testid("pairing-qr")).await;
        assert!(qr
            .attr("src")
            .await
            .unwrap()
            .unwrap_or_default()
            .starts_with("data:image/png;base64,"));
        wait_for_text(&client, &testid("pairing-code"), "WZYEH1YY").await;

        // The provider rotates the code; the panel follows it without a reload.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let first = loop {
            if let Some(count) = shown_code_count(&client).await {
                break count;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no code count shown"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        loop {
            if shown_code_count(&client)
                .await
                .is_some_and(|count| count > first)
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the QR code was not refreshed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The phone scans: the card turns connected, with the number.
        let instance = evolution
            .instances()
            .pop()
            .expect("an instance was created");
        evolution
            .scan(&instance, "351912000000", "Villa Serena")
            .await;
        wait_for_card(&client, "Reception phone", "Connected").await;
        wait_for_card(&client, "Reception phone", "+351912000000").await;

        // The number is logged out from the phone: the card says so and why.
        evolution.disconnect(&instance, 401).await;
        wait_for_card(&client, "Reception phone", "Needs reconnect").await;
        find(&client, &testid("channel-reason")).await;
        // A new attempt shows a new code to scan.
        click(&client, &testid("pairing-retry")).await;
        wait_for_card(&client, "Reception phone", "Waiting for setup").await;
        find(&client, &testid("pairing-qr")).await;
        evolution
            .scan(&instance, "351912000000", "Villa Serena")
            .await;
        wait_for_card(&client, "Reception phone", "Connected").await;
        evolution.disconnect(&instance, 401).await;
        wait_for_card(&client, "Reception phone", "Needs reconnect").await;
        find(&client, &testid("pairing-retry")).await;

        let png = client.screenshot().await.unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("console-channels-screenshot.png");
        std::fs::write(&path, png).unwrap();
    }
    .await;
    let _ = client.close().await;
    outcome
}
