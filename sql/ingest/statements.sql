-- The ingest stage's small statements, each loaded by name (fashion_model.sqlfiles.named).

-- name: repeated_pictures
-- Image URLs a feed lists again for the same product (counted, kept once).
SELECT coalesce(sum(repeated), 0) FROM pictures;

-- name: folded_counts
-- Products after folding variants, the items folded, and products with no retailer.
SELECT count(*), sum(items), count(*) FILTER (retailer IS NULL) FROM folded;

-- name: products_without_image
-- Products none of whose items has an image URL at all: counted, the first rows named; they
-- become no record (load/feed_records.sql). One whose URLs are all not http(s) is counted once,
-- under that reason, when its items are read.
SELECT count(*), coalesce(list(where_ ORDER BY seq)[1:5], [])
FROM folded f LEFT JOIN pictures p USING (key)
WHERE coalesce(len(p.images), 0) = 0 AND f.bad_image_urls = 0;

-- name: copy_records
-- {records}: load/feed_records.sql; {target}: the scratch folder's records.parquet, quoted (a
-- COPY's target takes no parameter).
COPY ({records}) TO {target} (FORMAT parquet);

-- name: count_records
SELECT count(*) FROM read_parquet($target);

-- name: history_rows
SELECT count(*) FROM history;
