//! Web chat visitors: the hub that routes business messages to connected visitor sockets, and
//! the socket actor itself (one per browser tab).

use super::core::Core;
use crate::adapters::webchat::{
    message_content, reply_content, ServerFrame, VisitorFrame, WebchatMessage,
};
use crate::domain::{ChannelId, Direction, InboundEvent, InboundMessage, MessageContent, OrgId};
use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Handler, Message, Recipient, StreamHandler,
    WrapFuture,
};
use actix_web_actors::ws;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the server pings a visitor socket.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(25);
/// A socket that has not been heard from for this long is closed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages of the conversation sent to a visitor on (re)connect.
const HISTORY_LIMIT: i64 = 200;

/// A frame, already serialised, for one visitor socket.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Push(pub Arc<str>);

type VisitorKey = (ChannelId, String);

/// Connected visitor sockets by channel and visitor.
#[derive(Default)]
pub struct WebchatHub {
    sockets: DashMap<VisitorKey, Vec<(u64, Recipient<Push>)>>,
    next_id: AtomicU64,
}

impl WebchatHub {
    fn register(&self, channel_id: ChannelId, visitor_id: &str, recipient: Recipient<Push>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.sockets
            .entry((channel_id, visitor_id.to_owned()))
            .or_default()
            .push((id, recipient));
        id
    }

    fn unregister(&self, channel_id: ChannelId, visitor_id: &str, id: u64) {
        let key = (channel_id, visitor_id.to_owned());
        if let Some(mut sockets) = self.sockets.get_mut(&key) {
            sockets.retain(|(socket_id, _)| *socket_id != id);
        }
        self.sockets
            .remove_if(&key, |_, sockets| sockets.is_empty());
    }

    /// Sends a frame to every open tab of a visitor; returns how many received it.
    pub fn deliver(&self, channel_id: ChannelId, visitor_id: &str, frame: &str) -> usize {
        let Some(sockets) = self.sockets.get(&(channel_id, visitor_id.to_owned())) else {
            return 0;
        };
        let frame: Arc<str> = Arc::from(frame);
        sockets
            .iter()
            .filter(|(_, recipient)| recipient.try_send(Push(Arc::clone(&frame))).is_ok())
            .count()
    }
}

/// What a visitor sent, as an inbound message. A `client_id` makes the message's id, so a
/// resend after a reconnect is stored once.
pub fn visitor_event(
    core: &Core,
    visitor_id: &str,
    visitor_name: Option<String>,
    client_id: Option<&str>,
    content: MessageContent,
) -> InboundEvent {
    let provider_message_id = client_id
        .map(|client_id| format!("{visitor_id}:{client_id}"))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    InboundEvent::Message(InboundMessage {
        provider_message_id,
        contact_external_id: visitor_id.to_owned(),
        contact_name: visitor_name,
        contact_phone: None,
        provider_timestamp: Some(core.clock.now()),
        content,
        reply_to_provider_message_id: None,
    })
}

/// One visitor's socket.
pub struct WebchatSession {
    core: Arc<Core>,
    org_id: OrgId,
    channel_id: ChannelId,
    visitor_id: String,
    visitor_token: String,
    /// The name the business gave an identified visitor.
    visitor_name: Option<String>,
    registration: Option<u64>,
    last_heard: Instant,
    /// When the consoles were last told the visitor is typing.
    typing_told: Option<Instant>,
}

/// How often a typing visitor is told to the consoles.
const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

impl WebchatSession {
    pub fn new(
        core: Arc<Core>,
        org_id: OrgId,
        channel_id: ChannelId,
        visitor_id: String,
        visitor_token: String,
        visitor_name: Option<String>,
    ) -> Self {
        Self {
            core,
            org_id,
            channel_id,
            visitor_id,
            visitor_token,
            visitor_name,
            registration: None,
            last_heard: Instant::now(),
            typing_told: None,
        }
    }

    fn send_frame(ctx: &mut ws::WebsocketContext<Self>, frame: &ServerFrame<'_>) {
        ctx.text(serde_json::to_string(frame).expect("frames serialise to JSON"));
    }

    fn error(ctx: &mut ws::WebsocketContext<Self>, code: &str, message: &str) {
        Self::send_frame(ctx, &ServerFrame::Error { code, message });
    }

    fn on_frame(&mut self, frame: VisitorFrame, ctx: &mut ws::WebsocketContext<Self>) {
        let (client_id, content) = match frame {
            VisitorFrame::Message { client_id, text } => (client_id, message_content(&text)),
            VisitorFrame::Reply {
                client_id,
                reply_id,
                title,
            } => (client_id, reply_content(&reply_id, &title)),
            VisitorFrame::Ping => return Self::send_frame(ctx, &ServerFrame::Pong),
            VisitorFrame::Typing => return self.typing(),
        };
        match content {
            Ok(content) => self.submit(client_id, content, ctx),
            Err(refusal) => Self::error(ctx, refusal.code, refusal.message),
        }
    }

