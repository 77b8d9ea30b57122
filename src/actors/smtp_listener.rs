//! Parley's own SMTP listener (`PARLEY_SMTP_LISTEN`): mail for an email channel's inbound
//! address is taken straight from the sending server and goes the way of every received mail
//! (`email::inbound`, then the inbound writer). The SMTP dialogue is mailin's state machine;
//! this module only moves lines. A recipient that is no live channel's inbound address is
//! refused at `RCPT` (550), so no bounce is ever sent to a forged sender, and a mail is
//! acknowledged (250) only once its events are committed; a failure answers 451, so the
//! sending server tries again.

use super::core::{ChannelRuntime, Core};
use super::email::{self, InboundMail};
use mailin::{response, Action, Handler, Response, SessionBuilder};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Largest mail taken, as advertised by receiving servers commonly (10 MB).
const MAX_MAIL_BYTES: usize = 10 * 1024 * 1024;
/// Longest SMTP line (RFC 5321 allows 1,000 octets; some clients send longer data lines).
const MAX_LINE_BYTES: usize = 64 * 1024;
/// A silent client is dropped after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Accepts connections until the live system shuts down.
pub async fn run(core: Arc<Core>, listener: TcpListener) {
    let mut shutdown = core.shutdown_signal();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(session(Arc::clone(&core), stream, peer));
                }
                Err(error) => tracing::warn!(error = %error, "failed to accept an SMTP connection"),
            },
            _ = shutdown.changed() => break,
        }
    }
}

/// What one connection has been told: the channels its recipients belong to and the mail.
#[derive(Default)]
struct Pending {
    recipients: Vec<Arc<ChannelRuntime>>,
    data: Vec<u8>,
    too_large: bool,
    /// Set by the end of a mail's data: the mail waits for the loop to store it.
    complete: bool,
}

/// mailin's handler: it answers the dialogue and fills [`Pending`], which the connection's
/// loop reads after each line (mailin keeps its handler to itself).
struct Mailbox {
    core: Arc<Core>,
    pending: Arc<Mutex<Pending>>,
}

impl Mailbox {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        lock(&self.pending)
    }
}

fn lock(pending: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Handler for Mailbox {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        self.pending().recipients.clear();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let address = to.trim().trim_matches(['<', '>']);
        match self.core.email_channel(address) {
            Some(runtime) if runtime.receives() => {
                let mut pending = self.pending();
                if !pending
                    .recipients
                    .iter()
                    .any(|known| known.id == runtime.id)
                {
                    pending.recipients.push(runtime);
                }
                response::OK
            }
            _ => response::NO_MAILBOX,
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        let mut pending = self.pending();
        pending.data.clear();
        pending.too_large = false;
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut pending = self.pending();
        if pending.data.len() + buf.len() > MAX_MAIL_BYTES {
            pending.too_large = true;
        } else {
            pending.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.pending().complete = true;
        response::OK
    }
}

async fn session(core: Arc<Core>, stream: TcpStream, peer: SocketAddr) {
    let pending = Arc::new(Mutex::new(Pending::default()));
    let mailbox = Mailbox {
        core: Arc::clone(&core),
        pending: Arc::clone(&pending),
    };
    let mut smtp =
        SessionBuilder::new(core.settings.email.inbound_domain.clone()).build(peer.ip(), mailbox);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    if write(&mut writer, &smtp.greeting()).await.is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(IDLE_TIMEOUT, read_line(&mut reader, &mut line)).await;
        match read {
            Ok(Ok(true)) => {}
            _ => break,
        }
        let answer = smtp.process(&line);
        let complete = {
            let mut pending = lock(&pending);
            if pending.complete {
                pending.complete = false;
                Some((
                    std::mem::take(&mut pending.data),
                    std::mem::take(&mut pending.recipients),
                    pending.too_large,
                ))
            } else {
                None
            }
        };
        let answer = match complete {
            // The mail is acknowledged only once it is stored.
            Some((_, _, true)) => response::NO_STORAGE,
            Some((raw, recipients, false)) => deliver(&core, &raw, recipients).await,
            None => answer,
        };
        match answer.action {
            Action::NoReply => {}
            Action::Close => {
                let _ = write(&mut writer, &answer).await;
                break;
            }
            Action::Reply | Action::UpgradeTls => {
                if write(&mut writer, &answer).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Reads one line, CRLF included; `false` at the end of the stream. A line past the limit
/// is cut there (the rest arrives as further lines, and the mail is malformed, not lost).
async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let mut limited = reader.take(MAX_LINE_BYTES as u64);
    Ok(limited.read_until(b'\n', line).await? > 0)
}

async fn write(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    answer: &Response,
) -> std::io::Result<()> {
    writer.write_all(&answer.buffer()?).await
}

/// Stores a complete mail for each channel it was addressed to.
async fn deliver(core: &Arc<Core>, raw: &[u8], recipients: Vec<Arc<ChannelRuntime>>) -> Response {
    let received_at = core.clock.now();
    for runtime in recipients {
        let events = match email::inbound(core, &runtime, raw).await {
            Ok(InboundMail::Events(events)) => events,
            Ok(InboundMail::Automatic) => continue,
            Err(email::InboundMailError::Malformed(error)) => {
                tracing::info!(channel_id = %runtime.id, error = %error, "refused a malformed mail");
                return response::TRANSACTION_FAILED;
            }
            Err(email::InboundMailError::Store(error)) => {
                tracing::warn!(channel_id = %runtime.id, error = %error, "failed to store a mail");
                return response::INTERNAL_ERROR;
            }
        };
        runtime.webhook_reached(core);
        if let Err(error) = core
            .ingress()
            .submit(runtime.org_id, runtime.id, events, received_at)
            .await
        {
            tracing::warn!(channel_id = %runtime.id, error = %error, "failed to store a mail's events");
            return response::INTERNAL_ERROR;
        }
    }
    response::OK
}
