-- color_label_agreement: for each colour label the classifier predicts, how often the measured
-- colours of the same products agree: the product's main measured colour (the largest share of
-- its first photo) is of that family, or any measured colour with at least min_share is; and
-- the family most often measured instead. Disagreements are where to look first (a label to
-- review, or a photo whose background or model the measuring kept).
-- @param retailer NULL  only this retailer (NULL: all)
-- @param min_share 0.2  least share of a product's pixels for a measured colour to count
-- Output columns: label, products (scored, measured, with the label), main_agrees,
--   main_agrees_pct, any_agrees, any_agrees_pct, most_measured (the commonest main family)
WITH labelled AS (
    SELECT a.product_key, l.name AS label
    FROM analytics_labels AS a
    JOIN labels AS l USING (label_id)
    JOIN analytics_products AS p USING (product_key)
    WHERE l.task = 'color'
      AND ($retailer::VARCHAR IS NULL OR p.retailer = $retailer::VARCHAR)
),
judged AS (
    SELECT lb.product_key, lb.label,
           bool_or(c.rank = 1 AND c.family = lb.label) AS main_agrees,
           bool_or(c.share >= $min_share::DOUBLE AND c.family = lb.label) AS any_agrees,
           any_value(c.family) FILTER (c.rank = 1) AS main_family
    FROM labelled AS lb
    JOIN analytics_colors AS c USING (product_key)
    GROUP BY lb.product_key, lb.label
)
SELECT label, count(*) AS products,
       count(*) FILTER (main_agrees) AS main_agrees,
       round(100 * count(*) FILTER (main_agrees) / count(*), 1) AS main_agrees_pct,
       count(*) FILTER (any_agrees) AS any_agrees,
       round(100 * count(*) FILTER (any_agrees) / count(*), 1) AS any_agrees_pct,
       mode(main_family) AS most_measured
FROM judged
GROUP BY label
ORDER BY products DESC, label;
