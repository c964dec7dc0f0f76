-- trending_attributes: for each attribute of a task, its share of new products (by first_seen)
-- in a recent window against the window just before it, ranked by a two-proportion z-score
-- (most significantly rising first), so that noise does not top the list.
-- @param task REQUIRED  label task: pattern, color, category, ...
-- @param retailer NULL  one retailer, or NULL for all retailers
-- @param months 3  length in months of the recent window and of the window before it
-- @param as_of NULL  last day of the recent window, YYYY-MM-DD (NULL: the latest first_seen)
-- @param min_support 5  least products carrying the attribute in the recent window
-- Output columns: attribute, label_id, recent_products, recent_total, prior_products, prior_total,
--   recent_share_pct, prior_share_pct, change_points, z_score
WITH bounds AS (
    SELECT coalesce($as_of::DATE, max(first_seen)) AS as_of FROM scored_products
),
windows AS (
    SELECT as_of,
           (as_of - to_months($months::INTEGER))::DATE AS recent_start,
           (as_of - to_months(2 * $months::INTEGER))::DATE AS prior_start
    FROM bounds
),
scope AS (
    SELECT p.retailer, p.product_id, p.first_seen > w.recent_start AS is_recent
    FROM scored_products AS p, windows AS w
    WHERE p.first_seen > w.prior_start AND p.first_seen <= w.as_of
      AND ($retailer::VARCHAR IS NULL OR p.retailer = $retailer::VARCHAR)
),
totals AS (
    SELECT count(*) FILTER (is_recent) AS recent_total,
           count(*) FILTER (NOT is_recent) AS prior_total
    FROM scope
),
hits AS (
    SELECT a.label_id, a.name,
           count(*) FILTER (s.is_recent) AS recent_products,
           count(*) FILTER (NOT s.is_recent) AS prior_products
    FROM scope AS s
    JOIN product_attributes AS a USING (retailer, product_id)
    WHERE a.task = $task::VARCHAR
    GROUP BY ALL
),
shares AS (
    SELECT h.*, t.*,
           h.recent_products / t.recent_total AS p_recent,
           h.prior_products / t.prior_total AS p_prior,
           (h.recent_products + h.prior_products) / (t.recent_total + t.prior_total) AS p_pooled
    FROM hits AS h, totals AS t
    WHERE t.recent_total > 0 AND t.prior_total > 0
)
SELECT name AS attribute, label_id, recent_products, recent_total, prior_products, prior_total,
       round(100 * p_recent, 2) AS recent_share_pct,
       round(100 * p_prior, 2) AS prior_share_pct,
       round(100 * (p_recent - p_prior), 2) AS change_points,
       round((p_recent - p_prior) / nullif(sqrt(p_pooled * (1 - p_pooled)
             * (1 / recent_total + 1 / prior_total)), 0), 2) AS z_score
FROM shares
WHERE recent_products >= $min_support::INTEGER
ORDER BY z_score DESC NULLS LAST, attribute;
