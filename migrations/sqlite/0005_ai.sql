-- AI: the LLM provider an organisation configures (without one, the local engine answers),
-- and the tokens it has used, per day.

CREATE TABLE ai_settings (
    org_id TEXT PRIMARY KEY REFERENCES organizations(id),
    provider TEXT NOT NULL CHECK (provider IN ('openai', 'anthropic')),
    base_url TEXT NOT NULL,
    model TEXT NOT NULL,
    -- The API key, encrypted with the master key. Never returned by the API.
    api_key_sealed TEXT NOT NULL,
    timeout_ms BIGINT NOT NULL,
    max_retries BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE ai_usage (
    org_id TEXT NOT NULL REFERENCES organizations(id),
    -- The UTC day, `YYYY-MM-DD`.
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    requests BIGINT NOT NULL,
    -- Requests that ended in an error after their retries.
    failures BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, provider, model)
);
