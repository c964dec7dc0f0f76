-- The product a contact sheet shows: the newest production-scored product of $retailer that
-- carries $label_id (any scored product of $retailer when none does, or $label_id is NULL).
-- Parameters: $retailer, $label_id
SELECT p.product_id
FROM analytics_products AS p
LEFT JOIN analytics_labels AS a
  ON a.product_key = p.product_key AND a.label_id = $label_id::INTEGER
WHERE p.retailer = $retailer::VARCHAR AND p.model_version IS NOT NULL
ORDER BY a.label_id IS NULL, p.first_seen DESC, p.product_id
LIMIT 1;
