-- Replace one (model, from, to) result of `fashion equivalents` with the registered Arrow
-- table `batch_equivalents`, in the caller's transaction.
-- Parameters: $model_version, $from_retailer, $to_retailer
DELETE FROM equivalents
WHERE model_version = $model_version::VARCHAR
  AND from_retailer = $from_retailer::VARCHAR
  AND to_retailer = $to_retailer::VARCHAR;

INSERT INTO equivalents
SELECT model_version, from_retailer, from_product_id, to_retailer, to_product_id, similarity, rank
FROM batch_equivalents;
