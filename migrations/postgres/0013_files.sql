-- Files Parley keeps itself: what a web chat visitor uploads, and what the team sends a
-- contact on a channel whose provider fetches files by link (or, on the web chat, where Parley
-- is the provider). The bytes are base64; a file lives as long as its conversation.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    -- The contact (their external id; a web chat visitor's id) the file was exchanged with:
    -- on the web chat only they, and the team, may fetch it.
    contact_external_id TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    filename TEXT,
    size BIGINT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX files_by_contact ON files(channel_id, contact_external_id);
