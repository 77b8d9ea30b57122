//! Parley: a real-time conversation server. Customer messages arrive from messaging channels,
//! are stored durably, answered by bot journeys or handed to human agents, and delivered back
//! to the provider exactly once.
//!
//! Layers, from the bottom: [`domain`] (plain types), [`journey`] (the pure interpreter),
//! [`store`] (SQL), [`adapters`] (providers), [`ai`] (models for journeys), [`actors`] (the live
//! system), [`http`] (the web surface). Dependencies only point downward.

pub mod actors;
pub mod adapters;
pub mod ai;
pub mod app;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod journey;
pub mod metrics;
pub mod mock;
pub mod store;
pub mod telemetry;
