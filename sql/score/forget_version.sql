-- --rescore: drop a model version's rows for the candidate images, so they are scored again.
-- Parameters: $model_version
DELETE FROM scores
WHERE model_version = $model_version AND image_sha256 IN (SELECT sha256 FROM score_candidates);
DELETE FROM embeddings
WHERE model_version = $model_version AND image_sha256 IN (SELECT sha256 FROM score_candidates);
DELETE FROM predictions
WHERE model_version = $model_version AND image_sha256 IN (SELECT sha256 FROM score_candidates);
