-- Persistent MQTT sessions (MQTT 3.1.1 clean session = false, or an MQTT 5 session expiry), kept
-- across restarts as AWS keeps them. `subscriptions` is JSON; `disconnected_at_ms` is NULL while
-- a connection holds the session.
CREATE TABLE sessions (
    client_id          TEXT PRIMARY KEY NOT NULL,
    expiry_secs        INTEGER NOT NULL,
    disconnected_at_ms INTEGER,
    version            INTEGER NOT NULL,
    subscriptions      TEXT NOT NULL
) WITHOUT ROWID;

-- QoS 1 messages waiting for a persistent session, in order: stored while it is offline, and kept
-- until its next connection has been sent and acknowledged all of them.
CREATE TABLE session_queue (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id  TEXT NOT NULL,
    topic      TEXT NOT NULL,
    payload    BLOB NOT NULL,
    qos        INTEGER NOT NULL,
    retain     INTEGER NOT NULL,
    dup        INTEGER NOT NULL,
    properties TEXT NOT NULL,
    publisher  TEXT,
    principal  TEXT NOT NULL,
    ts_ms      INTEGER NOT NULL
);
CREATE INDEX session_queue_by_client ON session_queue (client_id, seq);
