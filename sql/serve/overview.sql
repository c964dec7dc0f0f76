-- The home page: products, scored products and the last observation per retailer.
-- Parameters: none
SELECT p.retailer, count(*) AS products,
       count(*) FILTER (WHERE p.product_id IN (
           SELECT pi.product_id FROM product_images AS pi
           JOIN scores AS s USING (image_sha256)
           WHERE pi.retailer = p.retailer)) AS scored_products,
       max(p.last_seen) AS last_seen, count(DISTINCT p.brand) AS brands
FROM products AS p
GROUP BY p.retailer
ORDER BY p.retailer;
