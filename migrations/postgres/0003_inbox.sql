-- The inbox: what each team member has read, canned responses, internal notes, agent presence
-- and capacity, and conversation flags.

CREATE TABLE conversation_reads (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    org_id TEXT NOT NULL,
    -- Messages received up to this time have been read.
    read_up_to BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE TABLE canned_responses (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    -- Typed in the composer, e.g. `/checkin`.
    shortcut TEXT,
    category TEXT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX canned_responses_by_shortcut ON canned_responses(org_id, shortcut)
    WHERE shortcut IS NOT NULL;

CREATE TABLE conversation_notes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    author_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversation_notes_by_conversation ON conversation_notes(conversation_id, created_at);

-- Agents: presence (online, away, offline), how many active conversations they take, and when
-- they last got one (ties of auto-assignment go to the longest idle).
ALTER TABLE users ADD COLUMN presence TEXT NOT NULL DEFAULT 'offline';
ALTER TABLE users ADD COLUMN max_active_conversations BIGINT NOT NULL DEFAULT 10;
ALTER TABLE users ADD COLUMN last_assigned_at BIGINT;

-- Per conversation: the AI may be turned off, and a closed conversation archived.
ALTER TABLE conversations ADD COLUMN ai_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE conversations ADD COLUMN archived_at BIGINT;
