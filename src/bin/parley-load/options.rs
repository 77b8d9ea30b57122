//! The command line of `parley-load`, and the guarantee that it only ever loads a server on
//! loopback: `require_loopback` refuses every other host before anything is sent.

use anyhow::ensure;
use clap::{ArgAction, Parser};
use std::path::PathBuf;
use url::{Host, Url};

#[derive(Debug, Parser)]
#[command(
    name = "parley-load",
    version,
    about = "Load generator: plays a WhatsApp provider against a Parley server on loopback"
)]
pub(crate) struct Options {
    /// Base URL of the Parley server when `--spawn-server=false`. Only loopback hosts
    /// (127.0.0.0/8, localhost, ::1) are accepted.
    #[arg(
        long,
        env = "PARLEY_LOAD_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub(crate) server: Url,

    /// Start `parley serve` (next to this binary) with a fresh data directory, its Graph API
    /// pointed at the in-process mock, and stop it at the end. Replies can only be measured
    /// in this mode.
    #[arg(
        long,
        env = "PARLEY_LOAD_SPAWN_SERVER",
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub(crate) spawn_server: bool,

    /// API key of the server given with `--server`.
    #[arg(long, env = "PARLEY_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,

    /// Data directory of the server given with `--server`; its `bootstrap.json` supplies the
    /// API key when `--api-key` is not set.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,

    /// Webhooks per second, sent at a constant open-loop rate; 0 sends as fast as
    /// `--concurrency` allows and measures latency from the moment each request starts.
    #[arg(long, env = "PARLEY_LOAD_RATE", default_value_t = 100)]
    pub(crate) rate: u32,

    /// Length of the sending window, in seconds.
    #[arg(long, env = "PARLEY_LOAD_DURATION", default_value_t = 10)]
    pub(crate) duration: u64,

    /// Seconds of webhooks sent before the measured window, at the same rate but to contacts
    /// of their own, and not measured; their replies are awaited before the window starts.
    /// They warm the servers up (database connections, query plans, caches), so the figures
    /// describe servers that have been running rather than the first second after a start.
    #[arg(long, env = "PARLEY_LOAD_WARM_UP", default_value_t = 0)]
    pub(crate) warm_up: u64,

    /// Most webhook requests in flight at once.
    #[arg(
        long,
        env = "PARLEY_LOAD_CONCURRENCY",
        default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) concurrency: u32,

    /// Percentage of webhooks that re-send an earlier message id with the same bytes, as Meta
    /// does when it redelivers; none of them may produce a second reply.
    #[arg(
        long,
        env = "PARLEY_LOAD_REPLAY_PERCENT",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(0..=100)
    )]
    pub(crate) replay_percent: u32,

    /// Distinct customer wa_ids, used round-robin; 0 gives every new message its own contact.
    #[arg(long, env = "PARLEY_LOAD_CONTACTS", default_value_t = 1_000)]
    pub(crate) contacts: u32,

    /// WhatsApp channels (phone numbers) to spread the contacts over. The server sends at
    /// most 80 messages per second per WhatsApp channel, Meta's default throughput.
    #[arg(
        long,
        env = "PARLEY_LOAD_CHANNELS",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=1_000)
    )]
    pub(crate) channels: u32,

    /// Seconds to wait for replies after the last webhook was answered.
    #[arg(long, env = "PARLEY_LOAD_DRAIN_TIMEOUT", default_value_t = 30)]
    pub(crate) drain_timeout: u64,

    /// Latency the mock Graph API adds to every send, in milliseconds.
    #[arg(long, env = "PARLEY_LOAD_GRAPH_LATENCY_MS", default_value_t = 0)]
    pub(crate) graph_latency_ms: u64,

    /// Seed of the choice of replayed messages, so runs can be repeated.
    #[arg(long, env = "PARLEY_LOAD_SEED", default_value_t = 1)]
    pub(crate) seed: u64,

    /// Agent consoles to connect over `/ws` before sending (each receives every event), to
    /// measure fan-out: deliveries per second, delivery latency and memory per idle console.
    #[arg(long, env = "PARLEY_LOAD_CONSOLES", default_value_t = 0)]
    pub(crate) consoles: u32,

    /// Servers to spawn: 1, or 2 sharing `--database-url` (Postgres) and `--redis-url`.
    /// With 2, webhooks and consoles alternate between the nodes (each node forwards the
    /// events of conversations the other owns). The report gives the
    /// delivery latency per node, and split by where the console is: on the node that owns
    /// the conversation (and wrote its events), or on the other one, which heard of them
    /// through Redis. `scripts/load-two-nodes` starts throwaway Postgres and Redis servers for
    /// such a run.
    #[arg(long, env = "PARLEY_LOAD_NODES", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub(crate) nodes: u8,

    /// The Postgres database the spawned nodes share (with `--nodes 2`); it must be empty.
    #[arg(long, env = "PARLEY_LOAD_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,

    /// The Redis server the spawned nodes share (with `--nodes 2`).
    #[arg(long, env = "PARLEY_LOAD_REDIS_URL", hide_env_values = true)]
    pub(crate) redis_url: Option<String>,

    /// Print the report as JSON too, after the table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Refuses every URL whose host is not a loopback address.
pub(crate) fn require_loopback(url: &Url) -> anyhow::Result<()> {
    let loopback = match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    ensure!(
        loopback && matches!(url.scheme(), "http" | "https"),
        "refusing to load {url}: parley-load only targets http(s) servers on loopback \
         (127.0.0.0/8, localhost or ::1)"
    );
    Ok(())
}
