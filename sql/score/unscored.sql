-- Candidate images this model version has not scored yet, in a stable order.
-- Parameters: $model_version
SELECT c.sha256, c.path
FROM score_candidates AS c
ANTI JOIN (SELECT image_sha256 FROM scores WHERE model_version = $model_version) AS s
    ON s.image_sha256 = c.sha256
ORDER BY c.sha256;
