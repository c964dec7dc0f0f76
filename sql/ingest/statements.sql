-- The ingest stage's small statements, each loaded by name (fashion_model.sqlfiles.named).

-- name: repeated_pictures
-- Image URLs a feed lists again for the same product (counted, kept once).
SELECT coalesce(sum(repeated), 0) FROM pictures;

-- name: folded_counts
-- Products after folding variants, the items folded, and products with no retailer.
SELECT count(*), sum(items), count(*) FILTER (retailer IS NULL) FROM folded;

-- name: copy_records
-- {records}: load/feed_records.sql; {target}: the scratch folder's records.parquet, quoted (a
-- COPY's target takes no parameter).
COPY ({records}) TO {target} (FORMAT parquet);

-- name: count_records
SELECT count(*) FROM read_parquet($target);

-- name: history_rows
SELECT count(*) FROM history;
