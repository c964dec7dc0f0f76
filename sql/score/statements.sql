-- The scoring stage's small statements, each loaded by name (fashion_model.sqlfiles.named).

-- name: candidate_count
SELECT count(*) FROM score_candidates;

-- name: drop_candidates
DROP TABLE score_candidates;
