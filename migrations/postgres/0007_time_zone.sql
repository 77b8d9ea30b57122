-- The organisation's IANA time zone: "today" and "tomorrow" in guests' messages, Prompt Date
-- steps and the AI's date reading are resolved in it.
ALTER TABLE organizations ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
