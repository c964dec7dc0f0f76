-- Predicted labels of one product by $model_version (over all its images), for `--same TASK`.
-- Parameters: $retailer, $product_id, $model_version
SELECT DISTINCT l.task, pr.label_id
FROM product_images AS pi
JOIN predictions AS pr
  ON pr.image_sha256 = pi.image_sha256 AND pr.model_version = $model_version::VARCHAR
JOIN labels AS l USING (label_id)
WHERE pi.retailer = $retailer::VARCHAR AND pi.product_id = $product_id::VARCHAR;
