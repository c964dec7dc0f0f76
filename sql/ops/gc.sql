-- `fashion gc`'s statements, each loaded by name (fashion_model.sqlfiles.named). {table} is one
-- of the per-model tables (fashion_model/ops/gc.py MODEL_TABLES), never user input.

-- name: model_rows
SELECT model_version, count(*) FROM {table} GROUP BY ALL;

-- name: create_store
-- The image store's files (sha256, path relative to HOME/images), filled a batch at a time.
CREATE OR REPLACE TEMP TABLE gc_store (sha256 VARCHAR, path VARCHAR);

-- name: fill_store
INSERT INTO gc_store SELECT * FROM gc_batch;

-- name: unreferenced
-- Stored images no product and no manifest part (committed, or a running ingest's journal)
-- refers to. {manifests}: the UNION with the parts' sha256 when there are parts ($parts).
SELECT path FROM gc_store
ANTI JOIN (SELECT image_sha256 AS sha256 FROM product_images {manifests}) r USING (sha256)
ORDER BY path;

-- name: manifest_images
UNION SELECT sha256 FROM read_parquet($parts, union_by_name = true);

-- name: drop_store
DROP TABLE gc_store;

-- name: forget_models
DELETE FROM {table} WHERE model_version IN (SELECT unnest($versions));
