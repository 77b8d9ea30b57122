-- The identity of the nodes sharing this database: they coordinate through Redis under a
-- namespace named after it, so clusters that share one Redis never meet.
CREATE TABLE cluster (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL
);

-- The partition of the row's conversation (`domain::partition`): with several nodes, only the
-- node that owns it reads the row for its send. Rows from before have none (-1) and are read
-- by every node, as they were.
ALTER TABLE outbox ADD COLUMN partition_no INTEGER NOT NULL DEFAULT -1;
