-- Email channels: what Parley keeps of each mail received, to thread its answers (subject
-- and References) and to show the original (the raw MIME, base64).
CREATE TABLE email_messages (
    channel_id TEXT NOT NULL,
    -- The Message-ID without angle brackets.
    message_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    subject TEXT,
    -- The mail's References, space-separated, without angle brackets.
    references_ids TEXT NOT NULL,
    raw TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, message_id)
);

-- Tokens of signed inbound webhooks (Mailgun) already seen: a replayed post is refused.
CREATE TABLE email_webhook_tokens (
    channel_id TEXT NOT NULL,
    token TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, token)
);
CREATE INDEX email_webhook_tokens_by_time ON email_webhook_tokens(seen_at);
