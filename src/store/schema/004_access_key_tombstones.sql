-- 004_access_key_tombstones.sql -- access keys that existed once.
--
-- A deleted access key, or a session purged after it expired, leaves a
-- tombstone, so that its id keeps being refused as AWS refuses it
-- (InvalidClientTokenId / UnrecognizedClientException, ExpiredToken for
-- a session past its expiry) -- in dev mode too, where an access key
-- tresor never knew acts as the account root.  Written and removed by the
-- store's access-key calls themselves (store/sqlite.c).  Tombstones of
-- sessions are pruned some time after the session expired; those of
-- long-term keys are kept.  Embedded as store_schema[3] in store/schema.c.

CREATE TABLE access_key_tombstones (
    access_key_id   TEXT    NOT NULL PRIMARY KEY,
    account_id      TEXT    NOT NULL,
    expires         INTEGER NOT NULL,   -- 0: a long-term key; else the session's expiry
    token_sha256    TEXT,               -- sessions: the token's digest (hex); else NULL
    removed         INTEGER NOT NULL    -- when it was deleted or purged (epoch seconds)
) WITHOUT ROWID;
-- Pruning the tombstones of sessions long expired.
CREATE INDEX access_key_tombstones_by_expiry ON access_key_tombstones (expires) WHERE expires <> 0;
