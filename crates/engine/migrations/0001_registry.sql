-- The device registry. Each record is the model's JSON (serde) form, keyed by name, so the schema
-- stays small while the model evolves; memberships are rows so that both directions can be indexed.
CREATE TABLE things (
    name TEXT PRIMARY KEY NOT NULL,
    doc  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE thing_types (
    name TEXT PRIMARY KEY NOT NULL,
    doc  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE thing_groups (
    name TEXT PRIMARY KEY NOT NULL,
    doc  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE thing_group_members (
    group_name TEXT NOT NULL,
    thing_name TEXT NOT NULL,
    PRIMARY KEY (group_name, thing_name)
) WITHOUT ROWID;
CREATE INDEX thing_group_members_by_thing ON thing_group_members (thing_name, group_name);

-- Small facts about this data dir (e.g. the DescribeEndpoint prefix), chosen once and kept.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
