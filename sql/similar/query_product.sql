-- A query product's image for `fashion similar --product-id`: every retailer that uses the id
-- (the caller refuses an ambiguous one), and the embedding of its first image that
-- $model_version embedded (NULL when none), with that image's path.
-- Parameters: $product_id, $retailer, $model_version
SELECT pi.retailer,
       arg_min(e.embedding, pi.position) FILTER (WHERE e.embedding IS NOT NULL) AS embedding,
       arg_min(pi.image_sha256, pi.position) FILTER (WHERE e.embedding IS NOT NULL) AS image_sha256,
       string_agg(DISTINCT pi.image_status, ', ') AS image_status
FROM product_images AS pi
LEFT JOIN embeddings AS e
  ON e.image_sha256 = pi.image_sha256 AND e.model_version = $model_version::VARCHAR
WHERE pi.product_id = $product_id::VARCHAR
  AND ($retailer::VARCHAR IS NULL OR pi.retailer = $retailer::VARCHAR)
GROUP BY pi.retailer
ORDER BY pi.retailer;
