//! The WhatsApp channels a run creates on the server under load, each with a phone number the
//! mock Graph API accepts sends for. Every channel's webhook URL is resolved against the
//! loopback target, never against the server's public URL.

use crate::server::Target;
use anyhow::{ensure, Context};
use parley::mock::graph::MockGraph;
use serde_json::{json, Value};
use url::Url;

/// One WhatsApp channel created for the run, and the secrets the provider shares with it.
pub(crate) struct LoadChannel {
    id: String,
    pub(crate) phone_number_id: String,
    pub(crate) app_secret: String,
    /// The channel's webhook URL on each node, in the order of the targets.
    pub(crate) webhooks: Vec<Url>,
}

/// Creates channel number `index` through the API of the first target and registers its
/// number with the mock.
pub(crate) async fn create_channel(
    client: &reqwest::Client,
    targets: &[Target],
    mock: &MockGraph,
    run_id: &str,
    index: u32,
) -> anyhow::Result<LoadChannel> {
    let phone_number_id = format!("{}{index:03}", 100_000 + rand::random::<u32>() % 900_000);
    let access_token = format!("EAALOAD{run_id}{index}");
    let app_secret = format!("secret-{run_id}-{index}");
    let body = json!({
        "kind": "whatsapp_cloud",
        "name": format!("load {run_id} #{index}"),
        "config": {
            "phone_number_id": phone_number_id,
            "access_token": access_token,
            "app_secret": app_secret,
            "verify_token": format!("verify-{run_id}"),
        },
    });
    // Registered first: the server asks the provider about the number before it adds it.
    mock.add_number(&phone_number_id, &access_token);
    let target = &targets[0];
    let response = client
        .post(target.base.join("api/v1/channels").expect("a valid path"))
        .bearer_auth(&target.api_key)
        .json(&body)
        .send()
        .await
        .context("failed to create a channel")?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    ensure!(
        status == reqwest::StatusCode::CREATED,
        "creating a channel answered {status}: {answer}"
    );
    let field = |name: &str| {
        answer[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the created channel has no `{name}`: {answer}"))
    };
    // A server with PARLEY_PUBLIC_URL returns an absolute URL; only its path is used, so the
    // webhooks still go to the loopback server under test.
    let webhook_url = field("webhook_url")?;
    let path = Url::parse(&webhook_url).map_or(webhook_url, |url| url.path().to_owned());
    Ok(LoadChannel {
        id: field("id")?,
        phone_number_id,
        app_secret,
        webhooks: targets
            .iter()
            .map(|target| target.base.join(&path).context("a bad webhook_url"))
            .collect::<anyhow::Result<_>>()?,
    })
}

/// Deletes a channel from a server the run did not spawn; failing only logs a warning.
pub(crate) async fn delete_channel(
    client: &reqwest::Client,
    target: &Target,
    channel: &LoadChannel,
) {
    let url = target
        .base
        .join(&format!("api/v1/channels/{}", channel.id))
        .expect("a valid path");
    let result = client.delete(url).bearer_auth(&target.api_key).send().await;
    if let Err(error) = result.and_then(reqwest::Response::error_for_status) {
        tracing::warn!(error = %error, channel_id = channel.id, "failed to delete the channel");
    }
}
