//! The test harness: [`TestApp`] builds the same `Application` as `main`, on a fresh data
//! directory and database, with the mock Graph API as its provider.

pub mod postgres;
pub mod redis;

use parley::app::Application;
use parley::bootstrap::Credentials;
use parley::clock::{ManualClock, SharedClock, SystemClock};
use parley::config::Config;
use parley::mock::graph::MockGraph;
use parley::mock::whatsapp_webhooks;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// How long a test waits for something that should happen promptly.
/// The verify token of the Meta app's webhook in tests.
pub const META_VERIFY_TOKEN: &str = "meta-verify-token";
pub const PATIENCE: Duration = Duration::from_secs(15);

pub struct TestApp {
    pub address: String,
    pub api_key: String,
    pub credentials: Credentials,
    pub graph: MockGraph,
    /// The mock Telegram Bot API.
    pub telegram: parley::mock::telegram::MockTelegram,
    pub http: reqwest::Client,
    pub app: Arc<parley::actors::Core>,
    pub clock: Option<Arc<ManualClock>>,
    pub data_dir: TempDir,
    /// The database URL the application runs on.
    pub database_url: String,
    /// Where the SMTP listener took mail, when it is on.
    pub smtp_address: Option<std::net::SocketAddr>,
}

/// A WhatsApp channel created through the API, with its credentials.
#[derive(Clone, Debug)]
pub struct WhatsappChannel {
    pub id: String,
    pub phone_number_id: String,
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    pub webhook_path: String,
}

static NEXT_NUMBER: AtomicU64 = AtomicU64::new(106_540_352_000_000);

/// Options of a test application.
#[derive(Default)]
pub struct Options {
    pub manual_clock: bool,
    /// `PARLEY_PUBLIC_URL`: the address providers are told to call (a proxy's, in tests);
    /// the mock Telegram reaches the server through it.
    pub public_url: Option<String>,
    /// `PARLEY_TWILIO_API_URL`: where Twilio's API is (a `MockTwilio`).
    pub twilio_api_url: Option<String>,
    /// `PARLEY_EVOLUTION_URL` and `PARLEY_EVOLUTION_API_KEY`: an unofficial WhatsApp provider.
    pub evolution: Option<(String, String)>,
    pub panic_on_text: Option<String>,
    /// Answers to forwarded commands are only kept under their key, not published.
    pub unpublished_answers: bool,
    /// `PARLEY_API_STEP_ALLOW`: targets the journey API step may call (e.g. `127.0.0.0/8`).
    pub api_step_allow: Option<String>,
    /// `REDIS_URL`: events fan out across nodes.
    pub redis_url: Option<String>,
    /// This database instead of the suite's backend.
    pub database_url: Option<String>,
    /// Another node of the same deployment: share its database, master key and credentials.
    pub node_of: Option<Node>,
    /// `PARLEY_DNS_RESOLVER`: the DNS server email domain checks ask.
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// `PARLEY_SMTP_LISTEN` on a free loopback port.
    pub smtp_listen: bool,
    /// `PARLEY_PARTITION_LEASE_MS`: how long a node's partition leases last.
    pub partition_lease_ms: Option<u64>,
}

/// What a second node takes from the first.
pub struct Node {
    pub database_url: String,
    pub data_dir: std::path::PathBuf,
}

