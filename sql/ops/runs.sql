-- The nightly comparison's statements, each loaded by name (fashion_model.sqlfiles.named); what
-- it compares is in ops/assortment_change.sql and ops/share_moves.sql.

-- name: previous_run_date
SELECT max(observed_on) FROM product_observations WHERE observed_on < $as_of;

-- name: previous_failure_rate
SELECT download_failure_rate FROM nightly_runs
WHERE manifest = $manifest AND as_of < $as_of
ORDER BY as_of DESC, finished_at DESC
LIMIT 1;

-- name: record_run
INSERT INTO nightly_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
