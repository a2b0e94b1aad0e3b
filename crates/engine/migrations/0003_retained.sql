-- Retained messages: one per topic, kept across restarts as on AWS.
CREATE TABLE retained (
    topic      TEXT PRIMARY KEY NOT NULL,
    payload    BLOB NOT NULL,
    qos        INTEGER NOT NULL,
    properties TEXT NOT NULL,
    client_id  TEXT,
    principal  TEXT NOT NULL,
    ts_ms      INTEGER NOT NULL
) WITHOUT ROWID;
