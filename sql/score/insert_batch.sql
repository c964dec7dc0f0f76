-- Append one scored chunk from the registered Arrow tables batch_scores, batch_embeddings and
-- batch_predictions (label positions are turned into label ids through `labels`).
-- Parameters: none. Runs inside the caller's transaction.
INSERT INTO scores SELECT image_sha256, model_version, probs FROM batch_scores;
INSERT INTO embeddings SELECT image_sha256, model_version, embedding FROM batch_embeddings;
INSERT INTO predictions
SELECT p.image_sha256, p.model_version, l.label_id, p.score
FROM batch_predictions AS p
JOIN labels AS l ON l.position = p.position;
