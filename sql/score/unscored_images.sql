-- How many downloaded catalog images a model version has not scored yet (what the next scoring
-- run with it will do). Parameters: $model_version
SELECT count(DISTINCT pi.image_sha256) AS unscored
FROM product_images AS pi
WHERE pi.image_sha256 IS NOT NULL
  AND pi.image_sha256 NOT IN (
      SELECT image_sha256 FROM scores WHERE model_version = $model_version::VARCHAR
  );
