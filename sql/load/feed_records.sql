-- The folded products as catalog records, one row per product image, in feed order, their
-- values as typed when the feed was read (DATE, DECIMAL(18,4)).
-- Parameters: $variants (BOOLEAN: list a merged product's variant ids in source_columns)
SELECT
    f.product_id AS source_id,
    unnest(p.images) AS url,
    f.retailer, f.brand, f.title,
    f.first_seen, f.price, f.currency, f.sale_price, f.availability,
    CAST(json_merge_patch(
        coalesce(f.extras, '{}'),
        CASE WHEN f.items > 1 AND $variants
             THEN json_object('variant_ids', array_to_string(f.variant_ids, ','))
             ELSE '{}' END,
        coalesce(f.unparsed, '{}')) AS VARCHAR) AS source_columns
FROM folded f JOIN pictures p USING (key)  -- a product without an image is a feed problem
WHERE len(p.images) > 0
ORDER BY f.seq
