-- Migration 005: one row per finished nightly run, so that each run is compared with the one
-- before it (download failure rate, products added and delisted, attribute shares that moved).
CREATE TABLE nightly_runs (
    finished_at           TIMESTAMPTZ NOT NULL,
    as_of                 DATE NOT NULL,        -- the catalog date (product_observations.observed_on)
    manifest              VARCHAR NOT NULL,
    records               BIGINT NOT NULL,      -- manifest rows (catalog image rows)
    download_failure_rate DOUBLE NOT NULL,      -- share of manifest rows not ok
    products              BIGINT NOT NULL,      -- products observed on as_of
    added                 BIGINT,               -- observed now, not in the previous run (NULL: first run)
    delisted              BIGINT,               -- observed in the previous run, not now
    moved_labels          BIGINT,               -- labels whose share moved by the threshold or more
    flagged               BOOLEAN NOT NULL,
    flags                 VARCHAR[] NOT NULL    -- why, one sentence each
);
