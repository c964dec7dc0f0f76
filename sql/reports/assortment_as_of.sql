-- assortment_as_of: what each retailer had on offer on a date (its last nightly run on or
-- before it, from product_observations), and the attribute mix of that assortment.
-- @param task category  one of: category, color, gender, material, neckline, pattern, sleeve, style
-- @param as_of NULL  the date, YYYY-MM-DD (NULL: each retailer's latest run)
-- @param retailer NULL  only this retailer (NULL: all)
-- Output columns: retailer, observed_on (the run used), on_offer (products observed that day),
--   scored (of those, scored by the production model), attribute, label_id, products,
--   share_pct (of scored)
WITH snapshot AS (
    SELECT retailer, max(observed_on) AS observed_on
    FROM product_observations
    WHERE ($as_of::DATE IS NULL OR observed_on <= $as_of::DATE)
      AND ($retailer::VARCHAR IS NULL OR retailer = $retailer::VARCHAR)
    GROUP BY retailer
),
on_offer AS (
    SELECT o.retailer, o.observed_on, p.product_key, p.model_version IS NOT NULL AS scored
    FROM product_observations AS o
    JOIN snapshot AS s USING (retailer, observed_on)
    JOIN analytics_products AS p USING (retailer, product_id)
),
totals AS (
    SELECT retailer, observed_on, count(*) AS on_offer, count(*) FILTER (scored) AS scored
    FROM on_offer
    GROUP BY ALL
),
hits AS (
    SELECT o.retailer, a.label_id, count(*) AS products
    FROM on_offer AS o
    JOIN analytics_labels AS a USING (product_key)
    WHERE a.label_id IN (SELECT label_id FROM labels WHERE task = $task::VARCHAR)
    GROUP BY ALL
)
SELECT t.retailer, t.observed_on, t.on_offer, t.scored, l.name AS attribute, h.label_id,
       h.products, round(100 * h.products / nullif(t.scored, 0), 2) AS share_pct
FROM totals AS t
JOIN hits AS h USING (retailer)
JOIN labels AS l USING (label_id)
ORDER BY t.retailer, h.products DESC, attribute;
