//! `GET /ws`: the agent console's WebSocket.
//!
//! Authenticated like the REST API (an API key or a console session, by header or cookie); a
//! browser's `Origin` must be Parley's own host or its public URL. `?since=<seq>` replays the
//! events missed since that sequence number before live ones.
//!
//! Server → console frames: `{"type": "hello", "seq", "user_id"}` first; then events
//! `{"seq", "type", "data"}` (`message.created`, `message.updated`, `conversation.updated`,
//! `conversation.deleted`, `presence.changed`, `channel.updated`, `notification.created`),
//! `{"type": "typing", "data"}` (not logged, no `seq`), `{"type": "resync"}` when the log no
//! longer holds what was asked for, and `{"type": "ack", "id", "data"}` or
//! `{"type": "error", "id", "error": {"code", "message"}}` for each command.
//!
//! Console → server commands: `{"id", "type", …}` with `type` one of `send_message`
//! (`conversation_id`, `text`), `claim`, `take_over`, `assign` (`user_id`), `resolve`,
//! `close`, `archive`, `reopen`, `hand_back`, `set_ai` (`enabled`), `mark_read`, `typing`
//! (all with `conversation_id`), and `set_presence` (`presence`).

use super::api::v1::conversations::{
    assign_to, conversation_id, perform, read_mark, reply_text, Performed,
};
use super::auth::Caller;
use super::error::{ApiError, Code};
use super::AppState;
use crate::actors::agents::{Console, CONSOLE_BUFFER};
use crate::actors::bus::Event;
use crate::domain::handover::Action;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest command frame accepted.
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// How often the server pings an idle console.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A console silent this long (no pong, no frame) is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config.route("/ws", web::get().to(connect));
}

#[derive(Deserialize)]
struct ConnectParams {
    /// The last sequence number the console saw.
    since: Option<i64>,
}

async fn connect(
    state: AppState,
    caller: Caller,
    request: HttpRequest,
    body: web::Payload,
    params: web::Query<ConnectParams>,
) -> Result<HttpResponse, actix_web::Error> {
    if !caller.0.role.can_read_conversations() {
        return Err(ApiError::forbidden("open the agent console").into());
    }
    let public_origin = state
        .settings
        .public_url
        .as_ref()
        .map(|url| url.origin().ascii_serialization())
        .into_iter()
        .collect::<Vec<_>>();
    if !super::webchat::origin_allowed(&request, &public_origin) {
        return Err(ApiError::new(
            Code::Forbidden,
            "this origin may not open the agent console",
        )
        .into());
    }
    let (response, session, stream) = actix_ws::handle(&request, body)?;
    let (frames, outgoing) = tokio::sync::mpsc::channel(CONSOLE_BUFFER);
    let core = Arc::clone(state.get_ref());
    let org_id = caller.0.org_id;
    let console = Console {
        user_id: caller.0.user_id,
        frames,
    };
    let joined = core.agents.join(&core, org_id, console, params.since).await;
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    actix_web::rt::spawn(async move {
        let mut session = session;
        let joined = match joined {
            Ok(joined) => joined,
            Err(error) => {
                tracing::error!(error = %error, "a console could not join");
                let _ = session
                    .close(Some(CloseReason {
                        code: CloseCode::Error,
                        description: Some("the event log is unavailable".into()),
                    }))
                    .await;
                return;
            }
        };
        let hello = json!({"type": "hello", "seq": joined.seq, "user_id": caller.0.user_id});
        if session.text(hello.to_string()).await.is_err() {
            core.agents.leave(org_id, joined.id);
            return;
        }
        if joined.resync && session.text(r#"{"type":"resync"}"#).await.is_err() {
            core.agents.leave(org_id, joined.id);
            return;
        }
        serve(state, caller, session, stream, outgoing).await;
        core.agents.leave(org_id, joined.id);
    });
    Ok(response)
}

/// Pumps frames to the console and commands from it until either side ends.
async fn serve(
    state: AppState,
    caller: Caller,
    mut session: actix_ws::Session,
    mut stream: actix_ws::AggregatedMessageStream,
    mut outgoing: tokio::sync::mpsc::Receiver<bytestring::ByteString>,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard = Instant::now();
    let reason = loop {
        tokio::select! {
            frame = outgoing.recv() => match frame {
                Some(frame) => {
                    if session.text(frame).await.is_err() {
                        return;
                    }
                }
                // The hub cut the console off: it stopped reading.
                None => break Some(CloseReason {
                    code: CloseCode::Policy,
                    description: Some("too slow: the console stopped reading events; reconnect with `since`".into()),
                }),
            },
            message = stream.next() => {
                heard = Instant::now();
                match message {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        let answer = command(&state, &caller, &text).await;
                        if session.text(answer.to_string()).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        let answer = json!({"type": "error", "id": null, "error": {
                            "code": "malformed_json", "message": "commands are JSON text frames"}});
                        if session.text(answer.to_string()).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(AggregatedMessage::Close(_))) | None => break None,
                    Some(Err(error)) => {
                        tracing::debug!(error = %error, "console protocol error");
                        break Some(CloseReason {
                            code: CloseCode::Protocol,
                            description: Some(error.to_string()),
                        });
                    }
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENCE_LIMIT {
                    break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some("no answer to pings".into()),
                    });
                }
                if session.ping(b"").await.is_err() {
                    return;
                }
            }
        }
    };
    let _ = session.close(reason).await;
}

