-- Bot journeys as partners build them: descriptions, immutable deployed versions, channel
-- assignment with a bot identity, campaign variables, goals and their events.

-- The table is rebuilt so that a name is unique among an organisation's own journeys only
-- (the built-in greeting does not take a name away). Nothing references `journeys` by key.
CREATE TABLE journeys_v2 (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    description TEXT,
    state TEXT NOT NULL CHECK (state IN ('draft', 'live')),
    builtin BIGINT NOT NULL DEFAULT 0,
    -- The draft graph; deploying snapshots it into `journey_versions`.
    graph TEXT NOT NULL,
    -- The version new sessions take while the journey is live.
    live_version BIGINT,
    latest_version BIGINT NOT NULL DEFAULT 0,
    -- Sessions on an older version were ended by an undeploy.
    sessions_from_version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO journeys_v2 (id, org_id, name, state, builtin, graph, created_at, updated_at)
    SELECT id, org_id, name, state, builtin, graph, created_at, updated_at FROM journeys;
DROP TABLE journeys;
ALTER TABLE journeys_v2 RENAME TO journeys;
CREATE UNIQUE INDEX journeys_by_name ON journeys(org_id, name) WHERE builtin = 0;

CREATE TABLE journey_versions (
    journey_id TEXT NOT NULL REFERENCES journeys(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    org_id TEXT NOT NULL,
    graph TEXT NOT NULL,
    deployed_by TEXT,
    -- The version this one restored, for a rollback.
    restored_from BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (journey_id, version)
);

-- The version a session runs; NULL for the built-in greeting, which has none.
ALTER TABLE journey_sessions ADD COLUMN version BIGINT;

-- One live journey per channel, spoken by a user with the Bot role.
ALTER TABLE channels ADD COLUMN journey_id TEXT;
ALTER TABLE channels ADD COLUMN bot_user_id TEXT;

-- Where an Agent Transfer handed the conversation.
ALTER TABLE conversations ADD COLUMN assigned_user_id TEXT;
ALTER TABLE conversations ADD COLUMN assigned_team_id TEXT;

-- Organisation-wide variables shared across journeys; values are JSON.
CREATE TABLE campaign_variables (
    org_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, name)
);

CREATE TABLE goals (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE goal_milestones (
    id TEXT PRIMARY KEY,
    goal_id TEXT NOT NULL REFERENCES goals(id),
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    position BIGINT NOT NULL,
    -- Tracker names, a JSON array.
    trackers TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (goal_id, name)
);

CREATE TABLE goal_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    goal_id TEXT NOT NULL,
    milestone_id TEXT NOT NULL,
    journey_id TEXT,
    journey_version BIGINT,
    conversation_id TEXT,
    test_session_id TEXT,
    is_test BIGINT NOT NULL,
    -- Tracker values, a JSON object.
    trackers TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX goal_events_by_goal ON goal_events(org_id, goal_id, created_at);
