-- AI Agents: the personas an AI Agent step runs as. A step names one by id (or by name in a
-- draft); the persona's instructions open the step's system prompt.

CREATE TABLE ai_agents (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    instructions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ai_agents_by_name ON ai_agents(org_id, name_key);
