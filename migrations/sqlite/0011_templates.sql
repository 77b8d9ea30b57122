-- WhatsApp message templates as last synced from Meta, per channel, and the mappings of
-- events (`reservation_confirmed`, `check_in_reminder`, custom ones) to templates.

CREATE TABLE whatsapp_templates (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    -- APPROVED, PENDING, REJECTED, PAUSED, DISABLED … as Meta reports it.
    status TEXT NOT NULL,
    category TEXT,
    provider_id TEXT,
    -- The template's components as Meta returns them, JSON.
    components TEXT NOT NULL,
    -- The body's placeholders in order (`["1", "2"]`), JSON.
    parameters TEXT NOT NULL,
    synced_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, name, language)
);

CREATE TABLE template_mappings (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    event TEXT NOT NULL,
    channel_id TEXT NOT NULL REFERENCES channels(id),
    template_name TEXT NOT NULL,
    language TEXT NOT NULL,
    -- Placeholder → path in the event's data, JSON (`{"1": "guestName"}`).
    parameters TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, event, channel_id)
);
CREATE INDEX template_mappings_by_event ON template_mappings(org_id, event);
