-- One catalog manifest staged for the upsert (load/upsert_catalog.sql): one row per product
-- image, its position among the product's images in manifest order. The manifest's catalog
-- columns are typed since the feed was read (DATE, DECIMAL(18,4)); fashion_model/warehouse/
-- catalog.py fills in each named placeholder with the column's expression: the typed column,
-- a typed NULL when the manifest has no such column, or TRY_CAST of an older manifest's text.
CREATE OR REPLACE TEMP TABLE staged_catalog AS
SELECT
    {retailer} AS retailer,
    source_id AS product_id,
    CAST(row_number() OVER (
        PARTITION BY {retailer}, source_id ORDER BY filename, file_row_number
    ) - 1 AS INTEGER) AS position,
    url AS image_url, status AS image_status, error_message,
    sha256 AS image_sha256, width, height, original_width, original_height, bytes, path,
    downloaded_at,
    {brand} AS brand,
    {title} AS title,
    {first_seen} AS first_seen,
    {price} AS price,
    {currency} AS currency,
    {sale_price} AS sale_price,
    {availability} AS availability,
    {source_columns} AS source_columns
FROM read_parquet({parts}, filename = true, file_row_number = true);
