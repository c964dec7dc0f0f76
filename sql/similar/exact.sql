-- Exact search: the $limit images of $model_version most similar (cosine) to $query, among all
-- or ($filtered) only the images in `similar_candidates`. Also the fallback when the index is
-- missing or stale. Parameters: $model_version, $query, $filtered, $limit
SELECT left(e.image_sha256, 15) AS prefix,
       list_cosine_similarity(e.embedding, $query::FLOAT[]) AS similarity
FROM embeddings AS e
WHERE e.model_version = $model_version::VARCHAR
  AND (NOT $filtered::BOOLEAN
       OR e.image_sha256 IN (SELECT image_sha256 FROM similar_candidates))
ORDER BY similarity DESC, e.image_sha256
LIMIT $limit::BIGINT;
