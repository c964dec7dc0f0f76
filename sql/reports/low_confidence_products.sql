-- low_confidence_products: products whose predicted probability for a label lies close to the
-- production model's threshold, above or below it, for a person to review (closest first).
-- The nightly refresh keeps labels within 0.1 of the threshold, so margin is at most 0.1.
-- @param task NULL  one of: category, color, gender, material, neckline, pattern, sleeve, style (NULL: all tasks)
-- @param margin 0.05  largest distance from the threshold, at most 0.1
-- @param retailer NULL  only this retailer (NULL: all)
-- @param limit 100  most rows returned
-- Output columns: retailer, product_id, brand, task, attribute, label_id, score, threshold,
--   predicted (score at or above the threshold), distance (|score - threshold|)
SELECT p.retailer, p.product_id, p.brand, l.task, l.name AS attribute, u.label_id,
       round(u.score, 4) AS score, round(u.threshold, 4) AS threshold,
       u.score >= u.threshold AS predicted,
       round(abs(u.score - u.threshold), 4) AS distance
FROM analytics_uncertain AS u
JOIN analytics_products AS p USING (product_key)
JOIN labels AS l USING (label_id)
WHERE ($task::VARCHAR IS NULL OR l.task = $task::VARCHAR)
  AND ($retailer::VARCHAR IS NULL OR p.retailer = $retailer::VARCHAR)
  AND abs(u.score - u.threshold) <= $margin::DOUBLE
  AND (CASE WHEN $margin::DOUBLE BETWEEN 0 AND 0.1 THEN true
            ELSE error('parameter margin must be between 0 and 0.1') END)
ORDER BY distance, p.retailer, p.product_id, attribute
LIMIT $limit::INTEGER;
