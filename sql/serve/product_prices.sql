-- A product's price history: one row per nightly observation.
-- Parameters: $retailer, $product_id
SELECT observed_on, price, currency, sale_price, availability
FROM product_observations
WHERE retailer = $retailer::VARCHAR AND product_id = $product_id::VARCHAR
ORDER BY observed_on;
