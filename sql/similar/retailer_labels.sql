-- Predicted labels of the named tasks for every product of one retailer (over all its images),
-- to match `--same TASK` in `fashion equivalents`.
-- Parameters: $retailer, $model_version, $tasks
SELECT DISTINCT pi.product_id, l.task, pr.label_id
FROM product_images AS pi
JOIN predictions AS pr
  ON pr.image_sha256 = pi.image_sha256 AND pr.model_version = $model_version::VARCHAR
JOIN labels AS l USING (label_id)
WHERE pi.retailer = $retailer::VARCHAR AND list_contains($tasks::VARCHAR[], l.task);
