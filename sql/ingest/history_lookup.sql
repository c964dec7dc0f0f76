-- The newest earlier outcome of each (source_id, url) of one chunk of records (a registered
-- `chunk_keys`): the last file's, and in it the last row.
SELECT h.* EXCLUDE (rank, row_number)
FROM history AS h
JOIN (SELECT DISTINCT * FROM chunk_keys) USING (source_id, url)
QUALIFY row_number() OVER (
    PARTITION BY source_id, url ORDER BY rank DESC, row_number DESC
) = 1;
