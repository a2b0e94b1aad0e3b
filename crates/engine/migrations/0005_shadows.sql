-- Device shadows: every accepted change (the newest entry of a shadow is its current state), kept
-- for the console's history and trimmed to a bounded number per shadow. One row per change keeps
-- a durable update at one INSERT.
CREATE TABLE shadow_versions (
    id      INTEGER PRIMARY KEY,
    thing   TEXT NOT NULL,
    name    TEXT NOT NULL,    -- '' = the classic shadow
    version INTEGER NOT NULL,
    kind    TEXT NOT NULL,    -- 'update' or 'delete'
    shadow  TEXT NOT NULL,    -- the model's Shadow after the change (JSON)
    writer  TEXT NOT NULL,    -- client id, or 'api'
    ts      INTEGER NOT NULL  -- epoch seconds
);
CREATE INDEX shadow_versions_by_shadow ON shadow_versions (thing, name, id);
