-- The images to send for review: each catalog image the model scored whose score for a label
-- of the chosen tasks lies within $margin of that label's threshold, least certain first, with
-- the labels the model predicts (score at or above the threshold) for the pre-annotations.
-- Parameters: $model (model version), $tasks (VARCHAR[]; empty: all tasks), $margin (<= 0.1,
-- the band analytics_uncertain keeps), $retailer (NULL: all), $limit, $again (include images
-- already exported for this model)
WITH model AS (
    SELECT thresholds FROM models WHERE model_version = $model
),
uncertain_products AS (
    SELECT DISTINCT p.retailer, p.product_id
    FROM analytics_uncertain AS u
    JOIN analytics_products AS p USING (product_key)
    JOIN labels AS l USING (label_id)
    WHERE abs(u.score - u.threshold) <= $margin
      AND (len($tasks) = 0 OR list_contains($tasks, l.task))
      AND ($retailer::VARCHAR IS NULL OR p.retailer = $retailer::VARCHAR)
),
candidate_images AS (
    SELECT pi.retailer, pi.product_id, pi.image_url, pi.image_sha256, img.path, s.probs
    FROM product_images AS pi
    JOIN uncertain_products USING (retailer, product_id)
    JOIN scores AS s ON s.image_sha256 = pi.image_sha256 AND s.model_version = $model
    JOIN images AS img ON img.image_sha256 = pi.image_sha256
    WHERE pi.image_status = 'ok'
      AND ($again OR pi.image_sha256 NOT IN (
          SELECT image_sha256 FROM review_exports WHERE model_version = $model))
    QUALIFY row_number() OVER (
        PARTITION BY pi.image_sha256 ORDER BY pi.retailer, pi.product_id, pi.position) = 1
),
label_scores AS (
    SELECT c.image_sha256, l.task, l.name, l.label_id,
           c.probs[l.position + 1] AS score, m.thresholds[l.position + 1] AS threshold
    FROM candidate_images AS c, model AS m, labels AS l
    WHERE len($tasks) = 0 OR list_contains($tasks, l.task)
)
SELECT c.retailer, c.product_id, c.image_url, c.image_sha256, c.path,
       min(abs(s.score - s.threshold)) AS certainty,
       list({'task': s.task, 'name': s.name, 'label_id': s.label_id, 'score': s.score,
             'threshold': s.threshold} ORDER BY s.score DESC)
           FILTER (s.score >= s.threshold) AS predicted
FROM candidate_images AS c
JOIN label_scores AS s USING (image_sha256)
GROUP BY ALL
HAVING min(abs(s.score - s.threshold)) <= $margin
ORDER BY certainty, c.retailer, c.product_id
LIMIT $limit
