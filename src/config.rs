//! Command line and configuration. Every option has a flag, an environment variable and a
//! default that runs the embedded setup (SQLite, in-process event bus, loopback).

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

#[derive(Debug, Parser)]
#[command(name = "parley", version, about = "Real-time conversation server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first).
    Serve(Box<Config>),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// The AI engine's tools.
    #[command(subcommand)]
    Ai(AiCommand),
}

#[derive(Debug, Subcommand)]
pub enum AiCommand {
    /// Measure the local understanding engine on a labelled set of guest messages: intent
    /// accuracy, per-intent precision and recall, date exact-match.
    Eval(EvalArgs),
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// The labelled set, JSON Lines (see `src/ai/eval.rs` for the fields).
    #[arg(
        long,
        env = "PARLEY_AI_EVAL_DATA",
        default_value = "tests/data/ai_eval.jsonl"
    )]
    pub data: PathBuf,

    /// The date relative dates are read against, for messages that do not set their own.
    #[arg(long, default_value = "2027-03-10")]
    pub today: chrono::NaiveDate,

    /// Also list every message the engine read differently from its label.
    #[arg(long)]
    pub misses: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Where Parley keeps its files: the SQLite database, the master key, bootstrap.json.
    #[arg(long, env = "PARLEY_DATA_DIR", default_value = "./parley-data")]
    pub data_dir: PathBuf,

    /// Database to use. Empty means the SQLite file `parley.db` in the data directory;
    /// `postgres://user:pass@host/db` switches to Postgres.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
}

impl DatabaseArgs {
    /// The database URL in force: the configured one, or the embedded SQLite file.
    pub fn effective_url(&self) -> String {
        use secrecy::ExposeSecret;
        match &self.database_url {
            Some(url) if !url.expose_secret().is_empty() => url.expose_secret().to_owned(),
            _ => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("parley.db").display()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, env = "PARLEY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Base URL of Meta's Graph API, which the WhatsApp Cloud client talks to.
    #[arg(
        long,
        env = "PARLEY_META_GRAPH_URL",
        default_value = "https://graph.facebook.com"
    )]
    pub meta_graph_url: Url,

