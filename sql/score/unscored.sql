-- Candidate images to score, in a stable order: those this model version has not scored yet,
-- or all of them with --rescore.
-- Parameters: $model_version, $rescore (BOOLEAN)
SELECT c.sha256, c.path
FROM score_candidates AS c
WHERE $rescore::BOOLEAN
   OR c.sha256 NOT IN (SELECT image_sha256 FROM scores WHERE model_version = $model_version)
ORDER BY c.sha256;
