-- A deterministic sample of a model version's embeddings to train the index's coarse
-- quantizer (k-means) on. Parameters: $model_version, $rows
SELECT embedding
FROM embeddings
WHERE model_version = $model_version::VARCHAR
ORDER BY hash(image_sha256)
LIMIT $rows::BIGINT;