    /// Tells the team's consoles the visitor is typing, at most every few seconds.
    fn typing(&mut self) {
        let now = Instant::now();
        if self
            .typing_told
            .is_some_and(|told| now.duration_since(told) < TYPING_EVERY)
        {
            return;
        }
        self.typing_told = Some(now);
        let core = Arc::clone(&self.core);
        let (org_id, channel_id, visitor_id) =
            (self.org_id, self.channel_id, self.visitor_id.clone());
        tokio::spawn(async move {
            // A visitor who has not written yet has no conversation to type in.
            if let Ok(Some(conversation)) = core
                .store
                .conversation_of_contact(channel_id, &visitor_id)
                .await
            {
                core.bus.publish(
                    org_id,
                    crate::actors::bus::Event::ContactTyping {
                        conversation_id: conversation.id,
                    },
                );
            }
        });
    }

    /// Stores what the visitor sent as an inbound message; `client_id` is acknowledged once
    /// it is stored.
    fn submit(
        &mut self,
        client_id: Option<String>,
        content: MessageContent,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if !self
            .core
            .channel(self.channel_id)
            .is_some_and(|runtime| runtime.receives())
        {
            Self::error(
                ctx,
                "channel_inactive",
                "the web chat is switched off; the message was not stored",
            );
            return;
        }
        let event = visitor_event(
            &self.core,
            &self.visitor_id,
            self.visitor_name.clone(),
            client_id.as_deref(),
            content,
        );
        let core = Arc::clone(&self.core);
        let (org_id, channel_id) = (self.org_id, self.channel_id);
        let submit = async move {
            core.ingress()
                .submit(org_id, channel_id, vec![event], core.clock.now())
                .await
        };
        // `wait` holds further frames of this socket until the message is stored, so a
        // visitor's messages are stored in the order they were typed.
        ctx.wait(
            submit
                .into_actor(self)
                .map(move |result, _, ctx| match result {
                    Ok(_) => {
                        if let Some(client_id) = &client_id {
                            Self::send_frame(ctx, &ServerFrame::Ack { client_id });
                        }
                    }
                    Err(_) => Self::error(
                        ctx,
                        "unavailable",
                        "the message could not be stored; send it again",
                    ),
                }),
        );
    }

    fn send_history(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let core = Arc::clone(&self.core);
        let (org_id, channel_id, visitor_id) =
            (self.org_id, self.channel_id, self.visitor_id.clone());
        let load = async move {
            let Some(conversation) = core
                .store
                .conversation_of_contact(channel_id, &visitor_id)
                .await?
            else {
                return Ok(Vec::new());
            };
            core.store
                .messages(org_id, conversation.id, HISTORY_LIMIT)
                .await
        };
        ctx.wait(load.into_actor(self).map(
            |result: Result<Vec<crate::store::MessageRecord>, crate::store::StoreError>, _, ctx| {
                let messages = result
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|message| !matches!(message.content, MessageContent::System { .. }))
                    .map(|message| WebchatMessage {
                        id: message.id.to_string(),
                        from: if message.direction == Direction::Inbound {
                            "visitor"
                        } else {
                            "business"
                        },
                        content: message.content,
                        at: message.received_at,
                    })
                    .collect();
                Self::send_frame(ctx, &ServerFrame::History { messages });
            },
        ));
    }
}

impl Actor for WebchatSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let recipient = ctx.address().recipient();
        self.registration = Some(self.core.webchat.register(
            self.channel_id,
            &self.visitor_id,
            recipient,
        ));
        self.core
            .metrics
            .live_actors
            .with_label_values(&["webchat_socket"])
            .inc();
        Self::send_frame(
            ctx,
            &ServerFrame::Ready {
                visitor_id: &self.visitor_id,
                visitor_token: &self.visitor_token,
            },
        );
        self.send_history(ctx);
        ctx.run_interval(HEARTBEAT_INTERVAL, |session, ctx| {
            if session.last_heard.elapsed() > CLIENT_TIMEOUT {
                ctx.stop();
                return;
            }
            ctx.ping(b"");
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> actix::Running {
        if let Some(id) = self.registration.take() {
            self.core
                .webchat
                .unregister(self.channel_id, &self.visitor_id, id);
            self.core
                .metrics
                .live_actors
                .with_label_values(&["webchat_socket"])
                .dec();
        }
        actix::Running::Stop
    }
}

impl Handler<Push> for WebchatSession {
    type Result = ();

    fn handle(&mut self, push: Push, ctx: &mut Self::Context) {
        ctx.text(&*push.0);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WebchatSession {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match item {
            Ok(ws::Message::Text(text)) => match serde_json::from_str::<VisitorFrame>(&text) {
                Ok(frame) => self.on_frame(frame, ctx),
                Err(error) => Self::error(ctx, "malformed_frame", &error.to_string()),
            },
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Pong(_)) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Binary(_)) => {
                Self::error(ctx, "malformed_frame", "frames are JSON text")
            }
            Ok(ws::Message::Continuation(_) | ws::Message::Nop) => {}
            Err(_) => ctx.stop(),
        }
    }
}
