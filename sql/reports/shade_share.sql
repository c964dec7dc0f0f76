-- shade_share: share of scored products carrying each measured shade (or colour family), per
-- month or week of first_seen (new arrivals), overall or for one retailer or brand: the series
-- behind the shade trend chart. A product carries the shades of its first photo
-- (analytics_colors) with at least min_share of its pixels.
-- @param level name  one of: name, family
-- @param by month  period length, one of: month, week
-- @param retailer NULL  only this retailer (NULL: all)
-- @param brand NULL  only this brand (NULL: all)
-- @param min_share 0.2  least share of a product's pixels for the product to carry the shade
-- Output columns: period (DATE, first day), shade, family, hex (NULL for a family), products
--   (new products carrying the shade), period_products (new scored products), share (0..1)
WITH dated AS (
    SELECT product_key, date_trunc($by::VARCHAR, first_seen)::DATE AS period
    FROM analytics_products
    WHERE model_version IS NOT NULL AND first_seen IS NOT NULL
      AND ($retailer::VARCHAR IS NULL OR retailer = $retailer::VARCHAR)
      AND ($brand::VARCHAR IS NULL OR brand = $brand::VARCHAR)
),
totals AS (
    SELECT period, count(*) AS period_products FROM dated GROUP BY period
),
hits AS (
    SELECT d.period, c.shade, any_value(c.family) AS family, count(*) AS products
    FROM dated AS d
    JOIN product_shades($level::VARCHAR, $min_share::DOUBLE) AS c USING (product_key)
    GROUP BY d.period, c.shade
)
SELECT h.period, h.shade, h.family,
       CASE $level::VARCHAR WHEN 'name' THEN cs.hex END AS hex,
       h.products, t.period_products,
       round(h.products / t.period_products, 4) AS share
FROM hits AS h
JOIN totals AS t USING (period)
LEFT JOIN color_shades AS cs ON cs.name = h.shade
ORDER BY h.period, h.shade;