    /// Base URL of Twilio's REST API (tests point it at the mock).
    #[arg(
        long,
        env = "PARLEY_TWILIO_API_URL",
        default_value = "https://api.twilio.com"
    )]
    pub twilio_api_url: Url,

    /// Base URL of the unofficial WhatsApp provider (Evolution API v2). Unset, unofficial
    /// WhatsApp channels cannot be added.
    #[arg(long, env = "PARLEY_EVOLUTION_URL")]
    pub evolution_url: Option<Url>,

    /// The provider's global API key, which creates instances.
    #[arg(long, env = "PARLEY_EVOLUTION_API_KEY", hide_env_values = true)]
    pub evolution_api_key: Option<secrecy::SecretString>,
    /// Base URL of Telegram's Bot API, which Telegram channels talk to.
    #[arg(
        long,
        env = "PARLEY_TELEGRAM_API_URL",
        default_value = "https://api.telegram.org"
    )]
    pub telegram_api_url: Url,

    /// Graph API version used in request paths.
    #[arg(long, env = "PARLEY_META_GRAPH_VERSION", default_value = "v24.0")]
    pub meta_graph_version: String,

    /// The Meta app's id, for the consent flow of WhatsApp, Messenger and Instagram.
    /// Empty means consent is not offered (channels can still be added with credentials).
    #[arg(long, env = "PARLEY_META_APP_ID")]
    pub meta_app_id: Option<String>,

    /// The Meta app's secret: exchanges consent codes and signs the app's webhooks.
    #[arg(long, env = "PARLEY_META_APP_SECRET", hide_env_values = true)]
    pub meta_app_secret: Option<SecretString>,

    /// The Facebook Login for Business configuration the consent dialog opens, if any.
    #[arg(long, env = "PARLEY_META_CONFIG_ID")]
    pub meta_config_id: Option<String>,

    /// Base URL of Meta's login dialogs (`/{version}/dialog/oauth`).
    #[arg(
        long,
        env = "PARLEY_META_DIALOG_URL",
        default_value = "https://www.facebook.com"
    )]
    pub meta_dialog_url: Url,

    /// The token Meta echoes when it verifies the app's webhook (`/webhooks/meta`).
    #[arg(long, env = "PARLEY_META_VERIFY_TOKEN", hide_env_values = true)]
    pub meta_verify_token: Option<SecretString>,

    /// Public base URL of this server, used to print absolute webhook URLs. Empty means
    /// webhook URLs are returned as paths.
    #[arg(long, env = "PARLEY_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// Master key (32 bytes, base64) encrypting channel credentials at rest. Empty means a key
    /// generated into `<data-dir>/master.key` on first run.
    #[arg(long, env = "PARLEY_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<SecretString>,

    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "PARLEY_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// How long the inbound writer gathers webhooks into one transaction, in microseconds.
    #[arg(long, env = "PARLEY_INGRESS_BATCH_MICROS", default_value_t = 1_000)]
    pub ingress_batch_micros: u64,

    /// First retry delay of a failed provider send, in milliseconds; it doubles per attempt.
    #[arg(long, env = "PARLEY_SEND_RETRY_BASE_MS", default_value_t = 1_000)]
    pub send_retry_base_ms: u64,

    /// Attempts before a message whose send keeps failing temporarily is marked failed.
    #[arg(long, env = "PARLEY_SEND_MAX_ATTEMPTS", default_value_t = 8)]
    pub send_max_attempts: u32,

    /// Timeout of one provider HTTP call, in milliseconds.
    #[arg(long, env = "PARLEY_SEND_TIMEOUT_MS", default_value_t = 30_000)]
    pub send_timeout_ms: u64,

    /// Seconds a conversation actor stays in memory without events before it is evicted.
    #[arg(long, env = "PARLEY_CONVERSATION_IDLE_SECS", default_value_t = 300)]
    pub conversation_idle_secs: u64,

    /// How often inbound events left unprocessed are dispatched again, in milliseconds.
    #[arg(long, env = "PARLEY_SWEEP_INTERVAL_MS", default_value_t = 10_000)]
    pub sweep_interval_ms: u64,

    /// Targets the journey API step may call although they are private, loopback or
    /// link-local (blocked by default against SSRF): a comma-separated list of networks
    /// (`10.0.0.0/8`, `127.0.0.1/32`, `::1/128`) and exact host names (`pms.internal`).
    #[arg(long, env = "PARLEY_API_STEP_ALLOW", default_value = "")]
    pub api_step_allow: String,

    /// Redis for running several nodes on one shared database: each conversation is owned by
    /// one node (partition leases), commands reach the owner through Redis Streams, and agent
    /// consoles on any node see the events of every node. Empty: one node.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// With `REDIS_URL`: how long a node's lease on a partition of the conversations lasts
    /// unless renewed (it renews every sixth of it). A node that stops is replaced this long
    /// after its last renewal at the latest.
    #[arg(long, env = "PARLEY_PARTITION_LEASE_MS", default_value_t = 6_000)]
    pub partition_lease_ms: u64,

    /// Database connections in the pool.
    #[arg(long, env = "PARLEY_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,

    /// The DNS server email domain checks ask (`ip:port`); the system's resolvers when unset.
    #[arg(long, env = "PARLEY_DNS_RESOLVER")]
    pub dns_resolver: Option<SocketAddr>,

    /// The domain of email channels' inbound addresses (`in-<random>@<domain>`): mail for it
    /// must reach Parley (its SMTP listener, or a provider's inbound webhook). Defaults to
    /// the host of PARLEY_PUBLIC_URL, else `localhost`.
    #[arg(long, env = "PARLEY_EMAIL_INBOUND_DOMAIN")]
    pub email_inbound_domain: Option<String>,

    /// Where Parley's own SMTP listener accepts inbound mail for email channels (e.g.
    /// `0.0.0.0:25`); off when unset.
    #[arg(long, env = "PARLEY_SMTP_LISTEN")]
    pub smtp_listen: Option<SocketAddr>,

    /// Test hook: channel actors keep their outbox without sending, so a test can kill the
    /// process between acknowledging a webhook and sending the reply.
    #[arg(
        long,
        env = "PARLEY_TEST_HOLD_OUTBOX",
        hide = true,
        default_value_t = false
    )]
    pub test_hold_outbox: bool,

    /// Test hook: answers to commands forwarded from another node are not published, only
    /// kept under their key, as when pub/sub loses them.
    #[arg(
        long,
        env = "PARLEY_TEST_UNPUBLISHED_ANSWERS",
        hide = true,
        default_value_t = false
    )]
    pub test_unpublished_answers: bool,

    /// Test hook: an inbound text equal to this makes the conversation actor panic, to prove
    /// that one conversation's failure does not touch the others.
    #[arg(long, env = "PARLEY_TEST_PANIC_TEXT", hide = true)]
    pub test_panic_on_text: Option<String>,
}

