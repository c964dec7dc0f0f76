-- The products behind the best images: the registered `similar_hits(prefix, similarity)` (prefix
-- = first 15 hex digits of the image sha256, i.e. the index key), mapped by that key to every
-- product that shows the image (analytics_image_products, rebuilt by every scoring run), kept to `similar_candidates` when $filtered, the query product itself left
-- out; a product's similarity is that of its closest image.
-- Parameters: $filtered, $exclude_retailer, $exclude_product_id, $k
WITH matched AS (
    SELECT pi.retailer, pi.product_id, max(h.similarity) AS similarity,
           arg_max(pi.image_sha256, h.similarity) AS image_sha256
    FROM similar_hits AS h
    JOIN analytics_image_products AS pi ON pi.image_key = image_key(h.prefix)
    WHERE (NOT $filtered::BOOLEAN OR EXISTS (
              SELECT 1 FROM similar_candidates AS c
              WHERE c.retailer = pi.retailer AND c.product_id = pi.product_id))
      AND NOT (pi.retailer IS NOT DISTINCT FROM $exclude_retailer::VARCHAR
               AND pi.product_id IS NOT DISTINCT FROM $exclude_product_id::VARCHAR)
    GROUP BY pi.retailer, pi.product_id
)
SELECT m.retailer, m.product_id, p.brand, p.title, p.price, p.currency, p.last_seen,
       m.similarity, m.image_sha256, i.path
FROM matched AS m
JOIN products AS p USING (retailer, product_id)
LEFT JOIN images AS i USING (image_sha256)
ORDER BY m.similarity DESC, m.retailer, m.product_id
LIMIT $k::BIGINT;
