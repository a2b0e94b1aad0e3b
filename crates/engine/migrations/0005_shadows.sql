-- Device shadows (classic: name ''), and every accepted change for the console's history.
CREATE TABLE shadows (
    thing TEXT NOT NULL,
    name  TEXT NOT NULL,
    doc   TEXT NOT NULL,
    PRIMARY KEY (thing, name)
) WITHOUT ROWID;

CREATE TABLE shadow_versions (
    id      INTEGER PRIMARY KEY,
    thing   TEXT NOT NULL,
    name    TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind    TEXT NOT NULL,    -- 'update' or 'delete'
    doc     TEXT NOT NULL,    -- the document after the change (state + metadata + version)
    writer  TEXT NOT NULL,    -- client id, or 'api'
    ts      INTEGER NOT NULL  -- epoch seconds
);
CREATE INDEX shadow_versions_by_shadow ON shadow_versions (thing, name, id);