/// Runs one command and answers its acknowledgement or error frame.
async fn command(state: &AppState, caller: &Caller, text: &str) -> Value {
    let parsed: Result<Value, _> = serde_json::from_str(text);
    let Ok(Value::Object(command)) = parsed else {
        return json!({"type": "error", "id": null, "error": {
            "code": "malformed_json", "message": "a command is a JSON object with a `type`"}});
    };
    let id = command.get("id").cloned().unwrap_or(Value::Null);
    match run(state, caller, &command).await {
        Ok(data) => json!({"type": "ack", "id": id, "data": data}),
        Err(error) => json!({"type": "error", "id": id, "error": error.detail()}),
    }
}

async fn run(
    state: &AppState,
    caller: &Caller,
    command: &serde_json::Map<String, Value>,
) -> Result<Value, ApiError> {
    let kind = command
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::missing("type"))?;
    let conversation = || {
        command
            .get("conversation_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::missing("conversation_id"))
    };
    let action = match kind {
        "send_message" => {
            let body = reply_text(command.get("text"))?;
            let content = crate::domain::MessageContent::Text { body };
            return performed(
                perform(state, caller, conversation()?, Action::Reply, Some(content)).await?,
            );
        }
        "claim" => Action::Claim,
        "take_over" => Action::TakeOver,
        "assign" => assign_to(state, caller, command.get("user_id")).await?,
        "resolve" => Action::Resolve,
        "close" => Action::Close,
        "archive" => Action::Archive,
        "reopen" => Action::Reopen,
        "hand_back" => Action::HandBack,
        "set_ai" => match command.get("enabled") {
            Some(Value::Bool(enabled)) => Action::SetAi { enabled: *enabled },
            _ => {
                return Err(ApiError::field(
                    Code::InvalidField,
                    "enabled",
                    "`enabled` must be true or false",
                ))
            }
        },
        "mark_read" => {
            let mark = read_mark(state, caller, conversation()?).await?;
            return Ok(serde_json::to_value(mark).unwrap_or(Value::Null));
        }
        "typing" => return typing(state, caller, conversation()?).await,
        "set_presence" => {
            let presence = match command.get("presence").and_then(Value::as_str) {
                Some(presence) if crate::store::inbox::PRESENCES.contains(&presence) => presence,
                _ => {
                    return Err(ApiError::field(
                        Code::InvalidField,
                        "presence",
                        "`presence` must be `online`, `away` or `offline`",
                    ))
                }
            };
            let user = super::api::v1::users::set_availability(
                state,
                caller.0.org_id,
                caller.0.user_id,
                Some(presence.to_owned()),
                None,
            )
            .await?;
            return Ok(json!({"user_id": user.id, "presence": user.presence}));
        }
        other => {
            return Err(ApiError::field(
                Code::InvalidField,
                "type",
                format!("`{other}` is not a console command"),
            ))
        }
    };
    performed(perform(state, caller, conversation()?, action, None).await?)
}

fn performed(outcome: Performed) -> Result<Value, ApiError> {
    Ok(match outcome {
        Performed::Message(message) => json!({"message": message}),
        Performed::Conversation(conversation) => json!({"conversation": conversation}),
        Performed::Deleted => json!({"deleted": true}),
    })
}

async fn typing(state: &AppState, caller: &Caller, raw: &str) -> Result<Value, ApiError> {
    let id = conversation_id(raw)?;
    state
        .store
        .conversation(caller.0.org_id, id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::ConversationNotFound))?;
    let user = state
        .store
        .user(caller.0.org_id, caller.0.user_id)
        .await
        .map_err(|error| ApiError::from_store(error, Code::UserNotFound))?;
    state.bus.publish(
        caller.0.org_id,
        Event::Typing {
            conversation_id: id,
            user_id: caller.0.user_id,
            name: user.name,
        },
    );
    let (core, org_id) = (state.get_ref().clone(), caller.0.org_id);
    tokio::spawn(async move { core.show_typing(org_id, id).await });
    Ok(json!({"conversation_id": id}))
}
