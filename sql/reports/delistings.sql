-- delistings: products a retailer had on offer on one date and no longer on a later one
-- (comparing its last nightly run on or before each date), with their last price and their
-- predicted category and color.
-- @param from_date REQUIRED  the earlier date, YYYY-MM-DD
-- @param to_date REQUIRED  the later date, YYYY-MM-DD
-- @param retailer NULL  only this retailer (NULL: all)
-- Output columns: retailer, product_id, brand, title, first_seen, last_observed_on, last_price,
--   currency, category, color, from_run, to_run
WITH runs AS (
    SELECT retailer,
           max(observed_on) FILTER (observed_on <= $from_date::DATE) AS from_run,
           max(observed_on) FILTER (observed_on <= $to_date::DATE) AS to_run
    FROM product_observations
    WHERE $retailer::VARCHAR IS NULL OR retailer = $retailer::VARCHAR
    GROUP BY retailer
),
gone AS (
    SELECT o.retailer, o.product_id, r.from_run, r.to_run
    FROM product_observations AS o
    JOIN runs AS r ON r.retailer = o.retailer AND o.observed_on = r.from_run
    ANTI JOIN (
        SELECT o2.retailer, o2.product_id
        FROM product_observations AS o2
        JOIN runs AS r2 ON r2.retailer = o2.retailer AND o2.observed_on = r2.to_run
    ) AS kept ON kept.retailer = o.retailer AND kept.product_id = o.product_id
    WHERE r.to_run > r.from_run
),
last_seen AS (
    SELECT o.retailer, o.product_id, max(o.observed_on) AS last_observed_on,
           arg_max(o.price, o.observed_on) AS last_price,
           arg_max(o.currency, o.observed_on) AS currency
    FROM product_observations AS o
    SEMI JOIN gone AS g USING (retailer, product_id)
    WHERE o.observed_on <= $to_date::DATE
      AND o.observed_on >= (SELECT min(from_run) FROM gone)  -- only the runs in between
    GROUP BY ALL
),
named AS (
    SELECT a.product_key,
           string_agg(l.name, ', ' ORDER BY a.score DESC) FILTER (l.task = 'category') AS category,
           string_agg(l.name, ', ' ORDER BY a.score DESC) FILTER (l.task = 'color') AS color
    FROM analytics_labels AS a
    JOIN labels AS l USING (label_id)
    WHERE l.task IN ('category', 'color')
      AND a.product_key IN (
          SELECT p.product_key FROM analytics_products AS p
          SEMI JOIN gone AS g USING (retailer, product_id)
      )
    GROUP BY a.product_key
)
SELECT g.retailer, g.product_id, p.brand, pr.title, p.first_seen, s.last_observed_on,
       s.last_price, s.currency, n.category, n.color, g.from_run, g.to_run
FROM gone AS g
JOIN analytics_products AS p USING (retailer, product_id)
JOIN products AS pr USING (retailer, product_id)
JOIN last_seen AS s USING (retailer, product_id)
LEFT JOIN named AS n USING (product_key)
ORDER BY g.retailer, s.last_observed_on, g.product_id;
