-- products_near_color: scored products whose measured colours come near a colour (CIEDE2000,
-- the ciede2000 macro, below max_delta_e on a colour covering at least min_share of the
-- product), nearest first; with the usual filters: retailer, brand, and a predicted label of
-- any task (e.g. category Dresses).
-- @param hex REQUIRED  the colour, '#rrggbb' (e.g. #7a1f2b)
-- @param max_delta_e 10.0  largest CIEDE2000 difference (about 2: just noticeable; 10: the same
--   colour at a glance)
-- @param min_share 0.2  least share of the product's pixels the near colour covers
-- @param retailer NULL  only this retailer (NULL: all)
-- @param brand NULL  only this brand (NULL: all)
-- @param label NULL  only products predicted to carry this label, e.g. Dresses (NULL: any)
-- @param limit 50  rows at most
-- Output columns: retailer, product_id, brand, delta_e, hex, name, family, share, price,
--   currency, first_seen, last_seen, image_sha256 (the photo measured)
WITH target AS (
    SELECT hex_lab($hex::VARCHAR) AS lab
),
near AS (
    SELECT c.product_key, c.image_sha256, c.hex, c.name, c.family, c.share,
           ciede2000(c.l, c.a, c.b, t.lab.l, t.lab.a, t.lab.b) AS delta_e
    FROM analytics_colors AS c, target AS t
    WHERE c.share >= $min_share::DOUBLE
),
best AS (
    SELECT product_key, arg_min(near, delta_e) AS colour
    FROM near
    WHERE delta_e < $max_delta_e::DOUBLE
    GROUP BY product_key
)
SELECT p.retailer, p.product_id, p.brand, round(b.colour.delta_e, 2) AS delta_e,
       b.colour.hex, b.colour.name, b.colour.family, b.colour.share, p.price, p.currency,
       p.first_seen, p.last_seen, b.colour.image_sha256
FROM best AS b
JOIN analytics_products AS p USING (product_key)
WHERE ($retailer::VARCHAR IS NULL OR p.retailer = $retailer::VARCHAR)
  AND ($brand::VARCHAR IS NULL OR p.brand = $brand::VARCHAR)
  AND ($label::VARCHAR IS NULL OR p.product_key IN (
      SELECT a.product_key FROM analytics_labels AS a
      JOIN labels AS l USING (label_id)
      WHERE l.name = $label::VARCHAR))
ORDER BY b.colour.delta_e, p.retailer, p.product_id
LIMIT $limit::INTEGER;
