-- Events are written unnumbered and numbered after their commit, in batches, by one short
-- transaction holding the organisation's row lock (`Store::sequence_events`): writers no longer
-- hold that lock until their own commit. `id` orders the events waiting for a number in the
-- order they were written.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE events ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX events_by_seq ON events(org_id, seq);
CREATE INDEX events_unnumbered ON events(org_id, id) WHERE seq IS NULL;

-- Numbers up to `most` of the organisation's unnumbered events, oldest first, and answers how
-- many. One call is one round trip: the row lock is held only while the server works, never
-- while a client is between two statements. Each statement of a function sees a new snapshot,
-- so the events read after the lock is granted include everything committed before it, and
-- none that a previous holder numbered.
CREATE FUNCTION parley_number_events(org TEXT, most BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    base BIGINT;
    given BIGINT;
    highest BIGINT;
BEGIN
    -- Not `FOR UPDATE`: that would also wait for every transaction that has inserted a row
    -- referring to the organisation (their foreign-key checks hold `FOR KEY SHARE` on it).
    SELECT event_seq INTO base FROM organizations WHERE id = org FOR NO KEY UPDATE;
    WITH numbered AS (
        UPDATE events SET seq = base + waiting.position
          FROM (SELECT e.id, row_number() OVER (ORDER BY e.id) AS position
                  FROM events e
                 WHERE e.org_id = org AND e.seq IS NULL
                 ORDER BY e.id
                 LIMIT most) AS waiting
         WHERE events.id = waiting.id
        RETURNING events.seq
    )
    SELECT count(*), max(numbered.seq) INTO given, highest FROM numbered;
    -- The highest number given, not the count: an event pruned meanwhile leaves its number
    -- unused rather than given twice.
    IF highest IS NOT NULL THEN
        UPDATE organizations SET event_seq = highest WHERE id = org;
    END IF;
    RETURN given;
END
$$;
