-- attribute_share_by_month: share of scored products carrying each attribute of a task, per
-- month of first_seen (new arrivals), from the production model's predictions.
-- @param task REQUIRED  label task: pattern, color, category, ...
-- @param retailer NULL  one retailer, or NULL for all retailers
-- Output columns: month (DATE), label_id, attribute, products (with the attribute),
--   month_products (scored products that month), share (0..1)
WITH scope AS (
    SELECT retailer, product_id, date_trunc('month', first_seen)::DATE AS month
    FROM scored_products
    WHERE $retailer::VARCHAR IS NULL OR retailer = $retailer::VARCHAR
),
month_totals AS (
    SELECT month, count(*) AS month_products FROM scope GROUP BY month
),
task_labels AS (
    SELECT label_id, name FROM labels WHERE task = $task::VARCHAR
),
grid AS (
    SELECT m.month, m.month_products, t.label_id, t.name FROM month_totals AS m, task_labels AS t
),
hits AS (
    SELECT s.month, a.label_id, count(DISTINCT (s.retailer, s.product_id)) AS products
    FROM scope AS s
    JOIN product_attributes AS a USING (retailer, product_id)
    WHERE a.task = $task::VARCHAR
    GROUP BY ALL
)
SELECT g.month, g.label_id, g.name AS attribute, coalesce(h.products, 0) AS products,
       g.month_products, round(coalesce(h.products, 0) / g.month_products, 4) AS share
FROM grid AS g
LEFT JOIN hits AS h USING (month, label_id)
WHERE g.label_id IN (SELECT label_id FROM hits)
ORDER BY g.month, g.name;
