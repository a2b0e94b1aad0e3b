-- Jobs (the model's JSON keyed by id), their executions (one row per attempt, keyed by job, thing
-- and execution number) and job templates.
CREATE TABLE jobs (
    id  TEXT PRIMARY KEY NOT NULL,
    doc TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE job_executions (
    job_id TEXT NOT NULL,
    thing  TEXT NOT NULL,
    number INTEGER NOT NULL,
    doc    TEXT NOT NULL,
    PRIMARY KEY (job_id, thing, number)
) WITHOUT ROWID;

CREATE TABLE job_templates (
    id  TEXT PRIMARY KEY NOT NULL,
    doc TEXT NOT NULL
) WITHOUT ROWID;
