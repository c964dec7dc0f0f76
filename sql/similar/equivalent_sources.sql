-- The products of $from_retailer that $model_version embedded, each with the embedding of its
-- first embedded image: the queries of `fashion equivalents`.
-- Parameters: $from_retailer, $model_version
SELECT pi.product_id, arg_min(e.embedding, pi.position) AS embedding
FROM product_images AS pi
JOIN embeddings AS e
  ON e.image_sha256 = pi.image_sha256 AND e.model_version = $model_version::VARCHAR
WHERE pi.retailer = $from_retailer::VARCHAR
GROUP BY pi.product_id
ORDER BY pi.product_id;