impl Config {
    /// The embedded defaults with the given data directory, ignoring the environment. The
    /// test harness starts from this and overrides what it needs.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: DatabaseArgs {
                data_dir,
                database_url: None,
            },
            meta_graph_url: Url::parse("https://graph.facebook.com").expect("a valid URL"),
            twilio_api_url: Url::parse("https://api.twilio.com").expect("a valid URL"),
            evolution_url: None,
            evolution_api_key: None,
            meta_graph_version: "v24.0".into(),
            telegram_api_url: Url::parse("https://api.telegram.org").expect("a valid URL"),
            meta_app_id: None,
            meta_app_secret: None,
            meta_config_id: None,
            meta_dialog_url: Url::parse("https://www.facebook.com").expect("a valid URL"),
            meta_verify_token: None,
            public_url: None,
            master_key: None,
            log_format: LogFormat::Text,
            ingress_batch_micros: 1_000,
            send_retry_base_ms: 1_000,
            send_max_attempts: 8,
            send_timeout_ms: 30_000,
            conversation_idle_secs: 300,
            sweep_interval_ms: 10_000,
            api_step_allow: String::new(),
            redis_url: None,
            partition_lease_ms: 6_000,
            db_max_connections: 8,
            dns_resolver: None,
            email_inbound_domain: None,
            smtp_listen: None,
            test_hold_outbox: false,
            test_unpublished_answers: false,
            test_panic_on_text: None,
        }
    }

    pub fn ingress_batch_window(&self) -> Duration {
        Duration::from_micros(self.ingress_batch_micros)
    }

    pub fn send_retry_base(&self) -> Duration {
        Duration::from_millis(self.send_retry_base_ms)
    }

    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }

    /// The domain of email channels' inbound addresses.
    pub fn email_inbound_domain(&self) -> String {
        self.email_inbound_domain
            .clone()
            .filter(|domain| !domain.trim().is_empty())
            .or_else(|| {
                self.public_url
                    .as_ref()
                    .and_then(|url| url.host_str().map(str::to_owned))
            })
            .unwrap_or_else(|| "localhost".into())
    }

    pub fn conversation_idle(&self) -> Duration {
        Duration::from_secs(self.conversation_idle_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_parses_serve_with_defaults() {
        let cli = Cli::try_parse_from(["parley", "serve", "--bind", "127.0.0.1:0"]).unwrap();
        let Command::Serve(config) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(config.bind.port(), 0);
        assert_eq!(config.meta_graph_version, "v24.0");
    }

    #[test]
    fn the_embedded_database_is_a_sqlite_file_in_the_data_dir() {
        let args = DatabaseArgs {
            data_dir: PathBuf::from("/tmp/p"),
            database_url: None,
        };
        assert_eq!(args.effective_url(), "sqlite:///tmp/p/parley.db?mode=rwc");
    }

    #[test]
    fn clap_configuration_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
