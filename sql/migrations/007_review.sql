-- Migration 007: the review loop. What was sent to people (review_exports: once per image and
-- model version) and what they answered (reviewed_labels: per image and label, whether the
-- reviewer confirmed, added or removed what the model predicted), so that SQL can tell
-- predicted from confirmed attributes.
CREATE TABLE review_exports (
    image_sha256  VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    retailer      VARCHAR,
    product_id    VARCHAR,
    certainty     DOUBLE,        -- the smallest |score - threshold| over the exported tasks
    exported_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (image_sha256, model_version)
);

CREATE TABLE reviewed_labels (
    image_sha256  VARCHAR NOT NULL,
    label_id      INTEGER NOT NULL,
    task          VARCHAR NOT NULL,
    verdict       VARCHAR NOT NULL,   -- confirmed, added (the model missed it), removed (wrongly predicted)
    retailer      VARCHAR,
    product_id    VARCHAR,
    model_version VARCHAR,            -- the model whose predictions were reviewed (corrected)
    reviewer      VARCHAR,            -- Label Studio's completed_by (e-mail or user id)
    reviewed_at   TIMESTAMPTZ,
    imported_at   TIMESTAMPTZ NOT NULL,
    source        VARCHAR,            -- the export file
    PRIMARY KEY (image_sha256, label_id)
);
