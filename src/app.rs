//! Builds the application from its configuration: data directory, master key, store and
//! migrations, first-run bootstrap, the live system, and the HTTP server on a bound listener.
//! `main` and the test harness use the same [`Application::build`].

use crate::actors::{Cluster, Core, CoreSettings, InProcessBus};
use crate::adapters::whatsapp_cloud::WhatsappClient;
use crate::bootstrap;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::store::Store;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// How long the bot waits for a contact before the conversation expires.
pub const BOT_INACTIVITY: Duration = Duration::from_secs(60 * 60);
/// How often inbound events left unprocessed are dispatched again.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

pub struct Application {
    port: u16,
    server: Server,
    core: Arc<Core>,
    smtp_address: Option<std::net::SocketAddr>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds with an injected clock; tests move it forward to fire timers.
    pub async fn build_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let data_dir = &config.database.data_dir;
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!("failed to create the data directory {}", data_dir.display())
        })?;
        let master_key = match &config.master_key {
            Some(key) if !key.expose_secret().is_empty() => {
                MasterKey::from_base64(key.expose_secret())?
            }
            _ => MasterKey::load_or_create(data_dir).context("failed to load the master key")?,
        };
        let store = Store::connect(&config.database.effective_url(), config.db_max_connections)
            .await
            .context("failed to connect to the database")?;
        store
            .migrate()
            .await
            .context("failed to migrate the database")?;
        if let Some(path) = bootstrap::ensure(&store, &master_key, data_dir, clock.now())
            .await
            .context("failed to create the first organisation")?
        {
            tracing::info!(
                file = %path.display(),
                "first run: created an organisation and its owner; the login and API key are in this file"
            );
        }
        let http = reqwest::Client::builder()
            .timeout(config.send_timeout())
            .pool_max_idle_per_host(64)
            .build()
            .context("failed to build the HTTP client")?;
        let app_id = config.meta_app_id.clone().unwrap_or_default();
        let app_secret = config
            .meta_app_secret
            .as_ref()
            .map(|secret| secret.expose_secret().to_owned())
            .unwrap_or_default();
        let meta = crate::actors::MetaSettings {
            app_configured: !app_id.is_empty() && !app_secret.is_empty(),
            graph: crate::adapters::meta::MetaGraph::new(
                http.clone(),
                config.meta_graph_url.clone(),
                config.meta_graph_version.clone(),
                app_id,
                app_secret,
            ),
            messenger: crate::adapters::messenger::MessengerClient::new(
                http.clone(),
                config.meta_graph_url.clone(),
                config.meta_graph_version.clone(),
            ),
            dialog_url: config.meta_dialog_url.clone(),
            version: config.meta_graph_version.clone(),
            config_id: config.meta_config_id.clone().filter(|id| !id.is_empty()),
            verify_token: config
                .meta_verify_token
                .as_ref()
                .map(|token| token.expose_secret().to_owned())
                .filter(|token| !token.is_empty()),
        };
        let evolution = match (&config.evolution_url, &config.evolution_api_key) {
            (Some(url), Some(key)) if !key.expose_secret().is_empty() => {
                Some(crate::adapters::evolution::EvolutionSettings {
                    client: crate::adapters::evolution::EvolutionClient::new(
                        http.clone(),
                        url.clone(),
                    ),
                    api_key: key.expose_secret().to_owned(),
                })
            }
            _ => None,
        };
        let twilio =
            crate::adapters::twilio::TwilioClient::new(http.clone(), config.twilio_api_url.clone());
        let telegram = crate::adapters::telegram::TelegramClient::new(
            http.clone(),
            config.telegram_api_url.clone(),
        );
        let whatsapp = WhatsappClient::new(
            http,
            config.meta_graph_url.clone(),
            config.meta_graph_version.clone(),
        );
        let settings = CoreSettings {
            ingress_batch_window: config.ingress_batch_window(),
            send_retry_base: config.send_retry_base(),
            send_max_attempts: config.send_max_attempts.max(1),
            conversation_idle: config.conversation_idle(),
            sweep_interval: Duration::from_millis(config.sweep_interval_ms.max(10)),
            bot_inactivity: BOT_INACTIVITY,
            hold_outbox: config.test_hold_outbox,
            panic_on_text: config
                .test_panic_on_text
                .clone()
                .filter(|text| !text.is_empty()),
            public_url: config.public_url.clone(),
            meta,
            twilio,
            evolution,
            telegram,
            email: crate::actors::email::EmailSettings {
                resolver: crate::adapters::email::dns::DnsResolver::new(config.dns_resolver),
                inbound_domain: config.email_inbound_domain(),
                smtp_timeout: config.send_timeout(),
            },
        };
        let egress = crate::actors::api_call::EgressPolicy::parse(&config.api_step_allow)
            .context("invalid PARLEY_API_STEP_ALLOW")?;
        let api_caller = crate::actors::api_call::ApiCaller::new(egress)
            .context("failed to build the HTTP client of API steps")?;
        let cluster = match config.redis_url.as_deref().filter(|url| !url.is_empty()) {
            Some(url) => {
                let cluster_id = store
                    .cluster_id()
                    .await
                    .context("failed to read the cluster's identity")?;
                let lease = Duration::from_millis(config.partition_lease_ms.max(600));
                let leases = crate::actors::partitions::LeaseSettings {
                    lease,
                    tick: lease / 6,
                    publish_answers: !config.test_unpublished_answers,
                };
                Cluster {
                    bus: crate::actors::redis_bus::RedisBus::connect(url)
                        .await
                        .context("failed to connect to Redis (REDIS_URL)")?,
                    partitions: Some(
                        crate::actors::partitions::Partitions::connect(url, &cluster_id, leases)
                            .await
                            .context("failed to connect to Redis (REDIS_URL)")?,
                    ),
                }
            }
            None => Cluster {
                bus: Arc::new(InProcessBus::default()),
                partitions: None,
            },
        };
        let core = Core::start(
            store, clock, cluster, master_key, whatsapp, api_caller, settings,
        )
        .await
        .context("failed to start the live system")?;
        let smtp_address = match config.smtp_listen {
            Some(address) => {
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("failed to bind the SMTP listener to {address}"))?;
                let bound = listener.local_addr()?;
                tokio::spawn(crate::actors::smtp_listener::run(
                    Arc::clone(&core),
                    listener,
                ));
                tracing::info!(address = %bound, "taking mail over SMTP");
                Some(bound)
            }
            None => None,
        };
        let listener = TcpListener::bind(config.bind)
            .with_context(|| format!("failed to bind {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(Arc::clone(&core));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(tracing_actix_web::TracingLogger::default())
                .app_data(state.clone())
                .configure(crate::http::configure)
        })
        .listen(listener)?
        .backlog(4_096)
        .shutdown_timeout(10)
        .run();
        tracing::info!(address = %format!("{}:{port}", config.bind.ip()), "listening");
        Ok(Self {
            port,
            server,
            core,
            smtp_address,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the SMTP listener took its port, when it is on.
    pub fn smtp_address(&self) -> Option<std::net::SocketAddr> {
        self.smtp_address
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (by a signal or its handle), then shuts the live
    /// system down in order: no new requests, sends in flight finished, store closed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.core.shutdown().await;
        result
    }
}
