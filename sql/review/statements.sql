-- The review loop's statements, each loaded by name (fashion_model.sqlfiles.named); the export's
-- candidates are in review/candidates.sql.

-- name: record_exports
-- One row per exported image: its certainty and when, so a later export skips it.
INSERT OR REPLACE INTO review_exports VALUES (?, ?, ?, ?, ?, ?);

-- name: stored_images
SELECT image_sha256, path FROM images WHERE image_sha256 IN (SELECT unnest($shas));

-- name: forget_reviews
-- An image reviewed again replaces its earlier verdicts.
DELETE FROM reviewed_labels WHERE image_sha256 IN (SELECT unnest($shas));

-- name: insert_reviews
INSERT INTO reviewed_labels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
