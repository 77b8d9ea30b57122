-- Files exchanged on the web chat: what a visitor uploads and what the team sends a visitor.
-- Parley is the provider here, so it keeps the bytes (base64) for as long as the conversation.
CREATE TABLE webchat_files (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    -- The visitor the file was exchanged with: only they (and the team) may fetch it.
    visitor_id TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    filename TEXT,
    size BIGINT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webchat_files_by_visitor ON webchat_files(channel_id, visitor_id);
