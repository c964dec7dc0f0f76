-- `GET /products/{retailer}/{product_id}`: one product's catalog fields.
-- Parameters: $retailer, $product_id
SELECT retailer, product_id, brand, title, first_seen, last_seen, price, currency, sale_price,
       availability
FROM products
WHERE retailer = $retailer::VARCHAR AND product_id = $product_id::VARCHAR;
