-- trending_attributes: for each attribute of a task, its share of scored products in a recent
-- window against the window just before it, with both counts, the change in points and a
-- two-proportion z-score (the share_z macro, migration 011); ranked by significance (most
-- significantly rising first), and only attributes carried by at least min_support products in
-- the recent window, so that noise does not top the list. Windows are whole months or weeks of
-- first_seen (new arrivals) or of observed_on (on offer): the trend_members macro.
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
WITH hits AS (
    SELECT a.label_id,
           count(*) FILTER (m.is_recent) AS recent_products,
           count(*) FILTER (NOT m.is_recent) AS prior_products,
           any_value(m.recent_total) AS recent_total, any_value(m.prior_total) AS prior_total,
           any_value(m.recent_from) AS recent_from, any_value(m.prior_from) AS prior_from
    FROM trend_members($by::VARCHAR, $window::INTEGER, $basis::VARCHAR, $retailer::VARCHAR,
                       $brand::VARCHAR, $as_of::DATE) AS m
    JOIN analytics_labels AS a USING (product_key)
    WHERE a.label_id IN (SELECT label_id FROM labels WHERE task = $task::VARCHAR)
    GROUP BY a.label_id
)
SELECT l.name AS attribute, h.label_id, recent_products, recent_total, prior_products,
       prior_total,
       round(100 * recent_products / recent_total, 2) AS recent_share_pct,
       round(100 * prior_products / prior_total, 2) AS prior_share_pct,
       round(100 * (recent_products / recent_total - prior_products / prior_total), 2)
           AS change_points,
       round(share_z(recent_products, recent_total, prior_products, prior_total), 2) AS z_score,
       recent_from, prior_from
FROM hits AS h
JOIN labels AS l USING (label_id)
WHERE recent_total > 0 AND prior_total > 0 AND recent_products >= $min_support::INTEGER
ORDER BY z_score DESC NULLS LAST, attribute;
