-- A product's competitor equivalents (`fashion equivalents`), nearest first, with their price.
-- Parameters: $retailer, $product_id, $model_version
SELECT e.to_retailer AS retailer, e.to_product_id AS product_id, round(e.similarity, 4) AS similarity,
       e.rank, p.brand, p.title, p.price, p.currency
FROM equivalents AS e
LEFT JOIN products AS p ON p.retailer = e.to_retailer AND p.product_id = e.to_product_id
WHERE e.from_retailer = $retailer::VARCHAR AND e.from_product_id = $product_id::VARCHAR
  AND e.model_version = $model_version::VARCHAR
ORDER BY e.to_retailer, e.rank;
