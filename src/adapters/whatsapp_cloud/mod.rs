//! WhatsApp through Meta's Cloud API: the GET verification handshake, signed webhook
//! notifications, and sends to `/{version}/{phone_number_id}/messages`.

pub mod client;
pub mod config;
pub mod parse;
pub mod render;
pub mod verify;

pub use client::{upload_limits, WhatsappClient};
pub use config::{WhatsappPublicConfig, WhatsappSecrets};
