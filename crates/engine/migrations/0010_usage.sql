-- Metered usage per UTC day, thing ('' = not a thing's) and metric, in AWS's billing units (see
-- thingbox_model::usage). Rows hold running totals and are overwritten as they grow.
CREATE TABLE usage (
    day    TEXT NOT NULL,
    thing  TEXT NOT NULL,
    metric TEXT NOT NULL,
    units  INTEGER NOT NULL,
    PRIMARY KEY (day, thing, metric)
) WITHOUT ROWID;
