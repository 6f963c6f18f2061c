-- 003_principal_ids.sql -- key policies bound to principals' identities.
--
-- As src/store/schema/003_principal_ids.sql: a JSON object from each user
-- or role ARN a key policy names to its unique id, NULL for a policy saved
-- before bindings existed.  Embedded as store_pg_schema[2].

ALTER TABLE kms_keys ADD COLUMN policy_ids text COLLATE "C";
