//! The live system: the inbound writer, one actor per conversation (the single writer of its
//! state), one actor per channel (draining its outbox), the timer scheduler, the event bus and
//! the web chat sockets.
//!
//! Actors are caches over the store: all state they act on is persisted before they act, so
//! any of them can be dropped and rebuilt — after an eviction, a panic, or a restart.

pub mod agents;
pub(crate) mod api_call;
pub mod bus;
mod channel;
pub mod connections;
mod conversation;
mod core;
pub mod email;
mod ingress;
pub mod partitions;
pub mod redis_bus;
mod registry;
mod scheduler;
pub mod smtp_listener;
pub mod telegram;
pub mod test_chat;
pub(crate) mod tokens;
pub mod webchat;

pub use self::core::{ChannelRuntime, ChannelSecrets, Cluster, Core, CoreSettings, MetaSettings};
pub use bus::{Event, EventBus, InProcessBus};
pub use channel::retry_delay;
pub(crate) use conversation::StaffError;
pub use ingress::{Accepted, IngressError};
pub use registry::ConversationKey;

/// Timer kinds set by conversation actors.
pub mod timer_kind {
    /// The bot has heard nothing for a while: the conversation expires.
    pub const BOT_INACTIVITY: &str = "bot_inactivity";
    /// A journey step's timer (a Delay, a Prompt timeout, a wait's timeout); its generation
    /// is the token the session waits for.
    pub const JOURNEY: &str = "journey";
    /// A guard on work a journey handed out (an API call, an AI call): if no result has come
    /// by then (the process stopped meanwhile), the session gets a failure instead.
    pub const JOURNEY_WORK: &str = "journey_work";
    /// Three days after a team member's last reply the bot may answer again.
    pub const HUMAN_SILENCE: &str = "human_silence";
    /// An escalation nobody claimed in 30 minutes returns to the bot.
    pub const AWAITING_AGENT: &str = "awaiting_agent";
}
