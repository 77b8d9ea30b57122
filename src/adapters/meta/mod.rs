//! Meta's Graph API beyond sending: the consent flow's token exchange, the discovery of the
//! accounts a person granted (WhatsApp business accounts and numbers, Facebook Pages and
//! their Instagram accounts), webhook subscriptions, number registration, business profiles
//! and token checks. Every call goes to the configured Graph URL, so tests use the mock.

pub mod config;
pub mod graph;

pub use config::{PagePublicConfig, PageSecrets};
pub use graph::{GraphFailure, MetaGraph};
