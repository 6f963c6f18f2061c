-- 005_key_regions.sql -- a KMS key is a (key id, region) pair.
--
-- A multi-Region key and its replicas share one key id ("mrk-" and 32 hex
-- digits) in several regions of the server, each with its own record
-- (policy, description, state, tags, aliases), so kms_keys is keyed by
-- (key_id, region).  Related multi-Region keys share their key material
-- (AWS: "related multi-Region keys have the same key material"; rotating
-- the primary rotates every replica), so kms_key_materials stays keyed by
-- key id alone and no longer references kms_keys: a key_delete removes the
-- materials only with the last region's record (store/sql_records.c).  An
-- alias names a key of its own region: its reference becomes
-- (target_key_id, region).  primary_region is the region of the primary
-- key of a multi-Region key ("" for a single-Region key), the same in every
-- related record; an existing mrk- key is its own primary.
--
-- SQLite cannot change a table's key in place: the three tables are
-- rebuilt, the children first emptied into copies so no reference dangles
-- while kms_keys is replaced.  Embedded as store_schema[4] in
-- store/schema.c.

CREATE TABLE kms_key_materials_copy AS SELECT * FROM kms_key_materials;
CREATE TABLE kms_aliases_copy AS SELECT * FROM kms_aliases;
DROP TABLE kms_aliases;
DROP TABLE kms_key_materials;

CREATE TABLE kms_keys_new (
    key_id                TEXT    NOT NULL,
    account_id            TEXT    NOT NULL,
    region                TEXT    NOT NULL,
    arn                   TEXT    NOT NULL,
    description           TEXT    NOT NULL,
    policy                TEXT    NOT NULL,
    key_state             TEXT    NOT NULL,
    key_usage             TEXT    NOT NULL,
    key_spec              TEXT    NOT NULL,
    origin                TEXT    NOT NULL,
    key_manager           TEXT    NOT NULL,
    created               INTEGER NOT NULL,
    deletion_date         INTEGER NOT NULL,
    pending_window_days   INTEGER NOT NULL,
    rotation_enabled      INTEGER NOT NULL,
    rotation_period_days  INTEGER NOT NULL,
    next_rotation         INTEGER NOT NULL,
    current_material      INTEGER NOT NULL,
    policy_ids            TEXT,
    primary_region        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (key_id, region)
);
INSERT INTO kms_keys_new (key_id, account_id, region, arn, description, policy, key_state,
                          key_usage, key_spec, origin, key_manager, created, deletion_date,
                          pending_window_days, rotation_enabled, rotation_period_days,
                          next_rotation, current_material, policy_ids, primary_region)
    SELECT key_id, account_id, region, arn, description, policy, key_state, key_usage,
           key_spec, origin, key_manager, created, deletion_date, pending_window_days,
           rotation_enabled, rotation_period_days, next_rotation, current_material,
           policy_ids, CASE WHEN key_id LIKE 'mrk-%' THEN region ELSE '' END
    FROM kms_keys;
DROP TABLE kms_keys;
ALTER TABLE kms_keys_new RENAME TO kms_keys;
CREATE INDEX kms_keys_by_account ON kms_keys (account_id, region, key_id);
CREATE INDEX kms_keys_by_deletion ON kms_keys (deletion_date);
CREATE INDEX kms_keys_by_rotation ON kms_keys (next_rotation);

CREATE TABLE kms_key_materials (
    key_id          TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    created         INTEGER NOT NULL,
    rotation_type   TEXT    NOT NULL,
    wrapped         BLOB    NOT NULL,
    PRIMARY KEY (key_id, version)
) WITHOUT ROWID;
INSERT INTO kms_key_materials (key_id, version, created, rotation_type, wrapped)
    SELECT key_id, version, created, rotation_type, wrapped FROM kms_key_materials_copy;

CREATE TABLE kms_aliases (
    account_id      TEXT    NOT NULL,
    region          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    target_key_id   TEXT    NOT NULL,
    created         INTEGER NOT NULL,
    updated         INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, name),
    FOREIGN KEY (target_key_id, region) REFERENCES kms_keys (key_id, region)
        DEFERRABLE INITIALLY DEFERRED
) WITHOUT ROWID;
INSERT INTO kms_aliases (account_id, region, name, target_key_id, created, updated)
    SELECT account_id, region, name, target_key_id, created, updated FROM kms_aliases_copy;
CREATE INDEX kms_aliases_by_target ON kms_aliases (target_key_id, name);

DROP TABLE kms_key_materials_copy;
DROP TABLE kms_aliases_copy;
