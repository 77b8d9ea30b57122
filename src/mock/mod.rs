//! Faithful local stand-ins for the internet providers, used by the integration tests and by
//! `parley-load`: real HTTP on loopback, the provider's real payload shapes, signatures and
//! error answers. Nothing in the server depends on this module.

pub mod dns;
pub mod evolution;
pub mod graph;
pub mod llm;
pub mod messenger_webhooks;
pub mod smtp;
pub mod telegram;
pub mod twilio;
pub mod whatsapp_webhooks;
