//! Plain domain types with their invariants: identifiers, roles, channels, conversations,
//! messages and inbound events. Nothing here performs I/O or reads the clock.

pub mod channel;
pub mod escalation;
pub mod handover;
pub mod ids;
pub mod inbound;
pub mod message;
pub mod partition;
pub mod role;

pub use channel::{ChannelKind, ChannelStatus};
pub use ids::{ChannelId, ContactId, ConversationId, MessageId, OrgId, UserId};
pub use inbound::{InboundEvent, InboundMessage, StatusUpdate};
pub use message::{
    ChoiceItem, ChoiceStyle, ConversationStatus, DeliveryStatus, Direction, Header, ListSection,
    MediaKind, MessageContent, SenderKind, TemplateButtonValue, TemplateHeader,
};
pub use role::Role;

/// Milliseconds since the Unix epoch: the one time representation stored and passed around.
pub type Millis = i64;
