-- A product's images in feed order, with what became of each download.
-- Parameters: $retailer, $product_id
SELECT position, image_url, image_sha256, image_status, error_message
FROM product_images
WHERE retailer = $retailer::VARCHAR AND product_id = $product_id::VARCHAR
ORDER BY position;
