-- 002_entities.sql -- access key documents, generic entities and relations.
--
-- Follows store/store.h's second round: IAM users, roles, groups and
-- managed policies, STS sessions and KMS grants are stored as a few
-- indexed columns plus a JSON document (doc), so new kinds need no new
-- tables.  Embedded as store_schema[1] in store/schema.c.

-- The access key's JSON document (user name; for sessions the token hash,
-- role, session policies, tags); NULL when none.
ALTER TABLE access_keys ADD COLUMN doc TEXT;
-- ListAccessKeys of one principal, oldest first.
CREATE INDEX access_keys_by_principal ON access_keys (principal_arn, created);
-- Purging expired temporary keys; 0 means "never expires".
CREATE INDEX access_keys_by_expiry ON access_keys (expires) WHERE expires <> 0;

-- Entities, unique by (kind, arn), (kind, account_id, name), (kind, id).
-- Names compare byte for byte (BINARY).
CREATE TABLE entities (
    kind            TEXT    NOT NULL,
    account_id      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    arn             TEXT    NOT NULL,
    path            TEXT    NOT NULL,
    doc             TEXT    NOT NULL,
    created         INTEGER NOT NULL,
    PRIMARY KEY (kind, arn)
) WITHOUT ROWID;
-- Lookup by name, and listing by name (with a path prefix filter).
CREATE UNIQUE INDEX entities_by_name ON entities (kind, account_id, name);
CREATE UNIQUE INDEX entities_by_id ON entities (kind, id);

-- Relations kind: src -> dst ("from" and "to" in store.h; both are SQL
-- keywords).  Listed from a source ordered by dst, or to a target ordered
-- by src.
CREATE TABLE relations (
    kind            TEXT    NOT NULL,
    src             TEXT    NOT NULL,
    dst             TEXT    NOT NULL,
    doc             TEXT    NOT NULL,
    created         INTEGER NOT NULL,
    PRIMARY KEY (kind, src, dst)
) WITHOUT ROWID;
CREATE INDEX relations_by_dst ON relations (kind, dst, src);
