-- The folded products as catalog records, one row per product image, in feed order, their
-- values as typed when the feed was read (DATE, DECIMAL(18,4)).
-- Parameters: $variants (BOOLEAN: list a merged product's variant ids in source_columns)
SELECT
    f.product_id AS source_id,
    coalesce(unnest(CASE WHEN len(p.images) > 0 THEN p.images ELSE [''] END), '') AS url,
    f.retailer, f.brand, f.title,
    f.first_seen, f.price, f.currency, f.sale_price, f.availability,
    CAST(json_merge_patch(
        coalesce(f.extras, '{}'),
        CASE WHEN f.items > 1 AND $variants
             THEN json_object('variant_ids', array_to_string(f.variant_ids, ','))
             ELSE '{}' END,
        coalesce(f.unparsed, '{}')) AS VARCHAR) AS source_columns
FROM folded f LEFT JOIN pictures p USING (key)
ORDER BY f.seq
