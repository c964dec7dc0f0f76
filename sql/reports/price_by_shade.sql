-- price_by_shade: the price of products by their main measured shade (or colour family: the
-- first photo's largest colour), per month or week of observation (a product's last observed
-- price in the period) and per currency (never mixed), with the change of the average against
-- the previous period.
-- @param level name  one of: name, family
-- @param by month  one of: month, week
-- @param retailer NULL  only this retailer (NULL: all)
-- @param brand NULL  only this brand (NULL: all)
-- @param currency NULL  only this currency, e.g. EUR (NULL: each separately)
-- Output columns: period, currency, shade, family, hex (NULL for a family), products (priced
--   and on offer), avg_price, median_price, min_price, max_price, avg_change_pct (against the
--   previous period, same currency and shade)
WITH priced AS (
    SELECT * FROM priced_products($by::VARCHAR, $retailer::VARCHAR, $brand::VARCHAR,
                                  $currency::VARCHAR)
),
main AS (
    SELECT product_key, CASE $level::VARCHAR WHEN 'family' THEN family ELSE name END AS shade,
           family
    FROM analytics_colors
    WHERE rank = 1
),
stats AS (
    SELECT pr.period, pr.currency, m.shade, any_value(m.family) AS family, count(*) AS products,
           avg(pr.price) AS avg_price, median(pr.price) AS median_price,
           min(pr.price) AS min_price, max(pr.price) AS max_price
    FROM priced AS pr
    JOIN main AS m USING (product_key)
    GROUP BY pr.period, pr.currency, m.shade
)
SELECT s.period, s.currency, s.shade, s.family,
       CASE $level::VARCHAR WHEN 'name' THEN cs.hex END AS hex, s.products,
       round(s.avg_price, 2) AS avg_price, round(s.median_price, 2) AS median_price,
       s.min_price, s.max_price,
       round(100 * (s.avg_price / lag(s.avg_price) OVER (
           PARTITION BY s.currency, s.shade ORDER BY s.period) - 1), 2) AS avg_change_pct
FROM stats AS s
LEFT JOIN color_shades AS cs ON cs.name = s.shade
ORDER BY s.period, s.currency, s.shade;
