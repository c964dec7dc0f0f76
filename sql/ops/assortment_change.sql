-- Products observed on $as_of against those observed on $previous (the run before).
WITH now AS (
    SELECT DISTINCT retailer, product_id FROM product_observations WHERE observed_on = $as_of
), before AS (
    SELECT DISTINCT retailer, product_id FROM product_observations WHERE observed_on = $previous
)
SELECT
    (SELECT count(*) FROM now) AS products,
    (SELECT count(*) FROM before) AS previous_products,
    (SELECT count(*) FROM now ANTI JOIN before USING (retailer, product_id)) AS added,
    (SELECT count(*) FROM before ANTI JOIN now USING (retailer, product_id)) AS delisted
