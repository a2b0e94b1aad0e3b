-- IoT policies (the model's JSON with every version) and their attachments.
CREATE TABLE policies (
    name TEXT PRIMARY KEY NOT NULL,
    doc  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE policy_targets (
    policy TEXT NOT NULL,
    target TEXT NOT NULL, -- the model's JSON form of the target, e.g. {"kind":"cert","id":"…"}
    PRIMARY KEY (policy, target)
) WITHOUT ROWID;