impl TestApp {
    /// How a second node joins this one's deployment.
    pub fn node(&self) -> Node {
        Node {
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.path().to_path_buf(),
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            parley::telemetry::init(parley::config::LogFormat::Text);
        }
        let data_dir = tempfile::tempdir().unwrap();
        let graph = MockGraph::start().unwrap();
        let mut config = Config::embedded(data_dir.path().to_path_buf());
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.meta_graph_url = graph.url().parse().unwrap();
        config.meta_dialog_url = graph.url().parse().unwrap();
        config.meta_app_id = Some(parley::mock::graph::accounts::APP_ID.into());
        config.meta_app_secret = Some(parley::mock::graph::accounts::APP_SECRET.to_owned().into());
        config.meta_verify_token = Some(META_VERIFY_TOKEN.to_owned().into());
        let telegram = parley::mock::telegram::MockTelegram::start().unwrap();
        config.telegram_api_url = telegram.url().parse().unwrap();
        config.public_url = options
            .public_url
            .as_deref()
            .map(|url| url.parse().unwrap());
        config.send_retry_base_ms = 50;
        if let Some(url) = options.twilio_api_url {
            config.twilio_api_url = url.parse().unwrap();
        }
        if let Some((url, key)) = options.evolution {
            config.evolution_url = Some(url.parse().unwrap());
            config.evolution_api_key = Some(key.into());
        }
        config.sweep_interval_ms = 200;
        config.test_panic_on_text = options.panic_on_text;
        config.test_unpublished_answers = options.unpublished_answers;
        if let Some(allow) = options.api_step_allow {
            config.api_step_allow = allow;
        }
        config.redis_url = options.redis_url;
        if let Some(lease) = options.partition_lease_ms {
            config.partition_lease_ms = lease;
        }
        config.dns_resolver = options.dns_resolver;
        if options.smtp_listen {
            config.smtp_listen = Some("127.0.0.1:0".parse().unwrap());
        }
        config.email_inbound_domain = Some("in.parley.test".into());
        config.database.database_url = match &options.node_of {
            Some(node) => {
                for file in ["master.key", parley::bootstrap::BOOTSTRAP_FILE] {
                    std::fs::copy(node.data_dir.join(file), data_dir.path().join(file)).unwrap();
                }
                Some(node.database_url.clone().into())
            }
            None => match options.database_url {
                Some(url) => Some(url.into()),
                None => database_url().await.map(Into::into),
            },
        };
        let effective_database_url = config.database.effective_url();
        let manual = options
            .manual_clock
            .then(|| ManualClock::new(1_780_000_000_000));
        let clock: SharedClock = match &manual {
            Some(clock) => clock.clone(),
            None => Arc::new(SystemClock),
        };
        let application = Application::build_with_clock(config, clock).await.unwrap();
        let address = format!("http://127.0.0.1:{}", application.port());
        let smtp_address = application.smtp_address();
        let core = Arc::clone(application.core());
        actix_web::rt::spawn(application.run_until_stopped());
        if let Some(public_url) = &options.public_url {
            telegram.route(public_url.trim_end_matches('/'), &address);
        }
        let credentials: Credentials = serde_json::from_slice(
            &std::fs::read(data_dir.path().join(parley::bootstrap::BOOTSTRAP_FILE)).unwrap(),
        )
        .unwrap();
        Self {
            address,
            api_key: credentials.api_key.clone(),
            credentials,
            graph,
            telegram,
            http: reqwest::Client::new(),
            app: core,
            clock: manual,
            data_dir,
            database_url: effective_database_url,
            smtp_address,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_as(path, &self.api_key).await
    }

    pub async fn get_as(&self, path: &str, api_key: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path, api_key, None)
            .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::POST, path, &self.api_key, Some(body))
            .await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::PATCH, path, &self.api_key, Some(body))
            .await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::PUT, path, &self.api_key, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::DELETE, path, &self.api_key, None)
            .await
    }

    /// Calls the partner API as `api_key`; the body of the answer is `Null` when it has none.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        api_key: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(api_key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates a WhatsApp Cloud channel through the API and registers its number with the
    /// mock Graph API.
    pub async fn create_whatsapp_channel(&self) -> WhatsappChannel {
        let phone_number_id = NEXT_NUMBER.fetch_add(1, Ordering::Relaxed).to_string();
        let access_token = format!("EAAG-{phone_number_id}");
        self.graph.add_number(&phone_number_id, &access_token);
        let (status, body) = self
            .post_json(
                "/api/v1/channels",
                &json!({"kind": "whatsapp_cloud", "name": "Front desk", "config": {
                    "phone_number_id": phone_number_id, "access_token": access_token,
                    "app_secret": "app-secret", "verify_token": "verify-me", "waba_id": "102290129340398"
                }}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        WhatsappChannel {
            id: body["id"].as_str().unwrap().to_owned(),
            phone_number_id,
            access_token,
            app_secret: "app-secret".into(),
            verify_token: "verify-me".into(),
            webhook_path: body["webhook_url"].as_str().unwrap().to_owned(),
        }
    }

    /// Posts a webhook body signed with the channel's app secret.
    pub async fn post_webhook(
        &self,
        channel: &WhatsappChannel,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let signature = whatsapp_webhooks::signature(&channel.app_secret, body);
        self.post_webhook_signed(channel, body, Some(&signature))
            .await
    }

    pub async fn post_webhook_signed(
        &self,
        channel: &WhatsappChannel,
        body: &[u8],
        signature: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(self.url(&channel.webhook_path))
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Sends a text message from a contact through a signed webhook; asserts it was accepted.
    pub async fn customer_says(
        &self,
        channel: &WhatsappChannel,
        from: &str,
        wamid: &str,
        text: &str,
    ) {
        let body = whatsapp_webhooks::text_message(
            &channel.phone_number_id,
            from,
            "Sheena Nelson",
            wamid,
            text,
            1_780_000_000,
        );
        let (status, answer) = self.post_webhook(channel, &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    /// The conversation of a contact, waiting until it exists.
    pub async fn conversation_with(&self, external_id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (status, body) = self.get("/api/v1/conversations?limit=500").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if let Some(conversation) = body["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|conversation| conversation["contact"]["external_id"] == external_id)
            {
                return conversation.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no conversation with {external_id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls the messages of a conversation until `done` holds for them.
    pub async fn messages_until(
        &self,
        conversation_id: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (status, body) = self
                .get(&format!("/api/v1/conversations/{conversation_id}/messages"))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let messages = body["data"].as_array().unwrap().clone();
            if done(&messages) {
                return messages;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not reached; messages: {messages:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls an unauthenticated GET of a text page (such as `/metrics`) until `done` holds.
    pub async fn get_text_until(&self, path: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let text = self
                .http
                .get(self.url(path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if done(&text) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not reached; last page: {text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls a GET until `done` holds for its body.
    pub async fn get_until(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (_, body) = self.get(path).await;
            if done(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not reached; last body: {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs SQL on the application's database behind its back, to break it on purpose.
    pub async fn sabotage(&self, sql: &str) {
        use sqlx::{Connection, Executor};
        let mut connection = sqlx::AnyConnection::connect(&self.database_url)
            .await
            .unwrap();
        connection.execute(sql).await.unwrap();
        connection.close().await.unwrap();
    }

    /// Creates a second organisation with its own API key.
    pub async fn other_organization(&self) -> String {
        use parley::crypto::{generate_token, hash_password, hash_token};
        use parley::domain::{OrgId, UserId};
        let api_key = generate_token("pk");
        let bootstrap = parley::store::Bootstrap {
            org_id: OrgId::new(),
            org_name: "Other".into(),
            owner_id: UserId::new(),
            owner_email: format!("owner-{}@other.test", uuid::Uuid::new_v4()),
            owner_password_hash: hash_password("x"),
            api_key_hash: hash_token(&api_key),
            greeting_journey: serde_json::to_string(&parley::journey::Journey::greeting(
                "Other org",
            ))
            .unwrap(),
        };
        self.app
            .store
            .create_organization(&bootstrap, self.app.clock.now())
            .await
            .unwrap();
        api_key
    }
}

/// Two nodes sharing one throwaway Postgres and one throwaway Redis (whatever the backend of
/// the rest of the suite), with partition leases of `partition_lease_ms` if given.
pub async fn two_nodes(partition_lease_ms: Option<u64>) -> (TestApp, TestApp) {
    two_nodes_with(|| Options {
        partition_lease_ms,
        ..Default::default()
    })
    .await
}

/// The same, each node started with `options()` besides what makes the cluster.
pub async fn two_nodes_with(options: impl Fn() -> Options) -> (TestApp, TestApp) {
    let redis_url = redis::url().await;
    let node_a = TestApp::spawn_with(Options {
        redis_url: Some(redis_url.clone()),
        database_url: Some(postgres::fresh_database().await),
        ..options()
    })
    .await;
    let node_b = TestApp::spawn_with(Options {
        redis_url: Some(redis_url),
        node_of: Some(node_a.node()),
        ..options()
    })
    .await;
    (node_a, node_b)
}

/// Asserts that an answer is the error `code` with `status`.
#[track_caller]
pub fn assert_error(answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    let (got_status, body) = answer;
    assert_eq!(*got_status, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
}

/// A team member with an API key: `(user id, key)`.
pub async fn team_member(app: &TestApp, email: &str, role: &str) -> (String, String) {
    let (status, user) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": email, "name": email.split('@').next().unwrap(), "role": role, "with_api_key": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    (
        user["id"].as_str().unwrap().to_owned(),
        user["api_key"].as_str().unwrap().to_owned(),
    )
}

/// Sets the presence of the team member whose key this is.
pub async fn set_presence(app: &TestApp, key: &str, presence: &str) {
    let (status, body) = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            key,
            Some(&json!({"presence": presence})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["presence"], presence);
}

/// The database URL for a test: `None` (SQLite in the data dir) unless the Postgres backend
/// was asked for, in which case a fresh database on the shared throwaway server.
pub async fn database_url() -> Option<String> {
    match std::env::var("PARLEY_TEST_BACKEND").as_deref() {
        Ok("postgres") => Some(postgres::fresh_database().await),
        _ => None,
    }
}
