-- competitor_comparison: retailer A's attribute mix against retailer B's, side by side, over the
-- products each had scored (optionally only those first seen from a date on).
-- @param task color  label task: pattern, color, category, ...
-- @param retailer_a REQUIRED  our retailer
-- @param retailer_b REQUIRED  the competitor
-- @param since NULL  only products first seen on or after this date, YYYY-MM-DD (NULL: all)
-- Output columns: attribute, label_id, a_products, a_total, a_share_pct, b_products, b_total,
--   b_share_pct, difference_points (A minus B)
WITH scope AS (
    SELECT retailer, product_id
    FROM scored_products
    WHERE retailer IN ($retailer_a::VARCHAR, $retailer_b::VARCHAR)
      AND ($since::DATE IS NULL OR first_seen >= $since::DATE)
),
totals AS (
    SELECT count(*) FILTER (retailer = $retailer_a::VARCHAR) AS a_total,
           count(*) FILTER (retailer = $retailer_b::VARCHAR) AS b_total
    FROM scope
),
hits AS (
    SELECT a.label_id, a.name,
           count(*) FILTER (s.retailer = $retailer_a::VARCHAR) AS a_products,
           count(*) FILTER (s.retailer = $retailer_b::VARCHAR) AS b_products
    FROM scope AS s
    JOIN product_attributes AS a USING (retailer, product_id)
    WHERE a.task = $task::VARCHAR
    GROUP BY ALL
)
SELECT h.name AS attribute, h.label_id,
       h.a_products, t.a_total, round(100 * h.a_products / nullif(t.a_total, 0), 2) AS a_share_pct,
       h.b_products, t.b_total, round(100 * h.b_products / nullif(t.b_total, 0), 2) AS b_share_pct,
       round(100 * h.a_products / nullif(t.a_total, 0)
             - 100 * h.b_products / nullif(t.b_total, 0), 2) AS difference_points
FROM hits AS h, totals AS t
ORDER BY abs(difference_points) DESC NULLS LAST, attribute;
