-- Merchant feeds: the items whose id was seen before in the feed (the first one is kept), in
-- feed order, by what the messages call them ("line 12", "item 4").
-- Parameters: $items  the feed's items (Parquet)
SELECT where_
FROM read_parquet($items)
QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY seq) > 1
ORDER BY seq;
