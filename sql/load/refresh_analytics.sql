-- Rebuild the analytics tables (migration 002) from the warehouse, for the production model.
-- Run in one transaction at the end of every scoring run, and once when migration 002 is
-- applied; readers see either the old tables or the new ones, never a mix.
-- Parameters: none.

DELETE FROM analytics_labels;
DELETE FROM analytics_periods;
DELETE FROM analytics_uncertain;
DELETE FROM analytics_share_counts;
DELETE FROM analytics_products;
DELETE FROM analytics_refresh;
DELETE FROM analytics_colors;

INSERT INTO analytics_products
SELECT row_number() OVER (ORDER BY p.retailer, p.product_id)::INTEGER,
       p.retailer, p.product_id, p.brand, p.first_seen, p.last_seen, p.price, p.currency,
       s.model_version
FROM products AS p
LEFT JOIN (
    SELECT DISTINCT pi.retailer, pi.product_id, sc.model_version
    FROM product_images AS pi
    JOIN scores AS sc ON sc.image_sha256 = pi.image_sha256
    JOIN models AS m ON m.model_version = sc.model_version AND m.is_production
) AS s USING (retailer, product_id)
ORDER BY 1;

INSERT INTO analytics_labels
SELECT p.product_key, pr.label_id, max(pr.score)
FROM analytics_products AS p
JOIN product_images AS pi USING (retailer, product_id)
JOIN predictions AS pr
  ON pr.image_sha256 = pi.image_sha256 AND pr.model_version = p.model_version
GROUP BY p.product_key, pr.label_id
ORDER BY pr.label_id, p.product_key;

-- price and currency: the last observed in the period.
INSERT INTO analytics_periods
SELECT p.product_key, k.kind, date_trunc(k.kind, o.observed_on)::DATE AS period,
       arg_max(o.price, o.observed_on), arg_max(o.currency, o.observed_on)
FROM product_observations AS o
JOIN analytics_products AS p USING (retailer, product_id)
CROSS JOIN (VALUES ('week'), ('month')) AS k(kind)
GROUP BY p.product_key, k.kind, period
ORDER BY k.kind, period, p.product_key;

INSERT INTO analytics_share_counts
WITH dated AS (
    SELECT 'first_seen' AS basis, k.kind AS period_kind,
           date_trunc(k.kind, p.first_seen)::DATE AS period, p.product_key, p.retailer, p.brand
    FROM analytics_products AS p
    CROSS JOIN (VALUES ('week'), ('month')) AS k(kind)
    WHERE p.model_version IS NOT NULL AND p.first_seen IS NOT NULL
    UNION ALL
    SELECT 'observed_on', pe.period_kind, pe.period, p.product_key, p.retailer, p.brand
    FROM analytics_periods AS pe
    JOIN analytics_products AS p USING (product_key)
    WHERE p.model_version IS NOT NULL
),
totals AS (
    SELECT basis, period_kind, period, retailer, brand, NULL::INTEGER AS label_id,
           count(*) AS products
    FROM dated
    GROUP BY ALL
),
hits AS (
    SELECT d.basis, d.period_kind, d.period, d.retailer, d.brand, a.label_id, count(*) AS products
    FROM dated AS d
    JOIN analytics_labels AS a USING (product_key)
    GROUP BY ALL
)
SELECT * FROM totals
UNION ALL
SELECT * FROM hits
ORDER BY basis, period_kind, label_id, period;

INSERT INTO analytics_uncertain
WITH probabilities AS (
    SELECT s.image_sha256,
           unnest(s.probs) AS score,
           unnest(m.thresholds) AS threshold,
           unnest(range(len(s.probs))) AS position
    FROM scores AS s
    JOIN models AS m ON m.model_version = s.model_version AND m.is_production
),
band AS (
    SELECT * FROM probabilities WHERE abs(score - threshold) <= 0.1
)
SELECT p.product_key, l.label_id, max(b.score), any_value(b.threshold)
FROM band AS b
JOIN product_images AS pi ON pi.image_sha256 = b.image_sha256
JOIN analytics_products AS p USING (retailer, product_id)
JOIN labels AS l ON l.position = b.position
GROUP BY p.product_key, l.label_id
ORDER BY l.label_id, p.product_key;

-- a product's colours: its first photo with colours, by the newest measuring method
INSERT INTO analytics_colors
WITH method AS (
    SELECT max(method_version) AS version FROM image_colors
),
first_photo AS (
    SELECT p.product_key, arg_min(pi.image_sha256, pi.position) AS image_sha256
    FROM analytics_products AS p
    JOIN product_images AS pi USING (retailer, product_id)
    WHERE p.model_version IS NOT NULL
      AND pi.image_sha256 IN (SELECT image_sha256 FROM image_colors, method
                              WHERE method_version = method.version)
    GROUP BY p.product_key
)
SELECT f.product_key, f.image_sha256, c.rank, c.hex, c.l, c.a, c.b, c.share, c.name, c.family
FROM first_photo AS f
JOIN image_colors AS c USING (image_sha256)
WHERE c.method_version = (SELECT version FROM method)
ORDER BY f.product_key, c.rank;

INSERT INTO analytics_refresh
SELECT now(),
       (SELECT model_version FROM models WHERE is_production),
       (SELECT count(*) FROM analytics_products),
       (SELECT count(*) FROM analytics_products WHERE model_version IS NOT NULL),
       (SELECT count(*) FROM analytics_labels);
