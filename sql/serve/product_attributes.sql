-- A product's attributes by $model_version: every label at or above its threshold on any of
-- the product's images, with the best score and that label's threshold.
-- Parameters: $retailer, $product_id, $model_version
SELECT l.task, l.name AS attribute, l.label_id, round(max(pr.score), 4) AS score,
       round(any_value(m.thresholds[l.position + 1]), 4) AS threshold
FROM product_images AS pi
JOIN predictions AS pr
  ON pr.image_sha256 = pi.image_sha256 AND pr.model_version = $model_version::VARCHAR
JOIN labels AS l USING (label_id)
JOIN models AS m ON m.model_version = pr.model_version
WHERE pi.retailer = $retailer::VARCHAR AND pi.product_id = $product_id::VARCHAR
GROUP BY l.task, l.name, l.label_id
ORDER BY l.task, score DESC;
