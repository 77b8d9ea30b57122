//! One throwaway Postgres server per test binary, started from the PostgreSQL binaries on the
//! machine (`initdb`, `postgres`), with a fresh database per test.
//!
//! The server runs under `sh` reading from a pipe held by this process: when the test binary
//! exits, the pipe closes and the shell stops the server, so no server outlives its tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

struct Server {
    port: u16,
    _guard: Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a command as the `postgres` user when this process is root (initdb refuses root).
fn as_postgres_user(program: &str) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", program]);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Server {
    let dir = std::env::temp_dir().join(format!("parley-pg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown of the Postgres data dir failed");
    }
    let data = dir.join("data");
    let output = as_postgres_user("initdb")
        .args([
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .output()
        .expect("initdb must be on PATH (PostgreSQL binaries)");
    assert!(
        output.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let port = free_port();
    let script = format!(
        "postgres -D '{data}' -p {port} -k '{dir}' -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 & pid=$!; \
         read _; kill -INT $pid; wait $pid; rm -rf '{dir}'",
        data = data.display(),
        dir = dir.display(),
    );
    let mut command = as_postgres_user("sh");
    let mut guard = command
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the server accepts connections.
    let stderr = guard.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = lines
            .next()
            .expect("postgres exited before it was ready")
            .unwrap();
        if line.contains("ready to accept connections") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        port,
        _guard: guard,
    }
}

/// Creates an empty database on the shared server and returns its URL.
pub async fn fresh_database() -> String {
    let port = tokio::task::spawn_blocking(|| SERVER.get_or_init(start).port)
        .await
        .unwrap();
    let name = format!("parley_{}", uuid::Uuid::new_v4().simple());
    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    use sqlx::{Connection, Executor};
    let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap();
    connection
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    connection.close().await.unwrap();
    format!("postgres://postgres@127.0.0.1:{port}/{name}")
}
