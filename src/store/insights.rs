//! The latest AI insight (sentiment and summary) of a conversation.
