//! Crash safety: the real binary as a child process, killed with SIGKILL at the worst moments,
//! then restarted on the same data directory.

use crate::support::{database_url, PATIENCE};
use parley::mock::graph::MockGraph;
use parley::mock::whatsapp_webhooks;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Node {
    child: Child,
    address: String,
}

impl Node {
    /// Starts `parley serve` on a free port and waits until it listens.
    fn start(
        data_dir: &Path,
        database_url: Option<&str>,
        graph_url: &str,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PARLEY_DATA_DIR", data_dir)
            .env("PARLEY_BIND", "127.0.0.1:0")
            .env("PARLEY_META_GRAPH_URL", graph_url)
            .env("PARLEY_LOG_FORMAT", "json")
            .env("PARLEY_SEND_RETRY_BASE_MS", "50")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            command.env("DATABASE_URL", url);
        }
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("the server exited before listening")
                .unwrap();
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["message"] == "listening" {
                break format!("http://{}", entry["address"].as_str().unwrap());
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, address }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn create_channel(
    http: &reqwest::Client,
    node: &Node,
    api_key: &str,
    graph: &MockGraph,
) -> (String, String) {
    let body = json!({"kind": "whatsapp_cloud", "name": "Crash", "config": {
        "phone_number_id": "555000111", "access_token": "crash-token", "app_secret": "crash-secret", "verify_token": "v"
    }});
    graph.add_number("555000111", "crash-token");
    let response = http
        .post(format!("{}/api/v1/channels", node.address))
        .bearer_auth(api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let channel: Value = response.json().await.unwrap();
    (
        channel["id"].as_str().unwrap().to_owned(),
        channel["webhook_url"].as_str().unwrap().to_owned(),
    )
}

/// Posts a signed text webhook; returns the server's `{new, duplicates}` answer.
async fn post_webhook(
    http: &reqwest::Client,
    node: &Node,
    path: &str,
    wamid: &str,
    text: &str,
) -> Value {
    let body = whatsapp_webhooks::text_message(
        "555000111",
        "16505551234",
        "Ana",
        wamid,
        text,
        1_780_000_000,
    );
    let response = http
        .post(format!("{}{path}", node.address))
        .header(
            "X-Hub-Signature-256",
            whatsapp_webhooks::signature("crash-secret", &body),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn api_key(data_dir: &Path) -> String {
    let raw: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("bootstrap.json")).unwrap()).unwrap();
    raw["api_key"].as_str().unwrap().to_owned()
}

/// Polls the contact's outbound messages until one exists in `status`.
async fn wait_for_reply_status(
    http: &reqwest::Client,
    node: &Node,
    api_key: &str,
    status: &str,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let conversations: Value = http
            .get(format!("{}/api/v1/conversations", node.address))
            .bearer_auth(api_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(id) = conversations["data"].get(0).and_then(|c| c["id"].as_str()) {
            let messages: Value = http
                .get(format!(
                    "{}/api/v1/conversations/{id}/messages",
                    node.address
                ))
                .bearer_auth(api_key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(reply) = messages["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["direction"] == "outbound" && m["delivery_status"] == status)
            {
                return reply.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reply in status {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[actix_web::test]
async fn a_reply_pending_when_the_process_is_killed_is_sent_exactly_once_after_restart() {
    let graph = MockGraph::start().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let database = database_url().await;
    let http = reqwest::Client::new();

    // The channel actor holds its outbox, so the reply is stored but not sent when we kill.
    let node = Node::start(
        data_dir.path(),
        database.as_deref(),
        graph.url(),
        &[("PARLEY_TEST_HOLD_OUTBOX", "true")],
    );
    let key = api_key(data_dir.path());
    let (_, path) = create_channel(&http, &node, &key, &graph).await;
    post_webhook(&http, &node, &path, "wamid.crash1", "hello").await;
    wait_for_reply_status(&http, &node, &key, "pending").await;
    node.kill();
    assert!(graph.attempts().is_empty());

    let node = Node::start(data_dir.path(), database.as_deref(), graph.url(), &[]);
    let reply = wait_for_reply_status(&http, &node, &key, "sent").await;
    let sends = graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends.len(), 1);
    assert_eq!(
        reply["provider_message_id"].as_str(),
        sends[0].wamid.as_deref()
    );

    // The provider retries the acknowledged webhook anyway: it is recognised as a duplicate.
    let replayed = post_webhook(&http, &node, &path, "wamid.crash1", "hello").await;
    assert_eq!(replayed, json!({"new": 0, "duplicates": 1}));
    let next = post_webhook(&http, &node, &path, "wamid.crash2", "and again").await;
    assert_eq!(next, json!({"new": 1, "duplicates": 0}));
    graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(graph.accepted().len(), 2);
    node.kill();
}

#[actix_web::test]
async fn an_acknowledged_event_not_yet_handled_is_replayed_at_start_up() {
    let graph = MockGraph::start().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let database = database_url().await;
    let http = reqwest::Client::new();

    // Handling this text panics (test hook) and the sweeper is slowed down, so the event stays
    // stored but unprocessed until the process dies.
    let node = Node::start(
        data_dir.path(),
        database.as_deref(),
        graph.url(),
        &[
            ("PARLEY_TEST_PANIC_TEXT", "boom"),
            ("PARLEY_SWEEP_INTERVAL_MS", "3600000"),
        ],
    );
    let key = api_key(data_dir.path());
    let (_, path) = create_channel(&http, &node, &key, &graph).await;
    post_webhook(&http, &node, &path, "wamid.replay", "boom").await;
    node.kill();
    assert!(graph.attempts().is_empty());

    let node = Node::start(data_dir.path(), database.as_deref(), graph.url(), &[]);
    let sends = graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].body["to"], "16505551234");
    wait_for_reply_status(&http, &node, &key, "sent").await;
    node.kill();
}
