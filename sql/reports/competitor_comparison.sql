-- competitor_comparison: retailer A's attribute mix against retailer B's, side by side, with the
-- differences: over every product each had scored (optionally only those first seen in a date
-- range), or over what each had on offer on one date (as_of).
-- @param task color  one of: category, color, gender, material, neckline, pattern, sleeve, style
-- @param retailer_a REQUIRED  our retailer
-- @param retailer_b REQUIRED  the competitor
-- @param since NULL  only products first seen on or after this date, YYYY-MM-DD (NULL: all)
-- @param until NULL  only products first seen on or before this date, YYYY-MM-DD (NULL: all)
-- @param as_of NULL  only products on offer in each retailer's last run on or before this date, YYYY-MM-DD (NULL: every scored product)
-- Output columns: attribute, label_id, a_products, a_total, a_share_pct, b_products, b_total,
--   b_share_pct, difference_points (A minus B)
WITH snapshot AS (
    -- each retailer's last run on or before as_of
    SELECT retailer, max(observed_on) AS observed_on
    FROM product_observations
    WHERE $as_of::DATE IS NOT NULL AND observed_on <= $as_of::DATE
      AND retailer IN ($retailer_a::VARCHAR, $retailer_b::VARCHAR)
    GROUP BY retailer
),
on_offer AS (
    SELECT o.retailer, o.product_id
    FROM product_observations AS o
    JOIN snapshot AS s USING (retailer, observed_on)
),
scope AS (
    SELECT p.product_key, p.retailer = $retailer_a::VARCHAR AS is_a
    FROM analytics_products AS p
    WHERE p.model_version IS NOT NULL
      AND p.retailer IN ($retailer_a::VARCHAR, $retailer_b::VARCHAR)
      AND ($since::DATE IS NULL OR p.first_seen >= $since::DATE)
      AND ($until::DATE IS NULL OR p.first_seen <= $until::DATE)
      AND ($as_of::DATE IS NULL
           OR (p.retailer, p.product_id) IN (SELECT (retailer, product_id) FROM on_offer))
),
totals AS (
    SELECT count(*) FILTER (is_a) AS a_total, count(*) FILTER (NOT is_a) AS b_total FROM scope
),
hits AS (
    SELECT a.label_id,
           count(*) FILTER (s.is_a) AS a_products,
           count(*) FILTER (NOT s.is_a) AS b_products
    FROM scope AS s
    JOIN analytics_labels AS a USING (product_key)
    WHERE a.label_id IN (SELECT label_id FROM labels WHERE task = $task::VARCHAR)
    GROUP BY a.label_id
)
SELECT l.name AS attribute, h.label_id,
       h.a_products, t.a_total, round(100 * h.a_products / nullif(t.a_total, 0), 2) AS a_share_pct,
       h.b_products, t.b_total, round(100 * h.b_products / nullif(t.b_total, 0), 2) AS b_share_pct,
       round(100 * h.a_products / nullif(t.a_total, 0)
             - 100 * h.b_products / nullif(t.b_total, 0), 2) AS difference_points
FROM hits AS h
JOIN labels AS l USING (label_id)
CROSS JOIN totals AS t
ORDER BY abs(difference_points) DESC NULLS LAST, attribute;
