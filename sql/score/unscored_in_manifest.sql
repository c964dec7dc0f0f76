-- How many downloaded images of one manifest a model version has not scored yet, or (with
-- $colors) the colour method $method_version has not measured: which catalog manifests
-- `fashion score` takes when no --manifest is given.
-- Parameters: $parts  the manifest's Parquet glob;  $model_version;  $colors;  $method_version
SELECT count(DISTINCT m.sha256) AS unscored
FROM read_parquet($parts) AS m
WHERE m.status = 'ok'
  AND (m.sha256 NOT IN (
           SELECT image_sha256 FROM scores WHERE model_version = $model_version::VARCHAR)
       OR ($colors::BOOLEAN AND m.sha256 NOT IN (
           SELECT image_sha256 FROM color_measurements
           WHERE method_version = $method_version::VARCHAR)));
