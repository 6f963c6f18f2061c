-- 001_init.sql -- the first tresor schema, for PostgreSQL.
--
-- The same tables, keys and constraints as src/store/schema/001_init.sql
-- (the SQLite schema), written in PostgreSQL's types: bigint for every
-- integer, bytea for the wrapped secrets, text for the rest.  Every text
-- column compares with the "C" collation: byte for byte, as SQLite's
-- BINARY does, so listings sort and page the same whatever the database's
-- locale.  Applied by store/postgres.c in one transaction under an
-- advisory lock, together with the version row of tresor_schema; embedded
-- as store_pg_schema[0] in store/schema_pg.c.  Times are epoch seconds.
-- Secret columns hold bytes already wrapped under the root key.  What
-- each index and constraint is for is said once, in the SQLite schema.

CREATE TABLE accounts (
    id              text COLLATE "C" NOT NULL PRIMARY KEY,
    created         bigint NOT NULL,
    -- the order of creation among accounts made in the same second (the
    -- first account is the server's default): SQLite's rowid
    seq             bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX accounts_by_created ON accounts (created, seq);

CREATE TABLE access_keys (
    access_key_id   text COLLATE "C" NOT NULL PRIMARY KEY,
    account_id      text COLLATE "C" NOT NULL,
    principal_type  bigint NOT NULL,
    principal_arn   text COLLATE "C" NOT NULL,
    principal_id    text COLLATE "C" NOT NULL,
    active          bigint NOT NULL,
    created         bigint NOT NULL,
    expires         bigint NOT NULL,
    wrapped_secret  bytea  NOT NULL
);

CREATE TABLE kms_keys (
    key_id                text COLLATE "C" NOT NULL PRIMARY KEY,
    account_id            text COLLATE "C" NOT NULL,
    region                text COLLATE "C" NOT NULL,
    arn                   text COLLATE "C" NOT NULL,
    description           text COLLATE "C" NOT NULL,
    policy                text COLLATE "C" NOT NULL,
    key_state             text COLLATE "C" NOT NULL,
    key_usage             text COLLATE "C" NOT NULL,
    key_spec              text COLLATE "C" NOT NULL,
    origin                text COLLATE "C" NOT NULL,
    key_manager           text COLLATE "C" NOT NULL,
    created               bigint NOT NULL,
    deletion_date         bigint NOT NULL,
    pending_window_days   bigint NOT NULL,
    rotation_enabled      bigint NOT NULL CHECK (rotation_enabled IN (0, 1)),
    rotation_period_days  bigint NOT NULL,
    next_rotation         bigint NOT NULL,
    current_material      bigint NOT NULL CHECK (current_material BETWEEN 0 AND 4294967295)
);
CREATE INDEX kms_keys_by_account ON kms_keys (account_id, region, key_id);
CREATE INDEX kms_keys_by_deletion ON kms_keys (deletion_date);
CREATE INDEX kms_keys_by_rotation ON kms_keys (next_rotation);

CREATE TABLE kms_key_materials (
    key_id          text COLLATE "C" NOT NULL
                    REFERENCES kms_keys (key_id) DEFERRABLE INITIALLY DEFERRED,
    version         bigint NOT NULL,
    created         bigint NOT NULL,
    rotation_type   text COLLATE "C" NOT NULL,
    wrapped         bytea  NOT NULL,
    PRIMARY KEY (key_id, version)
);

CREATE TABLE kms_aliases (
    account_id      text COLLATE "C" NOT NULL,
    region          text COLLATE "C" NOT NULL,
    name            text COLLATE "C" NOT NULL,
    target_key_id   text COLLATE "C" NOT NULL
                    REFERENCES kms_keys (key_id) DEFERRABLE INITIALLY DEFERRED,
    created         bigint NOT NULL,
    updated         bigint NOT NULL,
    PRIMARY KEY (account_id, region, name)
);
CREATE INDEX kms_aliases_by_target ON kms_aliases (target_key_id, name);

CREATE TABLE tags (
    arn             text COLLATE "C" NOT NULL,
    key             text COLLATE "C" NOT NULL,
    value           text COLLATE "C" NOT NULL,
    PRIMARY KEY (arn, key)
);
