-- The index keys of every image a model version has embedded (what the index must hold).
-- Parameters: $model_version
SELECT image_key(image_sha256) AS key
FROM embeddings
WHERE model_version = $model_version::VARCHAR;
