-- Migration 003: images that failed to decode when scored, so that they can be found and
-- fixed; they have no `scores` row, so the next run tries them again (and clears the row).
CREATE TABLE score_failures (
    image_sha256  VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,   -- where the store should have it
    reason        VARCHAR NOT NULL,   -- 'file missing' or 'cannot decode'
    failed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (image_sha256, model_version)
);
