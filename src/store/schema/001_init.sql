-- 001_init.sql -- the first tresor schema.
--
-- Applied by store/sqlite.c inside one transaction, together with
-- PRAGMA user_version = 1.  The text is embedded in the binary as
-- store_schema[0] in store/schema.c; store_test.c checks they match.
-- Columns mirror the records of store/store.h.  Times are epoch seconds.
-- Secret columns (wrapped_secret, wrapped) hold bytes already wrapped under
-- the root key by kms/keyring.c; the store never sees plaintext.

CREATE TABLE accounts (
    id              TEXT    NOT NULL PRIMARY KEY,
    created         INTEGER NOT NULL
);

CREATE TABLE access_keys (
    access_key_id   TEXT    NOT NULL PRIMARY KEY,
    account_id      TEXT    NOT NULL,
    principal_type  INTEGER NOT NULL,
    principal_arn   TEXT    NOT NULL,
    principal_id    TEXT    NOT NULL,
    active          INTEGER NOT NULL,
    created         INTEGER NOT NULL,
    expires         INTEGER NOT NULL,
    wrapped_secret  BLOB    NOT NULL
);

CREATE TABLE kms_keys (
    key_id                TEXT    NOT NULL PRIMARY KEY,
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
    current_material      INTEGER NOT NULL
);
-- ListKeys: one account and region, paged by key_id.
CREATE INDEX kms_keys_by_account ON kms_keys (account_id, region, key_id);
-- The maintenance work list (key_list_due): 0 means "not scheduled".
CREATE INDEX kms_keys_by_deletion ON kms_keys (deletion_date);
CREATE INDEX kms_keys_by_rotation ON kms_keys (next_rotation);

-- Foreign keys are DEFERRABLE INITIALLY DEFERRED: inside a transaction
-- they are checked at COMMIT, so a caller may write rows in any order.
CREATE TABLE kms_key_materials (
    key_id          TEXT    NOT NULL
                    REFERENCES kms_keys (key_id) DEFERRABLE INITIALLY DEFERRED,
    version         INTEGER NOT NULL,
    created         INTEGER NOT NULL,
    rotation_type   TEXT    NOT NULL,
    wrapped         BLOB    NOT NULL,
    PRIMARY KEY (key_id, version)
) WITHOUT ROWID;

CREATE TABLE kms_aliases (
    account_id      TEXT    NOT NULL,
    region          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    target_key_id   TEXT    NOT NULL
                    REFERENCES kms_keys (key_id) DEFERRABLE INITIALLY DEFERRED,
    created         INTEGER NOT NULL,
    updated         INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, name)
) WITHOUT ROWID;
-- ListAliases with KeyId, and key_delete.
CREATE INDEX kms_aliases_by_target ON kms_aliases (target_key_id, name);

-- Tags of any resource (KMS keys, secrets, IAM entities), by ARN.
CREATE TABLE tags (
    arn             TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    PRIMARY KEY (arn, key)
) WITHOUT ROWID;
