//! The server under load: either one given on the command line, or a `parley serve` child this
//! run spawns in a fresh data directory. A spawned server never outlives the run: its guard
//! kills the process and removes the directory on every path, and its log is summarised for
//! the report before it goes.

use crate::options::Options;
use anyhow::{bail, ensure, Context};
use parley::bootstrap::{Credentials, BOOTSTRAP_FILE};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use url::Url;

/// How long a spawned server gets to answer `GET /readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(50);

/// The server under load and the key to its API.
pub(crate) struct Target {
    pub(crate) base: Url,
    pub(crate) api_key: String,
}

/// The key to the API of the server given with `--server`.
pub(crate) fn external_api_key(options: &Options) -> anyhow::Result<String> {
    if let Some(api_key) = &options.api_key {
        return Ok(api_key.clone());
    }
    match &options.data_dir {
        Some(data_dir) => read_api_key(data_dir),
        None => bail!("with --spawn-server=false, give --api-key or --data-dir"),
    }
}

fn read_api_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(BOOTSTRAP_FILE);
    let contents =
        std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
    let credentials: Credentials = serde_json::from_slice(&contents)
        .with_context(|| format!("failed to parse {}", path.display()))?;
    Ok(credentials.api_key)
}

/// What the nodes of a two-node run share: the database, Redis, and the master key their
/// channel credentials are sealed with.
pub(crate) struct Cluster {
    pub(crate) database_url: String,
    pub(crate) redis_url: String,
    pub(crate) master_key: String,
}

impl Cluster {
    /// The cluster `--database-url` and `--redis-url` describe, with a fresh master key; both
    /// must be on loopback.
    pub(crate) fn of(options: &Options) -> anyhow::Result<Self> {
        use base64::Engine;
        let (Some(database_url), Some(redis_url)) = (&options.database_url, &options.redis_url)
        else {
            bail!("--nodes 2 needs --database-url (Postgres) and --redis-url");
        };
        for url in [database_url, redis_url] {
            let parsed =
                Url::parse(url).with_context(|| "not a URL: --database-url/--redis-url")?;
            let host = parsed.host_str().unwrap_or_default();
            ensure!(
                matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1"),
                "parley-load only uses servers on loopback, not {host}"
            );
        }
        let key: [u8; 32] = rand::random();
        Ok(Self {
            database_url: database_url.clone(),
            redis_url: redis_url.clone(),
            master_key: base64::engine::general_purpose::STANDARD.encode(key),
        })
    }
}

/// A `parley serve` child process in its own data directory. Dropping it kills the process
/// and removes the directory, so an early error leaves nothing behind.
pub(crate) struct SpawnedServer {
    child: Child,
    data_dir: PathBuf,
    base: Url,
}

