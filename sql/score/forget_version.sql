-- --rescore: drop a model version's rows for the images of one chunk, inside the chunk's
-- transaction and just before they are inserted again (from the registered Arrow table
-- batch_scores), so that a rescore killed midway never leaves an image without its rows.
-- Parameters: none.
DELETE FROM scores
WHERE model_version IN (SELECT DISTINCT model_version FROM batch_scores)
  AND image_sha256 IN (SELECT image_sha256 FROM batch_scores);
DELETE FROM embeddings
WHERE model_version IN (SELECT DISTINCT model_version FROM batch_scores)
  AND image_sha256 IN (SELECT image_sha256 FROM batch_scores);
DELETE FROM predictions
WHERE model_version IN (SELECT DISTINCT model_version FROM batch_scores)
  AND image_sha256 IN (SELECT image_sha256 FROM batch_scores);
