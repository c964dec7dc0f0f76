-- Rows of a catalog manifest that name no retailer (NULL, empty or blank): the one count behind
-- "a catalog names its retailer in a column or through --retailer" (scoring and loading).
-- Parameters: $parts  the manifest's Parquet glob
SELECT count(*) FILTER (retailer IS NULL OR trim(retailer) = '') AS without_retailer
FROM read_parquet($parts);
