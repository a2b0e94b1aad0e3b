-- The message history: a ring of the newest routed messages (bounded by count and bytes), kept in
-- its own file (history.db) so that its writes never queue behind the durable registry writer.
-- `id` is the router tap's sequence number, increasing with time.
CREATE TABLE messages (
    id         INTEGER PRIMARY KEY,
    ts_ms      INTEGER NOT NULL,
    topic      TEXT NOT NULL,
    payload    BLOB NOT NULL,
    qos        INTEGER NOT NULL,
    retain     INTEGER NOT NULL,
    client_id  TEXT,
    principal  TEXT NOT NULL,
    properties TEXT
);
