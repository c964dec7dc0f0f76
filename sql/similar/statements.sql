-- The similarity search's small statements, each loaded by name (fashion_model.sqlfiles.named).

-- name: embedded_versions
SELECT DISTINCT model_version FROM embeddings ORDER BY 1;

-- name: image_path
SELECT path FROM images WHERE image_sha256 = $sha256;

-- name: image_probs
SELECT probs FROM scores WHERE image_sha256 = $sha256 AND model_version = $model_version;

-- name: candidate_count
SELECT count(*) FROM similar_candidates;

-- name: no_candidates
-- An empty candidate table ({columns}: fashion_model/match/similar.py CANDIDATE_COLUMNS).
CREATE OR REPLACE TEMP TABLE similar_candidates ({columns});

-- name: candidate_keys
SELECT DISTINCT key FROM similar_candidates;

-- name: candidate_products
SELECT key, product_id FROM similar_candidates;

-- name: embedding_count
SELECT count(*) FROM embeddings WHERE model_version = $model_version;

-- name: embedding_width
SELECT len(embedding) FROM embeddings WHERE model_version = $model_version LIMIT 1;
