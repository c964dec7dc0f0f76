-- attribute_share: share of scored products carrying each attribute of a task, per month or
-- week, overall or per retailer or brand. Periods are of first_seen (new arrivals) or of
-- observed_on (what was on offer then: a product counts in every period it was observed in).
-- @param task REQUIRED  one of: category, color, gender, material, neckline, pattern, sleeve, style
-- @param by month  period length, one of: month, week
-- @param basis first_seen  one of: first_seen, observed_on
-- @param split none  one row set per segment, one of: none, retailer, brand
-- @param retailer NULL  only this retailer (NULL: all)
-- @param brand NULL  only this brand (NULL: all)
-- @param since NULL  first period to show, YYYY-MM-DD (NULL: the first there is)
-- @param until NULL  last period to show, YYYY-MM-DD (NULL: the last there is)
-- Output columns: period (DATE, first day), segment ('all', the retailer or the brand),
--   label_id, attribute, products (scored products with the attribute), period_products
--   (scored products in the period and segment), share (0..1)
WITH cells AS (
    -- pre-aggregated by every scoring run (analytics_share_counts): exact, and small
    SELECT period, label_id, products,
           CASE $split::VARCHAR WHEN 'retailer' THEN retailer
                                WHEN 'brand' THEN coalesce(brand, '(no brand)')
                                ELSE 'all' END AS segment
    FROM analytics_share_counts
    WHERE basis = $basis::VARCHAR AND period_kind = $by::VARCHAR
      AND ($retailer::VARCHAR IS NULL OR retailer = $retailer::VARCHAR)
      AND ($brand::VARCHAR IS NULL OR brand = $brand::VARCHAR)
      AND ($since::DATE IS NULL OR period >= date_trunc($by::VARCHAR, $since::DATE))
      AND ($until::DATE IS NULL OR period <= $until::DATE)
),
totals AS (
    SELECT period, segment, sum(products) AS period_products
    FROM cells
    WHERE label_id IS NULL
    GROUP BY ALL
),
task_labels AS (
    SELECT label_id, name FROM labels WHERE task = $task::VARCHAR
),
hits AS (
    SELECT period, segment, label_id, sum(products) AS products
    FROM cells
    WHERE label_id IN (SELECT label_id FROM task_labels)
    GROUP BY ALL
)
SELECT t.period, t.segment, l.label_id, l.name AS attribute,
       coalesce(h.products, 0)::BIGINT AS products, t.period_products::BIGINT AS period_products,
       round(coalesce(h.products, 0) / t.period_products, 4) AS share
FROM totals AS t
CROSS JOIN (SELECT * FROM task_labels WHERE label_id IN (SELECT label_id FROM hits)) AS l
LEFT JOIN hits AS h USING (period, segment, label_id)
ORDER BY t.period, t.segment, attribute;