impl SpawnedServer {
    /// Spawns `parley serve` from this binary's directory, its Graph API at `graph_url`, and
    /// waits until it is ready.
    pub(crate) async fn start(
        graph_url: &str,
        run_id: &str,
        cluster: Option<&Cluster>,
    ) -> anyhow::Result<Self> {
        let binary = std::env::current_exe()
            .context("failed to locate parley-load")?
            .with_file_name("parley");
        ensure!(
            binary.is_file(),
            "{} does not exist; build it with `cargo build --release --bin parley`",
            binary.display()
        );
        let data_dir = std::env::temp_dir().join(format!("parley-load-{run_id}"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("failed to create {}", data_dir.display()))?;
        let log = std::fs::File::create(data_dir.join("server.log"))
            .context("failed to create the server log")?;
        let port = free_port()?;
        let mut command = Command::new(&binary);
        command
            .arg("serve")
            .env("PARLEY_DATA_DIR", &data_dir)
            .env("PARLEY_BIND", format!("127.0.0.1:{port}"))
            .env("PARLEY_META_GRAPH_URL", graph_url)
            .env("PARLEY_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .env_remove("PARLEY_PUBLIC_URL");
        match cluster {
            Some(cluster) => command
                .env("DATABASE_URL", &cluster.database_url)
                .env("REDIS_URL", &cluster.redis_url)
                .env("PARLEY_MASTER_KEY", &cluster.master_key),
            // The child must use the embedded SQLite file of its fresh data directory.
            None => command
                .env_remove("DATABASE_URL")
                .env_remove("REDIS_URL")
                .env_remove("PARLEY_MASTER_KEY"),
        };
        let child = command
            .stdout(log.try_clone().context("failed to share the server log")?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("failed to start {}", binary.display()))?;
        let base = Url::parse(&format!("http://127.0.0.1:{port}/")).expect("a valid URL");
        let mut server = Self {
            child,
            data_dir,
            base,
        };
        server.wait_until_ready().await?;
        tracing::info!(url = %server.base, data_dir = %server.data_dir.display(), "server ready");
        Ok(server)
    }

    /// The spawned server's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The spawned server's URL, with the API key its first run wrote to `bootstrap.json`.
    pub(crate) fn target(&self) -> anyhow::Result<Target> {
        Ok(Target {
            base: self.base.clone(),
            api_key: read_api_key(&self.data_dir)?,
        })
    }

    /// The spawned server's URL with a key another node of its cluster wrote.
    pub(crate) fn target_with(&self, api_key: &str) -> Target {
        Target {
            base: self.base.clone(),
            api_key: api_key.to_owned(),
        }
    }

    /// Kills the server and summarises the warnings and errors it logged.
    pub(crate) async fn stop(mut self) -> LogSummary {
        if let Err(error) = self.child.kill().await {
            tracing::warn!(error = %error, "failed to stop the server");
        }
        LogSummary::of(&self.log_lines())
    }

    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let readyz = self.base.join("readyz").expect("a valid path");
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited with {status} before it was ready; its log ends with:\n{}",
                    self.log_tail(20)
                );
            }
            let response = client.get(readyz.clone()).send().await;
            if response.is_ok_and(|response| response.status() == reqwest::StatusCode::OK) {
                return Ok(());
            }
            tokio::time::sleep(READY_POLL).await;
        }
        bail!(
            "the server did not answer GET /readyz with 200 within {READY_TIMEOUT:?}; its log \
             ends with:\n{}",
            self.log_tail(20)
        )
    }

    fn log_lines(&self) -> Vec<String> {
        std::fs::File::open(self.data_dir.join("server.log"))
            .map(|file| {
                std::io::BufReader::new(file)
                    .lines()
                    .map_while(Result::ok)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn log_tail(&self, count: usize) -> String {
        let lines = self.log_lines();
        lines[lines.len().saturating_sub(count)..].join("\n")
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        // Best effort on every path: the process may already be gone.
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Asks the OS for a free loopback port. Another process could take it before the server
/// binds it; the readiness check then fails loudly.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("failed to find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Warnings and errors a spawned server logged, counted by message.
#[derive(Serialize)]
pub(crate) struct LogSummary {
    pub(crate) errors: usize,
    pub(crate) warnings: usize,
    /// `LEVEL message` → occurrences.
    pub(crate) messages: BTreeMap<String, usize>,
}

impl LogSummary {
    /// The summaries of two servers' logs together.
    pub(crate) fn merge(mut self, other: LogSummary) -> Self {
        self.errors += other.errors;
        self.warnings += other.warnings;
        for (message, count) in other.messages {
            *self.messages.entry(message).or_default() += count;
        }
        self
    }

    fn of(lines: &[String]) -> Self {
        let mut summary = Self {
            errors: 0,
            warnings: 0,
            messages: BTreeMap::new(),
        };
        for line in lines {
            let Ok(event) = serde_json::from_str::<Value>(line) else {
                // Not a log event, e.g. a panic message on stderr.
                *summary.messages.entry(format!("RAW {line}")).or_default() += 1;
                continue;
            };
            let level = event["level"].as_str().unwrap_or("?");
            match level {
                "ERROR" => summary.errors += 1,
                "WARN" => summary.warnings += 1,
                _ => continue,
            }
            let fields = if event["fields"].is_object() {
                &event["fields"]
            } else {
                &event
            };
            let message = fields["message"].as_str().unwrap_or("?");
            // The error, when the event names one, says more than the message alone.
            let key = match fields["error"].as_str() {
                Some(error) => format!("{level} {message}: {error}"),
                None => format!("{level} {message}"),
            };
            *summary.messages.entry(key).or_default() += 1;
        }
        summary
    }
}

/// Which node owns each conversation partition, as their `parley_partition_owned` metrics say:
/// the index of the target, or `None` for a partition nobody claims.
pub(crate) async fn partition_owners(targets: &[Target]) -> anyhow::Result<Vec<Option<usize>>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let mut owners = vec![None; usize::from(parley::domain::partition::PARTITIONS)];
    for (node, target) in targets.iter().enumerate() {
        let url = target.base.join("metrics").expect("a valid path");
        let text = client.get(url).send().await?.text().await?;
        for line in text.lines() {
            let Some((partition, value)) = line
                .strip_prefix("parley_partition_owned{partition=\"")
                .and_then(|rest| rest.split_once("\"} "))
            else {
                continue;
            };
            if value.trim() == "1" {
                if let Some(owner) = partition
                    .parse::<usize>()
                    .ok()
                    .and_then(|partition| owners.get_mut(partition))
                {
                    *owner = Some(node);
                }
            }
        }
    }
    Ok(owners)
}

/// Waits until the nodes hold all the conversation partitions between them, each some, as
/// their `parley_partitions_owned` metric says.
pub(crate) async fn wait_until_partitions_settle(targets: &[Target]) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let mut owned = Vec::with_capacity(targets.len());
        for target in targets {
            let url = target.base.join("metrics").expect("a valid path");
            let text = match client.get(url).send().await {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            owned.push(
                text.lines()
                    .find_map(|line| {
                        line.strip_prefix("parley_partitions_owned ")?
                            .trim()
                            .parse::<u32>()
                            .ok()
                    })
                    .unwrap_or(0),
            );
        }
        if owned.iter().sum::<u32>() == 64 && owned.iter().all(|&count| count > 0) {
            tracing::info!(?owned, "the nodes share the conversation partitions");
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the nodes did not share the conversation partitions in time: {owned:?}");
        }
        tokio::time::sleep(READY_POLL).await;
    }
}
