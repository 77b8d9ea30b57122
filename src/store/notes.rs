//! Internal notes on conversations.
