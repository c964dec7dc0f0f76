-- The distinct downloaded images of the manifests being scored, into a temp table.
-- Parameters: $parts  list of Parquet globs, one per manifest
CREATE OR REPLACE TEMP TABLE score_candidates AS
SELECT sha256, any_value(path) AS path
FROM read_parquet($parts, union_by_name = true)
WHERE status = 'ok'
GROUP BY sha256;
