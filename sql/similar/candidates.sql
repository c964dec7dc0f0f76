-- Images a filtered similarity search may return, with their products (temp table
-- `similar_candidates`): embedded by $model_version, of retailer $in_retailer (NULL: any) and,
-- when the registered `similar_wanted(task, label_id)` has rows, of products that share at least
-- one predicted label with the query in every task named there.
-- Parameters: $model_version, $in_retailer
CREATE OR REPLACE TEMP TABLE similar_candidates AS
WITH labelled AS (
    SELECT pi.retailer, pi.product_id
    FROM product_images AS pi
    JOIN predictions AS pr
      ON pr.image_sha256 = pi.image_sha256 AND pr.model_version = $model_version::VARCHAR
    JOIN similar_wanted AS w ON w.label_id = pr.label_id
    GROUP BY pi.retailer, pi.product_id
    HAVING count(DISTINCT w.task) = (SELECT count(DISTINCT task) FROM similar_wanted)
)
SELECT DISTINCT image_key(pi.image_sha256) AS key, pi.image_sha256, pi.retailer, pi.product_id
FROM product_images AS pi
JOIN embeddings AS e
  ON e.image_sha256 = pi.image_sha256 AND e.model_version = $model_version::VARCHAR
LEFT JOIN labelled AS l ON l.retailer = pi.retailer AND l.product_id = pi.product_id
WHERE ($in_retailer::VARCHAR IS NULL OR pi.retailer = $in_retailer::VARCHAR)
  AND (NOT EXISTS (SELECT 1 FROM similar_wanted) OR l.product_id IS NOT NULL);
