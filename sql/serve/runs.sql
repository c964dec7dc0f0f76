-- The last nightly runs, newest first (the runs page). Parameters: $limit
SELECT finished_at, as_of, manifest, records, round(100 * download_failure_rate, 2) AS failure_pct,
       products, added, delisted, moved_labels, flagged, flags
FROM nightly_runs
ORDER BY finished_at DESC
LIMIT $limit::BIGINT;
