-- trending_attributes: for each attribute of a task, its share of scored products in a recent
-- window against the window just before it, with both counts, the change in points and a
-- two-proportion z-score; ranked by significance (most significantly rising first), and only
-- attributes carried by at least min_support products in the recent window, so that noise does
-- not top the list. Windows are whole months or weeks of first_seen (new arrivals) or of
-- observed_on (on offer).
-- @param task REQUIRED  one of: category, color, gender, material, neckline, pattern, sleeve, style
-- @param by month  window unit, one of: month, week
-- @param window 3  periods in the recent window, and in the window before it
-- @param basis first_seen  one of: first_seen, observed_on
-- @param retailer NULL  only this retailer (NULL: all)
-- @param brand NULL  only this brand (NULL: all)
-- @param as_of NULL  a day in the last period of the recent window, YYYY-MM-DD (NULL: latest)
-- @param min_support 5  least products carrying the attribute in the recent window
-- Output columns: attribute, label_id, recent_products, recent_total, prior_products,
--   prior_total, recent_share_pct, prior_share_pct, change_points, z_score, recent_from,
--   prior_from
WITH scope AS (
    SELECT product_key, first_seen
    FROM analytics_products
    WHERE model_version IS NOT NULL
      AND ($retailer::VARCHAR IS NULL OR retailer = $retailer::VARCHAR)
      AND ($brand::VARCHAR IS NULL OR brand = $brand::VARCHAR)
),
dated AS (
    SELECT product_key, date_trunc($by::VARCHAR, first_seen)::DATE AS period
    FROM scope
    WHERE $basis::VARCHAR = 'first_seen'
    UNION ALL
    SELECT s.product_key, pe.period
    FROM scope AS s
    JOIN analytics_periods AS pe USING (product_key)
    WHERE $basis::VARCHAR = 'observed_on' AND pe.period_kind = $by::VARCHAR
),
step AS (
    SELECT CASE $by::VARCHAR WHEN 'week' THEN to_weeks(1) ELSE to_months(1) END AS unit
),
windows AS (
    SELECT last_period,
           (last_period - (($window::INTEGER - 1) * unit))::DATE AS recent_from,
           (last_period - ((2 * $window::INTEGER - 1) * unit))::DATE AS prior_from
    FROM step, (
        SELECT coalesce(date_trunc($by::VARCHAR, $as_of::DATE)::DATE, max(period)) AS last_period
        FROM dated
    )
),
members AS (
    -- a product observed in several periods of a window counts once in it
    SELECT DISTINCT d.product_key, d.period >= w.recent_from AS is_recent
    FROM dated AS d, windows AS w
    WHERE d.period >= w.prior_from AND d.period <= w.last_period
),
totals AS (
    SELECT count(*) FILTER (is_recent) AS recent_total,
           count(*) FILTER (NOT is_recent) AS prior_total
    FROM members
),
hits AS (
    SELECT a.label_id,
           count(*) FILTER (m.is_recent) AS recent_products,
           count(*) FILTER (NOT m.is_recent) AS prior_products
    FROM members AS m
    JOIN analytics_labels AS a USING (product_key)
    WHERE a.label_id IN (SELECT label_id FROM labels WHERE task = $task::VARCHAR)
    GROUP BY a.label_id
),
shares AS (
    SELECT h.*, t.*,
           h.recent_products / t.recent_total AS p_recent,
           h.prior_products / t.prior_total AS p_prior,
           (h.recent_products + h.prior_products) / (t.recent_total + t.prior_total) AS p_pooled
    FROM hits AS h, totals AS t
    WHERE t.recent_total > 0 AND t.prior_total > 0
)
SELECT l.name AS attribute, s.label_id, recent_products, recent_total, prior_products,
       prior_total,
       round(100 * p_recent, 2) AS recent_share_pct,
       round(100 * p_prior, 2) AS prior_share_pct,
       round(100 * (p_recent - p_prior), 2) AS change_points,
       round((p_recent - p_prior) / nullif(sqrt(p_pooled * (1 - p_pooled)
             * (1 / recent_total + 1 / prior_total)), 0), 2) AS z_score,
       w.recent_from, w.prior_from
FROM shares AS s
JOIN labels AS l USING (label_id)
CROSS JOIN windows AS w
WHERE recent_products >= $min_support::INTEGER
ORDER BY z_score DESC NULLS LAST, attribute;
