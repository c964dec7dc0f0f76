-- The measured colours of products (their first photo's, analytics_colors), largest first,
-- for the swatches of product cards.
-- Parameters: $retailers, $product_ids (two lists of the same length: one product each)
WITH wanted AS (
    SELECT unnest($retailers::VARCHAR[]) AS retailer, unnest($product_ids::VARCHAR[]) AS product_id
)
SELECT p.retailer, p.product_id, c.rank, c.hex, c.share, c.name, c.family
FROM wanted AS w
JOIN analytics_products AS p USING (retailer, product_id)
JOIN analytics_colors AS c USING (product_key)
ORDER BY p.retailer, p.product_id, c.rank;
