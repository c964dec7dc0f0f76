-- new_arrivals_mix: per period and retailer, how many products arrived (by first_seen) and the
-- attribute mix of those new arrivals, with the change in points against the retailer's
-- previous period.
-- @param task REQUIRED  one of: category, color, gender, material, neckline, pattern, sleeve, style
-- @param by month  one of: month, week
-- @param retailer NULL  only this retailer (NULL: all)
-- @param brand NULL  only this brand (NULL: all)
-- Output columns: period, retailer, new_products (scored new arrivals), attribute, label_id,
--   products, share_pct, change_points (against the retailer's previous period; NULL in its
--   first)
WITH arrivals AS (
    SELECT product_key, retailer, date_trunc($by::VARCHAR, first_seen)::DATE AS period
    FROM analytics_products
    WHERE model_version IS NOT NULL AND first_seen IS NOT NULL
      AND ($retailer::VARCHAR IS NULL OR retailer = $retailer::VARCHAR)
      AND ($brand::VARCHAR IS NULL OR brand = $brand::VARCHAR)
),
totals AS (
    SELECT period, retailer, count(*) AS new_products FROM arrivals GROUP BY ALL
),
task_labels AS (
    SELECT label_id, name FROM labels WHERE task = $task::VARCHAR
),
hits AS (
    SELECT n.period, n.retailer, a.label_id, count(*) AS products
    FROM arrivals AS n
    JOIN analytics_labels AS a USING (product_key)
    WHERE a.label_id IN (SELECT label_id FROM task_labels)
    GROUP BY ALL
),
grid AS (
    SELECT t.period, t.retailer, t.new_products, l.label_id, l.name AS attribute,
           coalesce(h.products, 0) AS products,
           round(100 * coalesce(h.products, 0) / t.new_products, 2) AS share_pct
    FROM totals AS t
    CROSS JOIN (SELECT * FROM task_labels WHERE label_id IN (SELECT label_id FROM hits)) AS l
    LEFT JOIN hits AS h USING (period, retailer, label_id)
)
SELECT period, retailer, new_products, attribute, label_id, products, share_pct,
       round(share_pct - lag(share_pct) OVER (PARTITION BY retailer, label_id ORDER BY period),
             2) AS change_points
FROM grid
ORDER BY period, retailer, products DESC, attribute;
