-- attribute_cooccurrence: which attributes of one task go with which of another (which colors
-- go with which categories, ...), over the scored products: how many products carry both, the
-- share of A's products that carry B, and the lift (how much likelier B is with A than overall).
-- @param task_a category  one of: category, color, gender, material, neckline, pattern, sleeve, style
-- @param task_b color  one of: category, color, gender, material, neckline, pattern, sleeve, style
-- @param retailer NULL  only this retailer (NULL: all)
-- @param since NULL  only products first seen on or after this date, YYYY-MM-DD (NULL: all)
-- @param min_products 1  least products carrying both
-- Output columns: a_attribute, b_attribute, products (with both), a_products, b_products,
--   b_share_of_a_pct (of A's products, the share that carry B), lift
WITH scope AS (
    SELECT product_key
    FROM analytics_products
    WHERE model_version IS NOT NULL
      AND ($retailer::VARCHAR IS NULL OR retailer = $retailer::VARCHAR)
      AND ($since::DATE IS NULL OR first_seen >= $since::DATE)
),
total AS (
    SELECT count(*) AS products FROM scope
),
tagged AS (
    SELECT a.product_key, a.label_id, l.task, l.name
    FROM analytics_labels AS a
    JOIN labels AS l USING (label_id)
    SEMI JOIN scope USING (product_key)
    WHERE l.task IN ($task_a::VARCHAR, $task_b::VARCHAR)
),
side_a AS (SELECT * FROM tagged WHERE task = $task_a::VARCHAR),
side_b AS (SELECT * FROM tagged WHERE task = $task_b::VARCHAR),
counts AS (
    SELECT label_id, count(*) AS products FROM tagged GROUP BY label_id
),
pairs AS (
    SELECT a.name AS a_attribute, a.label_id AS a_label, b.name AS b_attribute,
           b.label_id AS b_label, count(*) AS products
    FROM side_a AS a
    JOIN side_b AS b USING (product_key)
    WHERE a.label_id <> b.label_id
    GROUP BY ALL
)
SELECT p.a_attribute, p.b_attribute, p.products, ca.products AS a_products,
       cb.products AS b_products,
       round(100 * p.products / ca.products, 2) AS b_share_of_a_pct,
       round(p.products * t.products / (ca.products * cb.products), 2) AS lift
FROM pairs AS p
JOIN counts AS ca ON ca.label_id = p.a_label
JOIN counts AS cb ON cb.label_id = p.b_label
CROSS JOIN total AS t
WHERE p.products >= $min_products::INTEGER
ORDER BY p.a_attribute, p.products DESC, p.b_attribute;
