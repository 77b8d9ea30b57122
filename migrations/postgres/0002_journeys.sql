-- Bot journeys as partners build them: descriptions, immutable deployed versions, channel
-- assignment with a bot identity, campaign variables, goals and their events.

ALTER TABLE journeys ADD COLUMN description TEXT;
ALTER TABLE journeys ADD COLUMN live_version BIGINT;
ALTER TABLE journeys ADD COLUMN latest_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE journeys ADD COLUMN sessions_from_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE journeys ADD CONSTRAINT journeys_state CHECK (state IN ('draft', 'live'));
-- A name is unique among an organisation's own journeys only.
ALTER TABLE journeys DROP CONSTRAINT journeys_org_id_name_key;
CREATE UNIQUE INDEX journeys_by_name ON journeys(org_id, name) WHERE builtin = 0;

CREATE TABLE journey_versions (
    journey_id TEXT NOT NULL REFERENCES journeys(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    org_id TEXT NOT NULL,
    graph TEXT NOT NULL,
    deployed_by TEXT,
    restored_from BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (journey_id, version)
);

ALTER TABLE journey_sessions ADD COLUMN version BIGINT;

ALTER TABLE channels ADD COLUMN journey_id TEXT;
ALTER TABLE channels ADD COLUMN bot_user_id TEXT;

ALTER TABLE conversations ADD COLUMN assigned_user_id TEXT;
ALTER TABLE conversations ADD COLUMN assigned_team_id TEXT;

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
    trackers TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (goal_id, name)
);

CREATE TABLE goal_events (
    id BIGSERIAL PRIMARY KEY,
    org_id TEXT NOT NULL,
    goal_id TEXT NOT NULL,
    milestone_id TEXT NOT NULL,
    journey_id TEXT,
    journey_version BIGINT,
    conversation_id TEXT,
    test_session_id TEXT,
    is_test BIGINT NOT NULL,
    trackers TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX goal_events_by_goal ON goal_events(org_id, goal_id, created_at);
