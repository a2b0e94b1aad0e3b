-- Device certificates and registered CA certificates (the model's JSON, keyed by certificate id),
-- and the principals attached to things.
CREATE TABLE certificates (
    name TEXT PRIMARY KEY NOT NULL,
    doc  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE ca_certificates (
    name TEXT PRIMARY KEY NOT NULL,
    doc  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE thing_principals (
    thing_name TEXT NOT NULL,
    principal  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    PRIMARY KEY (thing_name, principal)
) WITHOUT ROWID;
