-- Embeddings of a model version with their index keys, streamed in batches to build or update
-- the index: all of them, or ($only_wanted) those whose key is in the registered `index_wanted(key)`.
-- Parameters: $model_version, $only_wanted
SELECT image_key(image_sha256) AS key, embedding
FROM embeddings
WHERE model_version = $model_version::VARCHAR
  AND (NOT $only_wanted::BOOLEAN OR image_key(image_sha256) IN (SELECT key FROM index_wanted));
