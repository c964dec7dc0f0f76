-- The scoring stage's small statements, each loaded by name (fashion_model.sqlfiles.named).

-- name: candidate_count
SELECT count(*) FROM score_candidates;

-- name: drop_candidates
DROP TABLE score_candidates;

-- name: uncolored
-- Candidate images the colour method $method_version has not measured yet.
SELECT c.sha256, c.path
FROM score_candidates AS c
WHERE c.sha256 NOT IN (SELECT image_sha256 FROM color_measurements
                       WHERE method_version = $method_version)
ORDER BY c.sha256;
