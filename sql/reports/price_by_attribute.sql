-- price_by_attribute: the price of products carrying each attribute of a task, per month or
-- week of observation (a product's last observed price in the period) and per currency (prices
-- in different currencies are never mixed), with the change of the average against the
-- previous period.
-- @param task REQUIRED  one of: category, color, gender, material, neckline, pattern, sleeve, style
-- @param by month  one of: month, week
-- @param retailer NULL  only this retailer (NULL: all)
-- @param brand NULL  only this brand (NULL: all)
-- @param currency NULL  only this currency, e.g. EUR (NULL: each separately)
-- Output columns: period, currency, attribute, label_id, products (priced and on offer),
--   avg_price, median_price, min_price, max_price, avg_change_pct (against the previous
--   period, same currency and attribute)
WITH priced AS (
    SELECT * FROM priced_products($by::VARCHAR, $retailer::VARCHAR, $brand::VARCHAR,
                                  $currency::VARCHAR)
),
stats AS (
    SELECT pr.period, pr.currency, a.label_id, count(*) AS products,
           avg(pr.price) AS avg_price, median(pr.price) AS median_price,
           min(pr.price) AS min_price, max(pr.price) AS max_price
    FROM priced AS pr
    JOIN analytics_labels AS a USING (product_key)
    WHERE a.label_id IN (SELECT label_id FROM labels WHERE task = $task::VARCHAR)
    GROUP BY ALL
)
SELECT s.period, s.currency, l.name AS attribute, s.label_id, s.products,
       round(s.avg_price, 2) AS avg_price, round(s.median_price, 2) AS median_price,
       s.min_price, s.max_price,
       round(100 * (s.avg_price / lag(s.avg_price) OVER (
           PARTITION BY s.currency, s.label_id ORDER BY s.period) - 1), 2) AS avg_change_pct
FROM stats AS s
JOIN labels AS l USING (label_id)
ORDER BY s.period, s.currency, attribute;
