-- Topic rules (the model's JSON, keyed by name) and the local tables their dynamoDB and
-- dynamoDBv2 actions write: one row per item, keyed by the table's partition and sort key values
-- ('' when a table has no sort key), the item as JSON.
CREATE TABLE topic_rules (
    name TEXT PRIMARY KEY NOT NULL,
    doc  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE rule_tables (
    name TEXT PRIMARY KEY NOT NULL,
    key  TEXT NOT NULL  -- JSON array: partition key attribute, then the sort key attribute if any
) WITHOUT ROWID;

CREATE TABLE rule_table_items (
    table_name TEXT NOT NULL,
    hash       TEXT NOT NULL,
    range      TEXT NOT NULL,
    item       TEXT NOT NULL,
    PRIMARY KEY (table_name, hash, range)
) WITHOUT ROWID;
