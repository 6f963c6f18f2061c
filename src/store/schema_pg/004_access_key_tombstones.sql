-- 004_access_key_tombstones.sql -- access keys that existed once.
--
-- As src/store/schema/004_access_key_tombstones.sql: a deleted access key,
-- or a session purged after it expired, leaves a tombstone, so its id keeps
-- being refused as AWS refuses it.  Embedded as store_pg_schema[3].

CREATE TABLE access_key_tombstones (
    access_key_id   text COLLATE "C" NOT NULL PRIMARY KEY,
    account_id      text COLLATE "C" NOT NULL,
    expires         bigint NOT NULL,   -- 0: a long-term key; else the session's expiry
    token_sha256    text COLLATE "C",  -- sessions: the token's digest (hex); else NULL
    removed         bigint NOT NULL    -- when it was deleted or purged (epoch seconds)
);
-- Pruning the tombstones of sessions long expired.
CREATE INDEX access_key_tombstones_by_expiry ON access_key_tombstones (expires) WHERE expires <> 0;

-- The token digest of a session's access key document, as the tombstone
-- keeps it: doc's "token_sha256" member when doc is a JSON object, else
-- NULL (a doc that is not JSON has none) -- SQLite's json_valid and
-- json_extract.
CREATE FUNCTION tresor_doc_token(doc text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    RETURN doc::jsonb ->> 'token_sha256';
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$fn$;
