//! An SMTP relay on loopback that keeps what it is sent: EHLO/HELO, AUTH PLAIN and LOGIN
//! against one username and password, MAIL/RCPT/DATA with dot-unstuffing, RSET, NOOP,
//! QUIT. Faults answer as a relay does: 421 at the greeting (try later), 451 after DATA
//! (temporary local error), 550 at RCPT (mailbox unavailable).

use base64::Engine;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A message the relay accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub raw: Vec<u8>,
    /// The user the client authenticated as.
    pub user: Option<String>,
}

/// A failure the relay answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `421` at the greeting.
    ServiceUnavailable,
    /// `451` after the message's data.
    LocalError,
    /// `550` to every recipient.
    MailboxUnavailable,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    fault: Option<Fault>,
    connections: usize,
}

pub struct MockSmtp {
    address: SocketAddr,
    username: String,
    password: String,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MockSmtp {
    /// Starts the relay; it accepts `username`/`password` and refuses others with 535.
    pub fn start(username: &str, password: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let credentials = (username.to_owned(), password.to_owned());
        let shared = Arc::clone(&state);
        std::thread::Builder::new()
            .name("mock-smtp".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (state, credentials) = (Arc::clone(&shared), credentials.clone());
                    std::thread::spawn(move || {
                        let _ = session(stream, &state, &credentials);
                    });
                }
            })?;
        Ok(Self {
            address,
            username: username.to_owned(),
            password: password.to_owned(),
            state,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn credentials(&self) -> (&str, &str) {
        (&self.username, &self.password)
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        lock(&self.state).fault = fault;
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }
}

fn session(
    stream: TcpStream,
    state: &Mutex<State>,
    credentials: &(String, String),
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut say = |line: &str| writer.write_all(format!("{line}\r\n").as_bytes());
    let fault = {
        let mut state = lock(state);
        state.connections += 1;
        state.fault
    };
    if fault == Some(Fault::ServiceUnavailable) {
        say("421 4.3.2 mock.relay service not available, try again later")?;
        return Ok(());
    }
    say("220 mock.relay ESMTP ready")?;
    let mut user: Option<String> = None;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = String::new();
    let read_line =
        |reader: &mut BufReader<TcpStream>, line: &mut String| -> std::io::Result<bool> {
            line.clear();
            Ok(reader.read_line(line)? > 0)
        };
    while read_line(&mut reader, &mut line)? {
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let decode = |text: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        if upper.starts_with("EHLO") {
            say("250-mock.relay")?;
            say("250-AUTH PLAIN LOGIN")?;
            say("250-SIZE 10485760")?;
            say("250 8BITMIME")?;
        } else if upper.starts_with("HELO") {
            say("250 mock.relay")?;
        } else if upper.starts_with("AUTH PLAIN") {
            let initial = command[10..].trim().to_owned();
            let response = if initial.is_empty() {
                say("334 ")?;
                if !read_line(&mut reader, &mut line)? {
                    break;
                }
                line.trim().to_owned()
            } else {
                initial
            };
            // authzid NUL authcid NUL password
            let parts: Vec<String> = decode(&response)
                .unwrap_or_default()
                .split('\0')
                .map(str::to_owned)
                .collect();
            match parts.as_slice() {
                [_, name, password] if *name == credentials.0 && *password == credentials.1 => {
                    user = Some(name.clone());
                    say("235 2.7.0 Authentication successful")?;
                }
                _ => say("535 5.7.8 Authentication credentials invalid")?,
            }
        } else if upper.starts_with("AUTH LOGIN") {
            say("334 VXNlcm5hbWU6")?;
            if !read_line(&mut reader, &mut line)? {
                break;
            }
            let name = decode(&line).unwrap_or_default();
            say("334 UGFzc3dvcmQ6")?;
            if !read_line(&mut reader, &mut line)? {
                break;
            }
            let password = decode(&line).unwrap_or_default();
            if name == credentials.0 && password == credentials.1 {
                user = Some(name);
                say("235 2.7.0 Authentication successful")?;
            } else {
                say("535 5.7.8 Authentication credentials invalid")?;
            }
        } else if upper.starts_with("MAIL FROM:") {
            if user.is_none() {
                say("530 5.7.0 Authentication required")?;
                continue;
            }
            mail_from = Some(command[10..].trim().trim_matches(['<', '>']).to_owned());
            rcpt_to.clear();
            say("250 2.1.0 OK")?;
        } else if upper.starts_with("RCPT TO:") {
            if mail_from.is_none() {
                say("503 5.5.1 MAIL first")?;
            } else if lock(state).fault == Some(Fault::MailboxUnavailable) {
                say("550 5.1.1 mailbox unavailable")?;
            } else {
                rcpt_to.push(command[8..].trim().trim_matches(['<', '>']).to_owned());
                say("250 2.1.5 OK")?;
            }
        } else if upper == "DATA" {
            if rcpt_to.is_empty() {
                say("503 5.5.1 RCPT first")?;
                continue;
            }
            say("354 End data with <CR><LF>.<CR><LF>")?;
            let mut raw = Vec::new();
            loop {
                if !read_line(&mut reader, &mut line)? {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                raw.extend_from_slice(unstuffed.as_bytes());
            }
            if lock(state).fault == Some(Fault::LocalError) {
                say("451 4.3.0 local error in processing")?;
            } else {
                lock(state).received.push(Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    raw,
                    user: user.clone(),
                });
                say("250 2.0.0 OK queued")?;
            }
        } else if upper == "RSET" {
            mail_from = None;
            rcpt_to.clear();
            say("250 2.0.0 OK")?;
        } else if upper == "NOOP" {
            say("250 2.0.0 OK")?;
        } else if upper == "QUIT" {
            say("221 2.0.0 Bye")?;
            break;
        } else {
            say("502 5.5.2 command not recognised")?;
        }
    }
    Ok(())
}
