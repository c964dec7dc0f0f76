-- equivalent_price_gaps: each product of one retailer beside its nearest equivalent at a
-- competitor (rank 1 of `equivalents`, written by `fashion equivalents` with the production
-- model), both current prices and the gap; pairs priced in different currencies are listed
-- with no gap. Largest relative gap (competitor dearer) first.
-- @param from_retailer REQUIRED  the retailer whose products were matched (--from)
-- @param to_retailer REQUIRED  the competitor they were matched to (--to)
-- @param min_similarity 0.0  only pairs at least this similar (cosine, up to 1)
-- Output columns: from_product_id, from_brand, from_title, from_price, to_product_id, to_brand,
--   to_title, to_price, currency, price_gap (to - from), gap_pct (of from_price), similarity,
--   category (predicted for the from product)
WITH pairs AS (
    SELECT e.from_retailer, e.from_product_id, e.to_retailer, e.to_product_id, e.similarity
    FROM equivalents AS e
    WHERE e.model_version = (SELECT model_version FROM analytics_refresh)
      AND e.from_retailer = $from_retailer::VARCHAR
      AND e.to_retailer = $to_retailer::VARCHAR
      AND e.rank = 1
      AND e.similarity >= $min_similarity::DOUBLE
),
category AS (
    SELECT a.product_key, string_agg(l.name, ', ' ORDER BY a.score DESC) AS category
    FROM analytics_labels AS a
    JOIN labels AS l USING (label_id)
    WHERE l.task = 'category'
    GROUP BY a.product_key
)
SELECT q.from_product_id, f.brand AS from_brand, f.title AS from_title, f.price AS from_price,
       q.to_product_id, t.brand AS to_brand, t.title AS to_title, t.price AS to_price,
       CASE WHEN f.currency = t.currency THEN f.currency END AS currency,
       CASE WHEN f.currency = t.currency THEN round(t.price - f.price, 2) END AS price_gap,
       CASE WHEN f.currency = t.currency AND f.price > 0
            THEN round(100 * (t.price - f.price) / f.price, 1) END AS gap_pct,
       round(q.similarity, 4) AS similarity, c.category
FROM pairs AS q
JOIN products AS f ON f.retailer = q.from_retailer AND f.product_id = q.from_product_id
JOIN products AS t ON t.retailer = q.to_retailer AND t.product_id = q.to_product_id
LEFT JOIN analytics_products AS ap
  ON ap.retailer = q.from_retailer AND ap.product_id = q.from_product_id
LEFT JOIN category AS c ON c.product_key = ap.product_key
ORDER BY gap_pct DESC NULLS LAST, q.similarity DESC, q.from_product_id;
