-- 005_key_regions.sql -- a KMS key is a (key id, region) pair (as
-- schema/005_key_regions.sql: one record per region of a multi-Region
-- key, the materials shared by key id, an alias naming a key of its own
-- region, primary_region "" for a single-Region key).  PostgreSQL changes
-- the keys in place.

ALTER TABLE kms_key_materials DROP CONSTRAINT kms_key_materials_key_id_fkey;
ALTER TABLE kms_aliases DROP CONSTRAINT kms_aliases_target_key_id_fkey;
ALTER TABLE kms_keys DROP CONSTRAINT kms_keys_pkey;
ALTER TABLE kms_keys ADD PRIMARY KEY (key_id, region);
ALTER TABLE kms_keys ADD COLUMN primary_region text COLLATE "C" NOT NULL DEFAULT '';
UPDATE kms_keys SET primary_region = region WHERE key_id LIKE 'mrk-%';
ALTER TABLE kms_aliases ADD FOREIGN KEY (target_key_id, region)
    REFERENCES kms_keys (key_id, region) DEFERRABLE INITIALLY DEFERRED;
