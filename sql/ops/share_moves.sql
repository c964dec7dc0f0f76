-- Share of scored products with each predicted label (production model) among the products
-- observed on $as_of, against the products observed on $previous; labels that moved by at
-- least $threshold (a share, 0.10 = 10 points), largest move first. Both runs are labelled by
-- the same model, so a move is a change of assortment, not of model.
WITH observed AS (
    SELECT DISTINCT
        CASE WHEN o.observed_on = $as_of THEN 'now' ELSE 'before' END AS run,
        p.product_key
    FROM product_observations o
    JOIN analytics_products p USING (retailer, product_id)
    WHERE o.observed_on IN ($as_of, $previous) AND p.model_version IS NOT NULL
), totals AS (
    SELECT run, count(*) AS products FROM observed GROUP BY run
), shares AS (
    SELECT o.run, l.label_id, count(*) / any_value(t.products) AS share
    FROM observed o
    JOIN analytics_labels l USING (product_key)
    JOIN totals t USING (run)
    GROUP BY o.run, l.label_id
)
SELECT
    lb.task,
    lb.name AS label,
    round(coalesce(b.share, 0), 4) AS share_before,
    round(coalesce(n.share, 0), 4) AS share_now,
    round(coalesce(n.share, 0) - coalesce(b.share, 0), 4) AS change
FROM labels lb
LEFT JOIN shares b ON b.label_id = lb.label_id AND b.run = 'before'
LEFT JOIN shares n ON n.label_id = lb.label_id AND n.run = 'now'
WHERE abs(coalesce(n.share, 0) - coalesce(b.share, 0)) >= $threshold
    AND (SELECT count(*) FROM totals) = 2
ORDER BY abs(coalesce(n.share, 0) - coalesce(b.share, 0)) DESC, lb.task, lb.name
