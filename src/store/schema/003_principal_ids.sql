-- 003_principal_ids.sql -- key policies bound to principals' identities.
--
-- The unique ids of the IAM users and roles a key policy names, as they
-- were when the policy was saved (docs/internals/IAM_STORE.md, "Principals
-- bound by identity"): a JSON object from each user or role ARN to its
-- unique id.  NULL for a key whose policy was saved before bindings
-- existed; the server binds those at its first start.  Embedded as
-- store_schema[2] in store/schema.c.

ALTER TABLE kms_keys ADD COLUMN policy_ids TEXT;
