-- 006_material_import.sql -- each key material has its own import
-- properties.
--
-- A symmetric encryption key of imported material (Origin EXTERNAL) holds
-- several materials: the current one, the ones it rotated from, and new
-- material imported and waiting for RotateKeyOnDemand (kms/import.c).
-- Each has its own expiry and description, so they move from the key
-- record to the material's row: valid_to (epoch seconds; 0 when the
-- material does not expire, or for material tresor generated) and
-- description (KeyMaterialDescription, "" when none).  Until now an
-- EXTERNAL key kept its one material's expiry in kms_keys.next_rotation;
-- it is copied to that material, and next_rotation stays the earliest
-- expiry of the key's materials (the maintenance index).  Embedded as
-- store_schema[5] in store/schema.c.

ALTER TABLE kms_key_materials ADD COLUMN valid_to INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kms_key_materials ADD COLUMN description TEXT NOT NULL DEFAULT '';
UPDATE kms_key_materials SET valid_to =
    (SELECT max(k.next_rotation) FROM kms_keys k
     WHERE k.key_id = kms_key_materials.key_id AND k.origin = 'EXTERNAL')
WHERE EXISTS (SELECT 1 FROM kms_keys k
              WHERE k.key_id = kms_key_materials.key_id AND k.origin = 'EXTERNAL');
