-- The outcomes of every earlier run of a manifest (its committed parts and a killed run's
-- journal), copied into the run's scratch database so that each chunk of records can look up
-- what is already done. A plain streaming copy: no sort and no window over the whole history
-- (those hold it all in memory); `rank` orders the files, newest last.
-- Parameters: $files  the part files, oldest first;  a registered `file_order(file, rank)`.
-- The outcome columns are filled in from fashion_model/ingest/outcomes.py.
CREATE TABLE history AS
SELECT source_id, url, {columns}, rank, file_row_number AS row_number
FROM read_parquet($files, filename = 'file', file_row_number = true, union_by_name = true)
JOIN file_order USING (file);
