//! The tester's socket (actix-web-actors, one per open builder tab): on connect it sends the
//! whole transcript as `entry` frames and then a `state` frame; afterwards every new entry of
//! the session, whoever caused it. What the tester sends in frames is applied like the HTTP
//! routes' inputs; a bad frame gets an `error` frame and changes nothing.

use super::guest::{self, GuestInput};
use super::run::{TestState, TranscriptEntry};
use super::{TestChatError, TestSessionId};
use crate::actors::core::Core;
use crate::domain::OrgId;
use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Handler, Message, StreamHandler, WrapFuture,
};
use actix_web_actors::ws;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the server pings the socket.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(25);
/// A socket that has not been heard from for this long is closed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the hub tells a socket.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) enum SocketEvent {
    /// A frame, already serialised.
    Frame(Arc<str>),
    /// The session ended (deleted, idle, or dropped to make room).
    Ended,
}

/// Frames the server sends.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ServerFrame<'a> {
    Entry { entry: &'a TranscriptEntry },
    State { state: &'a TestState },
    Error { code: &'a str, message: &'a str },
}

impl ServerFrame<'_> {
    pub(super) fn text(&self) -> Arc<str> {
        Arc::from(serde_json::to_string(self).expect("frames serialise to JSON"))
    }
}

/// One tester's socket on one test session.
pub struct TestChatSocket {
    core: Arc<Core>,
    org_id: OrgId,
    session_id: TestSessionId,
    subscription: Option<u64>,
    last_heard: Instant,
}

impl TestChatSocket {
    /// A socket on a session whose ticket the caller checked (`TestChatHub::authorize_socket`).
    pub fn new(core: Arc<Core>, org_id: OrgId, session_id: TestSessionId) -> Self {
        Self {
            core,
            org_id,
            session_id,
            subscription: None,
            last_heard: Instant::now(),
        }
    }

    fn error(ctx: &mut ws::WebsocketContext<Self>, error: &TestChatError) {
        let frame = ServerFrame::Error {
            code: error.code(),
            message: &error.to_string(),
        };
        ctx.text(&*frame.text());
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let input: GuestInput = match guest::frame(text) {
            Ok(input) => input,
            Err(error) => return Self::error(ctx, &error),
        };
        let core = Arc::clone(&self.core);
        let (org_id, session_id) = (self.org_id, self.session_id);
        let apply = async move {
            core.test_chats
                .input(&core, org_id, session_id, input)
                .await
        };
        // The entries come back through the hub like everyone else's; only a refusal is
        // answered here. `wait` keeps the tester's frames in the order they were sent.
        ctx.wait(apply.into_actor(self).map(|result, _, ctx| {
            if let Err(error) = result {
                Self::error(ctx, &error);
                if matches!(error, TestChatError::NotFound) {
                    ctx.close(None);
                    ctx.stop();
                }
            }
        }));
    }
}

impl Actor for TestChatSocket {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let recipient = ctx.address().recipient();
        let Some((subscription, frames)) =
            self.core.test_chats.subscribe(self.session_id, recipient)
        else {
            Self::error(ctx, &TestChatError::NotFound);
            ctx.close(None);
            ctx.stop();
            return;
        };
        self.subscription = Some(subscription);
        self.core
            .metrics
            .live_actors
            .with_label_values(&["test_chat_socket"])
            .inc();
        for frame in frames {
            ctx.text(&*frame);
        }
        ctx.run_interval(HEARTBEAT_INTERVAL, |socket, ctx| {
            if socket.last_heard.elapsed() > CLIENT_TIMEOUT {
                ctx.stop();
                return;
            }
            ctx.ping(b"");
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> actix::Running {
        if let Some(subscription) = self.subscription.take() {
            self.core
                .test_chats
                .unsubscribe(self.session_id, subscription);
            self.core
                .metrics
                .live_actors
                .with_label_values(&["test_chat_socket"])
                .dec();
        }
        actix::Running::Stop
    }
}

impl Handler<SocketEvent> for TestChatSocket {
    type Result = ();

    fn handle(&mut self, event: SocketEvent, ctx: &mut Self::Context) {
        match event {
            SocketEvent::Frame(frame) => ctx.text(&*frame),
            SocketEvent::Ended => {
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Normal,
                    description: Some("the test session ended".into()),
                }));
                ctx.stop();
            }
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for TestChatSocket {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match item {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Pong(_)) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Binary(_)) => Self::error(
                ctx,
                &TestChatError::Malformed("frames are JSON text".into()),
            ),
            Ok(ws::Message::Continuation(_) | ws::Message::Nop) => {}
            Err(_) => ctx.stop(),
        }
    }
}
