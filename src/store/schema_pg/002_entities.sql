-- 002_entities.sql -- access key documents, generic entities and relations.
--
-- As src/store/schema/002_entities.sql: IAM users, roles, groups and
-- managed policies, STS sessions and KMS grants are a few indexed columns
-- plus a JSON document (doc, kept as text: stored and returned exactly as
-- given).  Embedded as store_pg_schema[1] in store/schema_pg.c.

-- The access key's JSON document; NULL when none.
ALTER TABLE access_keys ADD COLUMN doc text COLLATE "C";
-- ListAccessKeys of one principal, oldest first.
CREATE INDEX access_keys_by_principal ON access_keys (principal_arn, created);
-- Purging expired temporary keys; 0 means "never expires".
CREATE INDEX access_keys_by_expiry ON access_keys (expires) WHERE expires <> 0;

-- Entities, unique by (kind, arn), (kind, account_id, name), (kind, id).
CREATE TABLE entities (
    kind            text COLLATE "C" NOT NULL,
    account_id      text COLLATE "C" NOT NULL,
    name            text COLLATE "C" NOT NULL,
    id              text COLLATE "C" NOT NULL,
    arn             text COLLATE "C" NOT NULL,
    path            text COLLATE "C" NOT NULL,
    doc             text COLLATE "C" NOT NULL,
    created         bigint NOT NULL,
    PRIMARY KEY (kind, arn)
);
CREATE UNIQUE INDEX entities_by_name ON entities (kind, account_id, name);
CREATE UNIQUE INDEX entities_by_id ON entities (kind, id);

-- Relations kind: src -> dst ("from" and "to" in store.h).
CREATE TABLE relations (
    kind            text COLLATE "C" NOT NULL,
    src             text COLLATE "C" NOT NULL,
    dst             text COLLATE "C" NOT NULL,
    doc             text COLLATE "C" NOT NULL,
    created         bigint NOT NULL,
    PRIMARY KEY (kind, src, dst)
);
CREATE INDEX relations_by_dst ON relations (kind, dst, src);
