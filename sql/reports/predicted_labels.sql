-- predicted_labels: every (product, label) the production model predicts, one row each.
-- @param retailer NULL  one retailer, or NULL for all retailers
-- Output columns: retailer, product_id, label_id, task, name, score
SELECT retailer, product_id, label_id, task, name, score
FROM product_attributes
WHERE $retailer::VARCHAR IS NULL OR retailer = $retailer::VARCHAR
ORDER BY retailer, product_id, label_id;
