//! Integration tests: the real server on port 0, talked to over HTTP and WebSocket like a
//! provider, a partner or a visitor would. The backend is SQLite unless
//! `PARLEY_TEST_BACKEND=postgres`, in which case a throwaway Postgres server is started from
//! the binaries on the machine.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
#![allow(
    unreachable_pub,
    reason = "helpers are shared between the modules of one test crate"
)]

mod support;

mod agent_ws;
mod ai;
mod ai_agents;
mod auth;
mod canned_responses;
mod channels;
mod connections;
mod console;
mod console_channels;
mod conversation_actions;
mod crash;
mod delivery;
mod email;
mod escalation;
mod evolution;
mod goals;
mod handover;
mod health;
mod inbox;
mod insights;
mod isolation;
mod journey_flow;
mod journeys;
mod knowledge;
mod notes;
mod notifications;
mod partitions;
mod postgres_batch;
mod telegram;
mod templates;
mod test_chat;
mod timers;
mod twilio;
mod webchat;
mod webhooks;
mod widget;
