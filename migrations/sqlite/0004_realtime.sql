-- The inbox in real time: the per-organisation event log agent consoles replay from, console
-- sessions, notifications and AI insights.

-- The last event sequence number of the organisation. Writers bump it in the transaction that
-- writes the events, so sequence order is commit order.
ALTER TABLE organizations ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE events (
    org_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    -- `message.created`, `conversation.updated`, ...
    kind TEXT NOT NULL,
    conversation_id TEXT,
    -- The event's data as JSON.
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, seq)
) WITHOUT ROWID;
CREATE INDEX events_by_time ON events(created_at);

-- Console sessions from `POST /api/v1/auth/login`; only the token's hash is stored.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Per team member: escalations waiting, new guest messages, assignments.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    conversation_id TEXT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_by_user ON notifications(user_id, created_at);

-- The latest sentiment and summary of a conversation.
CREATE TABLE conversation_insights (
    conversation_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    -- `positive`, `neutral` or `negative`.
    sentiment TEXT NOT NULL,
    -- From -1000 (most negative) to 1000 (most positive).
    sentiment_score BIGINT NOT NULL,
    summary TEXT NOT NULL,
    -- How many messages the insight was drawn from.
    message_count BIGINT NOT NULL,
    generated_at BIGINT NOT NULL
);

-- The bot stepping aside on its own: an offer of the team standing, and messages in a row the
-- bot could not understand (three hand the conversation over).
ALTER TABLE conversations ADD COLUMN escalation_offered_at BIGINT;
ALTER TABLE conversations ADD COLUMN misunderstood BIGINT NOT NULL DEFAULT 0;
