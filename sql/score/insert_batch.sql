-- Append one scored chunk from the registered Arrow tables batch_scores, batch_embeddings (each
-- with the runtime variant that scored it),
-- batch_predictions (label positions are turned into label ids through `labels`) and
-- batch_failures (images that failed to decode; a later success clears their row).
-- Parameters: none. Runs inside the caller's transaction.
INSERT INTO scores (image_sha256, model_version, probs, variant)
SELECT image_sha256, model_version, probs, variant FROM batch_scores;
INSERT INTO embeddings (image_sha256, model_version, embedding, variant)
SELECT image_sha256, model_version, embedding, variant FROM batch_embeddings;
INSERT INTO predictions
SELECT p.image_sha256, p.model_version, l.label_id, p.score
FROM batch_predictions AS p
JOIN labels AS l ON l.position = p.position;
INSERT INTO score_failures
SELECT image_sha256, model_version, path, reason, now() FROM batch_failures
ON CONFLICT (image_sha256, model_version) DO UPDATE SET
    path = excluded.path, reason = excluded.reason, failed_at = excluded.failed_at;
DELETE FROM score_failures
WHERE model_version IN (SELECT DISTINCT model_version FROM batch_scores)
  AND image_sha256 IN (SELECT image_sha256 FROM batch_scores);
