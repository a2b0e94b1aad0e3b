-- Provisioning templates (the model's JSON, every version inside, keyed by name).
CREATE TABLE provisioning_templates (
    name TEXT PRIMARY KEY NOT NULL,
    doc  TEXT NOT NULL
) WITHOUT ROWID;
