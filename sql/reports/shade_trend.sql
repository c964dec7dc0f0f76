-- shade_trend: for each measured shade (or colour family), its share of scored products in a
-- recent window against the window just before it, with both counts, the change in points
-- and the same two-proportion z-score as trending_attributes (share_z, trend_members); ranked
-- by significance, and only shades carried by at least min_support products in the recent
-- window. A product carries the shades measured on its first photo (analytics_colors) with at
-- least min_share of the product's pixels.
-- @param level name  one of: name, family
-- @param by month  window unit, one of: month, week
-- @param window 3  periods in the recent window, and in the window before it
-- @param basis first_seen  one of: first_seen, observed_on
-- @param retailer NULL  only this retailer (NULL: all)
-- @param brand NULL  only this brand (NULL: all)
-- @param as_of NULL  a day in the last period of the recent window, YYYY-MM-DD (NULL: latest)
-- @param min_support 5  least products carrying the shade in the recent window
-- @param min_share 0.2  least share of a product's pixels for the product to carry the shade
-- Output columns: shade, family, hex (the shade's swatch; NULL for a family), recent_products,
--   recent_total, prior_products, prior_total, recent_share_pct, prior_share_pct,
--   change_points, z_score, recent_from, prior_from
WITH hits AS (
    SELECT c.shade, any_value(c.family) AS family,
           count(*) FILTER (m.is_recent) AS recent_products,
           count(*) FILTER (NOT m.is_recent) AS prior_products,
           any_value(m.recent_total) AS recent_total, any_value(m.prior_total) AS prior_total,
           any_value(m.recent_from) AS recent_from, any_value(m.prior_from) AS prior_from
    FROM trend_members($by::VARCHAR, $window::INTEGER, $basis::VARCHAR, $retailer::VARCHAR,
                       $brand::VARCHAR, $as_of::DATE) AS m
    JOIN product_shades($level::VARCHAR, $min_share::DOUBLE) AS c USING (product_key)
    GROUP BY c.shade
)
SELECT h.shade, h.family, CASE $level::VARCHAR WHEN 'name' THEN cs.hex END AS hex,
       recent_products, recent_total, prior_products, prior_total,
       round(100 * recent_products / recent_total, 2) AS recent_share_pct,
       round(100 * prior_products / prior_total, 2) AS prior_share_pct,
       round(100 * (recent_products / recent_total - prior_products / prior_total), 2)
           AS change_points,
       round(share_z(recent_products, recent_total, prior_products, prior_total), 2) AS z_score,
       recent_from, prior_from
FROM hits AS h
LEFT JOIN color_shades AS cs ON cs.name = h.shade
WHERE recent_total > 0 AND prior_total > 0 AND recent_products >= $min_support::INTEGER
ORDER BY z_score DESC NULLS LAST, h.shade;
