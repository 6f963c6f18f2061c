-- 006_material_import.sql -- each key material has its own import
-- properties (as schema/006_material_import.sql: valid_to, 0 when the
-- material does not expire; description, "" when none; an EXTERNAL key's
-- expiry copied from kms_keys.next_rotation to its material).  Embedded as
-- store_pg_schema[5].

ALTER TABLE kms_key_materials ADD COLUMN valid_to bigint NOT NULL DEFAULT 0;
ALTER TABLE kms_key_materials ADD COLUMN description text COLLATE "C" NOT NULL DEFAULT '';
UPDATE kms_key_materials m SET valid_to =
    (SELECT max(k.next_rotation) FROM kms_keys k
     WHERE k.key_id = m.key_id AND k.origin = 'EXTERNAL')
WHERE EXISTS (SELECT 1 FROM kms_keys k WHERE k.key_id = m.key_id AND k.origin = 'EXTERNAL');
