-- Parley schema (SQLite). Times are Unix milliseconds; ids are UUID strings; flags are 0/1.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'user', 'bot')),
    password_hash TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    public_config TEXT NOT NULL,
    secret_config TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX channels_by_org ON channels(org_id) WHERE deleted_at IS NULL;

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    channel_id TEXT NOT NULL REFERENCES channels(id),
    external_id TEXT NOT NULL,
    name TEXT,
    phone TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (channel_id, external_id)
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    channel_id TEXT NOT NULL REFERENCES channels(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    status TEXT NOT NULL,
    last_message_at BIGINT,
    last_inbound_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (contact_id)
);
CREATE INDEX conversations_by_org ON conversations(org_id, last_message_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    channel_id TEXT NOT NULL REFERENCES channels(id),
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    sender_kind TEXT NOT NULL CHECK (sender_kind IN ('contact', 'bot', 'agent', 'system')),
    sender_id TEXT,
    content TEXT NOT NULL,
    journey_step TEXT,
    provider_message_id TEXT,
    reply_to_provider_message_id TEXT,
    delivery_status TEXT NOT NULL,
    delivery_rank BIGINT NOT NULL,
    failure_reason TEXT,
    provider_timestamp BIGINT,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, received_at);
CREATE INDEX messages_by_provider_id ON messages(channel_id, provider_message_id);

-- Every inbound webhook event, deduplicated on (channel_id, dedupe_key). Rows live at least
-- as long as the longest provider redelivery horizon (WhatsApp: 7 days) before pruning.
CREATE TABLE inbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    contact_external_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    processed_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    quarantined_at BIGINT,
    UNIQUE (channel_id, dedupe_key)
);
CREATE INDEX inbound_unprocessed ON inbound(id) WHERE processed_at IS NULL AND quarantined_at IS NULL;
CREATE INDEX inbound_by_age ON inbound(received_at);

-- Outbound messages waiting for (or done with) their provider send.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE REFERENCES messages(id),
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox(channel_id, next_attempt_at) WHERE status IN ('pending', 'sending');

CREATE TABLE journeys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    builtin BIGINT NOT NULL DEFAULT 0,
    graph TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE journey_sessions (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id),
    org_id TEXT NOT NULL,
    journey_id TEXT NOT NULL,
    state TEXT NOT NULL,
    generation BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Durable timers, one per conversation and kind (setting it again replaces it). A timer fires
-- at most once and only if its generation still matches the state that set it.
CREATE TABLE timers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    contact_external_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    fired_at BIGINT,
    UNIQUE (conversation_id, kind)
);
CREATE INDEX timers_due ON timers(due_at) WHERE fired_at IS NULL;
