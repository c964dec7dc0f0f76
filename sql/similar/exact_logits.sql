-- Exact search in logit space (`fashion similar --space logits`, the reference project's
-- matching): the $limit images of $model_version nearest to $query by Euclidean distance over
-- the label logits, recovered from the stored probabilities clipped to [1e-7, 1 - 1e-7], among
-- all or ($filtered) only the images in `similar_candidates`. `similarity` is minus the
-- distance, so that the best is the highest as in exact.sql.
-- Parameters: $model_version, $query, $filtered, $limit
SELECT left(s.image_sha256, 15) AS prefix,
       -list_distance(
           list_transform(s.probs, lambda p: ln(greatest(p, 1e-7)) - ln(greatest(1 - p, 1e-7))),
           $query::DOUBLE[]) AS similarity
FROM scores AS s
WHERE s.model_version = $model_version::VARCHAR
  AND (NOT $filtered::BOOLEAN
       OR s.image_sha256 IN (SELECT image_sha256 FROM similar_candidates))
ORDER BY similarity DESC, s.image_sha256
LIMIT $limit::BIGINT;
