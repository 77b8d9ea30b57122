//! One throwaway Redis server per test binary, started from `redis-server` on the machine,
//! with no persistence. Like the Postgres server it runs under `sh` reading from a pipe held
//! by this process, so it stops when the test binary exits.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

struct Server {
    port: u16,
    _guard: Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn start() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!(
        "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no & pid=$!; \
         read _; kill $pid; wait $pid"
    );
    let mut guard = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh must be on PATH");
    let stdout = guard.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("redis-server must be on PATH (scripts/test installs it)")
            .unwrap();
        if line.contains("Ready to accept connections") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        port,
        _guard: guard,
    }
}

/// The URL of the shared throwaway Redis server, started on first use.
pub async fn url() -> String {
    let port = tokio::task::spawn_blocking(|| SERVER.get_or_init(start).port)
        .await
        .unwrap();
    format!("redis://127.0.0.1:{port}/")
}
