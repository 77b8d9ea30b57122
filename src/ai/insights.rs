//! Conversation insights from the local engine: lexicon sentiment and an extractive summary.
