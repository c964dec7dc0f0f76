-- Rebuild `analytics_image_products` (migration 009) from product_images: every stored image of
-- every product, by index key (image_key: the sha256's first 15 hex digits; a hash that is not
-- hex has no key and cannot be a search hit), sorted by key. Run by every catalog load and
-- analytics refresh, in their transactions, and once when migration 009 is applied.
-- Parameters: none.
DELETE FROM analytics_image_products;

INSERT INTO analytics_image_products
SELECT key, image_sha256, retailer, product_id
FROM (
    SELECT TRY_CAST('0x' || left(image_sha256, 15) AS BIGINT) AS key, image_sha256, retailer,
           product_id
    FROM product_images
    WHERE image_sha256 IS NOT NULL
)
WHERE key IS NOT NULL
ORDER BY key;
